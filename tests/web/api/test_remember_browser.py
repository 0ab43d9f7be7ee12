"""remember_mfa_days: a remembered browser skips only the code step of login, never a
step-up, and dies with a device change, a password change, or session revocation."""

from __future__ import annotations

from typing import Any

from tests.support import Api, Principal
from tests.web.api.prefs import set_prefs, verify


def code_login(api: Api, p: Principal, *, remember: bool = True) -> dict[str, Any]:
    r = api.call("POST", "/login", json={"login": p.login, "password": p.password})
    assert r.json()["state"] == "mfa_required", r.text
    api.clock.advance(30)
    r = api.call(
        "POST",
        "/login/mfa",
        json={
            "challenge": r.json()["challenge"],
            "code": api.code(p),
            "remember_browser": remember,
        },
    )
    assert r.status_code == 200, r.text
    p.token = r.json()["token"]
    body: dict[str, Any] = r.json()
    return body


def remembered_login(api: Api, p: Principal, remember_token: str) -> dict[str, Any]:
    r = api.call(
        "POST",
        "/login",
        json={"login": p.login, "password": p.password, "remember_token": remember_token},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    if body.get("token"):
        p.token = body["token"]
    return body


def setup(api: Api, days: int = 7) -> tuple[Principal, Principal]:
    owner = api.signup()
    alice = api.add_user(owner)
    api.login(alice)
    api.enable_mfa(alice)
    set_prefs(api, owner, remember_mfa_days=days)
    return owner, alice


def test_off_by_default_no_token_is_issued(api: Api) -> None:
    owner = api.signup()
    api.enable_mfa(owner)
    assert code_login(api, owner).get("remember_token") is None


def test_skips_the_code_step_until_it_expires(api: Api) -> None:
    _, alice = setup(api, days=2)
    remember = code_login(api, alice)["remember_token"]
    assert remember
    assert remembered_login(api, alice, remember)["state"] == "authenticated"
    assert api.call("GET", "/me", alice).status_code == 200
    # A wrong or absent token still means the code step.
    assert remembered_login(api, alice, "x" * 43)["state"] == "mfa_required"
    assert remembered_login(api, alice, "")["state"] == "mfa_required"
    api.clock.advance(2 * 86400 + 60)
    assert remembered_login(api, alice, remember)["state"] == "mfa_required"


def test_token_belongs_to_one_principal(api: Api) -> None:
    owner, alice = setup(api)
    remember = code_login(api, alice)["remember_token"]
    api.enable_mfa(owner)
    assert remembered_login(api, owner, remember)["state"] == "mfa_required"


def test_never_skips_a_step_up(api: Api) -> None:
    owner, _ = setup(api)
    api.enable_mfa(owner)
    owner_remember = code_login(api, owner)["remember_token"]
    assert owner_remember
    assert remembered_login(api, owner, owner_remember)["state"] == "authenticated"
    # Freshly signed in through a remembered browser, yet not freshly verified.
    r = api.call("PATCH", "/account/security", owner, json={"session_hours": 3})
    assert r.status_code == 403 and r.json()["error"]["code"] == "VerificationRequired"
    r = api.call("POST", "/me/mfa-device", owner)
    assert r.json()["error"]["code"] == "VerificationRequired"
    assert api.call("GET", "/me", owner).json()["verified_until"] is None
    verify(api, owner)  # with a code from the device
    r = api.call("PATCH", "/account/security", owner, json={"session_hours": 3})
    assert r.status_code == 200


def test_dies_with_a_device_change(api: Api) -> None:
    owner, alice = setup(api)
    remember = code_login(api, alice)["remember_token"]
    verify(api, alice)
    api.enable_mfa(alice)  # replacement
    api.login(alice)
    assert remembered_login(api, alice, remember)["state"] == "mfa_required"
    remember = code_login(api, alice)["remember_token"]
    verify(api, owner)
    assert api.call("DELETE", "/users/alice/mfa-device", owner).status_code == 204
    verify(api, owner)
    api.enable_mfa(alice, path="/users/alice/mfa-device", actor=owner)
    assert remembered_login(api, alice, remember)["state"] == "mfa_required"


def test_dies_with_a_password_change(api: Api) -> None:
    _, alice = setup(api)
    remember = code_login(api, alice)["remember_token"]
    verify(api, alice)
    new = "another sub-user passphrase 77"
    r = api.call(
        "POST",
        "/me/password",
        alice,
        json={"current_password": alice.password, "new_password": new},
    )
    assert r.status_code == 204, r.text
    alice.password = new
    assert remembered_login(api, alice, remember)["state"] == "mfa_required"


def test_dies_with_session_revocation(api: Api) -> None:
    _, alice = setup(api)
    remember = code_login(api, alice)["remember_token"]
    assert remembered_login(api, alice, remember)["state"] == "authenticated"
    sessions = api.call("GET", "/me/sessions", alice).json()["sessions"]
    other = next(s for s in sessions if not s["current"] and s["id"])
    assert api.call("DELETE", f"/me/sessions/{other['id']}", alice).status_code == 204
    assert remembered_login(api, alice, remember)["state"] == "mfa_required"
    # The same for "end all other sessions".
    remember = code_login(api, alice)["remember_token"]
    assert api.call("DELETE", "/me/sessions", alice).status_code == 204
    assert remembered_login(api, alice, remember)["state"] == "mfa_required"


def test_turning_it_off_forgets_every_browser(api: Api) -> None:
    owner, alice = setup(api)
    remember = code_login(api, alice)["remember_token"]
    set_prefs(api, owner, remember_mfa_days=0)
    assert remembered_login(api, alice, remember)["state"] == "mfa_required"
    set_prefs(api, owner, remember_mfa_days=7)
    assert remembered_login(api, alice, remember)["state"] == "mfa_required"
