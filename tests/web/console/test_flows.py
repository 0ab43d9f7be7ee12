"""The console's flows with an injected clock (both databases): binding, two-step sign-in,
the setup-only session, verification and back, disable, replace, users and audit."""

from __future__ import annotations

import re
from typing import Any

from tests.support import USER_PASSWORD, Api, oathtool
from tests.web.console.conftest import Console, csrf_of

_SECRET = re.compile(r'<code id="mfa-secret">([A-Z2-7 ]+)</code>')
_SERIAL = re.compile(r'name="serial" value="([^"]+)"')


def bind_on_page(console: Console, html: str, action: str) -> tuple[str, Any]:
    """Read the key off the binding page and bind it with two consecutive codes."""
    assert 'id="mfa-qr"' in html and "<svg" in html
    secret = _SECRET.search(html).group(1).replace(" ", "")  # type: ignore[union-attr]
    serial = _SERIAL.search(html).group(1)  # type: ignore[union-attr]
    console.clock.align(5)
    epoch = console.clock.epoch
    r = console.post_with(
        action,
        {"serial": serial, "code1": oathtool(secret, epoch - 30), "code2": oathtool(secret, epoch)},
        csrf_of(html),
    )
    console.clock.advance(30)
    return secret, r


def enable_own_mfa(console: Console) -> str:
    r = console.post("/mfa/device", {}, page="/security")
    assert r.status_code == 200 and "Enable the virtual MFA device" in r.text
    secret, r = bind_on_page(console, r.text, "/mfa/bind")
    assert r.status_code == 200, r.text
    assert "Virtual MFA is enabled." in r.text and 'id="recovery-codes"' in r.text
    return secret


def test_bind_page_has_the_stable_elements(console: Console, owner: Any) -> None:
    console.login(owner.login, owner.password)
    r = console.post("/mfa/device", {}, page="/security")
    html = r.text
    assert r.headers["cache-control"] == "no-store"
    for needle in ('id="mfa-qr"', 'id="mfa-secret"', 'name="code1"', 'name="code2"',
                   'data-copy="mfa-secret"', "Google Authenticator", "Alibaba Cloud app",
                   "JD Cloud app", '<button type="submit"'):
        assert needle in html, needle
    grouped = _SECRET.search(html).group(1)  # type: ignore[union-attr]
    assert all(len(g) == 4 for g in grouped.split(" ")[:-1])


def test_primary_binds_then_signs_in_with_code(console: Console, owner: Any) -> None:
    console.login(owner.login, owner.password)
    secret = enable_own_mfa(console)
    r = console.get("/security")
    assert 'id="mfa-state">Enabled' in r.text and 'id="mfa-bound-at"' in r.text
    assert 'id="recovery-codes"' not in r.text  # shown once only
    console.post("/logout", {}, page="/")
    r = console.post("/login", {"login": owner.login, "password": owner.password})
    assert r.status_code == 303 and r.headers["location"] == "/login/mfa"
    assert console.session_cookie is None  # no session before the code
    # Wrong code: stays on the code page with a message.
    r = console.post("/login/mfa", {"code": "000000"}, page="/login/mfa")
    assert r.status_code == 401 and "The code is wrong" in r.text and 'name="code"' in r.text
    # A code of another time: the clock message.
    r = console.post(
        "/login/mfa", {"code": oathtool(secret, console.clock.epoch + 300)}, page="/login/mfa"
    )
    assert r.status_code == 401 and "clock is off" in r.text
    r = console.post("/login/mfa", {"code": oathtool(secret, console.clock.epoch)},
                     page="/login/mfa")
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert console.get("/").status_code == 200


def test_lockout_and_expired_challenge_messages(console: Console, owner: Any) -> None:
    console.login(owner.login, owner.password)
    secret = enable_own_mfa(console)
    console.post("/logout", {}, page="/")
    console.post("/login", {"login": owner.login, "password": owner.password})
    for _ in range(5):
        console.post("/login/mfa", {"code": "123456"}, page="/login/mfa")
    r = console.post("/login/mfa", {"code": oathtool(secret, console.clock.epoch)},
                     page="/login/mfa")
    assert r.status_code == 429 and "locked" in r.text and r.headers["retry-after"]
    console.clock.advance(6 * 60)
    r = console.post("/login/mfa", {"code": oathtool(secret, console.clock.epoch)},
                     page="/login/mfa")
    assert r.status_code == 401 and "expired" in r.text and 'name="password"' in r.text
    # Without the challenge cookie the code page sends the person back to sign in.
    r = console.get("/login/mfa")
    assert r.status_code == 303 and r.headers["location"] == "/login?done=challenge-expired"


