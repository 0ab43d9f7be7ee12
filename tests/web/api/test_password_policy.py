"""Issue 13: the account's password policy beyond the minimum length: a maximum age (an
expired password leads to password_change_required) and reuse prevention (the last N
passwords, compared by their argon2 hashes)."""

from __future__ import annotations

from tests.support import USER_PASSWORD, Api, Principal
from tests.web.api.conftest import error

DAY = 86400
PW_B, PW_C = "second passphrase bb 22", "third passphrase cc 33"


def _policy(api: Api, owner: Principal, **prefs: int) -> None:
    r = api.call("PATCH", "/account/security", owner, json=prefs)
    assert r.status_code == 200, r.text
    for name, value in prefs.items():
        assert r.json()[name] == value


def test_policy_bounds_are_checked(api: Api) -> None:
    owner = api.signup("acme")
    body = api.call("GET", "/account/security", owner).json()
    assert body["password_max_age_days"] == 0 and body["password_reuse_prevention"] == 0
    for prefs in ({"password_max_age_days": -1}, {"password_max_age_days": 5000},
                  {"password_reuse_prevention": 25}, {"password_reuse_prevention": True}):
        error(api.call("PATCH", "/account/security", owner, json=prefs), 400, "ValidationError")


def test_an_expired_password_must_be_changed(api: Api) -> None:
    owner = api.signup("acme")
    alice = api.add_user(owner, "alice")
    api.clock.advance(2 * DAY)
    api.login(owner)
    assert api.login(alice)["state"] == "authenticated"
    _policy(api, owner, password_max_age_days=1)
    # Open sessions are held at the gate at once; the primary's own password never expires.
    error(api.call("GET", "/me/sessions", alice), 403, "PasswordChangeRequired")
    assert api.call("GET", "/me", alice).json()["password_change_required"] is True
    assert api.call("GET", "/me/sessions", owner).status_code == 200
    assert api.login(alice)["state"] == "password_change_required"
    error(api.call("POST", "/me/password", alice, json={"new_password": USER_PASSWORD}),
          400, "ValidationError")
    assert api.call("POST", "/me/password", alice,
                    json={"new_password": PW_B}).status_code == 204
    assert api.call("GET", "/me/sessions", alice).status_code == 200
    alice.password = PW_B
    assert api.login(alice)["state"] == "authenticated"
    api.clock.advance(DAY + 1)
    assert api.login(alice)["state"] == "password_change_required"
    api.login(owner)
    _policy(api, owner, password_max_age_days=0)
    assert api.login(alice)["state"] == "authenticated"


def test_the_last_passwords_do_not_come_back(api: Api) -> None:
    owner = api.signup("acme")
    alice = api.add_user(owner, "alice")
    _policy(api, owner, password_reuse_prevention=3)
    api.login(alice)

    def change(current: str, new: str) -> object:
        return api.call("POST", "/me/password", alice,
                        json={"current_password": current, "new_password": new})

    error(change(USER_PASSWORD, USER_PASSWORD), 400, "ValidationError")
    assert change(USER_PASSWORD, PW_B).status_code == 204  # type: ignore[attr-defined]
    error(change(PW_B, USER_PASSWORD), 400, "ValidationError")
    assert change(PW_B, PW_C).status_code == 204  # type: ignore[attr-defined]
    error(change(PW_C, USER_PASSWORD), 400, "ValidationError")  # A, B, C: the last 3
    # With the last 2 only, the first one may come back.
    _policy(api, owner, password_reuse_prevention=2)
    assert change(PW_C, USER_PASSWORD).status_code == 204  # type: ignore[attr-defined]
    # The primary's reset keeps the history too: the forced change may not go back.
    _policy(api, owner, password_reuse_prevention=3)
    assert api.call("PATCH", "/users/alice", owner,
                    json={"password": "set by the primary 44",
                          "password_reset_required": True}).status_code == 200
    alice.password = "set by the primary 44"
    assert api.login(alice)["state"] == "password_change_required"
    error(api.call("POST", "/me/password", alice, json={"new_password": USER_PASSWORD}),
          400, "ValidationError")
    assert api.call("POST", "/me/password", alice,
                    json={"new_password": "a fourth passphrase 55"}).status_code == 204
    events = str(api.call("GET", "/audit-events?limit=100", owner).json())
    assert PW_B not in events and "argon2" not in events
