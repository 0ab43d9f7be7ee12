"""Refresh tokens (`offline_access`): issued only when asked for, rotated on every use, a
rotated one presented again revokes the whole grant, revocable at RFC 7009's endpoint, and
ended by signing out, disabling the user, and deleting the application."""

from __future__ import annotations

from typing import Any

from tests.support import Api, Principal, bearer
from tests.web.api.prefs import verify
from tests.web.console.conftest import Console
from tests.web.sso.inproc import SCOPE, register, sign_in_flow, token_request
from twofold.web.console.security import SESSION

OFFLINE = SCOPE + " offline_access"


def _signed_in(api: Api, console: Console) -> tuple[Principal, Principal, tuple[str, str]]:
    owner = api.signup()
    client = register(api, owner)
    alice = api.add_user(owner)
    api.login(alice)
    console.client.cookies.set(SESSION, alice.token or "")
    return owner, alice, client


def _refresh(console: Console, client: tuple[str, str], token: str) -> Any:
    return token_request(console, client, {"grant_type": "refresh_token", "refresh_token": token})


def _userinfo(console: Console, access_token: str) -> int:
    return int(console.client.get("/oauth/userinfo", headers=bearer(access_token)).status_code)


def test_rotation_and_reuse_revoking_the_family(api: Api, console: Console) -> None:
    _, _, client = _signed_in(api, console)
    meta = console.client.get("/.well-known/openid-configuration").json()
    assert "refresh_token" in meta["grant_types_supported"]
    assert "offline_access" in meta["scopes_supported"]
    assert "refresh_token" not in sign_in_flow(console, client)  # not asked for

    first = sign_in_flow(console, client, scope=OFFLINE)
    r = _refresh(console, client, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert _userinfo(console, second["access_token"]) == 200
    # The rotated token again: refused, and everything of that grant is revoked with it.
    again = _refresh(console, client, first["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert _refresh(console, client, second["refresh_token"]).status_code == 400
    assert _userinfo(console, second["access_token"]) == 401
    assert _userinfo(console, first["access_token"]) == 401


def test_another_client_and_bad_tokens_are_refused(api: Api, console: Console) -> None:
    owner, _, client = _signed_in(api, console)
    other = register(api, owner)
    grant = sign_in_flow(console, client, scope=OFFLINE)
    for who, token in ((other, grant["refresh_token"]), (client, "x" * 300), (client, "nope")):
        r = _refresh(console, who, token)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    # The other client's attempt did not spend it.
    assert _refresh(console, client, grant["refresh_token"]).status_code == 200


def test_revocation_endpoint_takes_a_refresh_token(api: Api, console: Console) -> None:
    _, _, client = _signed_in(api, console)
    grant = sign_in_flow(console, client, scope=OFFLINE)
    r = console.client.post("/oauth/revoke", auth=client,
                            data={"token": grant["refresh_token"],
                                  "token_type_hint": "refresh_token"})
    assert r.status_code == 200
    assert _refresh(console, client, grant["refresh_token"]).status_code == 400
    assert _userinfo(console, grant["access_token"]) == 401  # the same grant's access token


def test_signing_out_ends_the_sessions_grants(api: Api, console: Console) -> None:
    _, alice, client = _signed_in(api, console)
    grant = sign_in_flow(console, client, scope=OFFLINE)
    refreshed = _refresh(console, client, grant["refresh_token"]).json()
    assert api.call("POST", "/logout", alice).status_code == 204
    assert _refresh(console, client, refreshed["refresh_token"]).status_code == 400
    assert _userinfo(console, refreshed["access_token"]) == 401


def test_disabling_the_user_or_deleting_the_app_ends_them(api: Api, console: Console) -> None:
    owner, _, client = _signed_in(api, console)
    grant = sign_in_flow(console, client, scope=OFFLINE)
    verify(api, owner)
    r = api.call("PATCH", "/users/alice", owner, json={"disabled": True})
    assert r.status_code == 200, r.text
    assert _refresh(console, client, grant["refresh_token"]).status_code == 400

    bob = api.add_user(owner, "bob")
    api.login(bob)
    console.client.cookies.set(SESSION, bob.token or "")
    grant = sign_in_flow(console, client, scope=OFFLINE)
    assert api.call("DELETE", f"/applications/{client[0]}", owner).status_code == 204
    r = _refresh(console, client, grant["refresh_token"])
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
