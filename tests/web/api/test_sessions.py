"""GET /me/sessions, DELETE /me/sessions/{id}, DELETE /me/sessions, and password change."""

from __future__ import annotations

from tests.support import Api, Principal
from tests.web.api.prefs import verify


def second_login(api: Api, p: Principal, agent: str) -> str:
    r = api.call(
        "POST",
        "/login",
        json={"login": p.login, "password": p.password},
        headers={"User-Agent": agent},
    )
    token: str = r.json()["token"]
    return token


def test_list_shows_address_agent_times_and_current(api: Api) -> None:
    owner = api.signup()
    other = second_login(api, owner, "phone-browser/1.0")
    sessions = api.call("GET", "/me/sessions", owner).json()["sessions"]
    assert len(sessions) == 2
    assert sum(s["current"] for s in sessions) == 1
    phone = next(s for s in sessions if not s["current"])
    assert phone["user_agent"] == "phone-browser/1.0"
    assert phone["client_addr"] == "testclient"
    assert phone["created_at"] and phone["last_seen_at"] and phone["expires_at"]
    # Another principal's sessions are not visible nor reachable.
    alice = api.add_user(owner)
    api.login(alice)
    mine = api.call("GET", "/me/sessions", alice).json()["sessions"]
    assert [s["id"] for s in mine] != [s["id"] for s in sessions] and len(mine) == 1
    r = api.call("DELETE", f"/me/sessions/{phone['id']}", alice)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"
    assert api.call("GET", "/me", Principal("acme", "", token=other)).status_code == 200


def test_end_one_session(api: Api) -> None:
    owner = api.signup()
    other = second_login(api, owner, "other")
    sessions = api.call("GET", "/me/sessions", owner).json()["sessions"]
    target = next(s for s in sessions if not s["current"])
    assert api.call("DELETE", f"/me/sessions/{target['id']}", owner).status_code == 204
    assert api.call("GET", "/me", Principal("acme", "", token=other)).status_code == 401
    assert api.call("GET", "/me", owner).status_code == 200
    events = api.call("GET", "/audit-events", owner).json()["events"]
    revoked = next(e for e in events if e["action"] == "session.revoked")
    assert revoked["detail"]["session"] == target["id"]


def test_end_all_other_sessions(api: Api) -> None:
    owner = api.signup()
    others = [second_login(api, owner, f"agent {i}") for i in range(3)]
    assert api.call("DELETE", "/me/sessions", owner).status_code == 204
    for token in others:
        assert api.call("GET", "/me", Principal("acme", "", token=token)).status_code == 401
    sessions = api.call("GET", "/me/sessions", owner).json()["sessions"]
    assert len(sessions) == 1 and sessions[0]["current"]
    events = api.call("GET", "/audit-events", owner).json()["events"]
    assert next(e for e in events if e["action"] == "session.revoked_others")["detail"][
        "count"
    ] == 3


def test_password_change_ends_other_sessions(api: Api) -> None:
    owner = api.signup()
    other = second_login(api, owner, "other")
    verify(api, owner)
    new = "a brand new passphrase 2024"
    r = api.call(
        "POST",
        "/me/password",
        owner,
        json={"current_password": owner.password, "new_password": new},
    )
    assert r.status_code == 204, r.text
    assert api.call("GET", "/me", Principal("acme", "", token=other)).status_code == 401
    assert api.call("GET", "/me", owner).status_code == 200
