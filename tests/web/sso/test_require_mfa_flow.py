"""An application with `require_mfa`: a signed-in principal without MFA is sent from the
authorization endpoint to bind a device, and the page that shows its recovery codes leads
back to the waiting authorization request, which then answers with a code (amr: pwd, otp)."""

from __future__ import annotations

import html
import re
import secrets
from urllib.parse import parse_qs, quote, urlsplit

from tests.support import USER_PASSWORD, Api
from tests.web.api.prefs import verify
from tests.web.console.conftest import Console
from tests.web.console.test_flows import bind_on_page
from tests.web.sso.inproc import REDIRECT, authorize, code_of, exchange, id_claims, register

RESUME = "/oauth/authorize/resume"


def _resume_to_code(console: Console, page: str) -> str:
    link = re.search(r'<a[^>]*id="continue-to-application"[^>]*href="([^"]+)"', page)
    assert link and link.group(1) == RESUME, "the bind page leads back to the application"
    r = console.get(RESUME)
    bridge = re.search(r'<a id="continue" href="([^"]+)"', r.text)
    assert r.status_code == 200 and bridge and bridge.group(1).startswith("/oauth/authorize?")
    r = console.get(html.unescape(bridge.group(1)))
    return code_of(r)


def test_signed_in_without_mfa_binds_then_returns(api: Api, console: Console) -> None:
    owner = api.signup()
    client = register(api, owner, require_mfa=True)
    api.add_user(owner, "alice")
    console.login("alice@acme", USER_PASSWORD)
    verifier = secrets.token_urlsafe(48)
    r = authorize(console, client[0], verifier)
    assert r.status_code == 303 and r.headers["location"] == "/mfa/setup?done=app-requires-mfa"
    page = console.get(r.headers["location"])
    assert page.status_code == 200 and "application you are signing in to" in page.text
    r = console.post("/mfa/device", {}, page="/mfa/setup")
    _, r = bind_on_page(console, r.text, "/mfa/bind")
    assert r.status_code == 200 and 'id="recovery-codes"' in r.text
    code = _resume_to_code(console, r.text)
    token = exchange(console, client, code, verifier)
    assert token.status_code == 200, token.text
    assert id_claims(console, token.json()["id_token"])["amr"] == ["pwd", "otp", "mfa"]


def test_a_setup_only_sign_in_also_returns(api: Api, console: Console) -> None:
    owner = api.signup()
    client = register(api, owner, require_mfa=True)
    api.add_user(owner, "bob", mfa_required=True)
    verifier = secrets.token_urlsafe(48)
    r = authorize(console, client[0], verifier)  # not signed in: to the sign-in first
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = console.login("bob@acme", USER_PASSWORD)
    assert r.headers["location"] == "/mfa/setup"
    r = console.post("/mfa/device", {}, page="/mfa/setup")
    _, r = bind_on_page(console, r.text, "/mfa/bind")
    code = _resume_to_code(console, r.text)
    assert exchange(console, client, code, verifier).status_code == 200


def test_prompt_none_answers_interaction_required(api: Api, console: Console) -> None:
    owner = api.signup()
    client = register(api, owner, require_mfa=True)
    api.add_user(owner, "alice")
    console.login("alice@acme", USER_PASSWORD)
    r = authorize(console, client[0], secrets.token_urlsafe(48), prompt="none")
    assert r.status_code == 302, r.text
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert r.headers["location"].startswith(REDIRECT + "?")
    assert query["error"] == ["interaction_required"] and query["state"] == ["st"]


def test_forward_auth_sign_in_binds_then_returns(api: Api, console: Console) -> None:
    owner = api.signup()
    site = "https://wiki.example.com/page?x=1"
    r = api.call("POST", "/applications", owner, json={
        "name": "Wiki", "redirect_uris": ["https://wiki.example.com/"], "require_mfa": True})
    app = r.json()["client_id"]
    api.add_user(owner, "alice")
    console.login("alice@acme", USER_PASSWORD)
    back = f"/sso/return?rd={quote(site, safe='')}&app={app}"
    r = console.get(back)  # where the sign-in sends the proxy's visitor
    assert r.status_code == 303 and r.headers["location"] == "/mfa/setup?done=app-requires-mfa"
    r = console.post("/mfa/device", {}, page="/mfa/setup")
    _, r = bind_on_page(console, r.text, "/mfa/bind")
    link = re.search(r'id="continue-to-application"[^>]*href="([^"]+)"', r.text)
    assert link and html.unescape(link.group(1)) == back
    r = console.get(back)
    assert r.status_code == 200 and f'href="{html.escape(site)}"' in r.text
    r = console.client.get("/api/v1/authz/auth-request", params={"app": app})
    assert r.status_code == 200 and r.headers["remote-user"] == "alice@acme"


def test_a_forced_password_change_returns_to_the_application(
    api: Api, console: Console
) -> None:
    owner = api.signup()
    client = register(api, owner)
    api.add_user(owner, "alice")
    verify(api, owner)
    r = api.call("PATCH", "/users/alice", owner, json={"password_reset_required": True})
    assert r.status_code == 200, r.text
    verifier = secrets.token_urlsafe(48)
    r = authorize(console, client[0], verifier)
    assert r.headers["location"].startswith("/login")
    r = console.login("alice@acme", USER_PASSWORD)
    assert r.headers["location"] == "/password/change"
    r = console.post("/password/change", {"new_password": "a brand new passphrase 7"})
    assert r.status_code == 303 and r.headers["location"] == RESUME
    page = console.get(RESUME)
    bridge = re.search(r'<a id="continue" href="([^"]+)"', page.text)
    assert bridge
    code = code_of(console.get(html.unescape(bridge.group(1))))
    assert exchange(console, client, code, verifier).status_code == 200
    # Signed in and then made to change it: the authorization endpoint sends there first.
    r = api.call("PATCH", "/users/alice", owner, json={"password_reset_required": True})
    assert r.status_code == 200, r.text
    r = authorize(console, client[0], verifier)
    assert r.status_code == 303 and r.headers["location"] == "/password/change"
