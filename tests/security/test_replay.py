"""Items 2 and 21: a code is accepted at most once per device, by time step, whatever the
route that used it, and whatever the server clock does afterwards."""

from __future__ import annotations

from tests.security.helpers import error_code, last_step, login_mfa, start_login
from tests.support import Api, Principal, oathtool


def test_replay_in_a_second_login(api: Api, mfa_owner: Principal) -> None:
    api.clock.advance(30)
    code = api.code(mfa_owner)
    assert login_mfa(api, start_login(api, mfa_owner), code=code).status_code == 200
    r = login_mfa(api, start_login(api, mfa_owner), code=code)
    assert r.status_code == 401
    assert error_code(r) == "InvalidMFACode"
    assert "token" not in r.text


def test_an_older_step_after_a_newer_one(api: Api, mfa_owner: Principal) -> None:
    api.clock.advance(30)
    older, newer = api.code(mfa_owner, -1), api.code(mfa_owner, 1)
    assert login_mfa(api, start_login(api, mfa_owner), code=newer).status_code == 200
    # Both are inside the accepted window, but the older step is below the last accepted one.
    r = login_mfa(api, start_login(api, mfa_owner), code=older)
    assert r.status_code == 401 and error_code(r) == "InvalidMFACode"
    r = login_mfa(api, start_login(api, mfa_owner), code=api.code(mfa_owner))
    assert r.status_code == 401 and error_code(r) == "InvalidMFACode"


def test_the_two_binding_codes_replayed_at_the_first_login(api: Api, owner: Principal) -> None:
    r = api.call("POST", "/me/mfa-device", owner)
    dev = r.json()
    api.clock.align(5)
    code1 = oathtool(dev["secret"], api.clock.epoch - 30)
    code2 = oathtool(dev["secret"], api.clock.epoch)
    r = api.call("POST", "/me/mfa-device/bind", owner,
                 json={"serial": dev["serial"], "code1": code1, "code2": code2})
    assert r.status_code == 200, r.text
    bound_step = last_step(api, dev["serial"])
    owner.secret = dev["secret"]
    for code in (code1, code2):
        r = login_mfa(api, start_login(api, owner), code=code)
        assert r.status_code == 401 and error_code(r) == "InvalidMFACode", code
    assert last_step(api, dev["serial"]) == bound_step
    # The next step is still good: the refusals above were replays, not a broken device.
    r = login_mfa(api, start_login(api, owner), code=api.code(owner, 1))
    assert r.status_code == 200, r.text


def test_step_up_code_replayed_at_login(api: Api, mfa_owner: Principal) -> None:
    api.clock.advance(30)
    code = api.code(mfa_owner)
    r = api.call("POST", "/verify", mfa_owner, json={"method": "mfa", "code": code})
    assert r.status_code == 200, r.text
    r = login_mfa(api, start_login(api, mfa_owner), code=code)
    assert r.status_code == 401 and error_code(r) == "InvalidMFACode"


def test_login_code_replayed_at_step_up(api: Api, mfa_owner: Principal) -> None:
    api.clock.advance(30)
    code = api.code(mfa_owner)
    r = login_mfa(api, start_login(api, mfa_owner), code=code)
    assert r.status_code == 200
    token = r.json()["token"]
    r = api.call("POST", "/verify", headers={"Authorization": f"Bearer {token}"},
                 json={"method": "mfa", "code": code})
    assert r.status_code == 401 and error_code(r) == "InvalidMFACode"


def test_step_up_code_replayed_at_step_up_in_another_session(
    api: Api, mfa_owner: Principal
) -> None:
    api.clock.advance(30)
    other = Principal(mfa_owner.login, mfa_owner.password, secret=mfa_owner.secret)
    api.login(other)  # uses the next step
    code = api.code(mfa_owner, 1)
    api.clock.advance(30)
    r = api.call("POST", "/verify", mfa_owner, json={"method": "mfa", "code": code})
    assert r.status_code == 200
    r = api.call("POST", "/verify", other, json={"method": "mfa", "code": code})
    assert r.status_code == 401 and error_code(r) == "InvalidMFACode"


def test_clock_stepped_back_60s_keeps_a_used_code_refused(api: Api, mfa_owner: Principal) -> None:
    """Item 21: after the server clock jumps back, no used or older step is accepted again."""
    api.clock.advance(30)
    used = api.code(mfa_owner)
    assert login_mfa(api, start_login(api, mfa_owner), code=used).status_code == 200
    api.clock.advance(-60)
    for steps in (0, 1, 2, -1):  # what an authenticator shows around the stepped-back clock
        candidate = api.code(mfa_owner, steps) if steps != 2 else used
        r = login_mfa(api, start_login(api, mfa_owner), code=candidate)
        assert r.status_code == 401 and error_code(r) == "InvalidMFACode", (steps, r.text)
    # Once the clock is right again, the next unused step works.
    api.clock.advance(60 + 30)
    r = login_mfa(api, start_login(api, mfa_owner), code=api.code(mfa_owner))
    assert r.status_code == 200, r.text
