"""Issue 10: what a binding does to setup-only sessions (F1), step-up on weakening operations
(F5), tightening rules applied to open sessions (F9), and the primary's view of a sub-user's
sessions."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.support import Api, Principal
from tests.web.api.conftest import error
from tests.web.api.prefs import set_prefs, verify


def events(api: Api, who: Principal) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.call("GET", "/audit-events?limit=200", who).json()["events"]
    return found


def setup_only_login(api: Api, p: Principal) -> Principal:
    r = api.call("POST", "/login", json={"login": p.login, "password": p.password})
    assert r.json()["state"] == "mfa_setup_required", r.text
    return Principal(p.login, p.password, token=r.json()["token"])


# ----------------------------------------------------------------------------- F1


def test_a_binding_lifts_only_its_own_session_and_ends_the_other_setup_only_ones(
    api: Api,
) -> None:
    owner = api.signup()
    alice = api.add_user(owner, mfa_required=True)
    alice.token = setup_only_login(api, alice).token
    stranger = setup_only_login(api, alice)  # someone else who knows only the password
    api.enable_mfa(alice)
    assert api.call("GET", "/me", alice).json()["restricted"] is False
    error(api.call("GET", "/me", stranger), 401, "Unauthenticated")
    # The binding counts as a fresh verification for the session that made it.
    r = api.call("POST", "/me/recovery-codes", alice)
    assert r.status_code == 201, r.text
    ended = [e for e in events(api, owner) if e["action"] == "session.setup_only_ended"]
    assert len(ended) == 1 and ended[0]["target"] == "alice@acme"
    assert ended[0]["detail"] == {"count": 1, "reason": "mfa_bound"}


def test_a_primary_binding_ends_every_setup_only_session_of_the_user(api: Api) -> None:
    owner = api.signup()
    alice = api.add_user(owner, mfa_required=True)
    first, second = setup_only_login(api, alice), setup_only_login(api, alice)
    verify(api, owner)
    api.enable_mfa(alice, path="/users/alice/mfa-device", actor=owner)
    for session in (first, second):
        error(api.call("GET", "/me", session), 401, "Unauthenticated")
    ended = [e for e in events(api, owner) if e["action"] == "session.setup_only_ended"]
    assert ended and ended[0]["detail"]["count"] == 2 and ended[0]["actor"] == "acme"
    # The owner of the device signs in through the code step.
    assert api.login(alice)["state"] == "authenticated"


def test_a_setup_only_session_is_not_freshly_verified(api: Api) -> None:
    owner = api.signup()
    api.add_user(owner, mfa_required=True)
    alice = setup_only_login(api, Principal("alice@acme", "sub-user passphrase 42"))
    me = api.call("GET", "/me", alice).json()
    assert me["restricted"] is True and me["verified_until"] is None
    # A step-up route it reaches still asks for a verification...
    error(api.call("DELETE", "/me/mfa-device", alice), 403, "VerificationRequired")
    # ...but creating its first factor needs none, even long after the login.
    api.clock.advance(20 * 60)
    r = api.call("POST", "/me/mfa-device", alice)
    assert r.status_code == 201, r.text


# ----------------------------------------------------------------------------- F5


def test_weakening_a_user_needs_a_fresh_verification(api: Api) -> None:
    owner = api.signup()
    api.add_user(owner, mfa_required=True, email="alice@acme.example")
    api.clock.advance(5 * 60 + 1)  # the owner's login is no longer fresh
    for body in ({"mfa_required": False}, {"email": "mallory@evil.example"}, {"email": None}):
        error(api.call("PATCH", "/users/alice", owner, json=body), 403, "VerificationRequired")
    view = api.call("GET", "/users/alice", owner).json()
    assert view["mfa_required"] is True and view["email"] == "alice@acme.example"
    # Tightening, or sending what is set already, needs none.
    for body in ({"mfa_required": True}, {"email": "alice@acme.example"}):
        r = api.call("PATCH", "/users/alice", owner, json=body)
        assert r.status_code == 200, r.text
    verify(api, owner)
    r = api.call("PATCH", "/users/alice", owner, json={"mfa_required": False, "email": None})
    assert r.status_code == 200, r.text
    assert r.json()["mfa_required"] is False and r.json()["email"] is None


def test_ending_all_other_sessions_needs_a_fresh_verification(api: Api) -> None:
    owner = api.signup()
    other = Principal(owner.login, owner.password)
    api.login(other)
    api.clock.advance(5 * 60 + 1)
    error(api.call("DELETE", "/me/sessions", owner), 403, "VerificationRequired")
    assert api.call("GET", "/me", other).status_code == 200
    verify(api, owner)
    assert api.call("DELETE", "/me/sessions", owner).status_code == 204
    error(api.call("GET", "/me", other), 401, "Unauthenticated")


# ----------------------------------------------------------------------------- F9


def test_requiring_mfa_of_a_user_restricts_its_open_sessions_at_once(api: Api) -> None:
    owner = api.signup()
    alice = api.add_user(owner)
    bob = api.add_user(owner, "bob")
    api.login(alice)
    api.login(bob)
    api.enable_mfa(bob)
    api.login(bob)
    r = api.call("PATCH", "/users/alice", owner, json={"mfa_required": True})
    assert r.status_code == 200, r.text
    error(api.call("GET", "/audit-events", alice), 403, "MFASetupRequired")
    assert api.call("GET", "/me", alice).json()["restricted"] is True
    # A user with a device already meets the rule: its sessions stay as they are.
    api.call("PATCH", "/users/bob", owner, json={"mfa_required": True})
    assert api.call("GET", "/audit-events", bob).status_code == 200
    restricted = [e for e in events(api, owner) if e["action"] == "session.restricted"]
    assert [(e["target"], e["detail"]) for e in restricted] == [
        ("alice@acme", {"count": 1, "reason": "mfa_required"})
    ]
    # The restricted session binds its first factor and is fully signed in again.
    api.enable_mfa(alice)
    assert api.call("GET", "/audit-events", alice).status_code == 200


def test_requiring_mfa_of_all_users_restricts_their_open_sessions(api: Api) -> None:
    owner = api.signup()
    alice = api.add_user(owner)
    api.login(alice)
    set_prefs(api, owner, mfa_for_login="all_users")
    error(api.call("GET", "/audit-events", alice), 403, "MFASetupRequired")
    # The primary is not a sub-user: its own session is untouched.
    assert api.call("GET", "/audit-events", owner).status_code == 200
    restricted = [e for e in events(api, owner) if e["action"] == "session.restricted"]
    assert restricted and restricted[0]["detail"] == {"count": 1, "reason": "mfa_for_login"}


def test_login_networks_hold_for_open_sessions(app: Any, api: Api) -> None:
    owner = api.signup()
    api.add_user(owner)
    body = {"login": "alice@acme", "password": "sub-user passphrase 42"}
    with TestClient(app, client=("203.0.113.9", 40000)) as inside:  # type: ignore[arg-type]
        token = inside.post("/api/v1/login", json=body).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert inside.get("/api/v1/me", headers=headers).status_code == 200
        set_prefs(api, owner, login_networks=["198.51.100.0/24"])
        # The open session is refused at once, on its next request.
        error(inside.get("/api/v1/me", headers=headers), 403, "NetworkNotAllowed")
        set_prefs(api, owner, login_networks=["203.0.113.0/24"])
        assert inside.get("/api/v1/me", headers=headers).status_code == 200
        # The same session from another address is refused.
        with TestClient(app, client=("198.51.100.7", 40000)) as outside:  # type: ignore[arg-type]
            error(outside.get("/api/v1/me", headers=headers), 403, "NetworkNotAllowed")
    # The primary is never locked out by its own network list.
    assert api.call("GET", "/me", owner).status_code == 200


# ----------------------------------------------------------------------------- sub-user sessions


def test_the_primary_lists_and_ends_a_users_sessions(api: Api) -> None:
    owner = api.signup()
    alice = api.add_user(owner)
    phone = Principal(alice.login, alice.password)
    api.login(alice)
    api.login(phone)
    api.clock.advance(5 * 60 + 1)  # ending sessions tightens: no step-up needed
    sessions = api.call("GET", "/users/alice/sessions", owner).json()["sessions"]
    assert len(sessions) == 2 and not any(s["current"] for s in sessions)
    mine = api.call("GET", "/me/sessions", owner).json()["sessions"]
    assert not {s["id"] for s in mine} & {s["id"] for s in sessions}
    phone_id = next(
        s["id"] for s in api.call("GET", "/me/sessions", phone).json()["sessions"] if s["current"]
    )
    assert api.call("DELETE", f"/users/alice/sessions/{phone_id}", owner).status_code == 204
    error(api.call("GET", "/me", phone), 401, "Unauthenticated")
    assert api.call("GET", "/me", alice).status_code == 200
    assert api.call("DELETE", "/users/alice/sessions", owner).status_code == 204
    error(api.call("GET", "/me", alice), 401, "Unauthenticated")
    assert api.call("GET", "/me", owner).status_code == 200
    audit = [(e["action"], e["actor"], e["target"]) for e in events(api, owner)]
    assert ("session.revoked", "acme", "alice@acme") in audit
    assert ("session.revoked_all", "acme", "alice@acme") in audit


def test_only_the_primary_reaches_a_users_sessions(api: Api) -> None:
    owner = api.signup()
    alice = api.add_user(owner)
    api.add_user(owner, "bob")
    api.login(alice)
    error(api.call("GET", "/users/bob/sessions", alice), 403, "Forbidden")
    error(api.call("DELETE", "/users/bob/sessions", alice), 403, "Forbidden")
    error(api.call("GET", "/users/nobody/sessions", owner), 404, "NotFound")
    other = api.signup("other")
    error(api.call("GET", "/users/alice/sessions", other), 404, "NotFound")
    # A session id of someone else is not found under this user.
    mine = api.call("GET", "/me/sessions", owner).json()["sessions"][0]["id"]
    error(api.call("DELETE", f"/users/alice/sessions/{mine}", owner), 404, "NotFound")
    assert api.call("GET", "/me", owner).status_code == 200


def test_disabling_its_own_required_device_leaves_a_user_setup_only(api: Api) -> None:
    owner = api.signup()
    set_prefs(api, owner, allow_users_to_manage_mfa=True)
    alice = api.add_user(owner, mfa_required=True)
    alice.token = setup_only_login(api, alice).token
    api.enable_mfa(alice)
    assert api.call("GET", "/audit-events", alice).status_code == 200
    r = api.call("DELETE", "/me/mfa-device", alice)
    assert r.status_code == 204, r.text
    # MFA is still required of alice: the session that disabled it may only set it up again.
    error(api.call("GET", "/audit-events", alice), 403, "MFASetupRequired")
    assert api.call("GET", "/me", alice).json()["restricted"] is True
