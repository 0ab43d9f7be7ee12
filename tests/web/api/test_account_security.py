"""GET/PATCH /account/security: each preference, its validation, its audit, its effect."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support import USER_PASSWORD, Api
from tests.web.api.prefs import set_prefs, verify

DEFAULTS = {
    "mfa_for_login": "per_user",
    "allow_users_to_manage_mfa": True,
    "remember_mfa_days": 0,
    "session_hours": 12,
    "login_networks": [],
    "password_min_length": 12,
    "password_max_age_days": 0,
    "password_reuse_prevention": 0,
}


def test_defaults_and_only_the_primary(api: Api) -> None:
    owner = api.signup()
    r = api.call("GET", "/account/security", owner)
    assert r.status_code == 200 and r.json() == DEFAULTS
    alice = api.add_user(owner)
    api.login(alice)
    assert api.call("GET", "/account/security", alice).json()["error"]["code"] == "Forbidden"
    verify(api, alice)
    r = api.call("PATCH", "/account/security", alice, json={"session_hours": 2})
    assert r.status_code == 403 and r.json()["error"]["code"] == "Forbidden"
    assert api.call("GET", "/account/security").status_code == 401


def test_patch_needs_fresh_verification_and_audits_each_change(api: Api) -> None:
    owner = api.signup()
    api.clock.advance(6 * 60)
    r = api.call("PATCH", "/account/security", owner, json={"session_hours": 2})
    assert r.status_code == 403 and r.json()["error"]["code"] == "VerificationRequired"
    new = {
        "mfa_for_login": "all_users",
        "allow_users_to_manage_mfa": False,
        "remember_mfa_days": 30,
        "session_hours": 1,
        "login_networks": ["10.1.2.3/8", "2001:db8::/32", "192.0.2.7"],
        "password_min_length": 128,
        "password_max_age_days": 90,
        "password_reuse_prevention": 5,
    }
    body = set_prefs(api, owner, **new)
    assert body == {**new, "login_networks": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"]}
    assert api.call("GET", "/account/security", owner).json() == body
    events = api.call("GET", "/audit-events", owner).json()["events"]
    changed = {
        e["detail"]["setting"]: e for e in events if e["action"] == "account.security_changed"
    }
    assert set(changed) == set(DEFAULTS)
    assert changed["session_hours"]["detail"]["old"] == 12
    assert changed["session_hours"]["detail"]["new"] == 1
    assert changed["session_hours"]["actor"] == "acme"
    # Sending what is already set changes nothing and records nothing.
    set_prefs(api, owner, session_hours=1)
    events = api.call("GET", "/audit-events", owner).json()["events"]
    assert sum(e["action"] == "account.security_changed" for e in events) == len(DEFAULTS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mfa_for_login", "everyone"),
        ("mfa_for_login", None),
        ("allow_users_to_manage_mfa", "no"),
        ("remember_mfa_days", -1),
        ("remember_mfa_days", 31),
        ("remember_mfa_days", True),
        ("session_hours", 0),
        ("session_hours", 25),
        ("session_hours", "12"),
        ("password_min_length", 11),
        ("password_min_length", 129),
        ("login_networks", ["10.0.0.0/33"]),
        ("login_networks", ["not-a-network"]),
        ("login_networks", "10.0.0.0/8"),
        ("login_networks", [f"10.{i}.0.0/16" for i in range(41)]),
        ("no_such_setting", 1),
    ],
)
def test_invalid_values_answer_validation_error(api: Api, field: str, value: object) -> None:
    owner = api.signup()
    r = api.call("PATCH", "/account/security", owner, json={field: value})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "ValidationError"
    assert any(k.split(".")[0] == field for k in err["fields"]), err
    assert api.call("GET", "/account/security", owner).json() == DEFAULTS


def test_forty_networks_ipv4_and_ipv6_are_accepted(api: Api) -> None:
    owner = api.signup()
    nets = [f"10.{i}.0.0/16" for i in range(39)] + ["2001:db8::/48"]
    assert set_prefs(api, owner, login_networks=nets)["login_networks"] == nets


def test_mfa_for_login_all_users_gives_setup_only_sessions(api: Api) -> None:
    owner = api.signup()
    alice = api.add_user(owner)
    assert api.login(alice)["state"] == "authenticated"
    set_prefs(api, owner, mfa_for_login="all_users")
    assert api.login(alice)["state"] == "mfa_setup_required"
    assert api.call("GET", "/users", alice).json()["error"]["code"] == "MFASetupRequired"
    # The primary itself is not a sub-user: its login is unchanged.
    assert api.login(owner)["state"] == "authenticated"
    api.enable_mfa(alice)
    assert api.login(alice)["state"] == "authenticated"  # through the code step
    set_prefs(api, owner, mfa_for_login="per_user")
    bob = api.add_user(owner, "bob")
    assert api.login(bob)["state"] == "authenticated"


def test_users_may_not_manage_mfa_only_the_primary_binds(api: Api) -> None:
    owner = api.signup()
    alice = api.add_user(owner)
    api.login(alice)
    api.enable_mfa(alice)  # allowed while the preference is on (the default)
    set_prefs(api, owner, allow_users_to_manage_mfa=False)
    api.verify_mfa(alice)
    for method, path, body in [
        ("POST", "/me/mfa-device", None),
        ("POST", "/me/mfa-device/bind", {"serial": "x", "code1": "1", "code2": "2"}),
        ("DELETE", "/me/mfa-device", None),
        ("POST", "/me/mfa-device/resync", {"code1": "123456", "code2": "654321"}),
        ("POST", "/me/recovery-codes", None),
    ]:
        r = api.call(method, path, alice, json=body)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"]["code"] == "Forbidden", path
    # The primary still manages its own device and the user's.
    api.enable_mfa(owner)
    api.verify_mfa(owner)
    assert api.call("DELETE", "/users/alice/mfa-device", owner).status_code == 204
    api.verify_mfa(owner)
    api.enable_mfa(alice, path="/users/alice/mfa-device", actor=owner)
    assert api.login(alice)["state"] == "authenticated"


def test_required_user_waits_for_the_primary_when_it_may_not_manage(api: Api) -> None:
    """The documented choice: a setup-only sub-user cannot bind its own device while
    self-management is off; the primary binds one for it, and then its login works."""
    owner = api.signup()
    alice = api.add_user(owner)
    set_prefs(api, owner, mfa_for_login="all_users", allow_users_to_manage_mfa=False)
    assert api.login(alice)["state"] == "mfa_setup_required"
    r = api.call("POST", "/me/mfa-device", alice)
    assert r.status_code == 403 and r.json()["error"]["code"] == "Forbidden"
    assert api.call("GET", "/me", alice).json()["restricted"] is True
    verify(api, owner)
    api.enable_mfa(alice, path="/users/alice/mfa-device", actor=owner)
    # The binding ends the user's setup-only session (it proved only the password): the
    # user signs in again, through the code step.
    assert api.call("GET", "/me", alice).status_code == 401
    assert api.login(alice)["state"] == "authenticated"
    me = api.call("GET", "/me", alice).json()
    assert me["restricted"] is False and me["mfa"]["enabled"] is True


def test_session_hours_is_the_absolute_lifetime(api: Api) -> None:
    owner = api.signup()
    set_prefs(api, owner, session_hours=1)
    api.login(owner)
    sessions = api.call("GET", "/me/sessions", owner).json()["sessions"]
    current = next(s for s in sessions if s["current"])
    assert current["expires_at"] != current["created_at"]
    api.clock.advance(59 * 60)  # idle limit is 60 minutes: this request keeps it alive
    assert api.call("GET", "/me", owner).status_code == 200
    api.clock.advance(2 * 60)  # 61 minutes after login, only 2 idle
    r = api.call("GET", "/me", owner)
    assert r.status_code == 401 and r.json()["error"]["code"] == "Unauthenticated"


def test_password_min_length_applies_to_sub_users(api: Api) -> None:
    owner = api.signup()
    set_prefs(api, owner, password_min_length=30)
    r = api.call("POST", "/users", owner, json={"name": "alice", "password": USER_PASSWORD})
    assert r.status_code == 400 and r.json()["error"]["code"] == "ValidationError"
    long_pw = "a much longer sub-user passphrase 42"
    r = api.call("POST", "/users", owner, json={"name": "alice", "password": long_pw})
    assert r.status_code == 201, r.text


def test_login_networks_limit_sub_users_by_peer_address(app: object, api: Api) -> None:
    owner = api.signup()
    api.add_user(owner)
    set_prefs(api, owner, login_networks=["203.0.113.0/24", "2001:db8::/32"])
    body = {"login": "alice@acme", "password": USER_PASSWORD}

    def login_from(addr: str, who: dict[str, str]) -> tuple[int, str]:
        with TestClient(app, client=(addr, 40000)) as c:  # type: ignore[arg-type]
            r = c.post("/api/v1/login", json=who)
            return r.status_code, r.json().get("error", {}).get("code", r.json().get("state"))

    assert login_from("203.0.113.9", body) == (200, "authenticated")
    assert login_from("2001:db8::5", body) == (200, "authenticated")
    assert login_from("198.51.100.1", body) == (403, "NetworkNotAllowed")
    assert login_from("2001:db9::1", body) == (403, "NetworkNotAllowed")
    # The primary is never locked out by its own network list.
    primary = {"login": "acme", "password": owner.password}
    assert login_from("198.51.100.1", primary) == (200, "authenticated")
    events = api.call("GET", "/audit-events", owner).json()["events"]
    assert any(e["result"] == "network_not_allowed" for e in events)
