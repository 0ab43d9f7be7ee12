"""Virtual MFA devices over the API: create, QR, bind, replace, disable, setup-only sessions."""

from __future__ import annotations

import base64
import re
import struct
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.conftest import Inbox
from tests.support import PASSWORD, Api, Principal, oathtool
from tests.web.api.conftest import error


def actions(api: Api, who: Principal) -> list[tuple[str, str]]:
    events = api.call("GET", "/audit-events?limit=200", who).json()["events"]
    return [(e["action"], e["result"]) for e in events]


def test_create_returns_a_scannable_pending_device(api: Api, tmp_path: Path) -> None:
    owner = api.signup()
    r = api.call("POST", "/me/mfa-device", owner)
    assert r.status_code == 201
    dev = r.json()
    assert re.fullmatch(r"[A-Z2-7]{32}", dev["secret"])
    parts = urlsplit(dev["otpauth_uri"])
    assert (parts.scheme, parts.netloc, unquote(parts.path)) == ("otpauth", "totp", "/Twofold:acme")
    assert parse_qs(parts.query) == {"secret": [dev["secret"]], "issuer": ["Twofold"],
                                     "algorithm": ["SHA1"], "digits": ["6"], "period": ["30"]}
    assert "<svg" in dev["qr_svg"]
    png = base64.b64decode(dev["qr_png"], validate=True)
    assert png.startswith(b"\x89PNG")
    width = struct.unpack(">I", png[16:20])[0]
    assert width >= 4 * 29  # at least 4 px a module for even the smallest symbol
    path = tmp_path / "qr.png"
    path.write_bytes(png)
    decoded = subprocess.run(["zbarimg", "--raw", "-q", str(path)], capture_output=True,
                             text=True, check=True).stdout.strip()
    assert decoded == dev["otpauth_uri"]
    # Pending: not enabled, and the secret is never shown again.
    me = api.call("GET", "/me", owner)
    assert me.json()["mfa"]["enabled"] is False
    assert dev["secret"] not in me.text
    assert dev["secret"] not in api.call("GET", "/audit-events", owner).text


def test_bind_with_oathtool_codes(api: Api, inbox: Inbox) -> None:
    owner = api.signup()
    dev = api.enable_mfa(owner)
    assert len(owner.recovery_codes) == 10 and len(set(owner.recovery_codes)) == 10
    me = api.call("GET", "/me", owner).json()
    assert me["mfa"]["enabled"] is True
    assert me["mfa"]["serial"] == dev["serial"]
    assert me["mfa"]["bound_at"]
    assert me["mfa"]["recovery_codes_left"] == 10
    assert ("mfa.device_created", "success") in actions(api, owner)
    assert ("mfa.device_bound", "success") in actions(api, owner)
    assert any("Virtual MFA" in m["Subject"] for m in inbox.messages)
    error(api.call("POST", "/me/mfa-device/bind", owner,
                   json={"serial": dev["serial"], "code1": "000000", "code2": "000001"}),
          409, "MFAAlreadyEnabled")


@pytest.mark.parametrize(("later", "ok"), [(-2, False), (-1, True), (0, True), (1, True),
                                           (2, False)])
def test_bind_accepts_the_later_code_within_one_step(api: Api, later: int, ok: bool) -> None:
    owner = api.signup()
    dev = api.call("POST", "/me/mfa-device", owner).json()
    t = api.clock.epoch
    body = {"serial": dev["serial"], "code1": oathtool(dev["secret"], t + 30 * (later - 1)),
            "code2": oathtool(dev["secret"], t + 30 * later)}
    r = api.call("POST", "/me/mfa-device/bind", owner, json=body)
    if ok:
        assert r.status_code == 200, r.text
    else:
        error(r, 400, "InvalidMFACode")
        assert api.call("GET", "/me", owner).json()["mfa"]["enabled"] is False


def test_bind_refuses_codes_that_are_not_consecutive(api: Api) -> None:
    owner = api.signup()
    dev = api.call("POST", "/me/mfa-device", owner).json()
    s, t = dev["secret"], api.clock.epoch
    for code1, code2 in [
        (oathtool(s, t), oathtool(s, t - 30)),  # reversed
        (oathtool(s, t), oathtool(s, t)),  # the same step twice
        (oathtool(s, t - 60), oathtool(s, t)),  # a step apart
        (" " + oathtool(s, t - 30), oathtool(s, t)),  # format
    ]:
        r = api.call("POST", "/me/mfa-device/bind", owner,
                     json={"serial": dev["serial"], "code1": code1, "code2": code2})
        error(r, 400, "InvalidMFACode")
    assert api.call("GET", "/me", owner).json()["mfa"]["enabled"] is False


