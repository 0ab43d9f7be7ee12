"""Console pages of issue 7 (both databases): security preferences, sessions, recovery codes."""

from __future__ import annotations

from typing import Any

from tests.support import Api, oathtool
from tests.web.console.conftest import Console, csrf_of

FORM = {
    "mfa_for_login": "all_users",
    "allow_users_to_manage_mfa": "on",
    "remember_mfa_days": "7",
    "session_hours": "8",
    "login_networks": "203.0.113.0/24\n2001:db8::/32",
    "password_min_length": "16",
}


def test_primary_saves_preferences(console: Console, owner: Any, api: Api) -> None:
    console.login(owner.login, owner.password)
    page = console.get("/account/security")
    assert page.status_code == 200
    assert 'name="session_hours"' in page.text and 'href="/account/security"' in page.text
    r = console.post("/account/security", FORM)
    assert r.status_code == 303 and r.headers["location"].startswith("/account/security")
    shown = console.get(r.headers["location"])
    assert "The security preferences were saved." in shown.text
    assert "2001:db8::/32" in shown.text
    prefs = api.call("GET", "/account/security", owner).json()
    assert prefs == {
        "mfa_for_login": "all_users",
        "allow_users_to_manage_mfa": True,
        "remember_mfa_days": 7,
        "session_hours": 8,
        "login_networks": ["203.0.113.0/24", "2001:db8::/32"],
        "password_min_length": 16,
        # Issue 13's policy: left out of the form, unchanged.
        "password_max_age_days": 0,
        "password_reuse_prevention": 0,
    }
    # An unchecked box sends nothing: the preference turns off.
    r = console.post("/account/security", {**FORM, "allow_users_to_manage_mfa": ""})
    assert r.status_code == 303
    assert api.call("GET", "/account/security", owner).json()["allow_users_to_manage_mfa"] is False
    events = api.call("GET", "/audit-events", owner).json()["events"]
    assert sum(e["action"] == "account.security_changed" for e in events) == 6  # 5 + 1


def test_invalid_values_are_shown_and_nothing_changes(
    console: Console, owner: Any, api: Api
) -> None:
    console.login(owner.login, owner.password)
    r = console.post(
        "/account/security",
        {**FORM, "session_hours": "25", "login_networks": "10.0.0.0/33"},
    )
    assert r.status_code == 400
    assert 'id="preferences-error"' in r.text and 'id="login_networks-error"' in r.text
    assert "a whole number from 1 to 24" in r.text
    assert "10.0.0.0/33" in r.text  # the input is kept for correction
    assert api.call("GET", "/account/security", owner).json()["session_hours"] == 12


def test_a_stale_session_verifies_first_then_saves(console: Console, owner: Any, api: Api) -> None:
    console.login(owner.login, owner.password)
    console.clock.advance(6 * 60)
    # The form is not shown to a stale session, and a stale POST changes nothing.
    r = console.get("/account/security")
    assert r.headers["location"] == "/verify?next=/account/security&for=account.security"
    assert "change the account" in console.get(r.headers["location"]).text
    stale = console.post_with("/account/security", FORM, csrf_of(console.get("/").text))
    assert stale.headers["location"] == r.headers["location"]
    assert api.call("GET", "/account/security", owner).json()["session_hours"] == 12
    r = console.verify(r.headers["location"], {"method": "password", "password": owner.password})
    assert r.status_code == 303 and r.headers["location"] == "/account/security?done=verified"
    r = console.post("/account/security", FORM, page=r.headers["location"])
    assert r.headers["location"] == "/account/security?done=preferences-saved"
    assert api.call("GET", "/account/security", owner).json()["session_hours"] == 8


def test_sub_users_cannot_reach_the_preferences(console: Console, owner: Any, api: Api) -> None:
    alice = api.add_user(owner)
    console.login(alice.login, alice.password)
    page = console.get("/")
    assert 'href="/account/security"' not in page.text and 'href="/sessions"' in page.text
    assert console.get("/account/security").status_code == 403


def test_sessions_page_ends_one_others_and_itself(
    console: Console, owner: Any, api: Api
) -> None:
    console.login(owner.login, owner.password)
    phone = api.call(
        "POST",
        "/login",
        json={"login": owner.login, "password": owner.password},
        headers={"User-Agent": "phone-app/2"},
    ).json()["token"]
    page = console.get("/sessions")
    assert page.status_code == 200 and "phone-app/2" in page.text and "This session" in page.text
    other_id = next(
        s["id"] for s in api.call("GET", "/me/sessions", owner).json()["sessions"]
        if s["user_agent"] == "phone-app/2"
    )
    r = console.post(f"/sessions/{other_id}/end", {}, page="/sessions")
    assert r.status_code == 303
    assert api.call("GET", "/me", headers={"Authorization": f"Bearer {phone}"}).status_code == 401
    api.login(owner)
    r = console.post("/sessions/end-others", {}, page="/sessions")
    assert r.status_code == 303
    assert api.call("GET", "/me", owner).status_code == 401
    assert "Every other session was ended" in console.get("/sessions?done=sessions-ended").text
    mine = csrf_of(console.get("/sessions").text)
    my_id = console.get("/sessions").text.split('data-session="')[1].split('"')[0]
    r = console.post_with(f"/sessions/{my_id}/end", {}, mine)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    # A console page never answers the API's 401: the ended session is sent to sign in.
    gone = console.get("/sessions")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")


