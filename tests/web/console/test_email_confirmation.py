"""Issue 13 in the console (both databases): the overview's nudge to confirm the address,
"Send the link again", and the page behind the mailed link (a button, not the GET, confirms)."""

from __future__ import annotations

from typing import Any

from tests.conftest import Inbox
from tests.support import PASSWORD, USER_PASSWORD, Api, confirmation_token
from tests.web.console.conftest import Console, csrf_of


def test_the_overview_nudges_and_the_link_confirms_with_a_button(
    console: Console, owner: Any, api: Api, inbox: Inbox
) -> None:
    assert console.login("acme", PASSWORD).status_code == 303
    overview = console.get("/")
    assert 'id="email-nudge"' in overview.text and "owner@acme.example" in overview.text
    # Send the link again: a new mail, and the older link stops working.
    first = confirmation_token(inbox.bodies_to("owner@acme.example"))
    r = console.post("/email/confirmation", {}, page="/")
    assert r.status_code == 303 and r.headers["location"] == "/?done=confirmation-sent"
    assert (
        "link to confirm your email address is on its way"
        in console.get(r.headers["location"]).text
    )
    second = confirmation_token(inbox.bodies_to("owner@acme.example"))
    assert second != first
    stale = console.get(f"/email/confirm?token={first}")
    assert stale.status_code == 400 and 'id="confirm-invalid"' in stale.text
    # Opening the link (what a mail scanner does too) confirms nothing by itself.
    page = console.get(f"/email/confirm?token={second}")
    assert page.status_code == 200 and 'id="confirm-email"' in page.text
    assert "owner@acme.example" in page.text
    assert api.call("GET", "/me", owner).json()["email_verified"] is False
    # The signed-in browser presses the button.
    done = console.post_with("/email/confirm", {"token": second}, csrf_of(page.text))
    assert done.status_code == 200 and 'id="email-confirmed"' in done.text
    assert api.call("GET", "/me", owner).json()["email_verified"] is True
    overview = console.get("/")
    assert 'id="email-nudge"' not in overview.text and ">Confirmed<" in overview.text
    again = console.post_with("/email/confirm", {"token": second}, csrf_of(page.text))
    assert again.status_code == 400 and 'id="confirm-invalid"' in again.text
    # Nothing left to confirm: the button's POST goes back to the overview.
    r = console.post("/email/confirmation", {}, page="/")
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_a_link_opened_without_signing_in(console: Console, api: Api, inbox: Inbox) -> None:
    r = console.post("/signup", {"name": "newco", "email": "o@newco.example", "password": PASSWORD})
    assert r.status_code == 303
    token = confirmation_token(inbox.bodies_to("o@newco.example"))
    page = console.get(f"/email/confirm?token={token}")
    assert page.status_code == 200
    done = console.post_with("/email/confirm", {"token": token}, csrf_of(page.text))
    assert done.status_code == 200 and 'id="email-confirmed"' in done.text
    # No CSRF token: refused, and the token is not spent by it.
    bad = console.client.post(
        "/email/confirm", data={"token": token}, headers={"Origin": "http://testserver"}
    )
    assert bad.status_code == 403
    invalid = console.get("/email/confirm?token=" + "A" * 43)
    assert invalid.status_code == 400 and 'id="confirm-invalid"' in invalid.text


def test_the_primary_sees_whether_a_users_address_is_confirmed(
    console: Console, owner: Any, api: Api, inbox: Inbox
) -> None:
    api.add_user(owner, "alice", email="alice@acme.example")
    assert console.login("acme", PASSWORD).status_code == 303
    assert 'id="user-email-state">Not confirmed<' in console.get("/users/alice").text
    api.confirm_email(inbox.bodies_to("alice@acme.example"))
    assert 'id="user-email-state">Confirmed<' in console.get("/users/alice").text
    # The sub-user's own overview no longer nudges it.
    console.post("/logout", {}, page="/logout")
    assert console.login("alice@acme", USER_PASSWORD).status_code == 303
    assert 'id="email-nudge"' not in console.get("/").text
