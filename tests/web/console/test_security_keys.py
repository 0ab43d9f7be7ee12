"""Security keys in the console without a browser: the same forms console.js fills in, driven
with a software authenticator; a primary removing a sub-user's key; no JavaScript."""

from __future__ import annotations

import json
from typing import Any

from tests.soft_authenticator import SoftAuthenticator
from tests.support import Api
from tests.web.console.conftest import Console, csrf_of


def options_of(console: Console, path: str, page: str) -> dict[str, Any]:
    r = console.post(path, {}, page=page)
    assert r.status_code == 200, r.text
    return dict(r.json()["public_key"])


def test_add_a_key_then_sign_in_with_it(console: Console, owner: Any) -> None:
    authn = SoftAuthenticator()
    console.login(owner.login, owner.password)
    page = console.get("/security").text
    assert 'id="add-security-key"' in page and 'name="key_name"' in page
    credential = authn.create(options_of(console, "/security/keys/options", "/security"))
    r = console.post(
        "/security/keys",
        {"key_name": "desk key", "credential": json.dumps(credential)},
        page="/security",
    )
    assert r.status_code == 200 and "desk key" in r.text
    assert r.text.count("<li><code>") == 10  # the first factor brings recovery codes

    console.client.cookies.clear()
    r = console.post("/login", {"login": owner.login, "password": owner.password})
    assert r.headers["location"].startswith("/login/mfa")
    page = console.get("/login/mfa").text
    assert 'id="use-security-key"' in page and 'name="code"' not in page  # no device bound
    answer = authn.get(options_of(console, "/login/mfa/key-options", "/login/mfa"))
    r = console.post("/login/mfa", {"credential": json.dumps(answer)}, page="/login/mfa")
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "Overview" in console.get("/").text


def test_without_javascript_adding_a_key_says_why(console: Console, owner: Any) -> None:
    console.login(owner.login, owner.password)
    r = console.post("/security/keys", {"key_name": "k"}, page="/security")
    assert r.status_code == 200 and "needs JavaScript" in r.text


def test_primary_sees_and_removes_a_users_key(console: Console, owner: Any, api: Api) -> None:
    alice = api.add_user(owner, "alice")
    api.login(alice)
    options = api.call("POST", "/me/security-keys/options", alice).json()["public_key"]
    r = api.call(
        "POST",
        "/me/security-keys/verify",
        alice,
        json={"name": "alice key", "credential": SoftAuthenticator().create(options)},
    )
    assert r.status_code == 201, r.text
    key_id = r.json()["security_key"]["id"]
    console.login(owner.login, owner.password)
    page = console.get("/users/alice").text
    assert "alice key" in page
    r = console.post_with(f"/users/alice/security-keys/{key_id}/delete", {}, csrf_of(page))
    assert r.headers["location"] == "/users/alice?done=user-key-removed"
    assert "alice key" not in console.get("/users/alice").text
