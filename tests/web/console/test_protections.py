"""CSRF, same-origin, headers and cookie flags of the console (both databases)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.support import Api
from tests.web.console.conftest import ORIGIN, Console, csrf_of
from twofold.web.console.security import CSP, PRE_SESSION, SESSION


def _set_cookies(response: Any) -> list[str]:
    return response.headers.get_list("set-cookie")


def test_login_page_sets_pre_session_cookie_and_headers(console: Console) -> None:
    r = console.get("/login")
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["cache-control"] == "no-store"
    cookie = next(c for c in _set_cookies(r) if c.startswith(PRE_SESSION + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http test server
    assert '<input id="login" name="login"' in r.text and 'name="password"' in r.text
    assert '<button type="submit"' in r.text
    assert "<script>" not in r.text  # no inline script anywhere


def test_session_cookie_flags_and_rotation(console: Console, owner: Any) -> None:
    console.get("/login")
    pre_before = console.client.cookies.get(PRE_SESSION)
    r = console.login(owner.login, owner.password)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = next(c for c in _set_cookies(r) if c.startswith(SESSION + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    # The pre-session id (and so every CSRF token) is new after signing in.
    assert console.client.cookies.get(PRE_SESSION) != pre_before
    first = console.session_cookie
    console.post("/logout", {}, page="/")
    assert console.get("/").status_code == 303
    console.login(owner.login, owner.password)
    assert console.session_cookie not in (None, first)


def test_secure_cookie_over_https_uses_host_prefix(app: Any, owner: Any) -> None:
    with TestClient(app, base_url="https://testserver") as c:
        r = c.get("/login")
        pre = next(x for x in _set_cookies(r) if x.startswith("__Host-" + PRE_SESSION))
        assert "Secure" in pre and "HttpOnly" in pre
        r = c.post(
            "/login",
            data={"csrf": csrf_of(r.text), "login": owner.login, "password": owner.password},
            headers={"Origin": "https://testserver"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        session = next(x for x in _set_cookies(r) if x.startswith("__Host-" + SESSION))
        assert "Secure" in session and "HttpOnly" in session and "SameSite=lax" in session


def test_post_without_token_is_refused(console: Console, owner: Any) -> None:
    console.get("/login")
    r = console.client.post(
        "/login",
        data={"login": owner.login, "password": owner.password},
        headers={"Origin": ORIGIN},
    )
    assert r.status_code == 403
    assert "Request refused" in r.text and "did not come from this page" in r.text
    assert SESSION not in r.headers.get("set-cookie", "")


def test_post_with_wrong_token_is_refused(console: Console, owner: Any) -> None:
    console.login(owner.login, owner.password)
    r = console.post_with("/users", {"name": "mallory", "password": "x" * 20}, "0" * 64)
    assert r.status_code == 403
    assert "Request refused" in r.text


def test_cross_origin_post_is_refused_even_with_a_token(console: Console, owner: Any) -> None:
    console.login(owner.login, owner.password)
    token = csrf_of(console.get("/users").text)
    r = console.post_with(
        "/users", {"name": "mallory", "password": "long enough password 1"}, token,
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    r = console.client.post(
        "/users",
        data={"csrf": token, "name": "mallory", "password": "long enough password 1"},
        headers={"Referer": "https://evil.example/page"},
    )
    assert r.status_code == 403
    # Neither Origin nor Referer: refused too.
    r = console.client.post("/users", data={"csrf": token, "name": "mallory"})
    assert r.status_code == 403
    # Same origin by Referer only: accepted.
    r = console.client.post(
        "/users",
        data={"csrf": token, "name": "mallory", "password": "long enough password 1"},
        headers={"Referer": ORIGIN + "/users"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def test_token_of_another_session_is_refused(app: Any, console: Console, owner: Any) -> None:
    console.login(owner.login, owner.password)
    stolen = csrf_of(console.get("/users").text)
    with TestClient(app, base_url=ORIGIN) as other:
        r = other.get("/login")
        r = other.post(
            "/login",
            data={"csrf": csrf_of(r.text), "login": owner.login, "password": owner.password},
            headers={"Origin": ORIGIN},
            follow_redirects=False,
        )
        assert r.status_code == 303
        r = other.post(
            "/users", data={"csrf": stolen, "name": "mallory"}, headers={"Origin": ORIGIN}
        )
        assert r.status_code == 403


def test_logout_needs_post(console: Console, owner: Any) -> None:
    console.login(owner.login, owner.password)
    r = console.get("/logout")
    assert r.status_code == 200 and "End this session" in r.text
    assert console.get("/").status_code == 200  # GET changed nothing
    r = console.post("/logout", {}, page="/")
    assert r.status_code == 303 and r.headers["location"] == "/login?done=signed-out"
    assert console.get("/").status_code == 303


def test_unauthenticated_pages_redirect_to_login_with_next(console: Console) -> None:
    for path in ("/", "/users", "/security", "/audit", "/mfa/setup", "/users/alice"):
        r = console.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login"), path
    assert console.get("/users").headers["location"] == "/login?next=/users"


def test_open_redirect_is_refused(console: Console, owner: Any) -> None:
    r = console.post(
        "/login", {"login": owner.login, "password": owner.password, "next": "//evil.example/"},
        page="/login",
    )
    assert r.headers["location"] == "/"


def test_api_is_untouched_by_console_headers(client: TestClient, api: Api) -> None:
    r = client.get("/api/v1/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "Unauthenticated"
    assert "x-frame-options" not in r.headers


def test_unknown_page_is_a_page_not_json(console: Console, owner: Any) -> None:
    console.login(owner.login, owner.password)
    r = console.get("/no/such/page")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "Not found" in r.text
    r = console.get("/users/nobody")
    assert r.status_code == 404 and "No user named" in r.text


def test_static_files_have_security_headers(console: Console) -> None:
    r = console.get("/static/console.css")
    assert r.status_code == 200 and r.headers["x-frame-options"] == "DENY"
    r = console.get("/static/console.js")
    assert r.status_code == 200 and "clipboard" in r.text


def test_get_on_a_form_path_goes_to_its_page(console: Console, owner: Any) -> None:
    console.login(owner.login, owner.password)
    assert console.get("/mfa/bind").headers["location"] == "/mfa/setup"
    assert console.get("/users/alice/delete").headers["location"] == "/users/alice"
    assert console.get("/verify").headers["location"] == "/"