def test_bind_needs_a_live_pending_device(api: Api) -> None:
    owner = api.signup()
    first = api.call("POST", "/me/mfa-device", owner).json()
    second = api.call("POST", "/me/mfa-device", owner).json()  # replaces the pending one
    assert first["serial"] != second["serial"] and first["secret"] != second["secret"]
    t = api.clock.epoch

    def bind(dev: dict[str, str]) -> object:
        return api.call("POST", "/me/mfa-device/bind", owner, json={
            "serial": dev["serial"], "code1": oathtool(dev["secret"], t - 30),
            "code2": oathtool(dev["secret"], t)})

    error(bind(first), 409, "NoPendingDevice")
    error(api.call("POST", "/me/mfa-device/bind", owner,
                   json={"serial": "vmfa-unknown", "code1": "123456", "code2": "234567"}),
          409, "NoPendingDevice")
    api.clock.advance(10 * 60 + 1)  # a pending device lives 10 minutes
    t = api.clock.epoch
    error(bind(second), 409, "NoPendingDevice")


def test_pending_device_never_verifies_anything(api: Api) -> None:
    owner = api.signup()
    dev = api.call("POST", "/me/mfa-device", owner).json()
    api.clock.advance(30)
    code = oathtool(dev["secret"], api.clock.epoch)
    error(api.call("POST", "/verify", owner, json={"method": "mfa", "code": code}),
          409, "MFANotEnabled")
    r = api.call("POST", "/login", json={"login": "acme", "password": PASSWORD})
    assert r.json()["state"] == "authenticated"


def test_device_routes_need_fresh_verification(api: Api) -> None:
    owner = api.signup()
    api.add_user(owner)
    api.clock.advance(5 * 60 + 1)
    for method, path in [("POST", "/me/mfa-device"), ("POST", "/users/alice/mfa-device"),
                         ("DELETE", "/users/alice/mfa-device"), ("DELETE", "/me/mfa-device")]:
        error(api.call(method, path, owner), 403, "VerificationRequired")
    api.call("POST", "/verify", owner, json={"method": "password", "password": PASSWORD})
    assert api.call("POST", "/me/mfa-device", owner).status_code == 201


def test_replace_is_atomic_and_ends_other_sessions(api: Api, inbox: Inbox) -> None:
    owner = api.signup()
    api.enable_mfa(owner)
    other = Principal(owner.login, owner.password, secret=owner.secret)
    api.login(other)
    old_secret = owner.secret
    assert api.verify_mfa(owner).status_code == 200
    inbox.clear()
    new_dev = api.enable_mfa(owner)
    assert new_dev["secret"] != old_secret
    # The old device's codes fail at once, the new ones work.
    api.clock.advance(30)
    old_code = oathtool(old_secret or "", api.clock.epoch)
    error(api.call("POST", "/verify", owner, json={"method": "mfa", "code": old_code}),
          401, "InvalidMFACode")
    assert api.verify_mfa(owner).status_code == 200
    # The session that replaced it lives on; the other one ended.
    assert api.call("GET", "/me", owner).status_code == 200
    error(api.call("GET", "/me", other), 401, "Unauthenticated")
    assert api.call("GET", "/me", owner).json()["mfa"]["serial"] == new_dev["serial"]
    assert ("mfa.device_replaced", "success") in actions(api, owner)
    assert any("replaced" in m["Subject"] for m in inbox.messages)
    assert inbox.bodies_to("owner@acme.example")


