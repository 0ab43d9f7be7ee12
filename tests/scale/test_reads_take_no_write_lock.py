"""No GET route takes the write lock (issue 16): reads never queue behind writes.

Every GET route of the app (API, console, single sign-on, health) is called by a signed-in
primary with MFA, and the write transactions it opens are counted: on SQLite the
`BEGIN IMMEDIATE`s (the write gate: in-process lock, flock beside the file, the database's
write lock); on PostgreSQL the transactions begun without the read-only flag, and any row or
advisory lock taken. A new GET route is covered without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from starlette.routing import Mount

from tests.support import Api
from tests.web.console.conftest import Console
from twofold.storage.db import READ_ONLY

# GETs that write by their protocol, not by accident: the OpenID Connect authorization
# endpoint issues a code when the person is signed in (RFC 6749 §4.1.1 makes it a GET).
WRITES_BY_PROTOCOL = {"/oauth/authorize", "/oauth/authorize/resume"}
# The console's sign-out is a GET link that ends the session (it is a write); it runs last.
LAST = {"/logout"}
_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


def _paths(routes: list[Any], prefix: str = "") -> Iterator[str]:
    for route in routes:
        nested = getattr(route, "original_router", None)  # newer FastAPI nests included routers
        if nested is not None:
            yield from _paths(nested.routes, prefix + route.include_context.prefix)
        elif not isinstance(route, Mount) and "GET" in (getattr(route, "methods", None) or ()):
            yield prefix + route.path  # (a Mount: static files, no database)


def get_routes(app: Any) -> list[str]:
    return sorted(set(_paths(app.routes)), key=lambda p: (p in LAST, p))


@contextmanager
def write_locks(app: Any, db_url: str) -> Iterator[list[str]]:
    """The write locks taken meanwhile, one string each."""
    engine = app.state.runtime.engine
    taken: list[str] = []

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        text = " ".join(sql.split()).upper()
        if text.startswith("BEGIN IMMEDIATE") or " FOR UPDATE" in text or "PG_ADVISORY" in text:
            taken.append(text[:80])

    def begin(conn: Any) -> None:
        if not conn.get_execution_options().get(READ_ONLY):
            taken.append("write transaction")

    event.listen(engine, "before_cursor_execute", statement)
    postgres = not db_url.startswith("sqlite")
    if postgres:  # SQLite's write transactions are its BEGIN IMMEDIATEs, counted above
        event.listen(engine, "begin", begin)
    try:
        yield taken
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        if postgres:
            event.remove(engine, "begin", begin)


@pytest.fixture
def signed_in(api: Api) -> dict[str, str]:
    """A primary with MFA, a sub-user, an application; the client holds the console
    cookie and the bearer token. Returns values for the routes' path parameters."""
    console = Console(api.client, api.clock)
    owner = api.signup()
    api.enable_mfa(owner)
    api.add_user(owner, "carol", email="carol@acme.example")
    app_out = api.call(
        "POST",
        "/applications",
        owner,
        json={"name": "App", "redirect_uris": ["https://app.example/cb"]},
    )
    assert app_out.status_code == 201, app_out.text
    api.clock.advance(30)
    r = console.login(owner.login, owner.password, api.code(owner))
    assert r.status_code == 303, r.text
    sessions = api.call("GET", "/me/sessions", owner).json()["sessions"]
    api.client.headers.update(owner.headers)
    return {
        "name": "carol",
        "client_id": app_out.json()["client_id"],
        "session_id": sessions[0]["id"],
        "serial": owner.serial or "",
    }


def test_no_get_route_takes_the_write_lock(
    app: Any, api: Api, signed_in: dict[str, str], db_url: str
) -> None:
    paths = get_routes(app)
    assert "/api/v1/me" in paths and "/api/v1/authz/auth-request" in paths and "/users" in paths
    offenders, answered = {}, {}
    for template in paths:
        path = _PARAM.sub(lambda m: signed_in.get(m.group(1), "x"), template)
        query = "?app=" + signed_in["client_id"] if template.startswith("/api/v1/authz/") else ""
        with write_locks(app, db_url) as taken:
            r = api.client.get(path + query, follow_redirects=False)
        assert r.status_code < 500, (template, r.status_code, r.text[:300])
        answered[template] = r.status_code
        if taken and template not in WRITES_BY_PROTOCOL and template not in LAST:
            offenders[template] = (r.status_code, taken)
    assert offenders == {}
    # Signed in on both faces: the pages and the API answered, not a sign-in redirect.
    assert sum(code == 200 for code in answered.values()) >= 30, answered
