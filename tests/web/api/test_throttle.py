"""Lockouts: five wrong codes, ten wrong passwords, back-off, and their independence."""

from __future__ import annotations

import pytest

from tests.support import PASSWORD, USER_PASSWORD, Api, Principal
from tests.web.api.conftest import error


def challenge(api: Api, p: Principal) -> str:
    r = api.call("POST", "/login", json={"login": p.login, "password": p.password})
    assert r.json()["state"] == "mfa_required", r.text
    return str(r.json()["challenge"])


def wrong(api: Api, p: Principal) -> str:
    good = {api.code(p, d) for d in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in good)


def finish(api: Api, ch: str, code: str) -> object:
    return api.call("POST", "/login/mfa", json={"challenge": ch, "code": code})


@pytest.fixture
def owner(api: Api) -> Principal:
    p = api.signup()
    api.enable_mfa(p)
    api.clock.advance(120)
    return p


def test_five_wrong_codes_lock_with_doubling_back_off(api: Api, owner: Principal) -> None:
    def attempt(code: str) -> object:
        return finish(api, challenge(api, owner), code)  # a new login each time

    for _ in range(5):
        error(attempt(wrong(api, owner)), 401, "InvalidMFACode")
    r = attempt(api.code(owner))  # even the right code is refused while locked
    error(r, 429, "TooManyAttempts")
    assert r.headers["Retry-After"] == "60"
    api.clock.advance(30)
    r = attempt(api.code(owner))
    error(r, 429, "TooManyAttempts")
    assert r.headers["Retry-After"] == "30"
    api.clock.advance(31)
    # Unlocked; one more failure (the sixth in a row) locks for two minutes.
    error(attempt(wrong(api, owner)), 401, "InvalidMFACode")
    r = attempt(api.code(owner))
    error(r, 429, "TooManyAttempts")
    assert r.headers["Retry-After"] == "120"
    api.clock.advance(121)
    error(attempt(wrong(api, owner)), 401, "InvalidMFACode")
    assert attempt(api.code(owner)).headers["Retry-After"] == "240"
    api.clock.advance(241)
    # A success resets the count: four failures afterwards do not lock.
    assert attempt(api.code(owner)).status_code == 200
    api.clock.advance(30)
    for _ in range(4):
        error(attempt(wrong(api, owner)), 401, "InvalidMFACode")
    assert attempt(api.code(owner)).status_code == 200
    events = api.call("GET", "/audit-events?limit=200", owner)
    assert any(e["action"] == "mfa.locked" for e in events.json()["events"])


def test_back_off_is_capped_at_an_hour(api: Api, owner: Principal) -> None:
    for n in range(11):  # 1, 2, 4, ... 32 minutes, then 64 capped at 60
        if n >= 5:
            api.clock.advance(3601)
        error(finish(api, challenge(api, owner), wrong(api, owner)), 401, "InvalidMFACode")
    r = finish(api, challenge(api, owner), api.code(owner))
    error(r, 429, "TooManyAttempts")
    assert r.headers["Retry-After"] == "3600"


def test_new_login_does_not_reset_the_code_count(api: Api, owner: Principal) -> None:
    ch = challenge(api, owner)
    for _ in range(3):
        error(finish(api, ch, wrong(api, owner)), 401, "InvalidMFACode")
    ch = challenge(api, owner)
    for _ in range(2):
        error(finish(api, ch, wrong(api, owner)), 401, "InvalidMFACode")
    error(finish(api, challenge(api, owner), api.code(owner)), 429, "TooManyAttempts")


def test_replays_count_as_failures(api: Api, owner: Principal) -> None:
    code = api.code(owner)
    assert finish(api, challenge(api, owner), code).status_code == 200
    for _ in range(5):
        error(finish(api, challenge(api, owner), code), 401, "InvalidMFACode")
    api.clock.advance(30)
    error(finish(api, challenge(api, owner), api.code(owner)), 429, "TooManyAttempts")


def test_code_lock_covers_step_up_and_bind_but_not_sessions_or_users(
    api: Api, owner: Principal
) -> None:
    api.login(owner)
    ch = challenge(api, owner)
    for _ in range(5):
        finish(api, ch, wrong(api, owner))
    api.clock.advance(30)
    r = api.call("POST", "/verify", owner, json={"method": "mfa", "code": api.code(owner)})
    error(r, 429, "TooManyAttempts")
    assert int(r.headers["Retry-After"]) > 0
    dev = api.call("POST", "/me/mfa-device", owner)  # the login made the session fresh
    assert dev.status_code == 201
    r = api.call("POST", "/me/mfa-device/bind", owner,
                 json={"serial": dev.json()["serial"], "code1": "123456", "code2": "234567"})
    error(r, 429, "TooManyAttempts")
    # The locked primary keeps its session and still manages its users.
    assert api.call("GET", "/me", owner).status_code == 200
    api.add_user(owner, "bob")
    assert len(api.call("GET", "/users", owner).json()["users"]) == 1
    # Passwords are not locked by code failures.
    assert challenge(api, owner)


def test_lock_is_per_principal(api: Api, owner: Principal) -> None:
    alice = api.add_user(owner)
    api.login(alice)
    api.enable_mfa(alice)
    api.clock.advance(120)
    ch = challenge(api, owner)
    for _ in range(5):
        finish(api, ch, wrong(api, owner))
    assert finish(api, challenge(api, alice), api.code(alice)).status_code == 200


def test_ten_wrong_passwords_lock_passwords_only(api: Api, owner: Principal) -> None:
    api.login(owner)
    for _ in range(10):
        r = api.call("POST", "/login", json={"login": "acme", "password": "wrong password!"})
        error(r, 401, "InvalidCredentials")
    r = api.call("POST", "/login", json={"login": "acme", "password": PASSWORD})
    error(r, 429, "TooManyAttempts")
    assert r.headers["Retry-After"] == "60"
    # Codes still work for the signed-in session.
    assert api.verify_mfa(owner).status_code == 200
    api.clock.advance(61)
    assert challenge(api, owner)
    # Success reset the count.
    for _ in range(9):
        api.call("POST", "/login", json={"login": "acme", "password": "wrong password!"})
    assert challenge(api, owner)


def test_step_up_keeps_its_own_password_count(api: Api) -> None:
    """Sign-in counts per login and client (test_login_abuse.py); a step-up's wrong passwords
    count on the principal, lock step-up only, and double like the others."""
    owner = api.signup()
    alice = api.add_user(owner)
    api.login(alice)
    for _ in range(9):
        api.call("POST", "/login", json={"login": alice.login, "password": "wrong password!"})
    r = api.call("POST", "/verify", alice, json={"method": "password", "password": "nope nope"})
    error(r, 401, "InvalidCredentials")
    r = api.call("POST", "/login", json={"login": alice.login, "password": USER_PASSWORD})
    assert r.status_code == 200, r.text
    for _ in range(9):
        api.call("POST", "/verify", alice, json={"method": "password", "password": "nope nope"})
    r = api.call("POST", "/verify", alice, json={"method": "password", "password": USER_PASSWORD})
    error(r, 429, "TooManyAttempts")
    assert r.headers["Retry-After"] == "60"
    r = api.call("POST", "/login", json={"login": alice.login, "password": USER_PASSWORD})
    assert r.status_code == 200, r.text
    api.clock.advance(61)
    api.call("POST", "/verify", alice, json={"method": "password", "password": "nope nope"})
    r = api.call("POST", "/verify", alice, json={"method": "password", "password": USER_PASSWORD})
    assert r.headers["Retry-After"] == "120"