def test_disable(api: Api, inbox: Inbox) -> None:
    owner = api.signup()
    api.enable_mfa(owner)
    other = Principal(owner.login, owner.password, secret=owner.secret)
    api.login(other)
    api.clock.advance(5 * 60 + 1)
    error(api.call("DELETE", "/me/mfa-device", owner), 403, "VerificationRequired")
    e = error(api.call("POST", "/verify", owner, json={"method": "password",
                                                       "password": PASSWORD}),
              400, "ValidationError")
    assert "method" in e["fields"]
    assert api.verify_mfa(owner).status_code == 200
    inbox.clear()
    assert api.call("DELETE", "/me/mfa-device", owner).status_code == 204
    assert api.call("GET", "/me", owner).json()["mfa"]["enabled"] is False
    error(api.call("GET", "/me", other), 401, "Unauthenticated")
    api.clock.advance(30)
    error(api.call("POST", "/verify", owner, json={"method": "mfa", "code": api.code(owner)}),
          409, "MFANotEnabled")
    r = api.call("POST", "/login", json={"login": "acme", "password": PASSWORD})
    assert r.json()["state"] == "authenticated"
    error(api.call("DELETE", "/me/mfa-device", owner), 409, "MFANotEnabled")
    assert ("mfa.device_disabled", "success") in actions(api, owner)
    assert any("disabled" in m["Subject"] for m in inbox.messages)


def test_primary_binds_and_disables_a_sub_users_device(api: Api, inbox: Inbox) -> None:
    owner = api.signup()
    alice = api.add_user(owner, email="alice@acme.example")
    api.login(alice)
    api.enable_mfa(alice, path="/users/alice/mfa-device", actor=owner)
    view = api.call("GET", "/users/alice", owner).json()
    assert view["mfa"]["enabled"] is True and view["mfa"]["serial"] == alice.serial
    assert api.call("GET", "/users", owner).json()["users"][0]["mfa"]["enabled"] is True
    r = api.call("POST", "/login", json={"login": alice.login, "password": alice.password})
    assert r.json()["state"] == "mfa_required"
    assert inbox.bodies_to("alice@acme.example")
    api.login(alice)
    api.clock.advance(5 * 60 + 1)
    api.call("POST", "/verify", owner, json={"method": "password", "password": PASSWORD})
    assert api.call("DELETE", "/users/alice/mfa-device", owner).status_code == 204
    error(api.call("GET", "/me", alice), 401, "Unauthenticated")
    assert api.call("GET", "/users/alice", owner).json()["mfa"]["enabled"] is False
    r = api.call("POST", "/login", json={"login": alice.login, "password": alice.password})
    assert r.json()["state"] == "authenticated"
    error(api.call("DELETE", "/users/alice/mfa-device", owner), 409, "MFANotEnabled")
    error(api.call("POST", "/users/nobody/mfa-device", owner), 404, "NotFound")


def test_setup_only_session_reaches_setup_and_is_lifted_on_bind(api: Api) -> None:
    owner = api.signup()
    alice = api.add_user(owner, mfa_required=True)
    r = api.call("POST", "/login", json={"login": alice.login, "password": alice.password})
    assert r.json()["state"] == "mfa_setup_required"
    alice.token = r.json()["token"]
    second = Principal(alice.login, alice.password)
    second.token = api.call("POST", "/login", json={"login": alice.login,
                                                    "password": alice.password}).json()["token"]
    me = api.call("GET", "/me", alice)
    assert me.status_code == 200 and me.json()["restricted"] is True
    for method, path in [("GET", "/audit-events"), ("GET", "/users"), ("GET", "/me/sessions"),
                         ("POST", "/me/recovery-codes"), ("GET", "/account/security")]:
        error(api.call(method, path, alice), 403, "MFASetupRequired")
    error(api.call("POST", "/me/password", alice,
                   json={"current_password": alice.password, "new_password": "another pass 77"}),
          403, "MFASetupRequired")
    api.enable_mfa(alice)
    assert api.call("GET", "/me", alice).json()["restricted"] is False
    assert api.call("GET", "/audit-events", alice).status_code == 200
    # Only the binding session is lifted: the other one proved only the password, and ends.
    error(api.call("GET", "/audit-events", second), 401, "Unauthenticated")
    api.call("POST", "/logout", alice)
    r = api.call("POST", "/login", json={"login": alice.login, "password": alice.password})
    assert r.json()["state"] == "mfa_required"


def test_setup_only_session_can_log_out_and_verify(api: Api) -> None:
    owner = api.signup()
    alice = api.add_user(owner, mfa_required=True)
    api.login(alice)
    r = api.call("POST", "/verify", alice, json={"method": "password", "password": alice.password})
    assert r.status_code == 200
    assert api.call("POST", "/logout", alice).status_code == 204
    error(api.call("GET", "/me", alice), 401, "Unauthenticated")
