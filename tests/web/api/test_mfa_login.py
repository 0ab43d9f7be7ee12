"""Two-step login: challenges, the step window, replay, format variants, recovery codes,
out-of-sync devices and resync."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Inbox
from tests.support import PASSWORD, Api, Principal, oathtool
from tests.web.api.conftest import error


def challenge(api: Api, p: Principal) -> str:
    r = api.call("POST", "/login", json={"login": p.login, "password": p.password})
    body = r.json()
    assert body["state"] == "mfa_required" and "token" not in body, body
    return str(body["challenge"])


def finish(api: Api, ch: str, **answer: Any) -> Any:
    return api.call("POST", "/login/mfa", json={"challenge": ch, **answer})


@pytest.fixture
def owner(api: Api) -> Principal:
    p = api.signup()
    api.enable_mfa(p)
    api.clock.advance(120)  # well past the binding steps
    return p


def audit_results(api: Api, who: Principal, action: str) -> list[str]:
    events = api.call("GET", "/audit-events?limit=200", who).json()["events"]
    return [e["result"] for e in events if e["action"] == action]


def test_two_step_login_with_oathtool(api: Api, owner: Principal) -> None:
    ch = challenge(api, owner)
    r = finish(api, ch, code=api.code(owner))
    assert r.status_code == 200
    assert r.json()["state"] == "authenticated"
    token = r.json()["token"]
    assert token != ch
    me = api.call("GET", "/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["login"] == "acme"
    # The challenge is not a session token.
    error(api.call("GET", "/me", headers={"Authorization": f"Bearer {ch}"}), 401,
          "Unauthenticated")


@pytest.mark.parametrize(("offset", "ok"), [(-2, False), (-1, True), (0, True), (1, True),
                                            (2, False)])
def test_login_accepts_one_step_either_way(api: Api, owner: Principal, offset: int,
                                           ok: bool) -> None:
    r = finish(api, challenge(api, owner), code=api.code(owner, offset))
    if ok:
        assert r.status_code == 200, r.text
    else:
        error(r, 401, "InvalidMFACode")


def test_replayed_code_is_refused_and_audited_as_replay(api: Api, owner: Principal) -> None:
    code = api.code(owner)
    assert finish(api, challenge(api, owner), code=code).status_code == 200
    error(finish(api, challenge(api, owner), code=code), 401, "InvalidMFACode")
    api.clock.advance(20)  # still inside the window, the code still matches: still refused
    error(finish(api, challenge(api, owner), code=code), 401, "InvalidMFACode")
    api.login(owner)
    assert "replay" in audit_results(api, owner, "mfa.login.failed")


def test_older_step_after_newer_is_refused(api: Api, owner: Principal) -> None:
    assert finish(api, challenge(api, owner), code=api.code(owner, 1)).status_code == 200
    error(finish(api, challenge(api, owner), code=api.code(owner, 0)), 401, "InvalidMFACode")
    error(finish(api, challenge(api, owner), code=api.code(owner, -1)), 401, "InvalidMFACode")


def test_format_variants_are_wrong_codes(api: Api, owner: Principal) -> None:
    code = api.code(owner)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in code)
    ch = challenge(api, owner)
    for variant in (" " + code, code[:3] + " " + code[3:], code + "\n", full_width):
        error(finish(api, ch, code=variant), 401, "InvalidMFACode")
    # None of them used up the step: the exact code still works.
    assert finish(api, ch, code=code).status_code == 200
    assert audit_results(api, owner, "mfa.login.failed").count("wrong_code") >= 4


def test_challenge_is_single_use_and_expires(api: Api, owner: Principal) -> None:
    ch = challenge(api, owner)
    assert finish(api, ch, code=api.code(owner)).status_code == 200
    api.clock.advance(30)
    error(finish(api, ch, code=api.code(owner)), 401, "ChallengeExpired")
    late = challenge(api, owner)
    api.clock.advance(5 * 60 + 1)
    error(finish(api, late, code=api.code(owner)), 401, "ChallengeExpired")
    for bad in ("", "x" * 300, "not-a-challenge"):
        error(finish(api, bad, code=api.code(owner)), 401, "ChallengeExpired")
    # The expired attempts used no step: a fresh login with the same code works.
    assert finish(api, challenge(api, owner), code=api.code(owner)).status_code == 200


def test_one_principals_challenge_with_anothers_code(api: Api, owner: Principal) -> None:
    alice = api.add_user(owner)
    api.login(alice)
    api.enable_mfa(alice)
    api.clock.advance(120)
    alices_code = api.code(alice)
    error(finish(api, challenge(api, owner), code=alices_code), 401, "InvalidMFACode")
    # Alice's step was not consumed by the attempt on the owner's challenge.
    assert finish(api, challenge(api, alice), code=alices_code).status_code == 200


def test_recovery_codes(api: Api, owner: Principal, inbox: Inbox) -> None:
    first, second, third = owner.recovery_codes[:3]
    r = finish(api, challenge(api, owner), recovery_code=first)
    assert r.status_code == 200 and r.json()["recovery_codes_left"] == 9
    error(finish(api, challenge(api, owner), recovery_code=first), 401, "InvalidMFACode")
    # Case and separators do not matter.
    r = finish(api, challenge(api, owner), recovery_code=second.lower().replace("-", ""))
    assert r.status_code == 200 and r.json()["recovery_codes_left"] == 8
    owner.token = r.json()["token"]
    assert api.call("GET", "/me", owner).json()["mfa"]["recovery_codes_left"] == 8
    assert any("recovery code" in m["Subject"] for m in inbox.messages)
    e = error(finish(api, challenge(api, owner), code=api.code(owner), recovery_code=third),
              400, "ValidationError")
    assert e["fields"]
    error(finish(api, challenge(api, owner)), 400, "ValidationError")
    # A new set voids the old one.
    r = api.call("POST", "/me/recovery-codes", owner)
    assert r.status_code == 201 and len(r.json()["recovery_codes"]) == 10
    error(finish(api, challenge(api, owner), recovery_code=third), 401, "InvalidMFACode")
    fresh = r.json()["recovery_codes"][0]
    assert finish(api, challenge(api, owner), recovery_code=fresh).status_code == 200


def test_recovery_codes_of_another_principal_do_not_work(api: Api, owner: Principal) -> None:
    alice = api.add_user(owner)
    api.login(alice)
    api.enable_mfa(alice)
    error(finish(api, challenge(api, owner), recovery_code=alice.recovery_codes[0]), 401,
          "InvalidMFACode")


def test_out_of_sync_device_and_resync(api: Api, owner: Principal) -> None:
    drift = 4  # the phone's clock runs two minutes ahead

    def phone() -> str:
        return oathtool(owner.secret or "", api.clock.epoch + 30 * drift)

    r = finish(api, challenge(api, owner), code=phone())
    e = error(r, 401, "InvalidMFACode")
    assert "clock" in e["message"]
    assert "out_of_sync" in audit_results(api, owner, "mfa.login.failed")
    # A truly wrong code does not get the clock message.
    e = error(finish(api, challenge(api, owner), code="000000" if phone() != "000000"
                     else "111111"), 401, "InvalidMFACode")
    assert "clock" not in e["message"]
    api.login(owner)
    code1 = phone()
    api.clock.advance(30)
    code2 = phone()
    r = api.call("POST", "/me/mfa-device/resync", owner, json={"code1": code1, "code2": code2})
    assert r.status_code == 200, r.text
    assert r.json() == {"serial": owner.serial, "drift_steps": drift}
    # The same codes cannot resync again.
    error(api.call("POST", "/me/mfa-device/resync", owner,
                   json={"code1": code1, "code2": code2}), 400, "InvalidMFACode")
    api.clock.advance(30)
    assert finish(api, challenge(api, owner), code=phone()).status_code == 200
    api.clock.advance(30)
    r = api.call("POST", "/verify", owner, json={"method": "mfa", "code": phone()})
    assert r.status_code == 200
    events = api.call("GET", "/audit-events?limit=200", owner).json()["events"]
    resynced = [e for e in events if e["action"] == "mfa.device_resynced"]
    assert resynced and resynced[0]["detail"]["drift_steps"] == drift


def test_resync_needs_mfa_and_consecutive_codes(api: Api) -> None:
    p = api.signup()
    error(api.call("POST", "/me/mfa-device/resync", p, json={"code1": "123456",
                                                             "code2": "234567"}),
          409, "MFANotEnabled")
    api.enable_mfa(p)
    api.clock.advance(300)
    error(api.call("POST", "/me/mfa-device/resync", p,
                   json={"code1": api.code(p, 0), "code2": api.code(p, 2)}), 400,
          "InvalidMFACode")


def test_login_without_device_has_no_challenge(api: Api) -> None:
    api.signup()
    r = api.call("POST", "/login", json={"login": "acme", "password": PASSWORD})
    assert r.json()["state"] == "authenticated" and "challenge" not in r.json()
