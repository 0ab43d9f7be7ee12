"""Driving real server processes over HTTP with the real clock (for the multi-process items)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.support import PASSWORD, WallClockWatch, oathtool


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signup(api: str, name: str, email: str | None = None) -> str:
    """Sign up and log in; returns the session token."""
    r = httpx.post(api + "/accounts", json={"name": name, "email": email or f"o@{name}.example",
                                            "password": PASSWORD}, timeout=30)
    assert r.status_code == 201, r.text
    return login_token(api, name)


def login_token(api: str, login: str, password: str = PASSWORD) -> str:
    r = httpx.post(api + "/login", json={"login": login, "password": password}, timeout=30)
    assert r.status_code == 200 and r.json()["state"] == "authenticated", r.text
    return str(r.json()["token"])


def enable_mfa(api: str, token: str, path: str = "/me/mfa-device") -> dict[str, Any]:
    """Create and bind a device with the real clock; returns the device and recovery codes."""
    r = httpx.post(api + path, headers=bearer(token), timeout=30)
    assert r.status_code == 201, r.text
    dev = r.json()
    for _ in range(2):  # again only after a stall of a step or more (WallClockWatch)
        watch = WallClockWatch()
        now = int(watch.wall)
        r = httpx.post(api + path + "/bind", headers=bearer(token), timeout=30,
                       json={"serial": dev["serial"], "code1": oathtool(dev["secret"], now - 30),
                             "code2": oathtool(dev["secret"], now)})
        if r.status_code == 200 or not watch.jumped():
            break
    assert r.status_code == 200, f"{r.text} ({watch}; server's Date {r.headers.get('date')})"
    dev["recovery_codes"] = r.json()["recovery_codes"]
    dev["bound_step"] = now // 30
    return dev


def challenge(api: str, login: str) -> str:
    r = httpx.post(api + "/login", json={"login": login, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200 and r.json()["state"] == "mfa_required", r.text
    return str(r.json()["challenge"])


def parallel(calls: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    """Send every (method, url, kwargs) at once, each on its own connection."""
    def send(call: tuple[str, str, dict[str, Any]]) -> httpx.Response:
        method, url, kw = call
        with httpx.Client(timeout=60) as c:
            return c.request(method, url, **kw)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(send, calls))
