"""Login, logout, /me, idle and absolute expiry, step-up with a password."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import pytest

from tests.support import PASSWORD, Api, bearer
from tests.web.api.conftest import error


def test_wrong_password_and_unknown_login_look_the_same(api: Api) -> None:
    api.signup()
    wrong = api.call("POST", "/login", json={"login": "acme", "password": "wrong password!"})
    unknown = api.call("POST", "/login", json={"login": "nobody", "password": PASSWORD})
    e1 = error(wrong, 401, "InvalidCredentials")
    e2 = error(unknown, 401, "InvalidCredentials")
    assert e1 == e2


@pytest.mark.parametrize(
    "login", ["", "x" * 500, "\u0000", "acme\n", "ACME", "acme@", "@acme", "\ud800"]
)
def test_odd_logins_are_invalid_credentials_not_errors(api: Api, login: str) -> None:
    api.signup()
    # Sent as escaped JSON, so a lone surrogate arrives as the client wrote it.
    body = json.dumps({"login": login, "password": PASSWORD}).encode()
    r = api.call("POST", "/login", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 401), r.text
    assert r.json()["error"]["code"] in ("InvalidCredentials", "ValidationError")


def test_login_returns_a_long_random_token(api: Api) -> None:
    owner = api.signup()
    body = api.login(owner)
    assert body["state"] == "authenticated"
    assert "challenge" not in body
    assert len(body["token"]) >= 32
    other = api.call("POST", "/login", json={"login": "acme", "password": PASSWORD}).json()
    assert other["token"] != body["token"]


def test_me_shape(api: Api) -> None:
    owner = api.signup()
    me = api.call("GET", "/me", owner).json()
    assert me["login"] == "acme" and me["kind"] == "primary" and me["account"] == "acme"
    assert me["mfa"] == {"enabled": False, "serial": None, "bound_at": None,
                         "recovery_codes_left": 0, "totp": False, "security_keys": 0}
    assert me["mfa_required"] is False


def test_logout_revokes_at_once(api: Api) -> None:
    owner = api.signup()
    token = owner.token
    other = api.call("POST", "/login", json={"login": "acme", "password": PASSWORD}).json()
    assert api.call("POST", "/logout", owner).status_code == 204
    error(api.call("GET", "/me", headers=bearer(token or "")), 401, "Unauthenticated")
    error(api.call("POST", "/logout", headers=bearer(token or "")), 401, "Unauthenticated")
    # Only that session ended.
    assert api.call("GET", "/me", headers=bearer(other["token"])).status_code == 200


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Basic YWNtZTpwdw==", "Bearer not-a-token", "Bearer " + "x" * 5000,
     "Token abc"],
)
def test_bad_authorization_headers_are_401(api: Api, header: str) -> None:
    api.signup()
    error(api.call("GET", "/me", headers={"Authorization": header}), 401, "Unauthenticated")


def test_idle_expiry_is_enforced_and_activity_extends_it(api: Api) -> None:
    owner = api.signup()
    for _ in range(3):
        api.clock.advance(59 * 60)
        assert api.call("GET", "/me", owner).status_code == 200
    api.clock.advance(60 * 60)
    error(api.call("GET", "/me", owner), 401, "Unauthenticated")
    # And it stays dead even if the clock were to go back a little.
    api.clock.advance(-120)
    error(api.call("GET", "/me", owner), 401, "Unauthenticated")


def test_absolute_expiry_ends_an_active_session(api: Api) -> None:
    owner = api.signup()
    for _ in range(14):  # 11 h 40 min of steady use
        api.clock.advance(50 * 60)
        assert api.call("GET", "/me", owner).status_code == 200
    api.clock.advance(20 * 60)  # 12 h after the login
    error(api.call("GET", "/me", owner), 401, "Unauthenticated")


def test_configured_lifetimes(api_with: Callable[..., Api]) -> None:
    short = api_with(session_idle_minutes=5, session_absolute_hours=1)
    owner = short.signup()
    short.clock.advance(4 * 60)
    assert short.call("GET", "/me", owner).status_code == 200
    short.clock.advance(5 * 60)
    error(short.call("GET", "/me", owner), 401, "Unauthenticated")


def test_verify_with_password(api: Api) -> None:
    owner = api.signup()
    api.clock.advance(600)
    r = api.call("POST", "/verify", owner, json={"method": "password", "password": PASSWORD})
    assert r.status_code == 200
    until = datetime.fromisoformat(r.json()["verified_until"])
    assert (until - api.clock.now()).total_seconds() == 300
    error(api.call("POST", "/verify", owner, json={"method": "password", "password": "nope"}),
          401, "InvalidCredentials")
    e = error(api.call("POST", "/verify", owner, json={"method": "sms"}), 400, "ValidationError")
    assert "method" in e["fields"]
    error(api.call("POST", "/verify", owner, json={"method": "mfa", "code": "123456"}),
          409, "MFANotEnabled")


def test_login_audit_events(api: Api) -> None:
    owner = api.signup()
    api.call("POST", "/login", json={"login": "acme", "password": "wrong password!"})
    api.call("POST", "/login", json={"login": "acme", "password": PASSWORD})
    alice = api.add_user(owner)
    api.login(alice)
    api.call("POST", "/logout", alice)
    events = api.call("GET", "/audit-events", owner).json()["events"]
    seen = [(e["action"], e["result"], e["actor"], e["target"]) for e in events]
    assert ("login.failed", "wrong_password", "acme", "acme") in seen
    assert ("login.succeeded", "success", "acme", "acme") in seen
    assert ("user.created", "success", "acme", "alice@acme") in seen
    assert ("login.succeeded", "success", "alice@acme", "alice@acme") in seen
    assert ("logout", "success", "alice@acme", "alice@acme") in seen
    assert ("account.created", "success", "acme", "acme") in seen
    assert all(e["client_addr"] for e in events)
    ids = [e["id"] for e in events]
    assert ids == sorted(ids, reverse=True)  # newest first
    # A sub-user sees only events about itself.
    api.login(alice)
    mine = api.call("GET", "/audit-events", alice).json()["events"]
    assert mine and all("alice@acme" in (e["actor"], e["target"]) for e in mine)
    # Another account sees none of these.
    other = api.signup("globex")
    theirs = api.call("GET", "/audit-events", other).json()["events"]
    assert all("acme" not in (e["actor"] or "") for e in theirs)


def test_audit_paging(api: Api) -> None:
    owner = api.signup()
    for name in ("alice", "bob", "carol"):
        api.add_user(owner, name)
    page = api.call("GET", "/audit-events?limit=2", owner).json()
    assert len(page["events"]) == 2 and page["next_before"] is not None
    rest = api.call("GET", f"/audit-events?limit=50&before={page['next_before']}", owner).json()
    assert rest["next_before"] is None
    ids = [e["id"] for e in page["events"] + rest["events"]]
    assert ids == sorted(set(ids), reverse=True)
    error(api.call("GET", "/audit-events?limit=0", owner), 400, "ValidationError")
    error(api.call("GET", "/audit-events?limit=abc", owner), 400, "ValidationError")


def test_a_password_typed_into_the_login_field_is_not_kept(api: Api, settings) -> None:
    from sqlalchemy import select

    from twofold.storage.db import make_engine
    from twofold.storage.models import AuditEvent

    api.signup()
    r = api.call("POST", "/login", json={"login": PASSWORD + "-oops", "password": "x"})
    assert r.status_code == 401
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as conn:
        rows = conn.execute(select(AuditEvent.target, AuditEvent.detail, AuditEvent.result)).all()
    engine.dispose()
    assert any(result == "unknown_login" for _, _, result in rows)
    assert PASSWORD not in repr(rows)
