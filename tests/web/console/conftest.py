"""A console driver: a TestClient that reads forms' CSRF tokens and posts like a browser."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import Api, FakeClock
from twofold.web.console.security import SESSION

ORIGIN = "http://testserver"


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """The console's tests run on SQLite only. The console is a face: it turns forms into
    the services' calls, and tests/services and tests/web/api run those on both databases.
    On PostgreSQL too, these tests doubled their share of the suite's 20-minute budget."""
    return sqlite_url

_CSRF = re.compile(r'name="csrf" value="([^"]*)"')
_HIDDEN = re.compile(r'<input type="hidden" name="(next|for)" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


class Console:
    """Drives the console the way a browser does: GET a page, POST its form same-origin."""

    def __init__(self, client: TestClient, clock: FakeClock) -> None:
        self.client = client
        self.clock = clock

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, follow_redirects=kw.pop("follow_redirects", False), **kw)

    def post(self, path: str, data: dict[str, str], *, page: str | None = None, **kw: Any) -> Any:
        """POST `data` with the CSRF token of `page` (default: the page itself)."""
        html = self.client.get(page or path, follow_redirects=True).text
        body = {"csrf": csrf_of(html), **data}
        headers = {"Origin": ORIGIN, **kw.pop("headers", {})}
        return self.client.post(
            path, data=body, headers=headers, follow_redirects=kw.pop("follow_redirects", False),
            **kw,
        )

    def post_with(self, path: str, data: dict[str, str], csrf: str, **kw: Any) -> Any:
        headers = {"Origin": ORIGIN, **kw.pop("headers", {})}
        return self.client.post(
            path, data={"csrf": csrf, **data}, headers=headers,
            follow_redirects=kw.pop("follow_redirects", False), **kw,
        )

    def verify(self, location: str, data: dict[str, str]) -> Any:
        """Open the verification page a guard sent us to, and submit it with `data`."""
        assert location.startswith("/verify?"), location
        page = self.get(location)
        assert page.status_code == 200 and "Identity verification" in page.text
        hidden = {k: html.unescape(v) for k, v in _HIDDEN.findall(page.text)}
        return self.post_with(
            "/verify", {"next": hidden["next"], "for": hidden["for"], **data}, csrf_of(page.text)
        )

    def login(self, login: str, password: str, code: str | None = None) -> Any:
        r = self.post("/login", {"login": login, "password": password})
        if r.status_code == 303 and r.headers["location"].startswith("/login/mfa"):
            assert code is not None, "MFA is on: pass a code"
            r = self.post("/login/mfa", {"code": code}, page="/login/mfa")
        return r

    @property
    def session_cookie(self) -> str | None:
        value: str | None = self.client.cookies.get(SESSION)
        return value


@pytest.fixture
def console(client: TestClient, clock: FakeClock) -> Console:
    return Console(client, clock)


@pytest.fixture
def owner(api: Api) -> Any:
    """An account `acme` (signed up through the API; the console signs in separately)."""
    return api.signup()
