"""The OpenID Connect provider against a relying party nobody here wrote (Authlib's client,
joserfc for the ID token), over a real server process: discovery, the PKCE code flow with a
TOTP code from oathtool, the ID token verified against the published JWKS, userinfo; and
the refusals: a replayed code, a wrong PKCE verifier, an unregistered redirect URI, another
account's user, a public client without PKCE."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.live import LiveServer, free_port, start_server
from tests.security.live_helpers import enable_mfa
from tests.support import PASSWORD, USER_PASSWORD, oathtool
from tests.web.sso.oidc_rp import browser_sign_in_and_return

pytestmark = pytest.mark.multiprocess
REDIRECT = "http://127.0.0.1:9/callback"  # never fetched: the test reads the Location
SCOPE = "openid profile email"


@dataclass
class Provider:
    server: LiveServer
    meta: dict[str, str]
    client_id: str
    client_secret: str
    owner_secret: str
    owner_token: str


@pytest.fixture
def provider(db_url: str, tmp_path: Path) -> Iterator[Provider]:
    port = free_port()
    server = start_server(db_url, tmp_path / "key", tmp_path / "logs", port=port,
                          extra_env={"TWOFOLD_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    try:
        api = server.api
        httpx.post(f"{api}/accounts", json={"name": "acme", "email": "o@acme.example",
                                             "password": PASSWORD}).raise_for_status()
        token = httpx.post(f"{api}/login", json={"login": "acme", "password": PASSWORD}
                           ).json()["token"]
        h = {"Authorization": f"Bearer {token}"}
        r = httpx.post(f"{api}/applications", headers=h,
                       json={"name": "RP", "redirect_uris": [REDIRECT]})
        assert r.status_code == 201, r.text
        secret = str(enable_mfa(api, token)["secret"])
        meta = httpx.get(f"{server.url}/.well-known/openid-configuration").json()
        yield Provider(server, meta, r.json()["client_id"], r.json()["client_secret"],
                       secret, token)
    finally:
        server.kill()


def _flow(p: Provider, *, verifier: str, nonce: str, login: str = "acme",
          password: str = PASSWORD, code: str | None = None,
          redirect_uri: str = REDIRECT) -> tuple[OAuth2Session, httpx.Response]:
    rp = OAuth2Session(p.client_id, p.client_secret, scope=SCOPE, redirect_uri=redirect_uri,
                       code_challenge_method="S256")
    url, _state = rp.create_authorization_url(
        p.meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    with httpx.Client() as browser:
        last = browser_sign_in_and_return(browser, url, redirect_uri, login=login,
                                          password=password, code=code)
    return rp, last


def _login_code(p: Provider) -> str:
    return oathtool(p.owner_secret, int(time.time()) + 30)  # the bind used up steps to now


def test_code_flow_with_pkce_and_totp(provider: Provider) -> None:
    p = provider
    assert p.meta["issuer"] == p.server.url
    assert p.meta["code_challenge_methods_supported"] == ["S256"]
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    rp, back = _flow(p, verifier=verifier, nonce=nonce, code=_login_code(p))
    assert back.status_code == 302, back.text
    location = back.headers["location"]
    assert location.startswith(REDIRECT + "?")

    token = rp.fetch_token(p.meta["token_endpoint"], authorization_response=location,
                           code_verifier=verifier)
    keys = KeySet.import_key_set(httpx.get(p.meta["jwks_uri"]).json())
    claims = jwt.decode(token["id_token"], keys, algorithms=["RS256"]).claims
    assert claims["iss"] == p.server.url
    assert claims["aud"] in (p.client_id, [p.client_id])
    assert claims["nonce"] == nonce
    assert claims["preferred_username"] == "acme" and claims["email"] == "o@acme.example"
    assert claims["email_verified"] is False  # nobody followed the sign-up's link
    assert "email_verified" in p.meta["claims_supported"]
    assert set(claims["amr"]) == {"pwd", "otp", "mfa"}
    assert abs(claims["auth_time"] - time.time()) < 120
    assert "acme" not in claims["sub"]

    info = rp.get(p.meta["userinfo_endpoint"]).json()
    assert info["sub"] == claims["sub"] and info["preferred_username"] == "acme"

    # The code again: invalid_grant, and the token it issued is revoked.
    code = parse_qs(urlsplit(location).query)["code"][0]
    again = httpx.post(p.meta["token_endpoint"], auth=(p.client_id, p.client_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert rp.get(p.meta["userinfo_endpoint"]).status_code == 401


def test_wrong_pkce_verifier_is_refused(provider: Provider) -> None:
    p = provider
    verifier = secrets.token_urlsafe(48)
    _rp, back = _flow(p, verifier=verifier, nonce="n", code=_login_code(p))
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    r = httpx.post(p.meta["token_endpoint"], data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": secrets.token_urlsafe(48), "client_id": p.client_id,
        "client_secret": p.client_secret})  # client_secret_post
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_unregistered_redirect_uri_gets_a_page_not_a_redirect(provider: Provider) -> None:
    p = provider
    evil = "https://evil.example/cb"
    _rp, last = _flow(p, verifier=secrets.token_urlsafe(48), nonce="n", redirect_uri=evil)
    assert last.status_code == 400
    assert "location" not in last.headers and "text/html" in last.headers["content-type"]
    r = httpx.get(p.meta["authorization_endpoint"], params={
        "client_id": "app-unknown", "redirect_uri": REDIRECT, "response_type": "code"})
    assert r.status_code == 404 and "location" not in r.headers


def test_another_accounts_user_gets_no_code(provider: Provider) -> None:
    p = provider
    api = p.server.api
    httpx.post(f"{api}/accounts", json={"name": "other", "email": "o@other.example",
                                         "password": PASSWORD}).raise_for_status()
    _rp, last = _flow(p, verifier=secrets.token_urlsafe(48), nonce="n", login="other")
    assert last.status_code == 403
    assert "another account" in last.text and "location" not in last.headers


def test_a_sub_user_of_the_account_signs_in(provider: Provider) -> None:
    p = provider
    h = {"Authorization": f"Bearer {p.owner_token}"}
    httpx.post(f"{p.server.api}/users", headers=h, json={
        "name": "alice", "password": USER_PASSWORD}).raise_for_status()
    verifier = secrets.token_urlsafe(48)
    rp, back = _flow(p, verifier=verifier, nonce="n", login="alice@acme",
                     password=USER_PASSWORD)
    token = rp.fetch_token(p.meta["token_endpoint"],
                           authorization_response=back.headers["location"],
                           code_verifier=verifier)
    keys = KeySet.import_key_set(httpx.get(p.meta["jwks_uri"]).json())
    claims = jwt.decode(token["id_token"], keys, algorithms=["RS256"]).claims
    assert claims["preferred_username"] == "alice@acme" and claims["amr"] == ["pwd"]


def test_public_client_must_use_pkce(provider: Provider) -> None:
    p = provider
    h = {"Authorization": f"Bearer {p.owner_token}"}
    r = httpx.post(f"{p.server.api}/applications", headers=h, json={
        "name": "SPA", "type": "public", "redirect_uris": [REDIRECT]})
    assert r.status_code == 201, r.text
    public_id = r.json()["client_id"]
    r = httpx.get(p.meta["authorization_endpoint"], params={
        "client_id": public_id, "redirect_uri": REDIRECT, "response_type": "code",
        "scope": SCOPE, "state": "s"})
    assert r.status_code == 302
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["error"] == ["invalid_request"] and query["state"] == ["s"]


def test_prompt_none_without_a_session_answers_login_required(provider: Provider) -> None:
    p = provider
    r = httpx.get(p.meta["authorization_endpoint"], params={
        "client_id": p.client_id, "redirect_uri": REDIRECT, "response_type": "code",
        "scope": SCOPE, "state": "s", "prompt": "none",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256"})
    assert r.status_code == 302
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["error"] == ["login_required"] and query["state"] == ["s"]


def test_max_age_and_prompt_login_ask_again_and_revocation(provider: Provider) -> None:
    p = provider
    h = {"Authorization": f"Bearer {p.owner_token}"}
    httpx.post(f"{p.server.api}/users", headers=h, json={
        "name": "alice", "password": USER_PASSWORD}).raise_for_status()
    keys_url = p.meta["jwks_uri"]

    def authorize(browser: httpx.Client, **extra: str) -> tuple[OAuth2Session, str, str]:
        verifier = secrets.token_urlsafe(48)
        rp = OAuth2Session(p.client_id, p.client_secret, scope=SCOPE, redirect_uri=REDIRECT,
                           code_challenge_method="S256")
        url, _ = rp.create_authorization_url(p.meta["authorization_endpoint"],
                                             code_verifier=verifier, nonce="n", **extra)
        return rp, url, verifier

    with httpx.Client() as browser:
        rp, url, verifier = authorize(browser)
        back = browser_sign_in_and_return(browser, url, REDIRECT, login="alice@acme",
                                          password=USER_PASSWORD)
        first = rp.fetch_token(p.meta["token_endpoint"],
                               authorization_response=back.headers["location"],
                               code_verifier=verifier)
        # Signed in: a second request gets its code without a sign-in.
        rp2, url2, _ = authorize(browser)
        assert browser.get(url2).headers["location"].startswith(REDIRECT)
        for extra in ({"max_age": "0"}, {"prompt": "login"}):
            time.sleep(1.1)  # a sign-in older than max_age=0
            rp3, url3, verifier3 = authorize(browser, **extra)
            asked = browser.get(url3)
            assert asked.status_code == 303 and asked.headers["location"].startswith("/login")
            back3 = browser_sign_in_and_return(browser, url3, REDIRECT, login="alice@acme",
                                               password=USER_PASSWORD)
            assert back3.status_code == 302, back3.text
            again = rp3.fetch_token(p.meta["token_endpoint"],
                                    authorization_response=back3.headers["location"],
                                    code_verifier=verifier3)
            keys = KeySet.import_key_set(httpx.get(keys_url).json())
            c1 = jwt.decode(first["id_token"], keys, algorithms=["RS256"]).claims
            c3 = jwt.decode(again["id_token"], keys, algorithms=["RS256"]).claims
            assert c3["auth_time"] > c1["auth_time"]

    # RFC 7009: the revoked access token no longer reads userinfo.
    assert rp.get(p.meta["userinfo_endpoint"]).status_code == 200
    r = httpx.post(p.meta["revocation_endpoint"], auth=(p.client_id, p.client_secret),
                   data={"token": first["access_token"]})
    assert r.status_code == 200
    assert rp.get(p.meta["userinfo_endpoint"]).status_code == 401
    bad = httpx.post(p.meta["revocation_endpoint"], auth=(p.client_id, "wrong"),
                     data={"token": "x"})
    assert bad.status_code == 401


def test_rp_initiated_logout(provider: Provider) -> None:
    p = provider
    h = {"Authorization": f"Bearer {p.owner_token}"}
    bye = "http://127.0.0.1:9/bye"
    r = httpx.patch(f"{p.server.api}/applications/{p.client_id}", headers=h,
                    json={"post_logout_redirect_uris": [bye]})
    assert r.status_code == 200, r.text
    httpx.post(f"{p.server.api}/users", headers=h, json={
        "name": "alice", "password": USER_PASSWORD}).raise_for_status()
    end = p.meta["end_session_endpoint"]
    with httpx.Client() as browser:
        verifier = secrets.token_urlsafe(48)
        rp = OAuth2Session(p.client_id, p.client_secret, scope=SCOPE, redirect_uri=REDIRECT,
                           code_challenge_method="S256")
        url, _ = rp.create_authorization_url(p.meta["authorization_endpoint"],
                                             code_verifier=verifier, nonce="n")
        back = browser_sign_in_and_return(browser, url, REDIRECT, login="alice@acme",
                                          password=USER_PASSWORD)
        token = rp.fetch_token(p.meta["token_endpoint"],
                               authorization_response=back.headers["location"],
                               code_verifier=verifier)
        hint = token["id_token"]
        # Refused, and the session kept: a forged hint, an unregistered URI.
        forged = browser.get(end, params={"id_token_hint": hint[:-4] + "AAAA",
                                          "post_logout_redirect_uri": bye})
        assert forged.status_code == 400 and "location" not in forged.headers
        evil = browser.get(end, params={"id_token_hint": hint,
                                        "post_logout_redirect_uri": "https://evil.example/"})
        assert evil.status_code == 400 and "location" not in evil.headers
        assert browser.get(url).headers["location"].startswith(REDIRECT)
        # The real thing: back to the registered URI with the state; the session is over
        # on the server, not only in this browser.
        session = browser.cookies.get("twofold_session")
        assert httpx.get(f"{p.server.api}/me", headers={"Authorization": f"Bearer {session}"}
                         ).status_code == 200
        out = browser.get(end, params={"id_token_hint": hint,
                                       "post_logout_redirect_uri": bye, "state": "xyz"})
        assert out.status_code == 303 and out.headers["location"] == bye + "?state=xyz"
        assert browser.get(url).headers["location"].startswith("/login")
        assert httpx.get(f"{p.server.api}/me", headers={"Authorization": f"Bearer {session}"}
                         ).status_code == 401
