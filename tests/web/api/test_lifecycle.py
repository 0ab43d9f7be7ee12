"""Issue 13: disabling a sub-user, a password set by the primary, the forced change."""

from __future__ import annotations

from typing import Any

from tests.support import PASSWORD, USER_PASSWORD, Api, Principal
from tests.web.api.conftest import error

NEW_PW = "a brand new passphrase 55"
OWN_PW = "my very own passphrase 66"


def _owner_alice(api: Api, **extra: Any) -> tuple[Principal, Principal]:
    owner = api.signup("acme")
    alice = api.add_user(owner, "alice", email="alice@acme.example", **extra)
    return owner, alice


def _status(api: Api, who: Principal, method: str, path: str) -> int:
    return int(api.call(method, path, who).status_code)


# --- disable / enable ---------------------------------------------------------------------


def test_disable_ends_sessions_and_refuses_sign_in(api: Api) -> None:
    owner, alice = _owner_alice(api)
    api.login(alice)
    assert api.call("GET", "/me", alice).status_code == 200
    r = api.call("PATCH", "/users/alice", owner, json={"disabled": True})
    assert r.status_code == 200, r.text
    assert r.json()["disabled"] is True
    error(api.call("GET", "/me", alice), 401, "Unauthenticated")
    # The right password learns it is disabled; a wrong one gets the usual answer.
    error(api.call("POST", "/login", json={"login": alice.login, "password": USER_PASSWORD}),
          403, "AccountDisabled")
    error(api.call("POST", "/login", json={"login": alice.login, "password": "wrong one 12345"}),
          401, "InvalidCredentials")
    listed = api.call("GET", "/users", owner).json()["users"]
    assert [(u["name"], u["disabled"]) for u in listed] == [("alice", True)]
    actions = [(e["action"], e["result"], e["actor"])
               for e in api.call("GET", "/audit-events?limit=50", owner).json()["events"]]
    assert ("user.disabled", "success", "acme") in actions
    assert ("login.failed", "disabled", "alice@acme") in actions
    # Enabling restores sign-in, not the ended sessions.
    r = api.call("PATCH", "/users/alice", owner, json={"disabled": False})
    assert r.status_code == 200 and r.json()["disabled"] is False
    error(api.call("GET", "/me", alice), 401, "Unauthenticated")
    assert api.login(alice)["state"] == "authenticated"
    assert ("user.enabled", "success", "acme") in [
        (e["action"], e["result"], e["actor"])
        for e in api.call("GET", "/audit-events?limit=50", owner).json()["events"]]


def test_disabled_user_keeps_its_device_and_the_disable_needs_fresh_verification(
    api: Api,
) -> None:
    owner, alice = _owner_alice(api)
    api.login(alice)
    api.enable_mfa(alice)
    api.clock.advance(6 * 60)  # the owner's sign-in is no longer fresh
    error(api.call("PATCH", "/users/alice", owner, json={"disabled": True}),
          403, "VerificationRequired")
    assert api.call("POST", "/verify", owner,
                    json={"method": "password", "password": PASSWORD}).status_code == 200
    assert api.call("PATCH", "/users/alice", owner, json={"disabled": True}).status_code == 200
    assert api.call("GET", "/users/alice", owner).json()["mfa"]["enabled"] is True
    # Its device stays bound; a sign-in with its right password is refused.
    error(api.call("POST", "/login", json={"login": alice.login, "password": USER_PASSWORD}),
          403, "AccountDisabled")


def test_only_the_primary_disables_and_only_its_own_users(api: Api) -> None:
    owner, alice = _owner_alice(api)
    api.login(alice)
    error(api.call("PATCH", "/users/alice", alice, json={"disabled": True}), 403, "Forbidden")
    evil = api.signup("evil")
    error(api.call("PATCH", "/users/alice", evil, json={"disabled": True}), 404, "NotFound")
    error(api.call("PATCH", "/users/alice", owner, json={"disabled": "yes"}),
          400, "ValidationError")
    assert api.call("GET", "/me", alice).status_code == 200


# --- a password set by the primary, and the forced change ----------------------------------


