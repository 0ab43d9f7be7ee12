"""Items 14 and 15: console cookies and CSRF, through the console's own forms."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from tests.security.helpers import dump_database, engine_of
from tests.support import Api, Principal


def console_login(client: TestClient, base: str, p: Principal) -> str:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text[:300]
    r = client.post("/login", data={"login": p.login, "password": p.password,
                                    "csrf": csrf.group(1)},
                    headers={"Origin": base}, follow_redirects=False)
    assert r.status_code in (302, 303), r.text[:300]
    return csrf.group(1)


def set_cookies(r: Any) -> list[str]:
    return r.headers.get_list("set-cookie")


@pytest.mark.parametrize("base", ["http://testserver", "https://testserver"])
def test_console_cookies_are_httponly_samesite_and_secure_with_host_prefix(
    app: Any, owner: Principal, base: str
) -> None:
    with TestClient(app, base_url=base) as client:
        page = client.get("/login")
        page_csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert page_csrf
        r = client.post("/login", data={"login": owner.login, "password": owner.password,
                                        "csrf": page_csrf.group(1)},
                        headers={"Origin": base}, follow_redirects=False)
        cookies = set_cookies(page) + set_cookies(r)
        session = [c for c in cookies if "twofold_session=" in c and "Max-Age=0" not in c]
        assert session, cookies
        for c in cookies:
            low = c.lower()
            assert "httponly" in low and "samesite=" in low, c
            if base.startswith("https"):
                assert c.startswith("__Host-") and "secure" in low and "path=/" in low, c
                assert "domain=" not in low, c
        # The session token is never in a URL.
        token = session[0].split("=", 1)[1].split(";")[0]
        assert token not in r.headers.get("location", "")


def all_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, also inside included routers."""
    found: list[tuple[str, set[str]]] = []
    for r in routes:
        if isinstance(r, Route):
            found.append((prefix + r.path, set(r.methods or ())))
        inner = getattr(r, "original_router", None)
        if inner is not None:
            pre = getattr(getattr(r, "include_context", None), "prefix", "") or ""
            found += all_routes(list(inner.routes), prefix + pre)
    return found


def console_paths(app: Any, method: str) -> list[str]:
    return sorted({p for p, methods in all_routes(app.routes) if method in methods
                   and not p.startswith(("/api", "/static", "/docs", "/healthz", "/readyz"))})


def console_posts(app: Any) -> list[str]:
    # The OAuth token and revocation endpoints are not forms: clients authenticate there
    # with their own credentials, from anywhere.
    return [p for p in console_paths(app, "POST") if not p.startswith("/oauth/")]


def test_every_console_form_refuses_missing_wrong_token_and_foreign_origin(
    app: Any, api: Api, owner: Principal
) -> None:
    api.add_user(owner, "alice")
    base = "http://testserver"
    with TestClient(app, base_url=base) as client:
        good = console_login(client, base, owner)
        page = client.get("/")
        assert page.status_code == 200
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/users").text)
        assert token
        csrf = token.group(1)
        before = dump_database(engine_of(api))
        paths = console_posts(app)
        assert len(paths) >= 10, paths
        for path in paths:
            url = path.replace("{name}", "alice").replace("{session_id}", "0" * 16)
            data = {"name": "zed", "password": "a long passphrase 9", "code": "123456"}
            for attempt in ({"headers": {"Origin": base}},  # no token
                            {"headers": {"Origin": base}, "csrf": "x" * len(csrf)},
                            {"headers": {"Origin": base}, "csrf": good},  # the login form's
                            {"headers": {"Origin": "https://evil.example"}, "csrf": csrf},
                            {"headers": {"Referer": "https://evil.example/x"}, "csrf": csrf},
                            {"headers": {"Origin": "null"}, "csrf": csrf}):
                form = dict(data)
                if "csrf" in attempt:
                    form["csrf"] = attempt["csrf"]
                r = client.post(url, data=form, headers=attempt["headers"],
                                follow_redirects=False)
                assert r.status_code in (400, 403), (path, attempt, r.status_code)
        after = dump_database(engine_of(api))
        # Nothing changed but, at most, last-seen times of the session.
        strip = re.compile(r"datetime\.datetime\([^)]*\)")
        assert strip.sub("T", before) == strip.sub("T", after)
        assert client.get("/").status_code == 200  # still signed in: no logout by CSRF


def test_no_state_changes_on_get(app: Any, api: Api, owner: Principal) -> None:
    api.add_user(owner, "alice")
    base = "http://testserver"
    with TestClient(app, base_url=base) as client:
        console_login(client, base, owner)
        before = dump_database(engine_of(api))
        paths = console_paths(app, "GET")
        assert "/users" in paths and "/security" in paths, paths
        for path in paths:
            url = path.replace("{name}", "alice").replace("{session_id}", "0" * 16)
            client.get(url, follow_redirects=False)
        after = dump_database(engine_of(api))
    strip = re.compile(r"datetime\.datetime\([^)]*\)")
    assert strip.sub("T", before) == strip.sub("T", after)
