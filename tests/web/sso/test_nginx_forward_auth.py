"""A real nginx with auth_request in front of a tiny upstream, Twofold as a real server
process: who gets through, with which identity headers."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.live import start_server
from tests.support import PASSWORD, USER_PASSWORD
from tests.web.sso.nginx import echo_upstream, nginx_in_front

# `make test` installs nginx (SYSTEM_TOOLS): without it these fail rather than skip.
pytestmark = [pytest.mark.multiprocess]


def _token(api: str, login: str, password: str) -> str:
    r = httpx.post(f"{api}/login", json={"login": login, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def _console_cookie(base: str, login: str, password: str) -> str:
    """Sign in through the console's login form, as a browser does; the session cookie."""
    with httpx.Client(base_url=base) as browser:
        page = browser.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
        assert csrf
        r = browser.post("/login", data={"csrf": csrf.group(1), "login": login,
                                         "password": password}, headers={"Origin": base})
        assert r.status_code == 303, r.text
        cookie = browser.cookies.get("twofold_session")
        assert cookie
        return str(cookie)


def test_nginx_auth_request(db_url: str, tmp_path: Path) -> None:
    server = start_server(db_url, tmp_path / "key", tmp_path / "logs")
    try:
        api = server.api
        r = httpx.post(f"{api}/accounts", json={"name": "acme", "email": "o@acme.example",
                                                 "password": PASSWORD})
        assert r.status_code == 201, r.text
        owner = {"Authorization": f"Bearer {_token(api, 'acme', PASSWORD)}"}
        r = httpx.post(f"{api}/applications", headers=owner,
                       json={"name": "Echo", "redirect_uris": ["http://127.0.0.1/cb"]})
        assert r.status_code == 201, r.text
        client_id = r.json()["client_id"]
        r = httpx.post(f"{api}/users", headers=owner,
                       json={"name": "alice", "password": USER_PASSWORD, "email": "a@acme.example"})
        assert r.status_code == 201, r.text
        httpx.post(f"{api}/accounts", json={"name": "other", "email": "o@other.example",
                                             "password": PASSWORD}).raise_for_status()

        with echo_upstream() as upstream, nginx_in_front(
            tmp_path / "nginx", server.url, client_id, upstream
        ) as proxy:
            # Anonymous: refused, and a forged identity header is not believed.
            assert httpx.get(proxy + "/").status_code == 401
            assert httpx.get(proxy + "/", headers={"Remote-User": "acme"}).status_code == 401

            # A bearer token passes, with the identity headers; a forged one is overwritten.
            alice = _token(api, "alice@acme", USER_PASSWORD)
            r = httpx.get(proxy + "/private", headers={"Authorization": f"Bearer {alice}",
                                                      "Remote-User": "acme"})
            assert r.status_code == 200, r.text
            seen = r.json()
            assert seen["remote-user"] == "alice@acme"
            assert seen["remote-email"] == "a@acme.example"
            assert seen["remote-name"] == "alice"
            assert seen["remote-account"] == "acme"

            # A browser signed in to the console passes with its cookie.
            cookie = _console_cookie(server.url, "acme", PASSWORD)
            r = httpx.get(proxy + "/", cookies={"twofold_session": cookie})
            assert r.status_code == 200, r.text
            assert r.json()["remote-user"] == "acme"

            # Another account's principal is refused.
            other = _token(api, "other", PASSWORD)
            assert httpx.get(proxy + "/", headers={"Authorization": f"Bearer {other}"}
                             ).status_code == 401

            # After logout the same credential is refused.
            bearer = {"Authorization": f"Bearer {alice}"}
            assert httpx.post(f"{api}/logout", headers=bearer).status_code == 204
            assert httpx.get(proxy + "/", headers=bearer).status_code == 401
    finally:
        server.kill()
