"""Issue 10 in the console (both databases): the binding session alone is promoted, weakening
forms verify first, requiring MFA restricts open sessions, and the primary ends a sub-user's
sessions from its details page."""

from __future__ import annotations

from typing import Any

from tests.support import USER_PASSWORD, Api, Principal
from tests.web.console.conftest import ORIGIN, Console
from tests.web.console.test_flows import bind_on_page


def _verify(console: Console, location: str, password: str) -> Any:
    return console.verify(location, {"method": "password", "password": password})


def test_a_setup_only_console_session_binds_and_the_others_end(
    console: Console, owner: Any, api: Api
) -> None:
    api.add_user(owner, "bob", mfa_required=True)
    other = api.call("POST", "/login", json={"login": "bob@acme", "password": USER_PASSWORD})
    assert other.json()["state"] == "mfa_setup_required"
    r = console.login("bob@acme", USER_PASSWORD)
    assert r.headers["location"] == "/mfa/setup"
    console.clock.advance(20 * 60)  # not fresh: the first factor needs no verification
    r = console.post("/mfa/device", {}, page="/mfa/setup")
    assert r.status_code == 200 and "Identity verification" not in r.text
    _, r = bind_on_page(console, r.text, "/mfa/bind")
    assert r.status_code == 200 and "Virtual MFA is enabled." in r.text
    assert console.get("/").status_code == 200
    stranger = Principal("bob@acme", USER_PASSWORD, token=other.json()["token"])
    assert api.call("GET", "/me", stranger).status_code == 401


def test_turning_mfa_required_off_verifies_first(console: Console, owner: Any, api: Api) -> None:
    alice = api.add_user(owner, "alice")
    api.login(alice)
    console.login(owner.login, owner.password)
    console.clock.advance(6 * 60)
    # On tightens: it runs at once, and the user's open session is restricted at once.
    r = console.post("/users/alice/mfa-required", {"mfa_required": "on"}, page="/users/alice")
    assert r.headers["location"] == "/users/alice?done=mfa-required-on"
    assert api.call("GET", "/audit-events", alice).json()["error"]["code"] == "MFASetupRequired"
    # Off weakens: a stale session verifies first, then the switch continues.
    r = console.post("/users/alice/mfa-required", {"mfa_required": "off"}, page="/users/alice")
    assert r.headers["location"] == "/verify?next=/users/alice&for=user.mfa_required_off"
    page = console.get(r.headers["location"]).text
    assert "stop requiring MFA verification of a user" in page
    assert api.call("GET", "/users/alice", owner).json()["mfa_required"] is True
    r = _verify(console, r.headers["location"], owner.password)
    assert r.status_code == 303 and r.headers["location"] == "/users/alice?done=verified"
    r = console.post("/users/alice/mfa-required", {"mfa_required": "off"},
                     page=r.headers["location"])
    assert r.headers["location"] == "/users/alice?done=mfa-required-off"
    assert api.call("GET", "/users/alice", owner).json()["mfa_required"] is False


def test_ending_other_sessions_verifies_first(console: Console, owner: Any, api: Api) -> None:
    console.login(owner.login, owner.password)
    console.clock.advance(6 * 60)
    api.login(owner)
    r = console.post("/sessions/end-others", {}, page="/sessions")
    assert r.headers["location"] == "/verify?next=/sessions&for=sessions.end_others"
    assert "end your other sessions" in console.get(r.headers["location"]).text
    assert api.call("GET", "/me", owner).status_code == 200
    r = _verify(console, r.headers["location"], owner.password)
    assert r.status_code == 303 and r.headers["location"] == "/sessions?done=verified"
    r = console.post("/sessions/end-others", {}, page=r.headers["location"])
    assert r.status_code == 303 and r.headers["location"] == "/sessions?done=sessions-ended"
    assert api.call("GET", "/me", owner).status_code == 401


def test_the_primary_ends_a_users_sessions_on_its_page(
    console: Console, owner: Any, api: Api
) -> None:
    alice = api.add_user(owner, "alice")
    phone = Principal(alice.login, alice.password)
    api.call("POST", "/login", json={"login": alice.login, "password": alice.password},
             headers={"User-Agent": "alice-phone/3"})
    api.login(alice)
    api.login(phone)
    console.login(owner.login, owner.password)
    console.clock.advance(6 * 60)  # ending tightens: no verification
    page = console.get("/users/alice").text
    assert 'id="user-sessions"' in page and "alice-phone/3" in page
    ids = [
        s["id"] for s in api.call("GET", "/users/alice/sessions", owner).json()["sessions"]
    ]
    assert all(f'data-session="{i}"' in page for i in ids) and len(ids) == 3
    phone_id = next(
        s["id"] for s in api.call("GET", "/me/sessions", phone).json()["sessions"] if s["current"]
    )
    # Like every console form, the End button needs the page's CSRF token.
    r = console.client.post(f"/users/alice/sessions/{phone_id}/end", data={},
                            headers={"Origin": ORIGIN})
    assert r.status_code == 403
    assert api.call("GET", "/me", phone).status_code == 200
    r = console.post(f"/users/alice/sessions/{phone_id}/end", {}, page="/users/alice")
    assert r.status_code == 303 and r.headers["location"] == "/users/alice?done=user-session-ended"
    assert api.call("GET", "/me", phone).status_code == 401
    assert api.call("GET", "/me", alice).status_code == 200
    r = console.post("/users/alice/sessions/end-all", {}, page="/users/alice")
    assert r.headers["location"] == "/users/alice?done=user-sessions-ended"
    assert api.call("GET", "/me", alice).status_code == 401
    assert 'id="user-no-sessions"' in console.get("/users/alice").text
    events = api.call("GET", "/audit-events", owner).json()["events"]
    ended = [e for e in events if e["action"].startswith("session.revoked")]
    assert {(e["action"], e["target"], e["detail"]["via"]) for e in ended} == {
        ("session.revoked", "alice@acme", "console"),
        ("session.revoked_all", "alice@acme", "console"),
    }
    # A GET on the form path goes to the user's page.
    assert console.get("/users/alice/sessions/end-all").headers["location"] == "/users/alice"
