"""Forward-auth's rules over the app: the 302 back to sign-in and its return address (from
trusted proxies only), the return page (no open redirect), require_mfa, unknown apps."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.support import PASSWORD, Api, FakeClock, Principal, bearer
from twofold.bootstrap import build_runtime
from twofold.config import Settings
from twofold.web.app import create_app

FA = "/authz/forward-auth"
AR = "/authz/auth-request"


def _app(api: Api, owner: Principal, **extra: object) -> str:
    body = {"name": "Wiki", "redirect_uris": ["https://wiki.example.com/callback"], **extra}
    r = api.call("POST", "/applications", owner, json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["client_id"])


def _rd_of(location: str) -> str | None:
    nxt = parse_qs(urlsplit(location).query).get("next")
    if not nxt:
        return None
    return parse_qs(urlsplit(unquote(nxt[0])).query).get("rd", [None])[0]


@pytest.fixture
def client_at(settings: Settings, clock: FakeClock) -> Iterator[Any]:
    """A TestClient from a given peer address and base URL, with some settings changed."""
    made: list[Any] = []

    def make(peer: str = "127.0.0.1", base: str = "http://testserver", **changes: Any) -> Api:
        s = settings.model_copy(update=changes)
        rt = build_runtime(s, clock=clock)
        client = TestClient(create_app(s, runtime=rt), base_url=base, client=(peer, 40000))
        client.__enter__()
        made.append((rt, client))
        return Api(client, clock)

    yield make
    for rt, client in made:
        client.__exit__(None, None, None)
        rt.close()


def test_forward_auth_redirects_to_sign_in_with_the_trusted_original_url(client_at: Any) -> None:
    api = client_at(trusted_proxies=["127.0.0.0/8"])
    acme = api.signup("acme")
    app = _app(api, acme)
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "wiki.example.com",
               "X-Forwarded-Uri": "/page?x=1"}
    r = api.call("GET", f"{FA}?app={app}", headers=headers, follow_redirects=False)
    assert r.status_code == 302
    assert r.headers["location"].startswith("http://127.0.0.1:8000/login?next=")
    assert _rd_of(r.headers["location"]) == "https://wiki.example.com/page?x=1"
    r = api.call("GET", f"{FA}?app={app}", headers={"X-Original-URL": "https://wiki.example.com/a"},
                 follow_redirects=False)
    assert _rd_of(r.headers["location"]) == "https://wiki.example.com/a"
    ok = api.call("GET", f"{FA}?app={app}", acme)
    assert ok.status_code == 200 and ok.headers["remote-user"] == "acme"


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(client_at: Any) -> None:
    api = client_at(peer="192.0.2.7", trusted_proxies=["127.0.0.0/8"])
    acme = api.signup("acme")
    app = _app(api, acme)
    r = api.call("GET", f"{FA}?app={app}", follow_redirects=False,
                 headers={"X-Original-URL": "https://evil.example/steal"})
    assert r.status_code == 302
    assert r.headers["location"] == "http://127.0.0.1:8000/login"


def test_return_page_follows_only_registered_origins(api: Api) -> None:
    acme = api.signup("acme")
    _app(api, acme)
    cookies = {"twofold_session": acme.token or ""}
    client = api.client
    for target, expected in (
        ("https://wiki.example.com/page?x=1", "https://wiki.example.com/page?x=1"),
        ("https://evil.example/", "/"),
        ("https://wiki.example.com.evil.example/", "/"),
        ("http://wiki.example.com/", "/"),  # another scheme is another origin
        ("//evil.example/", "/"),
        ("javascript:alert(1)", "/"),
    ):
        client.cookies.clear()
        r = client.get("/sso/return", params={"rd": target}, cookies=cookies,
                       follow_redirects=False)
        if expected == "/":
            assert r.status_code == 303 and r.headers["location"] == "/", target
        else:  # another origin: through a page whose refresh and link go on
            assert r.status_code == 200 and f'href="{expected}"' in r.text, target
    # Not signed in: to the sign-in page, which comes back here.
    client.cookies.clear()
    r = client.get("/sso/return", params={"rd": "https://wiki.example.com/"},
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/sso/return")


def test_another_accounts_origins_are_not_followed(api: Api) -> None:
    acme = api.signup("acme")
    _app(api, acme)
    other = api.signup("other")
    r = api.client.get("/sso/return", params={"rd": "https://wiki.example.com/"},
                       cookies={"twofold_session": other.token or ""}, follow_redirects=False)
    assert r.headers["location"] == "/"


def test_require_mfa_refuses_a_principal_without_mfa(api: Api) -> None:
    acme = api.signup("acme")
    app = _app(api, acme, require_mfa=True)
    assert api.call("GET", f"{AR}?app={app}", acme).status_code == 401
    api.enable_mfa(acme)
    r = api.call("GET", f"{AR}?app={app}", acme)
    assert r.status_code == 200 and r.headers["remote-account"] == "acme"


def test_unknown_app_and_bad_token_are_refused(api: Api) -> None:
    acme = api.signup("acme")
    app = _app(api, acme)
    assert api.call("GET", f"{AR}?app=app-nope", acme).status_code == 401
    assert api.call("GET", f"{AR}?app={app}", headers=bearer("x" * 43)).status_code == 401
    assert api.call("GET", f"{AR}?app={app}", headers=bearer("x" * 5000)).status_code == 401
    assert api.call("GET", f"{AR}?app={'a' * 500}", acme).status_code == 400


def test_cookie_domain_covers_sub_domains(client_at: Any) -> None:
    api = client_at(base="https://sso.example.com", cookie_domain="example.com")
    api.signup("acme")
    browser = api.client
    browser.cookies.clear()
    page = browser.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
    assert csrf
    r = browser.post("/login", data={"csrf": csrf.group(1), "login": "acme",
                                     "password": PASSWORD},
                     headers={"Origin": "https://sso.example.com"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    session = [c for c in r.headers.get_list("set-cookie") if "twofold_session=" in c]
    assert session and session[0].startswith("__Secure-twofold_session=")
    assert "Domain=example.com" in session[0] and "HttpOnly" in session[0]
    assert "SameSite=lax" in session[0] and "Secure" in session[0]
    # Other cookies stay host-only.
    assert all("Domain" not in c for c in r.headers.get_list("set-cookie")
               if "twofold_session=" not in c)
    token = session[0].split(";")[0].split("=", 1)[1]
    app = _app(api, api_principal(api, token))
    ok = browser.get(f"/api/v1{AR}?app={app}", cookies={"__Secure-twofold_session": token})
    assert ok.status_code == 200 and ok.headers["remote-user"] == "acme"


def api_principal(api: Api, token: str) -> Principal:
    return Principal("acme", PASSWORD, token=token)
