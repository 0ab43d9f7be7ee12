"""Issue 13 in the console (both databases): "Forgot password?" with the link read from the
real SMTP server's mail, and the sign-up page."""

from __future__ import annotations

from typing import Any

from tests.conftest import Inbox
from tests.support import PASSWORD, Api, Principal
from tests.web.api.test_password_reset import reset_token
from tests.web.console.conftest import Console, csrf_of

NEW_PW = "reset in the console 4711"


def test_forgot_password_from_the_login_page(console: Console, owner: Any, api: Api,
                                             inbox: Inbox) -> None:
    api.confirm_email(inbox.bodies_to("owner@acme.example"))
    login = console.get("/login")
    assert 'href="/password-reset"' in login.text and "Forgot password?" in login.text
    unknown = console.post("/password-reset", {"login": "nobody"})
    known = console.post("/password-reset", {"login": "acme"})
    assert unknown.status_code == known.status_code == 200
    assert 'id="reset-sent"' in known.text
    assert "asks the account's primary to reset its password" in known.text
    strip = lambda t: t.replace(csrf_of(t), "")  # noqa: E731
    assert strip(unknown.text) == strip(known.text)
    token = reset_token(inbox, "owner@acme.example")
    page = console.get(f"/password-reset/confirm?token={token}")
    assert page.status_code == 200 and 'name="new_password"' in page.text
    r = console.post_with("/password-reset/confirm", {"token": token, "new_password": "short"},
                          csrf_of(page.text))
    assert r.status_code == 400 and 'name="new_password"' in r.text
    r = console.post_with("/password-reset/confirm", {"token": token, "new_password": NEW_PW},
                          csrf_of(page.text))
    assert r.status_code == 303 and r.headers["location"] == "/login?done=password-reset"
    assert api.call("GET", "/me", owner).status_code == 401
    again = console.get(f"/password-reset/confirm?token={token}")
    assert again.status_code == 400 and 'id="reset-invalid"' in again.text
    assert api.login(Principal("acme", NEW_PW))["state"] == "authenticated"
    # No CSRF token: refused.
    r = console.client.post("/password-reset", data={"login": "acme"},
                            headers={"Origin": "http://testserver"})
    assert r.status_code == 403


def test_signup_page(console: Console, api: Api) -> None:
    page = console.get("/signup")
    assert page.status_code == 200
    for field in ("name", "email", "password"):
        assert f'name="{field}"' in page.text
    r = console.post("/signup", {"name": "Bad Name", "email": "o@x.example",
                                 "password": PASSWORD})
    assert r.status_code == 400 and 'id="signup-error"' in r.text
    r = console.post("/signup", {"name": "newco", "email": "o@newco.example",
                                 "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/login?done=signed-up"
    r = console.post("/signup", {"name": "newco", "email": "o@newco.example",
                                 "password": PASSWORD})
    assert r.status_code == 409
    assert console.login("newco", PASSWORD).status_code == 303


def test_signup_page_is_closed_when_signup_is(api_with: Any) -> None:
    closed = api_with(signup_open=False)
    r = closed.client.get("/signup")
    assert r.status_code == 403
    assert "/signup" not in closed.client.get("/login").text


def test_signup_and_reset_forms_are_flood_limited(api_with: Any) -> None:
    limited = Console(api_with(rate_limits="signup=1/hour,reset=1/hour").client, None)  # type: ignore[arg-type]
    limited.post("/signup", {"name": "one-co", "email": "o@one.example", "password": PASSWORD})
    r = limited.post("/signup", {"name": "two-co", "email": "o@two.example",
                                 "password": PASSWORD})
    assert r.status_code == 429
    limited.post("/password-reset", {"login": "nobody"})
    assert limited.post("/password-reset", {"login": "nobody"}).status_code == 429
