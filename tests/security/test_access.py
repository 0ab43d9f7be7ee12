"""Items 9, 10 and 11: every route of the OpenAPI document against every kind of caller, a
restricted (setup-only) session, skipping the second step, and account isolation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.helpers import error_code, login_mfa, start_login
from tests.support import PASSWORD, USER_PASSWORD, Api, Principal, bearer

ROLES = ("anonymous", "restricted", "subuser", "other", "primary")
NEW_PW = "a fresh long passphrase 77"
NOPE = {"serial": "vmfa-nope", "code1": "000000", "code2": "000001"}

# (method, path, body, {role: expected}); an expected value is a status, or (status, code).
# Rows run in this order; {name} is `carol`, a sub-user of acme that no caller logs in as.
U401 = (401, "Unauthenticated")
SETUP = (403, "MFASetupRequired")
FORB = (403, "Forbidden")
NF = (404, "NotFound")
MATRIX: list[tuple[str, str, Any, dict[str, Any]]] = [
    ("POST", "/accounts", "signup", dict.fromkeys(ROLES, 201)),
    ("POST", "/login", {"login": "nobody", "password": "whatever-it-is"},
     dict.fromkeys(ROLES, (401, "InvalidCredentials"))),
    ("POST", "/login/mfa", {"challenge": "A" * 43, "code": "123456"},
     dict.fromkeys(ROLES, (401, "ChallengeExpired"))),
    ("GET", "/me", None, {**dict.fromkeys(ROLES, 200), "anonymous": U401}),
    ("POST", "/verify", {"method": "password", "password": "not-the-password"},
     {**dict.fromkeys(ROLES, (401, "InvalidCredentials")), "anonymous": U401}),
    ("POST", "/verify/email", None, {**dict.fromkeys(ROLES, 202), "anonymous": U401}),
    # Phone (issue 17): nobody has one yet; a bad number is refused before anything is sent.
    ("POST", "/verify/sms", None,
     {**dict.fromkeys(ROLES, (400, "ValidationError")), "anonymous": U401}),
    ("GET", "/me/phone", None,
     {**dict.fromkeys(ROLES, 200), "anonymous": U401, "restricted": SETUP}),
    ("PUT", "/me/phone", {"phone": "13800138000"},
     {**dict.fromkeys(ROLES, (400, "ValidationError")), "anonymous": U401, "restricted": SETUP}),
    ("POST", "/me/phone/verify", {"code": "000000"},
     {**dict.fromkeys(ROLES, (401, "InvalidMFACode")), "anonymous": U401, "restricted": SETUP}),
    ("DELETE", "/me/phone", None,
     {**dict.fromkeys(ROLES, NF), "anonymous": U401, "restricted": SETUP}),
    ("POST", "/me/mfa-device", None, {**dict.fromkeys(ROLES, 201), "anonymous": U401}),
    ("POST", "/me/mfa-device/bind", NOPE,
     {**dict.fromkeys(ROLES, (409, "NoPendingDevice")), "anonymous": U401}),
    ("POST", "/me/mfa-device/resync", {"code1": "000000", "code2": "000001"},
     {**dict.fromkeys(ROLES, (409, "MFANotEnabled")), "anonymous": U401}),
    # A setup-only session proved only a password: not fresh (it may create a first factor).
    ("DELETE", "/me/mfa-device", None,
     {**dict.fromkeys(ROLES, (409, "MFANotEnabled")), "anonymous": U401,
      "restricted": (403, "VerificationRequired")}),
    ("POST", "/me/recovery-codes", None,
     {**dict.fromkeys(ROLES, (409, "MFANotEnabled")), "anonymous": U401, "restricted": SETUP}),
    ("POST", "/me/password", {"current_password": "not-the-password", "new_password": NEW_PW},
     {**dict.fromkeys(ROLES, (401, "InvalidCredentials")), "anonymous": U401,
      "restricted": SETUP}),
    ("GET", "/me/sessions", None,
     {**dict.fromkeys(ROLES, 200), "anonymous": U401, "restricted": SETUP}),
    ("DELETE", "/me/sessions/{session_id}", None,
     {**dict.fromkeys(ROLES, NF), "anonymous": U401, "restricted": SETUP}),
    ("DELETE", "/me/sessions", None,
     {**dict.fromkeys(ROLES, 204), "anonymous": U401, "restricted": SETUP}),
    ("GET", "/account/security", None,
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": 200, "primary": 200}),
    ("PATCH", "/account/security", {"remember_mfa_days": 0},
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": 200, "primary": 200}),
    ("GET", "/users", None,
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": 200, "primary": 200}),
    ("POST", "/users", "new-user",
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": 201, "primary": 201}),
    ("GET", "/users/{name}", None,
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": NF, "primary": 200}),
    ("PATCH", "/users/{name}", {"mfa_required": False},
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": NF, "primary": 200}),
    ("POST", "/users/{name}/mfa-device", None,
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": NF, "primary": 201}),
    ("POST", "/users/{name}/mfa-device/bind", NOPE,
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": NF,
      "primary": (409, "NoPendingDevice")}),
    ("DELETE", "/users/{name}/mfa-device", None,
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": NF,
      "primary": (409, "MFANotEnabled")}),
    ("GET", "/users/{name}/sessions", None,
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": NF, "primary": 200}),
    ("DELETE", "/users/{name}/sessions/{session_id}", None,
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": NF, "primary": NF}),
    ("DELETE", "/users/{name}/sessions", None,
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": NF, "primary": 204}),
    ("DELETE", "/users/{name}", None,
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": NF, "primary": 204}),
    ("GET", "/audit-events", None,
     {**dict.fromkeys(ROLES, 200), "anonymous": U401, "restricted": SETUP}),
    ("POST", "/password-reset", {"login": "nobody@acme"}, dict.fromkeys(ROLES, 202)),
    ("POST", "/password-reset/confirm", {"token": "A" * 43, "new_password": NEW_PW},
     dict.fromkeys(ROLES, (400, "ValidationError"))),
    # Every caller here has an address not yet confirmed (carol, bob: restricted, has none).
    ("POST", "/me/email/confirmation", None,
     {**dict.fromkeys(ROLES, 202), "anonymous": U401, "restricted": SETUP}),
    ("POST", "/email/confirm", {"token": "A" * 43},
     dict.fromkeys(ROLES, (400, "ValidationError"))),
    ("GET", "/applications", None,
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": 200, "primary": 200}),
    ("POST", "/applications", {"name": "App", "redirect_uris": ["https://app.example/cb"]},
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": 201, "primary": 201}),
    ("GET", "/applications/{client_id}", None,
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": NF, "primary": NF}),
    ("PATCH", "/applications/{client_id}", {"require_mfa": True},
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": NF, "primary": NF}),
    ("POST", "/applications/{client_id}/secret", None,
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": NF, "primary": NF}),
    ("DELETE", "/applications/{client_id}", None,
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": NF, "primary": NF}),
    # Security keys: a setup-only session may add its first key (options and verify only).
    ("GET", "/me/security-keys", None,
     {**dict.fromkeys(ROLES, 200), "anonymous": U401, "restricted": SETUP}),
    ("POST", "/me/security-keys/options", None, {**dict.fromkeys(ROLES, 200), "anonymous": U401}),
    ("POST", "/me/security-keys/verify", {"name": "key", "credential": {}},
     {**dict.fromkeys(ROLES, (401, "ChallengeExpired")), "anonymous": U401}),
    ("PATCH", "/me/security-keys/{key_id}", {"name": "key"},
     {**dict.fromkeys(ROLES, NF), "anonymous": U401, "restricted": SETUP}),
    ("DELETE", "/me/security-keys/{key_id}", None,
     {**dict.fromkeys(ROLES, NF), "anonymous": U401, "restricted": SETUP}),
    ("GET", "/users/{name}/security-keys", None,  # carol was deleted above
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": NF, "primary": NF}),
    ("DELETE", "/users/{name}/security-keys/{key_id}", None,
     {"anonymous": U401, "restricted": SETUP, "subuser": FORB, "other": NF, "primary": NF}),
    ("POST", "/login/webauthn/options", {"challenge": "A" * 43},
     dict.fromkeys(ROLES, (401, "ChallengeExpired"))),
    ("POST", "/login/passkey/options", None, dict.fromkeys(ROLES, 200)),
    ("POST", "/login/passkey", {"credential": {}}, dict.fromkeys(ROLES, (401, "ChallengeExpired"))),
    ("POST", "/verify/webauthn/options", None,
     {**dict.fromkeys(ROLES, (409, "MFANotEnabled")), "anonymous": U401}),
    # Without `app=`: a validation error for everyone (tests/web/sso covers the rest).
    ("GET", "/authz/auth-request", None, dict.fromkeys(ROLES, (400, "ValidationError"))),
    ("GET", "/authz/forward-auth", None, dict.fromkeys(ROLES, (400, "ValidationError"))),
    ("POST", "/logout", None, {**dict.fromkeys(ROLES, 204), "anonymous": U401}),
]


@pytest.fixture
def callers(api: Api, owner: Principal) -> dict[str, Principal | None]:
    api.add_user(owner, "alice", email="alice@acme.example")
    api.add_user(owner, "bob", email="bob@acme.example", mfa_required=True)
    api.add_user(owner, "carol")
    alice = Principal("alice@acme", USER_PASSWORD)
    bob = Principal("bob@acme", USER_PASSWORD)
    assert api.login(alice)["state"] == "authenticated"
    assert api.login(bob)["state"] == "mfa_setup_required"
    evil = api.signup("evil")
    api.add_user(evil, "mallory")
    return {"anonymous": None, "restricted": bob, "subuser": alice, "other": evil,
            "primary": owner}


def test_the_matrix_covers_every_route_of_the_openapi_document(api: Api) -> None:
    spec = api.client.get("/api/v1/openapi.json").json()
    routes = {(m.upper(), p.removeprefix("/api/v1")) for p, ops in spec["paths"].items()
              for m in ops}
    assert routes == {(m, p) for m, p, _, _ in MATRIX}


def test_access_matrix(api: Api, callers: dict[str, Principal | None]) -> None:
    failures = []
    for method, template, body, expected in MATRIX:
        for role in ROLES:
            who = callers[role]
            path = template.format(name="carol", session_id="0123456789abcdef",
                                   key_id="sk-0000000000000000",
                                   client_id="app-000000000000000000000000")
            if body == "signup":
                payload: Any = {"name": f"new-{role}", "email": f"{role}@new.example",
                                "password": PASSWORD}
            elif body == "new-user":
                payload = {"name": f"made-by-{role}", "password": USER_PASSWORD}
            else:
                payload = body
            kw: dict[str, Any] = {} if payload is None else {"json": payload}
            r = api.call(method, path, who, **kw)
            want = expected[role]
            status, code = want if isinstance(want, tuple) else (want, None)
            got_code = r.json()["error"]["code"] if r.status_code >= 400 else None
            if r.status_code != status or (code and got_code != code):
                failures.append((method, template, role, want, r.status_code, r.text[:200]))
    assert not failures, "\n".join(map(str, failures))


def test_restricted_session_cannot_reach_by_path_tricks(
    api: Api, callers: dict[str, Principal | None]
) -> None:
    bob = callers["restricted"]
    for path in ("/api/v1/me/../users", "/api/v1/me/%2e%2e/users", "/api/v1//users",
                 "/api/v1/users/", "/api/v1/USERS", "/api/v1/me/sessions/",
                 "/api/v1/me/mfa-device/../../users"):
        r = api.client.get(path, headers=bob.headers if bob else {})
        assert r.status_code in (403, 404, 405, 307), (path, r.status_code, r.text)
        assert r.status_code != 200
        assert "alice" not in r.text


def test_body_fields_cannot_raise_privileges(api: Api, owner: Principal) -> None:
    alice = api.add_user(owner, "alice")
    for extra in ({"kind": "primary"}, {"account": "evil"}, {"role": "admin"},
                  {"login": "acme"}, {"is_primary": True}):
        r = api.call("POST", "/users", owner,
                     json={"name": "eve", "password": USER_PASSWORD, **extra})
        assert r.status_code == 400 and error_code(r) == "ValidationError", (extra, r.text)
        r = api.call("PATCH", "/users/alice", owner, json=extra)
        assert r.status_code == 400, (extra, r.text)
        r = api.call("POST", "/accounts", json={"name": "zed", "email": "z@z.example",
                                                "password": PASSWORD, **extra})
        assert r.status_code == 400, (extra, r.text)
    api.login(alice)
    me = api.call("GET", "/me", alice).json()
    assert me["kind"] == "user" and me["account"] == "acme"
    assert api.call("GET", "/users", alice).status_code == 403


def test_no_account_sees_or_changes_anothers_things(api: Api, owner: Principal) -> None:
    alice = api.add_user(owner, "alice")
    api.login(alice)
    api.enable_mfa(alice, path="/users/alice/mfa-device", actor=owner)
    evil = api.signup("evil")
    acme_session = api.call("GET", "/me/sessions", owner).json()["sessions"][0]["id"]
    assert api.call("GET", "/users", evil).json() == {"users": []}
    for method, path in (("GET", "/users/alice"), ("PATCH", "/users/alice"),
                         ("DELETE", "/users/alice"), ("POST", "/users/alice/mfa-device"),
                         ("DELETE", "/users/alice/mfa-device"),
                         ("DELETE", f"/me/sessions/{acme_session}")):
        kw = {"json": {"mfa_required": True}} if method == "PATCH" else {}
        r = api.call(method, path, evil, **kw)
        assert r.status_code == 404, (method, path, r.text)
    # A user name that looks like a login of another account reaches nothing either.
    for name in ("alice@acme", "acme", "..%2Facme", "alice%40acme"):
        assert api.call("GET", f"/users/{name}", evil).status_code in (404, 400)
    events = api.call("GET", "/audit-events?limit=200", evil).json()["events"]
    assert events and all("acme" not in str(e) for e in events)
    # A sub-user sees events about itself only, not the account's other business.
    api.add_user(owner, "carol")
    alice_events = api.call("GET", "/audit-events?limit=200", alice).json()["events"]
    assert alice_events
    assert all("alice@acme" in (e["actor"], e["target"]) for e in alice_events)
    # And acme's things are intact.
    assert api.call("GET", "/users/alice", owner).json()["mfa"]["enabled"] is True
    assert api.call("GET", "/me", owner).status_code == 200


# --- item 10: skipping the second step --------------------------------------------------

def test_a_challenge_is_not_a_session(api: Api, mfa_owner: Principal) -> None:
    challenge = start_login(api, mfa_owner)
    for path in ("/me", "/users", "/me/sessions", "/audit-events"):
        r = api.call("GET", path, headers=bearer(challenge))
        assert r.status_code == 401 and error_code(r) == "Unauthenticated", path
    r = api.call("POST", "/verify", headers=bearer(challenge),
                 json={"method": "mfa", "code": api.code(mfa_owner, 1)})
    assert r.status_code == 401


def test_an_mfa_required_logins_cookie_reaches_nothing(api: Api, mfa_owner: Principal) -> None:
    r = api.call("POST", "/login", json={"login": mfa_owner.login,
                                         "password": mfa_owner.password})
    assert r.json()["state"] == "mfa_required"
    assert "set-cookie" not in r.headers
    assert not api.client.cookies
    assert api.client.get("/api/v1/me").status_code == 401


def test_one_principals_challenge_with_anothers_code(api: Api, mfa_owner: Principal) -> None:
    alice = api.add_user(mfa_owner, "alice")
    api.login(alice)
    api.enable_mfa(alice)
    api.clock.advance(30)
    r = login_mfa(api, start_login(api, mfa_owner), code=api.code(alice))
    assert r.status_code == 401
    r = login_mfa(api, start_login(api, mfa_owner), recovery_code=alice.recovery_codes[0])
    assert r.status_code == 401
    # alice's code and recovery code were not consumed by the attempt on acme's challenge.
    assert login_mfa(api, start_login(api, alice), code=api.code(alice)).status_code == 200
    assert login_mfa(api, start_login(api, alice),
                     recovery_code=alice.recovery_codes[0]).status_code == 200


def test_a_challenge_is_single_use_and_expires(api: Api, mfa_owner: Principal) -> None:
    api.clock.advance(30)
    challenge = start_login(api, mfa_owner)
    assert login_mfa(api, challenge, code=api.code(mfa_owner)).status_code == 200
    api.clock.advance(30)
    r = login_mfa(api, challenge, code=api.code(mfa_owner))
    assert r.status_code == 401 and error_code(r) == "ChallengeExpired"
    challenge = start_login(api, mfa_owner)
    api.clock.advance(5 * 60 + 1)
    r = login_mfa(api, challenge, code=api.code(mfa_owner))
    assert r.status_code == 401 and error_code(r) == "ChallengeExpired"
    r = login_mfa(api, challenge, recovery_code=mfa_owner.recovery_codes[0])
    assert r.status_code == 401 and error_code(r) == "ChallengeExpired"


# --- issue 13: the forced password change gate, on every route of the OpenAPI document ---

PASSWORD_CHANGE_REACHES = {("GET", "/me"), ("POST", "/me/password"), ("POST", "/verify"),
                           ("POST", "/verify/email"), ("POST", "/verify/sms"),
                           ("POST", "/logout"), ("POST", "/verify/webauthn/options")}
ANONYMOUS_ROUTES = {("POST", "/accounts"), ("POST", "/login"), ("POST", "/login/mfa"),
                    ("POST", "/password-reset"), ("POST", "/password-reset/confirm"),
                    ("POST", "/login/webauthn/options"), ("POST", "/login/passkey/options"),
                    ("POST", "/login/passkey"),
                    ("POST", "/email/confirm")}


def test_a_forced_password_change_session_reaches_only_the_allowed_routes(
    api: Api, owner: Principal
) -> None:
    api.add_user(owner, "carol")
    dave = api.add_user(owner, "dave", mfa_required=True)
    assert api.call("PATCH", "/users/dave", owner,
                    json={"password_reset_required": True}).status_code == 200
    assert api.login(dave)["state"] == "password_change_required"
    spec = api.client.get("/api/v1/openapi.json").json()
    routes = sorted((m.upper(), p.removeprefix("/api/v1")) for p, ops in spec["paths"].items()
                    for m in ops)
    failures = []
    for method, template in routes:
        if (method, template) in ANONYMOUS_ROUTES or template == "/logout":
            continue
        if template.startswith("/authz/"):  # answers 200 or 401 for an app: checked below
            continue
        path = template.format(name="carol", session_id="0123456789abcdef",
                               key_id="sk-0000000000000000", client_id="nope", id="nope")
        r = api.call(method, path, dave, json={})
        code = r.json()["error"]["code"] if r.status_code >= 400 else None
        refused = r.status_code == 403 and code == "PasswordChangeRequired"
        if refused == ((method, template) in PASSWORD_CHANGE_REACHES):
            failures.append((method, template, r.status_code, code))
    assert not failures, failures
    app = api.call("POST", "/applications", owner,
                   json={"name": "App", "redirect_uris": ["https://app.example/cb"]})
    assert app.status_code == 201, app.text
    r = api.call("GET", f"/authz/auth-request?app={app.json()['client_id']}", dave)
    assert r.status_code == 401, r.text
    assert api.call("GET", "/me", dave).status_code == 200
    assert api.call("POST", "/logout", dave).status_code == 204
