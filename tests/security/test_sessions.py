"""Items 12, 13, 7, 16 and 18: step-up, tokens and expiry, secrets never shown twice or kept in
clear, passwords, oversized bodies."""

from __future__ import annotations

import base64
import logging
import statistics
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.security.helpers import dump_database, engine_of, error_code, login_mfa, start_login
from tests.support import PASSWORD, Api, FakeClock, Principal, oathtool
from twofold.bootstrap import build_runtime
from twofold.config import Settings
from twofold.domain import totp
from twofold.web.app import create_app

# --- item 12: step-up ----------------------------------------------------------------------

SENSITIVE = [("POST", "/me/mfa-device", None), ("DELETE", "/me/mfa-device", None),
             ("POST", "/me/recovery-codes", None),
             ("POST", "/me/password", {"current_password": PASSWORD,
                                       "new_password": "another long passphrase 5"}),
             ("DELETE", "/users/alice", None), ("POST", "/users/alice/mfa-device", None),
             ("DELETE", "/users/alice/mfa-device", None),
             ("PATCH", "/account/security", {"remember_mfa_days": 0})]


def test_sensitive_routes_refuse_a_stale_session_and_verification_is_per_session(
    api: Api, mfa_owner: Principal
) -> None:
    api.add_user(mfa_owner, "alice")
    other = Principal(mfa_owner.login, mfa_owner.password, secret=mfa_owner.secret)
    api.login(other)
    api.clock.advance(5 * 60 + 1)
    for method, path, body in SENSITIVE:
        r = api.call(method, path, mfa_owner, **({"json": body} if body else {}))
        assert r.status_code == 403 and error_code(r) == "VerificationRequired", (path, r.text)
    assert api.verify_mfa(mfa_owner).status_code == 200
    # The other session of the same principal is still not fresh.
    for method, path, body in SENSITIVE:
        r = api.call(method, path, other, **({"json": body} if body else {}))
        assert r.status_code == 403 and error_code(r) == "VerificationRequired", path
    # A verified session with MFA on cannot step up with the password instead of a code.
    r = api.call("POST", "/verify", other, json={"method": "password", "password": PASSWORD})
    assert r.status_code == 400
    assert api.call("POST", "/me/recovery-codes", other).status_code == 403
    assert api.call("POST", "/me/recovery-codes", mfa_owner).status_code == 201


def test_disabling_mfa_revokes_the_principals_other_sessions(
    api: Api, mfa_owner: Principal
) -> None:
    other = Principal(mfa_owner.login, mfa_owner.password, secret=mfa_owner.secret)
    api.login(other)
    assert api.verify_mfa(mfa_owner).status_code == 200
    assert api.call("DELETE", "/me/mfa-device", mfa_owner).status_code == 204
    assert api.call("GET", "/me", other).status_code == 401
    assert api.call("GET", "/me", mfa_owner).status_code == 200


# --- item 13: tokens and session life --------------------------------------------------------

def test_tokens_are_long_random_and_never_in_a_url(api: Api, mfa_owner: Principal) -> None:
    r = api.call("POST", "/login", json={"login": "acme", "password": PASSWORD})
    challenge = r.json()["challenge"]
    assert "location" not in r.headers
    api.clock.advance(30)
    r = login_mfa(api, challenge, code=api.code(mfa_owner))
    token = r.json()["token"]
    for value in (token, challenge):
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        assert len(raw) * 8 >= 128
    assert token != challenge and token != mfa_owner.token
    # The token is not taken from the query string.
    r = api.client.get(f"/api/v1/me?token={token}&access_token={token}")
    assert r.status_code == 401
    spec = api.client.get("/api/v1/openapi.json").text
    assert '"in":"query","name":"token"' not in spec.replace(" ", "")


def test_logout_idle_and_absolute_expiry_are_enforced_by_the_server(
    api: Api, owner: Principal, clock: FakeClock
) -> None:
    assert api.call("POST", "/logout", owner).status_code == 204
    assert api.call("GET", "/me", owner).status_code == 401
    api.login(owner)
    clock.advance(59 * 60)
    assert api.call("GET", "/me", owner).status_code == 200
    clock.advance(60 * 60 + 1)  # idle over an hour
    assert api.call("GET", "/me", owner).status_code == 401
    api.login(owner)
    for _ in range(12 * 2):  # active every 30 minutes, yet the 12-hour limit ends it
        clock.advance(30 * 60)
        r = api.call("GET", "/me", owner)
        if r.status_code == 401:
            break
    assert r.status_code == 401
    assert api.call("GET", "/me", owner).status_code == 401


