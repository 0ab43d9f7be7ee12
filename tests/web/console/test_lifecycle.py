"""Issue 13 in the console (both databases): disable/enable with confirmation, the primary's
"Reset password" (generated, shown once; must change ticked by default), the forced
"Change your password" gate before the MFA setup."""

from __future__ import annotations

import re
from typing import Any

from tests.support import PASSWORD, USER_PASSWORD, Api, Principal
from tests.web.console.conftest import Console, csrf_of

OWN_PW = "my very own passphrase 66"


def _signed_in_owner(console: Console) -> None:
    assert console.login("acme", PASSWORD).status_code == 303


def test_disable_and_enable_from_the_user_page(console: Console, owner: Any, api: Api) -> None:
    alice = api.add_user(owner, "alice")
    api.login(alice)
    _signed_in_owner(console)
    page = console.get("/users/alice")
    assert 'id="user-status-toggle"' in page.text and "Active" in page.text
    confirm = console.get("/users/alice/status")
    assert confirm.status_code == 200 and "signed out everywhere" in confirm.text
    # No CSRF token: refused, nothing changes.
    r = console.client.post("/users/alice/status", data={"disabled": "on"},
                            headers={"Origin": "http://testserver"})
    assert r.status_code == 403
    assert api.call("GET", "/me", alice).status_code == 200
    r = console.post("/users/alice/status", {"disabled": "on"}, page="/users/alice/status")
    assert r.status_code == 303 and r.headers["location"] == "/users/alice?done=user-disabled"
    assert api.call("GET", "/me", alice).status_code == 401
    assert "Disabled" in console.get("/users").text
    r = console.post("/users/alice/status", {"disabled": "off"}, page="/users/alice/status")
    assert r.headers["location"] == "/users/alice?done=user-enabled"
    assert api.login(alice)["state"] == "authenticated"
    # A disabled user's console sign-in with the right password is told so.
    console.post("/users/alice/status", {"disabled": "on"}, page="/users/alice/status")
    other = Console(console.client.__class__(console.client.app, base_url="http://testserver"),
                    console.clock)
    r = other.login("alice@acme", USER_PASSWORD)
    assert r.status_code == 403 and "disabled" in r.text


def test_reset_password_generates_one_shown_once_and_forces_the_change(
    console: Console, owner: Any, api: Api
) -> None:
    api.add_user(owner, "alice", mfa_required=True)
    _signed_in_owner(console)
    form = console.get("/users/alice/password")
    assert form.status_code == 200
    assert re.search(r'name="must_change" value="on" id="must-change"\s+checked', form.text)
    r = console.post_with("/users/alice/password", {"mode": "generate", "must_change": "on"},
                          csrf_of(form.text))
    assert r.status_code == 200, r.text
    generated = re.search(r'id="generated-password">([^<]+)<', r.text)
    assert generated
    new = generated.group(1)
    assert new not in console.get("/users/alice").text  # shown once
    assert new not in str(api.call("GET", "/audit-events?limit=50", owner).json())
    # alice signs in with it in another browser: the gate first, then the MFA setup.
    alice = Console(console.client.__class__(console.client.app, base_url="http://testserver"),
                    console.clock)
    r = alice.login("alice@acme", new)
    assert r.headers["location"] == "/password/change"
    for path in ("/", "/security", "/mfa/setup", "/audit"):
        r = alice.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/password/change", path
    r = alice.post("/password/change", {"new_password": new}, page="/password/change")
    assert r.status_code == 400 and "differ" in r.text
    r = alice.post("/password/change", {"new_password": OWN_PW}, page="/password/change")
    assert r.status_code == 303
    assert alice.get("/").headers["location"] == "/mfa/setup"
    assert api.login(Principal("alice@acme", OWN_PW))["state"] == "mfa_setup_required"


def test_setting_a_password_verifies_before_the_form(
    console: Console, owner: Any, api: Api
) -> None:
    api.add_user(owner, "alice")
    _signed_in_owner(console)
    console.clock.advance(6 * 60)
    r = console.get("/users/alice/password")
    assert r.status_code == 303
    assert r.headers["location"] == "/verify?next=/users/alice/password&for=user.set_password"
    assert "set a user&#39;s password" in console.get(r.headers["location"]).text
    r = console.verify(r.headers["location"], {"method": "password", "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"].startswith("/users/alice/password")
    form = console.get(r.headers["location"])
    assert form.status_code == 200 and 'id="reset-password"' in form.text
    r = console.post_with("/users/alice/password",
                          {"mode": "set", "password": "chosen by the primary 12"},
                          csrf_of(form.text))
    assert r.status_code == 200 and "generated-password" not in r.text
    # Unticked: the user signs in with it as it is.
    assert api.login(Principal("alice@acme", "chosen by the primary 12"))["state"] == \
        "authenticated"
    # A POST on a stale session verifies first and comes back to the empty form.
    console.clock.advance(6 * 60)
    r = console.post_with("/users/alice/password", {"mode": "generate"}, csrf_of(form.text))
    assert r.headers["location"].startswith("/verify?next=/users/alice/password")


def test_disabling_verifies_first(console: Console, owner: Any, api: Api) -> None:
    api.add_user(owner, "alice")
    _signed_in_owner(console)
    console.clock.advance(6 * 60)
    r = console.post("/users/alice/status", {"disabled": "on"}, page="/users/alice/status")
    assert r.headers["location"] == "/verify?next=/users/alice/status&for=user.set_disabled"
    assert api.call("GET", "/users/alice", owner).json()["disabled"] is False
