"""The whole OpenID Connect flow in Chromium, with a relying party nobody here wrote
(Authlib's OAuth2Session for the protocol, its CodeIDToken for the ID token's checks):
discovery, the PKCE code flow through the console's sign-in with a TOTP code from oathtool,
the ID token verified against the published JWKS (iss, aud, exp, nonce, at_hash), userinfo,
the sessions page naming the application, a rotated refresh token, revocation, and the
RP-initiated logout ending the session on the server."""

from __future__ import annotations

import re
import secrets
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import Authenticator, Site, new_page
from tests.live import free_port
from tests.support import PASSWORD

pytestmark = pytest.mark.browser
RP = f"http://127.0.0.1:{free_port()}"  # the relying party's own web server (below)
CALLBACK, BYE = f"{RP}/callback", f"{RP}/bye"


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b"the application"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def relying_party() -> Iterator[None]:
    """The application's web server: its callback and post-logout pages just answer."""
    server = ThreadingHTTPServer(("127.0.0.1", int(RP.rsplit(":", 1)[1])), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield
    server.shutdown()
    server.server_close()


def _owner_with_mfa(site: Site, account: str) -> tuple[dict[str, str], Authenticator]:
    auth = site.api_login(account)
    dev = httpx.post(site.server.api + "/me/mfa-device", headers=auth).json()
    phone = Authenticator(dev["secret"])
    code1, code2 = phone.bind_codes()
    r = httpx.post(site.server.api + "/me/mfa-device/bind", headers=auth,
                   json={"serial": dev["serial"], "code1": code1, "code2": code2})
    assert r.status_code == 200, r.text
    return auth, phone


def test_relying_party_flow_in_chromium(
    site: Site, context: BrowserContext, relying_party: None
) -> None:
    account = site.signup(f"rp-{uuid.uuid4().hex[:8]}")
    auth, phone = _owner_with_mfa(site, account)
    r = httpx.post(site.server.api + "/applications", headers=auth, json={
        "name": "Wiki", "redirect_uris": [CALLBACK], "post_logout_redirect_uris": [BYE]})
    assert r.status_code == 201, r.text
    client_id, client_secret = r.json()["client_id"], r.json()["client_secret"]
    meta = httpx.get(site.url + "/.well-known/openid-configuration").json()

    rp = OAuth2Session(client_id, client_secret, scope="openid profile email offline_access",
                       redirect_uri=CALLBACK, code_challenge_method="S256")
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    url, _state = rp.create_authorization_url(meta["authorization_endpoint"],
                                              code_verifier=verifier, nonce=nonce)
    page = new_page(context)
    page.goto(url)
    page.wait_for_url(re.compile(r"/login\?next="))
    # The console's own sign-in: the password, then the phone's code.
    page.fill("input[name=login]", account)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/login/mfa\?"))
    page.fill("input[name=code]", phone.code())
    page.click("form[action='/login/mfa'] button[type=submit] >> nth=0")
    page.wait_for_url(re.compile(re.escape(CALLBACK) + r"\?"))
    assert parse_qs(urlsplit(page.url).query)["state"] == [_state]

    token = rp.fetch_token(meta["token_endpoint"], authorization_response=page.url,
                           code_verifier=verifier)
    decoded = jwt.decode(token["id_token"], KeySet.import_key_set(
        httpx.get(meta["jwks_uri"]).json()), algorithms=["RS256"])
    claims = CodeIDToken(
        decoded.claims, decoded.header,
        options={"iss": {"essential": True, "value": meta["issuer"]},
                 "aud": {"essential": True, "value": client_id}},
        params={"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
    )
    claims.validate()
    assert claims["preferred_username"] == account and claims["amr"] == ["pwd", "otp", "mfa"]
    assert rp.get(meta["userinfo_endpoint"]).json()["sub"] == claims["sub"]

    page.goto("/sessions")
    expect(page.locator("tr.current td.session-apps")).to_have_text("Wiki")
    site.shot(page, "issue12-sessions-with-applications")

    # offline_access: a refresh rotates the refresh token; the old one is spent.
    first_refresh = token["refresh_token"]
    fresh = rp.refresh_token(meta["token_endpoint"])
    assert fresh["refresh_token"] != first_refresh
    assert rp.get(meta["userinfo_endpoint"]).status_code == 200
    spent = httpx.post(meta["token_endpoint"], auth=(client_id, client_secret),
                       data={"grant_type": "refresh_token", "refresh_token": first_refresh})
    assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"
    # ... and presenting it revoked the grant it belonged to.
    assert rp.get(meta["userinfo_endpoint"]).status_code == 401

    # A second sign-in (no password asked: the browser is signed in), then revocation.
    url, _ = rp.create_authorization_url(meta["authorization_endpoint"],
                                         code_verifier=verifier, nonce=nonce)
    page.goto(url)
    page.wait_for_url(re.compile(re.escape(CALLBACK) + r"\?"))
    token = rp.fetch_token(meta["token_endpoint"], authorization_response=page.url,
                           code_verifier=verifier)
    assert rp.get(meta["userinfo_endpoint"]).status_code == 200
    assert rp.revoke_token(meta["revocation_endpoint"], token["access_token"],
                           token_type_hint="access_token").status_code == 200
    assert rp.get(meta["userinfo_endpoint"]).status_code == 401

    # RP-initiated logout: back to the application, and signed out on the server.
    page.goto(meta["end_session_endpoint"] + "?" + httpx.QueryParams(
        {"id_token_hint": token["id_token"], "post_logout_redirect_uri": BYE}).__str__())
    page.wait_for_url(BYE)
    page.goto("/sessions")
    page.wait_for_url(re.compile(r"/login"))
    expect(page.locator("input[name=login]")).to_be_visible()
