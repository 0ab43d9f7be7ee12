"""The code flow in-process: the console driver is the person's browser, the test posts to
the token endpoint as a relying party would (client_secret_basic, PKCE S256), and reads the
ID token after checking its signature against the published JWKS."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support import Api, Principal
from tests.web.console.conftest import Console

REDIRECT = "https://rp.example/cb"
SCOPE = "openid profile email"


def register(api: Api, owner: Principal, **extra: Any) -> tuple[str, str]:
    """A confidential application of the owner's account: (client_id, client_secret)."""
    r = api.call("POST", "/applications", owner,
                 json={"name": "RP", "redirect_uris": [REDIRECT], **extra})
    assert r.status_code == 201, r.text
    return r.json()["client_id"], r.json()["client_secret"]


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(console: Console, client_id: str, verifier: str, *, scope: str = SCOPE,
              **extra: str) -> Any:
    """GET the authorization endpoint in the signed-in browser (no redirect followed)."""
    return console.get("/oauth/authorize", params={
        "client_id": client_id, "redirect_uri": REDIRECT, "response_type": "code",
        "scope": scope, "state": "st", "nonce": "n0", "code_challenge": challenge_of(verifier),
        "code_challenge_method": "S256", **extra})


def code_of(response: Any) -> str:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    return parse_qs(urlsplit(location).query)["code"][0]


def token_request(console: Console, client: tuple[str, str], data: dict[str, str]) -> Any:
    return console.client.post("/oauth/token", auth=client, data=data)


def exchange(console: Console, client: tuple[str, str], code: str, verifier: str) -> Any:
    return token_request(console, client, {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier})


def sign_in_flow(console: Console, client: tuple[str, str], **extra: str) -> dict[str, Any]:
    """Authorize in the signed-in browser and exchange the code: the token response."""
    verifier = secrets.token_urlsafe(48)
    r = exchange(console, client, code_of(authorize(console, client[0], verifier, **extra)),
                 verifier)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def id_claims(console: Console, id_token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(console.client.get("/oauth/jwks").json())
    return dict(jwt.decode(id_token, keys, algorithms=["RS256"]).claims)