def test_required_mfa_restricts_every_page_until_bound(
    console: Console, owner: Any, api: Api
) -> None:
    api.add_user(owner, "bob", mfa_required=True)
    r = console.login("bob@acme", USER_PASSWORD)
    assert r.headers["location"] == "/mfa/setup"
    for path in ("/", "/security", "/audit", "/users", "/security/password", "/mfa/disable"):
        r = console.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/mfa/setup", path
    r = console.post("/security/password", {"current_password": "x"}, page="/mfa/setup")
    assert r.headers["location"] == "/mfa/setup"
    page = console.get("/mfa/setup")
    assert "requires MFA verification" in page.text and "Security settings" not in page.text
    r = console.post("/mfa/device", {}, page="/mfa/setup")
    _, r = bind_on_page(console, r.text, "/mfa/bind")
    assert r.status_code == 200 and "Virtual MFA is enabled." in r.text
    assert console.get("/").status_code == 200


def test_primary_enables_and_disables_a_users_mfa(console: Console, owner: Any, api: Api) -> None:
    api.add_user(owner, "alice")
    console.login(owner.login, owner.password)
    r = console.post("/users/alice/mfa/device", {}, page="/users/alice")
    assert "of alice@acme" in r.text
    _, r = bind_on_page(console, r.text, "/users/alice/mfa/bind")
    assert r.status_code == 200 and "Virtual MFA is enabled for alice@acme" in r.text
    assert 'id="user-mfa-state">Enabled' in r.text
    r = console.get("/users/alice/mfa/disable")
    assert "stop working" in r.text and "new binding" in r.text
    r = console.post("/users/alice/mfa/disable", {}, page="/users/alice/mfa/disable")
    assert r.status_code == 303
    assert 'id="user-mfa-state">Not enabled' in console.get("/users/alice").text


def test_switch_mfa_required(console: Console, owner: Any, api: Api) -> None:
    api.add_user(owner, "alice")
    console.login(owner.login, owner.password)
    r = console.post("/users/alice/mfa-required", {"mfa_required": "on"}, page="/users/alice")
    assert r.headers["location"] == "/users/alice?done=mfa-required-on"
    page = console.get("/users/alice").text
    assert 'aria-checked="true"' in page
    r = console.post("/users/alice/mfa-required", {"mfa_required": "maybe"}, page="/users/alice")
    assert r.status_code == 400 and "on or off" in r.text


