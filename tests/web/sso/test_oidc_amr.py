"""`amr` (RFC 8176) in ID tokens says what the session's sign-in actually used: the password
alone (also when a remembered browser skipped the code, though a device is bound), the
password and a TOTP code, a binding's codes, a later step-up with a code; a security key
(`hwk`), a passkey alone (`hwk`, `user`)."""

from __future__ import annotations

from typing import Any

from tests.soft_authenticator import SoftAuthenticator
from tests.support import Api, Principal
from tests.web.api.prefs import set_prefs
from tests.web.api.test_remember_browser import code_login, remembered_login
from tests.web.api.test_security_keys import add_key, key_login
from tests.web.console.conftest import Console
from tests.web.sso.inproc import id_claims, register, sign_in_flow
from twofold.web.console.security import SESSION


def _amr(console: Console, client: tuple[str, str], who: Principal) -> Any:
    console.client.cookies.set(SESSION, who.token or "")  # the browser holds this session
    claims = id_claims(console, sign_in_flow(console, client)["id_token"])
    return claims.get("amr")


def test_amr_follows_the_methods_each_session_used(api: Api, console: Console) -> None:
    owner = api.signup()
    client = register(api, owner)
    alice = api.add_user(owner)
    api.login(alice)
    assert _amr(console, client, alice) == ["pwd"]

    api.enable_mfa(alice)  # two codes from the device, on this very session
    assert _amr(console, client, alice) == ["pwd", "otp", "mfa"]

    set_prefs(api, owner, remember_mfa_days=7)
    remember = code_login(api, alice)["remember_token"]
    assert _amr(console, client, alice) == ["pwd", "otp", "mfa"]

    # A remembered browser skipped the code: the sign-in used the password alone.
    assert remembered_login(api, alice, remember)["state"] == "authenticated"
    assert _amr(console, client, alice) == ["pwd"]
    # A step-up with a code on that session adds it.
    api.clock.advance(30)
    r = api.call("POST", "/verify", alice, json={"method": "mfa", "code": api.code(alice)})
    assert r.status_code == 200, r.text
    assert _amr(console, client, alice) == ["pwd", "otp", "mfa"]


def test_amr_of_security_key_and_passkey_sign_ins(api: Api, console: Console) -> None:
    authn = SoftAuthenticator()
    owner = api.signup()
    client = register(api, owner)
    alice = api.add_user(owner)
    api.login(alice)
    assert add_key(api, alice, authn).status_code == 201
    r = key_login(api, alice, authn)
    assert r.status_code == 200, r.text
    alice.token = r.json()["token"]
    assert _amr(console, client, alice) == ["pwd", "hwk", "mfa"]

    options = api.call("POST", "/login/passkey/options").json()["public_key"]
    r = api.call("POST", "/login/passkey", json={"credential": authn.get(options)})
    assert r.status_code == 200, r.text
    alice.token = r.json()["token"]
    assert _amr(console, client, alice) == ["hwk", "user"]
