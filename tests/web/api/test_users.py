"""Sub-users: CRUD by the primary; sub-users and other accounts never reach them."""

from __future__ import annotations

from tests.support import USER_PASSWORD, Api
from tests.web.api.conftest import error


def test_create_list_get_patch(api: Api) -> None:
    owner = api.signup()
    assert api.call("GET", "/users", owner).json() == {"users": []}
    r = api.call("POST", "/users", owner, json={"name": "alice", "password": USER_PASSWORD,
                                                 "email": "alice@acme.example"})
    assert r.status_code == 201
    alice = r.json()
    assert alice["name"] == "alice"
    assert alice["login"] == "alice@acme"
    assert alice["email"] == "alice@acme.example"
    assert alice["mfa"] == {"enabled": False, "serial": None, "bound_at": None,
                            "recovery_codes_left": None, "totp": False, "security_keys": 0}
    assert alice["mfa_required"] is False
    api.add_user(owner, "bob", mfa_required=True)
    users = api.call("GET", "/users", owner).json()["users"]
    assert [u["login"] for u in users] == ["alice@acme", "bob@acme"]
    assert users[1]["mfa_required"] is True
    assert api.call("GET", "/users/alice", owner).json()["login"] == "alice@acme"

    r = api.call("PATCH", "/users/alice", owner, json={"mfa_required": True})
    assert r.status_code == 200 and r.json()["mfa_required"] is True
    assert r.json()["email"] == "alice@acme.example"  # untouched when not sent
    r = api.call("PATCH", "/users/alice", owner, json={"email": "new@acme.example"})
    assert r.json()["email"] == "new@acme.example" and r.json()["mfa_required"] is True
    r = api.call("PATCH", "/users/alice", owner, json={"email": None})
    assert r.json()["email"] is None
    assert api.call("GET", "/users/alice", owner).json()["email"] is None
    e = error(api.call("PATCH", "/users/alice", owner, json={"name": "eve"}), 400,
              "ValidationError")
    assert "name" in e["fields"]


def test_sub_user_logs_in_as_name_at_account(api: Api) -> None:
    owner = api.signup()
    alice = api.add_user(owner)
    api.login(alice)
    me = api.call("GET", "/me", alice).json()
    assert (me["login"], me["kind"], me["account"]) == ("alice@acme", "user", "acme")
    r = api.call("POST", "/login", json={"login": "alice", "password": USER_PASSWORD})
    error(r, 401, "InvalidCredentials")


def test_duplicate_user_is_409_but_other_accounts_may_reuse_the_name(api: Api) -> None:
    owner = api.signup()
    api.add_user(owner)
    r = api.call("POST", "/users", owner, json={"name": "alice", "password": USER_PASSWORD})
    error(r, 409, "AlreadyExists")
    other = api.signup("globex")
    assert api.add_user(other).login == "alice@globex"


def test_user_validation(api: Api) -> None:
    owner = api.signup()
    e = error(api.call("POST", "/users", owner, json={"name": "Al", "password": USER_PASSWORD}),
              400, "ValidationError")
    assert "name" in e["fields"]
    e = error(api.call("POST", "/users", owner, json={"name": "alice", "password": "alice@acme"}),
              400, "ValidationError")
    assert "password" in e["fields"]
    e = error(api.call("POST", "/users", owner,
                       json={"name": "alice", "password": USER_PASSWORD, "email": "nope"}),
              400, "ValidationError")
    assert "email" in e["fields"]
    e = error(api.call("POST", "/users", owner,
                       json={"name": "alice", "password": USER_PASSWORD, "mfa_required": "x"}),
              400, "ValidationError")
    assert "mfa_required" in e["fields"]


def test_sub_user_gets_403_on_user_management(api: Api) -> None:
    owner = api.signup()
    api.add_user(owner, "bob")
    alice = api.add_user(owner)
    api.login(alice)
    for method, path, body in [
        ("GET", "/users", None),
        ("POST", "/users", {"name": "eve", "password": USER_PASSWORD}),
        ("GET", "/users/bob", None),
        ("PATCH", "/users/bob", {"mfa_required": True}),
        ("DELETE", "/users/bob", None),
        ("POST", "/users/bob/mfa-device", None),
        ("DELETE", "/users/bob/mfa-device", None),
    ]:
        r = api.call(method, path, alice, json=body)
        error(r, 403, "Forbidden")
    assert api.call("GET", "/users/bob", owner).json()["mfa_required"] is False


def test_other_account_gets_404_and_never_the_data(api: Api) -> None:
    owner = api.signup()
    api.add_user(owner, email="alice@acme.example")
    intruder = api.signup("globex")
    for method, path, body in [
        ("GET", "/users/alice", None),
        ("PATCH", "/users/alice", {"mfa_required": True}),
        ("DELETE", "/users/alice", None),
        ("POST", "/users/alice/mfa-device", None),
        ("POST", "/users/alice/mfa-device/bind",
         {"serial": "x", "code1": "123456", "code2": "234567"}),
        ("DELETE", "/users/alice/mfa-device", None),
    ]:
        r = api.call(method, path, intruder, json=body)
        e = error(r, 404, "NotFound")
        assert "alice@acme" not in r.text
        assert "alice@acme.example" not in r.text, e
    assert api.call("GET", "/users", intruder).json() == {"users": []}
    alice = api.call("GET", "/users/alice", owner).json()
    assert alice["mfa_required"] is False


def test_unauthenticated_is_401(api: Api) -> None:
    for method, path in [("GET", "/users"), ("POST", "/users"), ("GET", "/users/x"),
                         ("DELETE", "/users/x"), ("GET", "/me"), ("POST", "/logout")]:
        error(api.call(method, path), 401, "Unauthenticated")


def test_delete_needs_fresh_verification_and_ends_the_users_sessions(api: Api) -> None:
    owner = api.signup()
    alice = api.add_user(owner)
    api.login(alice)
    api.clock.advance(5 * 60 + 1)  # past the 5-minute window since the owner's login
    error(api.call("DELETE", "/users/alice", owner), 403, "VerificationRequired")
    assert api.call("GET", "/users/alice", owner).status_code == 200
    r = api.call("POST", "/verify", owner, json={"method": "password", "password": "wrong"})
    error(r, 401, "InvalidCredentials")
    error(api.call("DELETE", "/users/alice", owner), 403, "VerificationRequired")
    r = api.call("POST", "/verify", owner, json={"method": "password", "password": owner.password})
    assert r.status_code == 200
    assert api.call("DELETE", "/users/alice", owner).status_code == 204
    error(api.call("GET", "/users/alice", owner), 404, "NotFound")
    error(api.call("GET", "/me", alice), 401, "Unauthenticated")
    r = api.call("POST", "/login", json={"login": alice.login, "password": alice.password})
    error(r, 401, "InvalidCredentials")


def test_fresh_window_edge(api: Api) -> None:
    owner = api.signup()
    api.add_user(owner)
    api.add_user(owner, "bob")
    api.clock.advance(5 * 60)  # exactly at the edge: still fresh
    assert api.call("DELETE", "/users/alice", owner).status_code == 204
    api.clock.advance(1)
    error(api.call("DELETE", "/users/bob", owner), 403, "VerificationRequired")


def test_an_audit_cursor_past_every_event_pages_from_the_newest(api: Api) -> None:
    owner = api.signup()
    newest = api.call("GET", "/audit-events?limit=1", owner).json()["events"][0]
    r = api.call("GET", f"/audit-events?limit=1&before={2**31 - 1}", owner)
    assert r.status_code == 200, r.text
    assert r.json()["events"][0]["action"] == newest["action"]