def test_primary_sets_a_password_every_session_ends_and_the_user_must_change_it(
    api: Api,
) -> None:
    owner, alice = _owner_alice(api)
    api.login(alice)
    r = api.call("PATCH", "/users/alice", owner,
                 json={"password": NEW_PW, "password_reset_required": True})
    assert r.status_code == 200, r.text
    assert r.json()["password_reset_required"] is True
    error(api.call("GET", "/me", alice), 401, "Unauthenticated")
    error(api.call("POST", "/login", json={"login": alice.login, "password": USER_PASSWORD}),
          401, "InvalidCredentials")
    alice.password = NEW_PW
    body = api.login(alice)
    assert body["state"] == "password_change_required" and body["token"]
    me = api.call("GET", "/me", alice)
    assert me.status_code == 200 and me.json()["password_change_required"] is True
    for method, path in (("GET", "/me/sessions"), ("GET", "/audit-events"),
                         ("POST", "/me/mfa-device"), ("GET", "/users")):
        error(api.call(method, path, alice), 403, "PasswordChangeRequired")
    # The same password again, or one the policy refuses: refused, nothing changes.
    error(api.call("POST", "/me/password", alice, json={"new_password": NEW_PW}),
          400, "ValidationError")
    error(api.call("POST", "/me/password", alice, json={"new_password": "short"}),
          400, "ValidationError")
    r = api.call("POST", "/me/password", alice, json={"new_password": OWN_PW})
    assert r.status_code == 204, r.text
    assert api.call("GET", "/me/sessions", alice).status_code == 200
    assert api.call("GET", "/users/alice", owner).json()["password_reset_required"] is False
    alice.password = OWN_PW
    assert api.login(alice)["state"] == "authenticated"
    events = api.call("GET", "/audit-events?limit=50", owner).json()["events"]
    assert any(e["action"] == "password.set" for e in events)
    assert any(e["action"] == "password.changed" and e["detail"] == {"forced": True}
               for e in events)
    assert NEW_PW not in str(events) and OWN_PW not in str(events)


def test_order_is_password_code_forced_change_then_mfa_setup(api: Api) -> None:
    owner, alice = _owner_alice(api, mfa_required=True)
    error(api.call("PATCH", "/users/alice", owner, json={"password_reset_required": "x"}),
          400, "ValidationError")
    assert api.call("PATCH", "/users/alice", owner,
                    json={"password_reset_required": True}).status_code == 200
    assert api.login(alice)["state"] == "password_change_required"
    # The setup comes after the change: not yet reachable.
    error(api.call("POST", "/me/mfa-device", alice), 403, "PasswordChangeRequired")
    assert api.call("POST", "/me/password", alice,
                    json={"new_password": OWN_PW}).status_code == 204
    error(api.call("GET", "/me/sessions", alice), 403, "MFASetupRequired")
    alice.password = OWN_PW
    api.enable_mfa(alice)
    assert api.call("GET", "/me/sessions", alice).status_code == 200
    # With a device bound: password, then the code, then the forced change.
    assert api.call("PATCH", "/users/alice", owner,
                    json={"password_reset_required": True}).status_code == 200
    r = api.call("POST", "/login", json={"login": alice.login, "password": OWN_PW})
    assert r.json()["state"] == "mfa_required"
    api.clock.advance(30)
    r = api.call("POST", "/login/mfa",
                 json={"challenge": r.json()["challenge"], "code": api.code(alice)})
    assert r.status_code == 200 and r.json()["state"] == "password_change_required", r.text


def test_the_usual_password_change_still_needs_step_up_and_the_current_one(api: Api) -> None:
    owner = api.signup("acme")
    error(api.call("POST", "/me/password", owner, json={"new_password": NEW_PW}),
          400, "ValidationError")
    api.clock.advance(6 * 60)
    error(api.call("POST", "/me/password", owner,
                   json={"current_password": PASSWORD, "new_password": NEW_PW}),
          403, "VerificationRequired")


def test_setting_a_password_needs_fresh_verification_and_passes_the_policy(api: Api) -> None:
    owner, alice = _owner_alice(api)
    error(api.call("PATCH", "/users/alice", owner, json={"password": "short"}),
          400, "ValidationError")
    api.clock.advance(6 * 60)
    error(api.call("PATCH", "/users/alice", owner, json={"password": NEW_PW}),
          403, "VerificationRequired")
    alice_old = Principal(alice.login, USER_PASSWORD)
    assert api.login(alice_old)["state"] == "authenticated"


def test_a_new_password_and_a_disable_forget_remembered_browsers(api: Api) -> None:
    from tests.web.api.test_remember_browser import code_login, remembered_login

    owner, alice = _owner_alice(api)
    assert api.call("PATCH", "/account/security", owner,
                    json={"remember_mfa_days": 7}).status_code == 200
    api.login(alice)
    api.enable_mfa(alice)
    remember = code_login(api, alice)["remember_token"]
    assert remembered_login(api, alice, remember)["state"] == "authenticated"
    assert api.call("PATCH", "/users/alice", owner, json={"password": NEW_PW}).status_code == 200
    alice.password = NEW_PW
    assert remembered_login(api, alice, remember)["state"] == "mfa_required"
    remember = code_login(api, alice)["remember_token"]
    assert api.call("PATCH", "/users/alice", owner, json={"disabled": True}).status_code == 200
    assert api.call("PATCH", "/users/alice", owner, json={"disabled": False}).status_code == 200
    assert remembered_login(api, alice, remember)["state"] == "mfa_required"