def test_recovery_codes_warning_at_three_or_fewer(
    console: Console, owner: Any, api: Api
) -> None:
    api.enable_mfa(owner)
    console.login(owner.login, owner.password, code=api.code(owner))
    page = console.get("/security/recovery-codes")
    assert 'id="recovery-left">10<' in page.text and 'id="recovery-warning"' not in page.text
    for code in owner.recovery_codes[:7]:
        r = api.call("POST", "/login", json={"login": owner.login, "password": owner.password})
        r = api.call(
            "POST", "/login/mfa", json={"challenge": r.json()["challenge"], "recovery_code": code}
        )
        assert r.status_code == 200
    page = console.get("/security/recovery-codes")
    assert 'id="recovery-warning"' in page.text and "Only 3 recovery codes left." in page.text
    assert 'id="recovery-warning"' in console.get("/security").text
    # A new set, after verifying with a code (the sign-in is more than 5 minutes old).
    console.clock.advance(6 * 60)
    r = console.post("/security/recovery-codes", {}, page="/security/recovery-codes")
    assert r.headers["location"] == (
        "/verify?next=/security/recovery-codes&for=recovery.regenerate"
    )
    r = console.verify(
        r.headers["location"],
        {"method": "mfa", "code": oathtool(owner.secret, console.clock.epoch)},
    )
    assert r.headers["location"] == "/security/recovery-codes?done=verified"
    r = console.post("/security/recovery-codes", {}, page=r.headers["location"])
    assert r.status_code == 200 and 'id="recovery-codes"' in r.text
    page = console.get("/security/recovery-codes")
    assert 'id="recovery-left">10<' in page.text and 'id="recovery-warning"' not in page.text


def test_remember_this_browser_skips_only_the_code(console: Console, owner: Any, api: Api) -> None:
    api.enable_mfa(owner)
    verify_r = api.verify_mfa(owner)
    assert verify_r.status_code == 200
    assert api.call(
        "PATCH", "/account/security", owner, json={"remember_mfa_days": 7}
    ).status_code == 200
    r = console.post("/login", {"login": owner.login, "password": owner.password})
    assert r.headers["location"].startswith("/login/mfa")
    assert 'name="remember_browser"' in console.get("/login/mfa").text
    console.clock.advance(30)
    r = console.post(
        "/login/mfa",
        {"code": api.code(owner), "remember_browser": "on"},
        page="/login/mfa",
    )
    assert r.status_code == 303
    assert console.client.cookies.get("twofold_remember")
    console.post("/logout", {}, page="/")
    # The password alone now signs this browser in...
    r = console.post("/login", {"login": owner.login, "password": owner.password})
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert console.get("/").status_code == 200
    # ...but a sensitive operation still asks for a code first.
    r = console.get("/account/security")
    assert r.headers["location"].startswith("/verify?")
    assert 'name="code"' in console.get(r.headers["location"]).text
    # Ending the sessions (here: all others, from the API) forgets the browser.
    api.login(owner)
    assert api.call("DELETE", "/me/sessions", owner).status_code == 204
    console.client.cookies.delete("twofold_session")
    r = console.post("/login", {"login": owner.login, "password": owner.password})
    assert r.headers["location"].startswith("/login/mfa")


def test_a_user_who_may_not_manage_mfa_is_told_to_ask_the_owner(
    console: Console, owner: Any, api: Api
) -> None:
    alice = api.add_user(owner, mfa_required=True)
    assert api.call("PATCH", "/account/security", owner,
                    json={"allow_users_to_manage_mfa": False}).status_code == 200
    console.login(alice.login, alice.password)
    page = console.get("/mfa/setup")
    assert page.status_code == 200
    assert 'id="ask-owner"' in page.text and 'id="mfa-start"' not in page.text
    # With self-management allowed again, the same page offers the setup button.
    api.call("PATCH", "/account/security", owner, json={"allow_users_to_manage_mfa": True})
    page = console.get("/mfa/setup")
    assert 'id="mfa-start"' in page.text and 'id="ask-owner"' not in page.text


def test_primary_sets_the_password_policy(console: Console, owner: Any, api: Api) -> None:
    console.login(owner.login, owner.password)
    page = console.get("/account/security")
    assert 'name="password_max_age_days"' in page.text
    assert 'name="password_reuse_prevention"' in page.text
    r = console.post("/account/security", {**FORM, "password_max_age_days": "90",
                                           "password_reuse_prevention": "5"})
    assert r.status_code == 303, r.text
    prefs = api.call("GET", "/account/security", owner).json()
    assert prefs["password_max_age_days"] == 90 and prefs["password_reuse_prevention"] == 5
    r = console.post("/account/security", {**FORM, "password_reuse_prevention": "25"})
    assert r.status_code == 400 and "0 to 24" in r.text