def test_the_session_token_rotates_at_each_login_step(api: Api, mfa_owner: Principal) -> None:
    seen = {mfa_owner.token}
    for _ in range(3):
        challenge = start_login(api, mfa_owner)
        api.clock.advance(30)
        token = login_mfa(api, challenge, code=api.code(mfa_owner)).json()["token"]
        assert challenge not in seen and token not in seen
        seen |= {challenge, token}
    # A setup-only session keeps its token but its rights change; the token was new at login.
    api.add_user(mfa_owner, "bob", mfa_required=True)
    bob = Principal("bob@acme", "sub-user passphrase 42")
    assert api.login(bob)["state"] == "mfa_setup_required"
    assert bob.token not in seen


# --- item 7: secrets ----------------------------------------------------------------------

def test_ten_thousand_secrets_are_distinct_and_160_bits() -> None:
    made = [totp.new_secret() for _ in range(10_000)]
    assert len(set(made)) == 10_000
    for s in made[:500]:
        assert len(base64.b32decode(s + "=" * (-len(s) % 8))) == 20
    assert {len(s) for s in made} == {32}


def test_no_secret_appears_in_clear_in_db_logs_or_later_responses(
    api: Api, owner: Principal, inbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dev = api.enable_mfa(owner)
    secrets_seen: list[str] = [dev["secret"], owner.token or "", *owner.recovery_codes]
    challenge = start_login(api, owner)
    secrets_seen.append(challenge)
    api.clock.advance(30)
    code = api.code(owner)
    r = login_mfa(api, challenge, code=code)
    secrets_seen.append(r.json()["token"])
    owner.token = r.json()["token"]
    alice = api.add_user(owner, "alice", email="alice@acme.example")
    api.login(alice)
    secrets_seen.append(alice.token or "")
    assert api.call("POST", "/verify/email", alice).status_code == 202
    email_code = inbox.bodies_to("alice@acme.example")[-1].split("code is ")[1][:6]
    assert api.call("POST", "/verify", alice,
                    json={"method": "email", "code": email_code}).status_code == 200
    r = login_mfa(api, start_login(api, owner), recovery_code=owner.recovery_codes[1])
    assert r.status_code == 200
    secrets_seen.append(r.json()["token"])
    # Every later response the principals can ask for.
    later = "".join(api.call("GET", p, owner).text for p in (
        "/me", "/users", "/users/alice", "/me/sessions", "/audit-events?limit=200"))
    later += "".join(api.call("GET", p, alice).text for p in ("/me", "/audit-events"))
    stored = dump_database(engine_of(api))
    # The app's own log records (the test's SMTP server logs what it receives: not ours).
    logged = "\n".join(r.getMessage() for r in caplog.records
                       if not r.name.startswith("mail.log"))
    assert logged
    grouped = [s.replace("-", "") for s in owner.recovery_codes]
    for value in [*secrets_seen, *grouped, totp.group_secret(dev["secret"])]:
        assert value not in stored, value
        assert value not in logged, value
        assert value not in later, value
    for short in (email_code, code):  # six digits: look for them as whole values only
        assert f"'{short}'" not in stored and f'"{short}"' not in later
        assert short not in logged
    assert "argon2id" in stored and PASSWORD not in stored and PASSWORD not in logged


# --- item 16: passwords ---------------------------------------------------------------------

def test_long_and_unicode_passwords_are_accepted(api: Api) -> None:
    for i, pw in enumerate(["correct horse battery staple " * 6, "пароль-что-надо-длинный 🔐🔑",
                            "日本語のパスワードです長い", "e\u0301 combining ＡＢＣ ﷺ 𝕏 " * 3]):
        name = f"uni-{i}"
        r = api.call("POST", "/accounts", json={"name": name, "email": f"{name}@x.example",
                                                "password": pw})
        assert r.status_code == 201, (pw, r.text)
        r = api.call("POST", "/login", json={"login": name, "password": pw})
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("pw", ["password1234", "123456789012", "qwertyuiop12", "acme-company",
                                "owner@acme.example", "iloveyou1234", " " * 12,
                                "\u200b" * 12, "x" + "\u0301" * 11, "qwertyuiopas"])
def test_common_and_context_passwords_are_refused(api: Api, pw: str) -> None:
    r = api.call("POST", "/accounts", json={"name": "acme-company", "email": "owner@acme.example",
                                            "password": pw})
    assert r.status_code == 400 and error_code(r) == "ValidationError", r.text


def test_unknown_and_known_logins_take_alike_time(
    settings: Settings, clock: FakeClock
) -> None:
    """With the real default argon2id cost (OWASP: 19 MiB, t=2), median over 50 tries each."""
    real = settings.model_copy(update={"argon2_memory_kib": 19 * 1024, "argon2_time_cost": 2})
    rt = build_runtime(real, clock=clock)
    try:
        with TestClient(create_app(real, runtime=rt)) as client:
            api = Api(client, clock)
            api.signup("acme")
            known: list[float] = []
            unknown: list[float] = []
            for i in range(50):
                # A new unknown name every five rounds, as the known one's count is reset:
                # both stay under the password throttle (which answers them alike too).
                pairs = (("acme", known), (f"nobody-{i // 5}", unknown))
                for login, bucket in pairs if i % 2 else pairs[::-1]:
                    t0 = time.perf_counter()
                    r = api.call("POST", "/login", json={"login": login, "password": "wrong pw!"})
                    bucket.append(time.perf_counter() - t0)
                    assert r.status_code == 401, r.text
                if i % 5 == 4:  # a success resets the password counter (not timed)
                    api.call("POST", "/login", json={"login": "acme", "password": PASSWORD})
            ratio = statistics.median(unknown) / statistics.median(known)
            assert 0.7 <= ratio <= 1.4, (ratio, statistics.median(known))
            stored = dump_database(rt.engine)
            assert "$argon2id$v=19$m=19456,t=2,p=1$" in stored
    finally:
        rt.engine.dispose()


# --- item 18: oversized bodies --------------------------------------------------------------

def test_oversized_bodies_are_refused_quickly(api: Api, owner: Principal) -> None:
    big = '{"login": "' + "a" * (1024 * 1024) + '", "password": "x"}'
    cases = [
        ("POST", "/login", {"content": big, "headers": {"content-type": "application/json"}}),
        ("POST", "/login", {"json": {"login": "a" * 10_000, "password": "x"}}),
        ("POST", "/login", {"json": {"login": "acme", "password": "p" * 10_000}}),
        ("POST", "/accounts", {"json": {"name": "n" * 10_000, "email": "a@b.example",
                                        "password": PASSWORD}}),
        ("POST", "/login/mfa", {"json": {"challenge": "c" * 10_000, "code": "1" * 10_000}}),
        ("POST", "/users", {"json": {"name": "u", "password": "p" * 10_000}}),
        ("POST", "/verify", {"json": {"method": "mfa", "code": "1" * 10_000}}),
    ]
    for method, path, kw in cases:
        who = owner if path in ("/users", "/verify") else None
        t0 = time.perf_counter()
        r = api.call(method, path, who, **kw)
        elapsed = time.perf_counter() - t0
        assert r.status_code in (400, 413), (path, r.status_code, r.text[:200])
        assert elapsed < 1.0, (path, elapsed)
        assert len(r.content) < 4096, path  # the huge value is not echoed back
    # Chunked (no Content-Length) over the limit is cut off too.
    def chunks() -> Any:
        for _ in range(64):
            yield b"a" * 32 * 1024

    r = api.client.post("/api/v1/login", content=chunks(),
                        headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_a_code_of_a_device_in_a_10000_character_serial_is_refused(
    api: Api, owner: Principal
) -> None:
    dev = api.call("POST", "/me/mfa-device", owner).json()
    c = oathtool(dev["secret"], api.clock.epoch)
    r = api.call("POST", "/me/mfa-device/bind", owner,
                 json={"serial": "s" * 10_000, "code1": c, "code2": c})
    assert r.status_code == 400
