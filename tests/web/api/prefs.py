"""Helpers for the security-preference tests: set preferences as a freshly verified primary."""

from __future__ import annotations

from typing import Any

from tests.support import Api, Principal


def verify(api: Api, p: Principal) -> None:
    if p.secret:
        r = api.verify_mfa(p)
    else:
        r = api.call("POST", "/verify", p, json={"method": "password", "password": p.password})
    assert r.status_code == 200, r.text


def set_prefs(api: Api, owner: Principal, **prefs: Any) -> dict[str, Any]:
    verify(api, owner)
    r = api.call("PATCH", "/account/security", owner, json=prefs)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body
