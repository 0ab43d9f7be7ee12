"""Items 4, 5, 6 and 8: code formats, brute force and lockout, failing closed on database
errors, and pending devices."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from tests.security.helpers import engine_of, error_code, last_step, login_mfa, start_login
from tests.support import Api, FakeClock, Principal, oathtool
from twofold.bootstrap import build_runtime
from twofold.config import Settings
from twofold.storage.aio import LoopConnection
from twofold.storage.lite import LiteConnection
from twofold.web.app import create_app

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def variants(code: str) -> list[Any]:
    return [
        " " + code, code + " ", code[:3] + " " + code[3:], code + "\n", "\n" + code,
        code + "\t", code.translate(FULLWIDTH), code[:3] + "_" + code[3:], code + "0",
        "0" + code, code[:3] + "-" + code[3:], "", None, int(code), float(code), [code],
        {"code": code}, True, "+" + code[1:], code + "\x00",
    ]


def test_format_variants_of_the_right_code_are_refused(api: Api, mfa_owner: Principal) -> None:
    api.clock.advance(30)
    code = api.code(mfa_owner)
    before = last_step(api, mfa_owner.serial or "")
    for i, variant in enumerate(variants(code)):
        if i and i % 4 == 0:  # stay below the lock: a success in between resets the count
            assert login_mfa(api, start_login(api, mfa_owner),
                             code=api.code(mfa_owner, 1)).status_code == 200
            api.clock.advance(60)
            code = api.code(mfa_owner)
            variant = variants(code)[i]
            before = last_step(api, mfa_owner.serial or "")
        r = login_mfa(api, start_login(api, mfa_owner), code=variant)
        assert r.status_code in (400, 401), (variant, r.status_code, r.text)
        assert "token" not in r.json(), variant
        assert last_step(api, mfa_owner.serial or "") == before, variant
    # And the exact code itself still works: the variants were refused for their form.
    r = login_mfa(api, start_login(api, mfa_owner), code=code)
    assert r.status_code == 200, r.text


def test_format_variants_at_step_up_and_bind(api: Api, owner: Principal) -> None:
    r = api.call("POST", "/me/mfa-device", owner)
    dev = r.json()
    api.clock.align(5)
    c1, c2 = oathtool(dev["secret"], api.clock.epoch - 30), oathtool(dev["secret"], api.clock.epoch)
    for bad in (" " + c2, c2.translate(FULLWIDTH), c2 + "\n", int(c2)):
        r = api.call("POST", "/me/mfa-device/bind", owner,
                     json={"serial": dev["serial"], "code1": c1, "code2": bad})
        assert r.status_code == 400, (bad, r.text)
    r = api.call("POST", "/me/mfa-device/bind", owner,
                 json={"serial": dev["serial"], "code1": c1, "code2": c2})
    assert r.status_code == 200, r.text
    owner.secret = dev["secret"]
    api.clock.advance(30)
    for bad in (api.code(owner) + " ", api.code(owner).translate(FULLWIDTH), [api.code(owner)]):
        r = api.call("POST", "/verify", owner, json={"method": "mfa", "code": bad})
        assert r.status_code in (400, 401), (bad, r.text)


# --- item 5: brute force -------------------------------------------------------------------

def wrong(api: Api, p: Principal) -> str:
    right = {api.code(p, s) for s in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in right)


def test_wrong_codes_lock_and_new_logins_and_forwarded_headers_do_not_reset(
    api: Api, mfa_owner: Principal
) -> None:
    api.clock.advance(30)
    for i in range(5):
        # A new login every time, from a "new" address each time (the peer is untrusted).
        r = api.call("POST", "/login", json={"login": mfa_owner.login,
                                             "password": mfa_owner.password},
                     headers={"X-Forwarded-For": f"203.0.113.{i}", "X-Real-IP": f"198.51.100.{i}"})
        r = login_mfa(api, r.json()["challenge"], code=wrong(api, mfa_owner))
        assert r.status_code == 401, r.text
    challenge = start_login(api, mfa_owner)
    r = api.call("POST", "/login/mfa", json={"challenge": challenge, "code": api.code(mfa_owner)},
                 headers={"X-Forwarded-For": "192.0.2.77"})
    assert r.status_code == 429 and error_code(r) == "TooManyAttempts"
    assert int(r.headers["Retry-After"]) > 0
    # The right code during the lock does not get through, nor does step-up from a signed-in
    # session; a recovery code does (issue 10 F2: it is the way out, with a count of its own).
    r = login_mfa(api, start_login(api, mfa_owner), recovery_code=mfa_owner.recovery_codes[0])
    assert r.status_code == 200, r.text
    r = api.call("POST", "/verify", mfa_owner, json={"method": "mfa", "code": api.code(mfa_owner)})
    assert r.status_code == 429
    # A lock stops only code checks: the session still works and can manage users.
    assert api.call("GET", "/users", mfa_owner).status_code == 200
    api.clock.advance(61)
    r = login_mfa(api, start_login(api, mfa_owner), code=api.code(mfa_owner))
    assert r.status_code == 200, r.text


def test_a_restart_does_not_reset_the_lock(
    api: Api, mfa_owner: Principal, settings: Settings, clock: FakeClock
) -> None:
    api.clock.advance(30)
    for _ in range(5):
        login_mfa(api, start_login(api, mfa_owner), code=wrong(api, mfa_owner))
    # A new process: new runtime, new engine, new app; only the database is shared.
    rt = build_runtime(settings, clock=clock)
    try:
        with TestClient(create_app(settings, runtime=rt)) as fresh:
            api2 = Api(fresh, clock)
            r = login_mfa(api2, start_login(api2, mfa_owner), code=api.code(mfa_owner))
            assert r.status_code == 429, r.text
    finally:
        rt.engine.dispose()


def test_wrong_passwords_do_not_lock_codes_and_the_reverse(
    api: Api, mfa_owner: Principal
) -> None:
    api.clock.advance(30)
    for _ in range(10):
        r = api.call("POST", "/login", json={"login": mfa_owner.login, "password": "wrong-" * 3})
        assert r.status_code == 401
    r = api.call("POST", "/login", json={"login": mfa_owner.login, "password": mfa_owner.password})
    assert r.status_code == 429  # passwords are locked now
    # ... but a code check from the signed-in session is not.
    r = api.call("POST", "/verify", mfa_owner, json={"method": "mfa", "code": api.code(mfa_owner)})
    assert r.status_code == 200, r.text
    api.clock.advance(3600 + 30)
    for _ in range(5):
        r = login_mfa(api, start_login(api, mfa_owner), code=wrong(api, mfa_owner))
    assert r.status_code == 401
    # Codes are locked; the password step still answers (with a challenge).
    assert start_login(api, mfa_owner)


def test_wrong_recovery_and_email_codes_count_too(api: Api, owner: Principal, inbox: Any) -> None:
    for _ in range(5):
        assert api.call("POST", "/verify/email", owner).status_code == 202
        r = api.call("POST", "/verify", owner, json={"method": "email", "code": "000000"})
    # The newest code's mail: the notice of the lock (sent on a thread of its own) may come
    # after it or before it.
    codes = [b for b in inbox.bodies_to("owner@acme.example") if "code is " in b]
    real = codes[-1].split("code is ")[1][:6]
    r = api.call("POST", "/verify", owner, json={"method": "email", "code": real})
    assert r.status_code == 429, r.text


# --- item 6: fail closed ---------------------------------------------------------------

def test_a_database_error_during_a_code_check_fails_closed(
    api: Api,
    mfa_owner: Principal,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api.clock.advance(30)
    challenge = start_login(api, mfa_owner)
    engine = engine_of(api)

    def explode(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # the step's UPDATE, on its own or within PostgreSQL's one-statement write
        said = statement.lstrip().upper()
        if said.startswith("UPDATE MFA_DEVICES") or "(UPDATE MFA_DEVICES" in said:
            raise OperationalError(statement, None, Exception("injected: disk I/O error"))

    # The code check sends its statements on the driver's own connections, not through the
    # engine: on PostgreSQL from the event loop (storage/aio.py), the same error there.
    run = LoopConnection._run

    async def exploding(self: LoopConnection, statement: Any, params: Any) -> Any:
        explode(None, None, self._db.prepared(statement).sql)
        return await run(self, statement, params)

    monkeypatch.setattr(LoopConnection, "_run", exploding)
    # SQLite's, on the driver's own connection (storage/lite.py): the same.
    send = LiteConnection.send

    def exploding_here(self: LiteConnection, sql: str, params: Any = ()) -> Any:
        explode(None, None, sql)
        return send(self, sql, params)

    monkeypatch.setattr(LiteConnection, "send", exploding_here)
    event.listen(engine, "before_cursor_execute", explode)
    try:
        r = login_mfa(api, challenge, code=api.code(mfa_owner))
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "Unavailable"
        assert "token" not in r.json()
        r = api.call("POST", "/verify", mfa_owner, json={"method": "mfa",
                                                        "code": api.code(mfa_owner)})
        assert r.status_code == 503 and error_code(r) == "Unavailable"
    finally:
        event.remove(engine, "before_cursor_execute", explode)
    # Nothing was accepted: the step is still unused and the challenge still good.
    assert last_step(api, mfa_owner.serial or "") < api.clock.epoch // 30
    r = login_mfa(api, challenge, code=api.code(mfa_owner))
    assert r.status_code == 200, r.text
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("table", ["principals", "login_challenges", "sessions"])
def test_a_database_error_later_in_the_login_fails_closed(
    api: Api, mfa_owner: Principal, table: str
) -> None:
    """Failing after the step was accepted must roll the acceptance back."""
    api.clock.advance(30)
    challenge = start_login(api, mfa_owner)
    engine = engine_of(api)
    verb = "INSERT INTO" if table == "sessions" else "UPDATE"

    def explode(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(f"{verb} {table.upper()}"):
            raise OperationalError(statement, None, Exception("injected"))

    event.listen(engine, "before_cursor_execute", explode)
    try:
        r = login_mfa(api, challenge, code=api.code(mfa_owner))
    finally:
        event.remove(engine, "before_cursor_execute", explode)
    assert r.status_code == 503 and error_code(r) == "Unavailable", r.text
    assert last_step(api, mfa_owner.serial or "") < api.clock.epoch // 30
    assert login_mfa(api, challenge, code=api.code(mfa_owner)).status_code == 200


# --- item 8: pending devices -------------------------------------------------------------

def test_a_pending_device_verifies_nothing(api: Api, owner: Principal) -> None:
    dev = api.call("POST", "/me/mfa-device", owner).json()
    code = oathtool(dev["secret"], api.clock.epoch)
    r = api.call("POST", "/verify", owner, json={"method": "mfa", "code": code})
    assert r.status_code in (401, 409), r.text
    r = api.call("POST", "/login", json={"login": owner.login, "password": owner.password})
    assert r.json()["state"] == "authenticated"  # no challenge: the pending device is not MFA
    me = api.call("GET", "/me", owner).json()
    assert me["mfa"]["enabled"] is False


def test_an_abandoned_pending_device_leaves_the_active_one_working(
    api: Api, mfa_owner: Principal
) -> None:
    r = api.verify_mfa(mfa_owner)
    assert r.status_code == 200
    pending = api.call("POST", "/me/mfa-device", mfa_owner).json()
    assert pending["serial"] != mfa_owner.serial
    api.clock.advance(30)
    # The pending device's codes open nothing.
    r = login_mfa(api, start_login(api, mfa_owner),
                  code=oathtool(pending["secret"], api.clock.epoch))
    assert r.status_code == 401
    # Abandoned: past its lifetime, it cannot be bound anymore, and the old device works.
    api.clock.advance(11 * 60)
    c1 = oathtool(pending["secret"], api.clock.epoch - 30)
    c2 = oathtool(pending["secret"], api.clock.epoch)
    r = api.call("POST", "/me/mfa-device/bind", mfa_owner,
                 json={"serial": pending["serial"], "code1": c1, "code2": c2})
    assert r.status_code in (401, 403, 409), r.text
    r = login_mfa(api, start_login(api, mfa_owner), code=api.code(mfa_owner))
    assert r.status_code == 200, r.text
    me = api.call("GET", "/me", headers={"Authorization": f"Bearer {r.json()['token']}"}).json()
    assert me["mfa"]["serial"] == mfa_owner.serial