def test_a_stale_session_verifies_before_the_password_form_and_returns_to_it(
    console: Console, owner: Any, api: Api
) -> None:
    console.login(owner.login, owner.password)
    console.clock.advance(6 * 60)
    # The form is not shown to a stale session: it is sent to verify first.
    r = console.get("/security/password")
    assert r.status_code == 303
    assert r.headers["location"] == "/verify?next=/security/password&for=password.change"
    page = console.get(r.headers["location"])
    assert "change your password" in page.text and 'name="new_password"' not in page.text
    # A wrong password keeps the person on the verification page, still bound for the form.
    wrong = console.verify(r.headers["location"], {"method": "password", "password": "wrong"})
    assert wrong.status_code == 401 and "The password is wrong" in wrong.text
    assert 'name="next" value="/security/password"' in wrong.text
    done = console.verify(
        r.headers["location"], {"method": "password", "password": owner.password}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/security/password?done=verified"
    form = console.get(done.headers["location"])
    assert form.status_code == 200 and 'name="new_password"' in form.text
    assert "Your identity is verified" in form.text
    new = "a brand new passphrase 77"
    r = console.post(
        "/security/password",
        {"current_password": owner.password, "new_password": new, "new_password2": new},
    )
    assert r.status_code == 303 and r.headers["location"] == "/security?done=password-changed"
    console.post("/logout", {}, page="/")
    assert console.login(owner.login, new).headers["location"] == "/"


def test_a_stale_post_does_nothing_and_nothing_secret_reaches_the_verify_page(
    console: Console, owner: Any
) -> None:
    console.login(owner.login, owner.password)
    form = console.get("/security/password").text
    console.clock.advance(6 * 60)
    new = "a brand new passphrase 77"
    r = console.post_with(
        "/security/password",
        {"current_password": owner.password, "new_password": new, "new_password2": new},
        csrf_of(form),
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/verify?")
    assert new not in r.headers["location"] and owner.password not in r.headers["location"]
    page = console.get(r.headers["location"]).text
    assert new not in page and owner.password not in page and 'name="carry"' not in page
    assert 'type="hidden" name="current_password"' not in page
    console.post("/logout", {}, page="/")
    assert console.login(owner.login, owner.password).headers["location"] == "/"  # unchanged


def test_verification_by_email_code(console: Console, owner: Any, inbox: Any) -> None:
    console.login(owner.login, owner.password)
    console.clock.advance(6 * 60)
    r = console.post("/mfa/device", {}, page="/security")
    assert r.headers["location"] == "/verify?next=/security&for=mfa.create_self"
    page = console.get(r.headers["location"])
    assert "Send a code to o***@acme.example" in page.text
    r = console.post_with(
        "/verify/email", {"next": "/security", "for": "mfa.create_self"}, csrf_of(page.text)
    )
    assert 'id="email-sent"' in r.text and 'name="next" value="/security"' in r.text
    body = inbox.bodies_to("owner@acme.example")[-1]
    code = re.search(r"\b(\d{6})\b", body).group(1)  # type: ignore[union-attr]
    r = console.post_with(
        "/verify", {"next": "/security", "for": "mfa.create_self", "method": "email",
                    "code": code}, csrf_of(r.text)
    )
    assert r.status_code == 303 and r.headers["location"] == "/security?done=verified"
    r = console.post("/mfa/device", {}, page=r.headers["location"])
    assert r.status_code == 200 and 'id="mfa-qr"' in r.text


def test_verify_goes_back_only_to_a_page_of_this_server(console: Console, owner: Any) -> None:
    console.login(owner.login, owner.password)
    console.clock.advance(6 * 60)
    page = console.get("/verify?next=//evil.example/x&for=user.delete")
    assert page.status_code == 200 and "delete a user" in page.text
    assert "evil.example" not in page.text
    r = console.post_with(
        "/verify",
        {"next": "https://evil.example/", "for": "x", "method": "password",
         "password": owner.password},
        csrf_of(page.text),
    )
    assert r.status_code == 303 and r.headers["location"] == "/?done=verified"
    # Fresh now: the verification page has nothing to ask and goes straight back.
    r = console.get("/verify?next=/security/password&for=password.change")
    assert r.headers["location"] == "/security/password"


def test_disable_needs_a_fresh_session_as_the_api_does(console: Console, owner: Any) -> None:
    console.login(owner.login, owner.password)
    secret = enable_own_mfa(console)
    r = console.get("/mfa/disable")  # fresh from the sign-in: a confirmation, nothing more
    assert "stop working" in r.text and "bind a device anew" in r.text
    assert 'name="code"' not in r.text
    console.clock.advance(6 * 60)
    r = console.get("/mfa/disable")
    assert r.headers["location"] == "/verify?next=/mfa/disable&for=mfa.disable"
    r = console.post_with("/mfa/disable", {}, csrf_of(console.get("/security").text))
    assert r.headers["location"].startswith("/verify?")  # a stale POST does nothing
    assert 'id="mfa-state">Enabled' in console.get("/security").text
    where = "/verify?next=/mfa/disable&for=mfa.disable"
    assert "Dynamic code from your MFA device" in console.get(where).text
    # A code of no step the device search reaches (±10 steps: a match there is "the clock is
    # off", not "wrong"; "000000" is one such match about once in 55,000 random secrets).
    near = {oathtool(secret, console.clock.epoch + 30 * k) for k in range(-10, 11)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in near)
    r = console.verify(where, {"method": "mfa", "code": wrong})
    assert r.status_code == 401 and "wrong" in r.text
    r = console.verify(where, {"method": "mfa", "code": oathtool(secret, console.clock.epoch)})
    assert r.headers["location"] == "/mfa/disable?done=verified"
    r = console.post("/mfa/disable", {})
    assert r.headers["location"] == "/security?done=mfa-disabled"
    assert 'id="mfa-state">Not enabled' in console.get("/security").text


def test_replace_after_verifying_with_the_current_device(console: Console, owner: Any) -> None:
    console.login(owner.login, owner.password)
    old = enable_own_mfa(console)
    console.clock.advance(6 * 60)
    r = console.post("/mfa/device", {}, page="/security")
    page = console.get(r.headers["location"]).text
    assert 'name="code"' in page and "Dynamic code from your MFA device" in page
    r = console.verify(
        r.headers["location"], {"method": "mfa", "code": oathtool(old, console.clock.epoch)}
    )
    assert r.headers["location"] == "/security?done=verified"
    r = console.post("/mfa/device", {}, page=r.headers["location"])
    assert "Replace the virtual MFA device" in r.text
    new, r = bind_on_page(console, r.text, "/mfa/bind")
    assert "The new virtual MFA device is bound" in r.text
    console.post("/logout", {}, page="/")
    console.post("/login", {"login": owner.login, "password": owner.password})
    r = console.post("/login/mfa", {"code": oathtool(old, console.clock.epoch)},
                     page="/login/mfa")
    assert r.status_code == 401
    r = console.post("/login/mfa", {"code": oathtool(new, console.clock.epoch)},
                     page="/login/mfa")
    assert r.status_code == 303


def test_bind_with_wrong_codes_keeps_the_form(console: Console, owner: Any) -> None:
    console.login(owner.login, owner.password)
    r = console.post("/mfa/device", {}, page="/security")
    serial = _SERIAL.search(r.text).group(1)  # type: ignore[union-attr]
    r = console.post_with("/mfa/bind", {"serial": serial, "code1": "1", "code2": "2"},
                          csrf_of(r.text))
    assert r.status_code == 400 and 'id="bind-error"' in r.text and 'name="code1"' in r.text
    assert 'id="mfa-secret"' not in r.text  # the key is shown once
    assert "Get a new key" in r.text


def test_users_create_delete_and_errors(console: Console, owner: Any) -> None:
    console.login(owner.login, owner.password)
    r = console.post("/users", {"name": "Bad Name", "password": "short"})
    assert r.status_code == 400 and 'value="Bad Name"' in r.text
    r = console.post("/users", {"name": "carol", "password": "carol's long passphrase"})
    assert r.headers["location"] == "/users/carol?done=user-created"
    r = console.post("/users", {"name": "carol", "password": "carol's long passphrase"})
    assert r.status_code == 409 and "exists already" in r.text
    console.clock.advance(6 * 60)
    r = console.post("/users/carol/delete", {}, page="/users/carol")
    assert r.headers["location"] == "/verify?next=/users/carol&for=user.delete"
    assert "delete a user" in console.get(r.headers["location"]).text
    assert console.get("/users/carol").status_code == 200  # nothing done yet
    r = console.verify(r.headers["location"], {"method": "password", "password": owner.password})
    assert r.headers["location"] == "/users/carol?done=verified"
    r = console.post("/users/carol/delete", {}, page=r.headers["location"])
    assert r.headers["location"] == "/users?done=user-deleted"
    assert console.get("/users/carol").status_code == 404


def test_sub_user_cannot_reach_users_pages(console: Console, owner: Any, api: Api) -> None:
    api.add_user(owner, "alice")
    console.login("alice@acme", USER_PASSWORD)
    page = console.get("/").text
    assert 'id="mfa-card"' in page and "Virtual MFA verification" in page
    assert 'href="/mfa/setup">MFA verification' in page
    assert console.get("/users").status_code == 403


def test_audit_page_newest_first_and_paged(console: Console, owner: Any, api: Api) -> None:
    for i in range(25):
        api.add_user(owner, f"user{i:02d}")
    console.login(owner.login, owner.password)
    r = console.get("/audit")
    rows = re.findall(r"<code>([a-z_.]+)</code>", r.text)
    assert rows[0] == "login.succeeded" and len(rows) == 20
    older = re.search(r'href="/audit\?before=(\d+)"', r.text)
    assert older
    r = console.get(f"/audit?before={older.group(1)}")
    assert "user.created" in r.text and "account.created" not in rows


def test_an_audit_cursor_past_every_event_shows_the_newest(
    console: Console, owner: Any, api: Api
) -> None:
    console.login(owner.login, owner.password)
    r = console.get("/audit?before=999999999999999999")
    assert r.status_code == 200, r.text
    assert re.findall(r"<code>([a-z_.]+)</code>", r.text)[0] == "login.succeeded"
