"""Recovery codes: issued on bind, single use, counted in /me, mailed about, regenerated."""

from __future__ import annotations

import re

from tests.conftest import Inbox
from tests.support import Api, Principal
from tests.web.api.prefs import verify

CODE_FORMAT = re.compile(r"[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}")


def recovery_login(api: Api, p: Principal, code: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = api.call("POST", "/login", json={"login": p.login, "password": p.password})
    assert r.json()["state"] == "mfa_required", r.text
    r = api.call(
        "POST", "/login/mfa", json={"challenge": r.json()["challenge"], "recovery_code": code}
    )
    return r.status_code, r.json()


def test_bind_returns_ten_distinct_80_bit_codes(api: Api) -> None:
    owner = api.signup()
    api.enable_mfa(owner)
    codes = owner.recovery_codes
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(CODE_FORMAT.fullmatch(c) for c in codes)
    assert api.call("GET", "/me", owner).json()["mfa"]["recovery_codes_left"] == 10


def test_each_code_works_once_and_the_owner_is_told(api: Api, inbox: Inbox) -> None:
    owner = api.signup()
    api.enable_mfa(owner)
    inbox.clear()
    code = owner.recovery_codes[0]
    # Separators and case do not matter when typing it.
    status, body = recovery_login(api, owner, code.replace("-", " ").lower())
    assert status == 200 and body["state"] == "authenticated"
    assert body["recovery_codes_left"] == 9
    owner.token = body["token"]
    assert api.call("GET", "/me", owner).json()["mfa"]["recovery_codes_left"] == 9
    mails = inbox.bodies_to("owner@acme.example")
    assert any("recovery code was used" in m and "9 recovery codes remain" in m for m in mails)
    status, body = recovery_login(api, owner, code)
    assert status == 401 and body["error"]["code"] == "InvalidMFACode"
    events = api.call("GET", "/audit-events", owner).json()["events"]
    assert any(
        e["action"] == "login.succeeded" and e["detail"] == {"second_factor": "recovery_code"}
        for e in events
    )


def test_failures_count_toward_the_code_lock(api: Api) -> None:
    owner = api.signup()
    api.enable_mfa(owner)
    for _ in range(5):
        status, body = recovery_login(api, owner, "AAAA-AAAA-AAAA-AAAA")
        assert status == 401
    status, body = recovery_login(api, owner, owner.recovery_codes[0])
    assert status == 429 and body["error"]["code"] == "TooManyAttempts"


def test_regenerating_voids_the_old_set(api: Api) -> None:
    owner = api.signup()
    api.enable_mfa(owner)
    old = owner.recovery_codes
    api.clock.advance(6 * 60)
    r = api.call("POST", "/me/recovery-codes", owner)
    assert r.status_code == 403 and r.json()["error"]["code"] == "VerificationRequired"
    verify(api, owner)
    r = api.call("POST", "/me/recovery-codes", owner)
    assert r.status_code == 201
    new = r.json()["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    status, _ = recovery_login(api, owner, old[1])
    assert status == 401
    status, body = recovery_login(api, owner, new[1])
    assert status == 200 and body["recovery_codes_left"] == 9
    events = api.call("GET", "/audit-events", owner).json()["events"]
    assert any(e["action"] == "mfa.recovery_codes_regenerated" for e in events)


def test_a_replacement_device_brings_a_new_set(api: Api) -> None:
    owner = api.signup()
    api.enable_mfa(owner)
    old = owner.recovery_codes
    verify(api, owner)
    api.enable_mfa(owner)
    assert not set(owner.recovery_codes) & set(old)
    status, _ = recovery_login(api, owner, old[0])
    assert status == 401


def test_without_mfa_there_are_none(api: Api) -> None:
    owner = api.signup()
    assert api.call("GET", "/me", owner).json()["mfa"]["recovery_codes_left"] == 0
    r = api.call("POST", "/me/recovery-codes", owner)
    assert r.status_code == 409 and r.json()["error"]["code"] == "MFANotEnabled"
