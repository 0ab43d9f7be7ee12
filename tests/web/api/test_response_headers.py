"""API responses are never cached; /api/docs is served from this server under a CSP."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.support import Api
from twofold.web.docs import DOCS_CSP


def _no_store(r: object) -> bool:
    headers = r.headers  # type: ignore[attr-defined]
    return bool(headers.get("cache-control") == "no-store" and headers.get("pragma") == "no-cache")


def test_every_api_response_with_a_secret_says_no_store(api: Api) -> None:
    r = api.call(
        "POST", "/accounts",
        json={"name": "acme", "email": "owner@acme.example", "password": "correct-horse-battery-9"},
    )
    assert r.status_code == 201 and _no_store(r)
    owner = api.signup("other")
    r = api.call("POST", "/login", json={"login": owner.login, "password": owner.password})
    assert "token" in r.json() and _no_store(r)
    r = api.call("POST", "/me/mfa-device", owner)  # the TOTP secret and its QR code
    assert r.status_code == 201 and "secret" in r.json() and _no_store(r)
    r = api.call("GET", "/me", owner)
    assert r.status_code == 200 and _no_store(r)


def test_errors_and_the_schema_say_no_store_too(api: Api) -> None:
    r = api.call("GET", "/me")
    assert r.status_code == 401 and _no_store(r)
    r = api.client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and _no_store(r)
    assert r.headers["x-content-type-options"] == "nosniff"


def test_docs_page_loads_nothing_from_elsewhere_and_has_a_csp(api: Api) -> None:
    r = api.client.get("/api/docs")
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == DOCS_CSP
    assert "'unsafe-inline'" not in DOCS_CSP.split("script-src")[1].split(";")[0]
    assert "<script>" not in r.text  # no inline script: the CSP would refuse it
    sources = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert sources and all(s.startswith("/api/docs/") for s in sources), sources
    for source in sources:
        got = api.client.get(source)
        assert got.status_code == 200, source
        assert len(got.content) > 100, source
    bundle = api.client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in bundle.text


def test_docs_can_be_switched_off(api_with: Callable[..., Api]) -> None:
    api = api_with(api_docs=False)
    assert api.client.get("/api/docs").status_code == 404
    assert api.client.get("/api/docs/assets/swagger-ui.css").status_code == 404
    assert api.client.get("/api/v1/openapi.json").status_code == 200
