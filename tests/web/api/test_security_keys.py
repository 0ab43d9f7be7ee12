"""Security keys and passkeys over the API, with a software authenticator: registration,
the login's second step, step-up, passkey sign-in, and the answers that must be refused."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Inbox
from tests.soft_authenticator import SoftAuthenticator
from tests.support import Api, Principal, status_codes_in_parallel
from tests.web.api.conftest import error


@pytest.fixture
def authn() -> SoftAuthenticator:
    return SoftAuthenticator()


def add_key(
    api: Api, p: Principal, authn: SoftAuthenticator, name: str = "blue key", **bend: Any
) -> Any:
    r = api.call("POST", "/me/security-keys/options", p)
    assert r.status_code == 200, r.text
    credential = authn.create(r.json()["public_key"], **bend)
    return api.call(
        "POST", "/me/security-keys/verify", p, json={"name": name, "credential": credential}
    )


def key_login(api: Api, p: Principal, authn: SoftAuthenticator, **bend: Any) -> Any:
    r = api.call("POST", "/login", json={"login": p.login, "password": p.password})
    body = r.json()
    assert body["state"] == "mfa_required", body
    challenge = body["challenge"]
    r = api.call("POST", "/login/webauthn/options", json={"challenge": challenge})
    assert r.status_code == 200, r.text
    answer = authn.get(r.json()["public_key"], **bend)
    return api.call("POST", "/login/mfa", json={"challenge": challenge, "webauthn": answer})


def test_register_list_and_sign_in_with_a_key(
    api: Api, authn: SoftAuthenticator, inbox: Inbox
) -> None:
    acme = api.signup()
    r = add_key(api, acme, authn)
    assert r.status_code == 201, r.text
    body = r.json()
    assert len(body["recovery_codes"]) == 10  # the first factor brings recovery codes
    key = body["security_key"]
    assert key["name"] == "blue key" and key["discoverable"] is True and key["user_verifying"]
    assert any("security key" in m.lower() for m in inbox.bodies_to("owner@acme.example"))

    me = api.call("GET", "/me", acme).json()
    assert me["mfa"]["enabled"] is True
    assert me["mfa"]["totp"] is False and me["mfa"]["security_keys"] == 1
    # A second registration excludes the key already there, and brings no new codes.
    options = api.call("POST", "/me/security-keys/options", acme).json()["public_key"]
    assert [c["id"] for c in options["excludeCredentials"]] == [key_id(authn)]
    assert options["rp"]["id"] == "127.0.0.1"

    r = api.call("POST", "/login", json={"login": "acme", "password": acme.password})
    assert r.json()["methods"] == ["webauthn"]
    r = key_login(api, acme, authn)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "authenticated"
    keys = api.call("GET", "/me/security-keys", acme).json()["security_keys"]
    assert keys[0]["last_used_at"] is not None


def key_id(authn: SoftAuthenticator) -> str:
    return authn.credentials[0].id


def test_a_registration_from_another_origin_or_rp_is_refused(
    api: Api, authn: SoftAuthenticator
) -> None:
    acme = api.signup()
    error(add_key(api, acme, authn, origin="https://evil.example"), 400, "ValidationError")
    error(add_key(api, acme, authn, rp_id="evil.example"), 400, "ValidationError")
    assert api.call("GET", "/me/security-keys", acme).json()["security_keys"] == []


@pytest.mark.parametrize(
    "bend",
    [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}, {"sign_count": 0}],
    ids=["wrong-origin", "wrong-rp-id", "counter-backwards"],
)
def test_a_bent_assertion_is_refused_and_counted(
    api: Api, authn: SoftAuthenticator, bend: dict[str, Any]
) -> None:
    acme = api.signup()
    assert add_key(api, acme, authn).status_code == 201
    assert key_login(api, acme, authn).status_code == 200  # the count is now 1
    error(key_login(api, acme, authn, **bend), 401, "InvalidMFACode")
    events = api.call("GET", "/audit-events", acme).json()["events"]
    failed = [e for e in events if e["action"] == "mfa.login.failed"]
    assert failed and failed[0]["detail"]["method"] == "webauthn"
    regressed = [e for e in events if e["action"] == "security_key.sign_count_regressed"]
    assert bool(regressed) == ("sign_count" in bend)


def test_five_key_failures_lock_the_code_checks(api: Api, authn: SoftAuthenticator) -> None:
    acme = api.signup()
    assert add_key(api, acme, authn).status_code == 201
    for _ in range(5):
        error(key_login(api, acme, authn, origin="https://evil.example"), 401, "InvalidMFACode")
    assert key_login(api, acme, authn).status_code == 429


def test_a_replayed_answer_and_another_principals_key_are_refused(
    api: Api, authn: SoftAuthenticator
) -> None:
    acme = api.signup()
    other = api.signup("globex")
    assert add_key(api, acme, authn).status_code == 201
    stranger = SoftAuthenticator()
    assert add_key(api, other, stranger).status_code == 201

    r = api.call("POST", "/login", json={"login": "acme", "password": acme.password})
    challenge = r.json()["challenge"]
    options = api.call("POST", "/login/webauthn/options", json={"challenge": challenge}).json()
    # globex's own key answers acme's challenge: not a key of acme.
    foreign = stranger.get(options["public_key"], stranger.credentials[0])
    error(
        api.call("POST", "/login/mfa", json={"challenge": challenge, "webauthn": foreign}),
        401,
        "InvalidMFACode",
    )
    options = api.call("POST", "/login/webauthn/options", json={"challenge": challenge}).json()
    answer = authn.get(options["public_key"])
    r = api.call("POST", "/login/mfa", json={"challenge": challenge, "webauthn": answer})
    assert r.status_code == 200, r.text
    # The same answer again: its challenge is spent, and so is the login challenge.
    r = api.call("POST", "/login/mfa", json={"challenge": challenge, "webauthn": answer})
    error(r, 401, "ChallengeExpired")


def test_step_up_with_a_key_and_removal(api: Api, authn: SoftAuthenticator) -> None:
    acme = api.signup()
    first = add_key(api, acme, authn).json()["security_key"]
    api.clock.advance(600)  # no longer fresh
    r = api.call("DELETE", f"/me/security-keys/{first['id']}", acme)
    error(r, 403, "VerificationRequired")
    error(
        api.call("POST", "/verify", acme, json={"method": "password", "password": acme.password}),
        400,
        "ValidationError",
    )
    # An answer to another ceremony (a passkey sign-in's) does not verify this session.
    foreign = authn.get(api.call("POST", "/login/passkey/options").json()["public_key"])
    r = api.call("POST", "/verify", acme, json={"method": "webauthn", "credential": foreign})
    error(r, 401, "ChallengeExpired")
    options = api.call("POST", "/verify/webauthn/options", acme).json()["public_key"]
    answer = authn.get(options)
    r = api.call("POST", "/verify", acme, json={"method": "webauthn", "credential": answer})
    assert r.status_code == 200, r.text
    r = api.call("POST", "/verify", acme, json={"method": "webauthn", "credential": answer})
    error(r, 401, "ChallengeExpired")  # replayed: its challenge is spent
    r = api.call("PATCH", f"/me/security-keys/{first['id']}", acme, json={"name": "red"})
    assert r.json()["name"] == "red"
    assert api.call("DELETE", f"/me/security-keys/{first['id']}", acme).status_code == 204
    me = api.call("GET", "/me", acme).json()
    assert me["mfa"]["enabled"] is False and me["mfa"]["security_keys"] == 0


def test_passkey_sign_in_and_its_gates(api: Api, authn: SoftAuthenticator) -> None:
    acme = api.signup()
    alice = api.add_user(acme, "alice")
    api.login(alice)
    assert add_key(api, alice, authn).status_code == 201

    def passkey(**bend: Any) -> Any:
        options = api.call("POST", "/login/passkey/options").json()["public_key"]
        assert options["userVerification"] == "required" and not options.get("allowCredentials")
        return api.call("POST", "/login/passkey", json={"credential": authn.get(options, **bend)})

    r = passkey()
    assert r.status_code == 200, r.text
    assert (
        api.call("GET", "/me", headers={"Authorization": f"Bearer {r.json()['token']}"}).json()[
            "login"
        ]
        == "alice@acme"
    )
    error(passkey(user_verified=False), 401, "InvalidMFACode")
    r = api.call("POST", "/verify", acme, json={"method": "password", "password": acme.password})
    assert r.status_code == 200
    assert api.call("PATCH", "/users/alice", acme, json={"disabled": True}).status_code == 200
    error(passkey(), 403, "AccountDisabled")


def test_primary_removes_a_sub_users_key_and_the_last_required_factor_stays(
    api: Api, authn: SoftAuthenticator
) -> None:
    acme = api.signup()
    alice = api.add_user(acme, "alice", mfa_required=True)
    body = api.login(alice)
    assert body["state"] == "mfa_setup_required"
    error(api.call("GET", "/me/sessions", alice), 403, "MFASetupRequired")
    assert add_key(api, alice, authn).status_code == 201
    # The key lifted the setup-only restriction of the session that registered it.
    assert api.call("GET", "/me/sessions", alice).status_code == 200
    keys = api.call("GET", "/users/alice/security-keys", acme).json()["security_keys"]
    assert api.call("GET", "/users/alice", acme).json()["mfa"]["security_keys"] == 1
    error(api.call("DELETE", f"/me/security-keys/{keys[0]['id']}", alice), 403, "Forbidden")
    assert api.call("PATCH", "/users/alice", acme, json={"mfa_required": False}).status_code == 200
    r = api.call("DELETE", f"/users/alice/security-keys/{keys[0]['id']}", acme)
    assert r.status_code == 204
    assert api.call("GET", "/users/alice/security-keys", acme).json()["security_keys"] == []


def test_a_passkey_does_not_skip_a_forced_password_change_and_removal_is_mailed(
    api: Api, authn: SoftAuthenticator, inbox: Inbox
) -> None:
    acme = api.signup()
    bob = api.add_user(acme, "bob", email="bob@acme.example")
    api.login(bob)
    key = add_key(api, bob, authn).json()["security_key"]
    r = api.call("PATCH", "/users/bob", acme, json={"password_reset_required": True})
    assert r.status_code == 200, r.text
    options = api.call("POST", "/login/passkey/options").json()["public_key"]
    r = api.call("POST", "/login/passkey", json={"credential": authn.get(options)})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "password_change_required"
    held = Principal("bob@acme", bob.password, token=r.json()["token"])
    error(api.call("GET", "/me/sessions", held), 403, "PasswordChangeRequired")

    inbox.clear()
    assert api.call("DELETE", f"/users/bob/security-keys/{key['id']}", acme).status_code == 204
    assert any("removed" in m for m in inbox.bodies_to("bob@acme.example"))


def test_keys_follow_the_accounts_rule_on_managing_factors_and_bring_recovery_codes(
    api: Api, authn: SoftAuthenticator
) -> None:
    acme = api.signup()
    alice = api.add_user(acme, "alice")
    api.login(alice)
    r = api.call("PATCH", "/account/security", acme, json={"allow_users_to_manage_mfa": False})
    assert r.status_code == 200, r.text
    error(api.call("POST", "/me/security-keys/options", alice), 403, "Forbidden")
    assert (
        api.call(
            "PATCH", "/account/security", acme, json={"allow_users_to_manage_mfa": True}
        ).status_code
        == 200
    )
    first = add_key(api, alice, authn).json()
    # A key-only principal signs in with a recovery code and makes a new set.
    r = api.call("POST", "/login", json={"login": alice.login, "password": alice.password})
    r = api.call(
        "POST",
        "/login/mfa",
        json={"challenge": r.json()["challenge"], "recovery_code": first["recovery_codes"][0]},
    )
    assert r.status_code == 200, r.text
    alice.token = r.json()["token"]
    r = api.call("POST", "/me/recovery-codes", alice)
    assert r.status_code == 201, r.text
    assert api.call("GET", "/me", alice).json()["mfa"]["recovery_codes_left"] == 10


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: {**c, "clientExtensionResults": []},
        lambda c: {**c, "response": {**c["response"], "transports": 7}},
        lambda c: {**c, "response": "x"},
        lambda c: {**c, "id": 5, "rawId": None},
        lambda c: {"response": {"clientDataJSON": "!!"}},
        lambda c: {**c, "response": {**c["response"], "attestationObject": "AAAA"}},
    ],
    ids=["extensions-list", "transports-int", "response-str", "id-int", "bad-b64", "bad-cbor"],
)
def test_malformed_answers_are_clear_errors(
    api: Api, authn: SoftAuthenticator, mangle: Any
) -> None:
    acme = api.signup()
    options = api.call("POST", "/me/security-keys/options", acme).json()["public_key"]
    r = api.call(
        "POST",
        "/me/security-keys/verify",
        acme,
        json={"name": "k", "credential": mangle(authn.create(options))},
    )
    assert r.status_code in (201, 400, 401), r.text
    options = api.call("POST", "/login/passkey/options").json()["public_key"]
    if authn.credentials:
        r = api.call("POST", "/login/passkey", json={"credential": mangle(authn.get(options))})
        assert r.status_code in (200, 400, 401), r.text


def test_one_answer_is_accepted_once_under_parallel_requests(
    api: Api, authn: SoftAuthenticator
) -> None:
    acme = api.signup()
    assert add_key(api, acme, authn).status_code == 201
    options = api.call("POST", "/verify/webauthn/options", acme).json()["public_key"]
    answer = authn.get(options)
    body = {"method": "webauthn", "credential": answer}
    answers = status_codes_in_parallel(*[lambda: api.call("POST", "/verify", acme, json=body)] * 3)
    assert answers == [200, 401, 401], answers
