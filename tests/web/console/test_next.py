"""`next` survives every hop of sign-in as one encoded query value (both databases)."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support import Api
from tests.web.console.conftest import Console

# Each of `&`, `#` and `?` would cut or split the value if pasted into a URL unencoded.
TARGET = "/audit?before=9&other=x?y#frag"


def _next_of(location: str) -> str:
    parts = urlsplit(location)
    assert parts.fragment == "", f"the target leaked into the redirect's fragment: {location}"
    values = parse_qs(parts.query, keep_blank_values=True)
    assert set(values) == {"next"}, f"the target split into several parameters: {location}"
    return values["next"][0]


def test_login_redirect_carries_the_whole_target(console: Console) -> None:
    r = console.get("/audit?before=9&other=x?y")
    assert r.status_code == 303
    assert urlsplit(r.headers["location"]).path == "/login"
    assert _next_of(r.headers["location"]) == "/audit?before=9&other=x?y"


def test_code_step_carries_the_whole_target(console: Console, api: Api, owner: Any) -> None:
    api.enable_mfa(owner)
    r = console.post(
        "/login", {"login": owner.login, "password": owner.password, "next": TARGET},
        page="/login",
    )
    assert r.status_code == 303
    location = r.headers["location"]
    assert urlsplit(location).path == "/login/mfa"
    assert _next_of(location) == TARGET

    page = console.get(location)
    assert f'name="next" value="{html.escape(TARGET)}"' in page.text

    api.clock.advance(30)
    r = console.post(
        "/login/mfa", {"code": api.code(owner), "next": TARGET}, page=location,
    )
    assert r.status_code == 303 and r.headers["location"] == TARGET
