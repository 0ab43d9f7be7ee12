"""A relying party's side of the code flow: Authlib's requests client for OAuth, httpx as
the person's browser through the console's sign-in pages."""

from __future__ import annotations

import re
from typing import Any

import httpx

_CONTINUE = re.compile(r'<a id="continue" href="([^"]+)"')


def browser_sign_in_and_return(
    browser: httpx.Client, authorize_url: str, redirect_uri: str, *, login: str, password: str,
    code: str | None = None,
) -> httpx.Response:
    """Follow the authorization request through the console's sign-in like a browser; the
    last response (a redirect to the application, or the page where it stopped)."""
    url = authorize_url
    for _ in range(12):
        path = httpx.URL(url).path
        if path == "/login":
            url = _post_form(browser, url, {"login": login, "password": password})
            continue
        if path == "/login/mfa":
            assert code is not None, "the sign-in asks for a code"
            url = _post_form(browser, url, {"code": code})
            continue
        r = browser.get(url)
        bridge = _CONTINUE.search(r.text) if r.status_code == 200 else None
        if bridge:  # a page between the sign-in form and the application (bridge.py)
            url = str(r.url.join(bridge.group(1).replace("&amp;", "&")))
            continue
        if r.status_code not in (302, 303):
            return r
        location = r.headers["location"]
        if location.startswith(redirect_uri):
            return r
        url = str(r.url.join(location))
    raise AssertionError("too many redirects")


def _post_form(browser: httpx.Client, page_url: str, data: dict[str, str]) -> str:
    page = browser.get(page_url)
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
    nxt = re.search(r'name="next" value="([^"]*)"', page.text)
    assert csrf
    body: dict[str, Any] = {"csrf": csrf.group(1), **data}
    if nxt:
        body["next"] = nxt.group(1).replace("&amp;", "&")
    origin = f"{page.url.scheme}://{page.url.netloc.decode()}"
    r = browser.post(page_url.split("?")[0], data=body, headers={"Origin": origin})
    assert r.status_code == 303, r.text
    return str(r.url.join(r.headers["location"]))
