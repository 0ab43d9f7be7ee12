"""The provider's edges in-process: plain http off loopback is refused with a page (never a
500), or allowed for development; malformed requests answer OAuth errors or pages."""

from __future__ import annotations

from typing import Any

from tests.support import Api


def _app(api: Api) -> str:
    acme = api.signup("acme")
    r = api.call("POST", "/applications", acme,
                 json={"name": "A", "redirect_uris": ["https://a.example/cb"]})
    assert r.status_code == 201, r.text
    return str(r.json()["client_id"])


def _authorize(api: Api, client_id: str) -> Any:
    return api.client.get("/oauth/authorize", follow_redirects=False, params={
        "client_id": client_id, "redirect_uri": "https://a.example/cb", "response_type": "code",
        "scope": "openid", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"})


def test_http_public_url_off_loopback_is_refused_with_a_page(api_with: Any) -> None:
    api = api_with(public_url="http://sso.example.com")
    r = _authorize(api, _app(api))
    assert r.status_code == 400 and "https" in r.text and "location" not in r.headers
    token = api.client.post("/oauth/token", data={"grant_type": "authorization_code"})
    assert token.status_code == 400


def test_http_public_url_allowed_for_development(api_with: Any) -> None:
    api = api_with(public_url="http://sso.example.com", allow_http_redirects=True)
    r = _authorize(api, _app(api))
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_malformed_token_requests_answer_oauth_errors(api: Api) -> None:
    client_id = _app(api)
    for data in ({"grant_type": "password"}, {},
                 {"grant_type": "authorization_code", "code": "x" * 300, "client_id": client_id}):
        r = api.client.post("/oauth/token", data=data)
        assert r.status_code in (400, 401), (data, r.status_code)
        assert "error" in r.json()
