"""CodeCheck, the code check's common cases on a connection of its own (both databases): a
right code is accepted once and a wrong one counted once, each leaving what the full use
case leaves; whatever it declines it leaves exactly as it found it, for the full use case to
answer and count."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, text, update

from tests.support import FakeClock, oathtool, run_async
from twofold.bootstrap import Runtime
from twofold.domain import errors, policy
from twofold.services.code_check import CodeCheck
from twofold.services.context import Context
from twofold.storage.models import AuditEvent, AuthSession, MfaDevice, Principal


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, ...]] = []

    def login(self, result: str) -> None:
        self.seen.append(("login", result))

    def mfa_check(self, method: str, result: str) -> None:
        self.seen.append(("mfa_check", method, result))

    def lockout(self, kind: str) -> None:
        self.seen.append(("lockout", kind))

    def session_created(self) -> None:
        self.seen.append(("session_created",))

    def audited(self, event: Any) -> None:
        self.seen.append(("audited", event["action"]))


@pytest.fixture
def fresh(signed_in: tuple[str, str], clock: FakeClock) -> tuple[str, str]:
    """`signed_in` a step later: the binding used its step, the next one is fresh."""
    clock.advance(30)
    return signed_in


@pytest.fixture
def check(ctx: Context, runtime: Runtime) -> Callable[[str | None, str], datetime | None]:
    """The code check as the hot route runs it: inline on SQLite, on the driver's own
    connection (storage/lite.py); on the event loop's own connections on PostgreSQL
    (storage/aio.py)."""
    if runtime.lite_db is not None:
        lite_db = runtime.lite_db
        return lambda token, code: CodeCheck(ctx).verify(lite_db, token, code)
    loop_db = runtime.loop_db
    assert loop_db is not None

    def on_loop(token: str | None, code: str) -> datetime | None:
        return run_async(CodeCheck(ctx).verify_on_loop(loop_db, token, code))

    return on_loop


def _state(runtime: Runtime) -> dict[str, Any]:
    """Everything a code check may write."""
    with runtime.sessions() as db:
        s = db.scalars(select(AuthSession)).one()
        p = db.scalars(select(Principal).where(Principal.kind == "primary")).one()
        d = db.scalars(select(MfaDevice)).one()
        return {
            "verified_at": s.verified_at,
            "last_seen_at": s.last_seen_at,
            "amr": list(s.amr or []),
            "code_failures": p.code_failures,
            "code_locked_until": p.code_locked_until,
            "last_step": d.last_step,
            "events": db.scalar(select(func.count()).select_from(AuditEvent)),
        }


def _write(runtime: Runtime, stmt: Any) -> None:
    with runtime.sessions() as db:
        db.execute(stmt)
        db.commit()


def test_a_right_code_is_accepted_once_and_leaves_what_a_step_up_leaves(
    ctx: Context, check: Any, runtime: Runtime, fresh: tuple[str, str], clock: FakeClock
) -> None:
    token, secret = fresh
    _write(runtime, update(Principal).values(code_failures=2))  # a run of failures to end
    ctx.observer = recorder = Recorder()
    before = _state(runtime)
    until = check(token, oathtool(secret, clock.epoch))
    assert until == clock.now() + ctx.settings.fresh_window
    after = _state(runtime)
    assert after["verified_at"] == after["last_seen_at"] == clock.now()
    assert after["amr"] == ["pwd", "otp"]
    assert after["code_failures"] == 0
    assert after["last_step"] == clock.epoch // 30 > before["last_step"]
    assert after["events"] == before["events"] + 1
    with runtime.sessions() as db:
        event = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event is not None
    assert (event.action, event.result, event.actor, event.target, event.detail) == (
        "verify.succeeded", "success", "acme", "acme", {"method": "mfa"},
    )  # fmt: skip
    assert event.client_addr == "192.0.2.1"
    assert recorder.seen == [("audited", "verify.succeeded"), ("mfa_check", "totp", "accepted")]
    # The same code again: declined, with nothing written and nothing told.
    recorder.seen.clear()
    assert check(token, oathtool(secret, clock.epoch)) is None
    assert _state(runtime) == after
    assert recorder.seen == []


def _wrong(secret: str, epoch: int) -> str:
    return f"{(int(oathtool(secret, epoch)) + 1) % 10**6:06d}"


def _last_event(runtime: Runtime) -> AuditEvent:
    with runtime.sessions() as db:
        event = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event is not None
    return event


@pytest.mark.parametrize(
    ("code_of", "refusal", "reason", "label"),
    [
        (_wrong, errors.InvalidMFACode, "wrong_code", "invalid"),
        (lambda s, epoch: oathtool(s, epoch + 8 * 30), errors.OutOfSyncMFACode, "out_of_sync",
         "out_of_sync"),
    ],
)  # fmt: skip
def test_a_wrong_code_is_counted_once_and_leaves_what_a_failed_check_leaves(
    ctx: Context,
    check: Any,
    runtime: Runtime,
    fresh: tuple[str, str],
    clock: FakeClock,
    code_of: Any,
    refusal: type[errors.InvalidMFACode],
    reason: str,
    label: str,
) -> None:
    token, secret = fresh
    _write(runtime, update(Principal).values(code_failures=2))
    ctx.observer = recorder = Recorder()
    before = _state(runtime)
    with pytest.raises(errors.InvalidMFACode) as raised:
        check(token, code_of(secret, clock.epoch))
    assert type(raised.value) is refusal
    assert _state(runtime) == {**before, "code_failures": 3, "events": before["events"] + 1}
    event = _last_event(runtime)
    assert (event.action, event.result, event.actor, event.target, event.detail) == (
        "mfa.verify.failed", reason, "acme", "acme",
        {"method": "mfa", "consecutive_failures": 3},
    )  # fmt: skip
    assert event.client_addr == "192.0.2.1"
    assert recorder.seen == [("audited", "mfa.verify.failed"), ("mfa_check", "totp", label)]
    # The right code still goes through, and ends the run of failures.
    assert check(token, oathtool(secret, clock.epoch)) is not None
    assert _state(runtime)["code_failures"] == 0


def _lock(runtime: Runtime, clock: FakeClock) -> None:
    _write(runtime, update(Principal).values(code_locked_until=clock.now() + timedelta(minutes=5)))


def _restrict(runtime: Runtime, _clock: FakeClock) -> None:
    _write(runtime, update(AuthSession).values(restricted=True))


def _reset_required(runtime: Runtime, _clock: FakeClock) -> None:
    _write(runtime, update(Principal).values(password_reset_required=True))


def _disable(runtime: Runtime, _clock: FakeClock) -> None:
    _write(runtime, update(Principal).values(disabled=True))


def _idle(_runtime: Runtime, clock: FakeClock) -> None:
    clock.advance(61 * 60)  # past the idle limit (60 minutes)


def _no_device(runtime: Runtime, _clock: FakeClock) -> None:
    _write(runtime, update(MfaDevice).values(state="pending"))


def _one_short_of_the_lock(runtime: Runtime, _clock: FakeClock) -> None:
    _write(runtime, update(Principal).values(code_failures=policy.CODE_FAILURE_LIMIT - 1))


def _due_its_touch(runtime: Runtime, clock: FakeClock) -> None:
    seen = clock.now() - timedelta(minutes=2)  # last seen two minutes ago: a touch is due
    _write(runtime, update(AuthSession).values(last_seen_at=seen))


def _step_taken(runtime: Runtime, clock: FakeClock) -> None:
    _write(runtime, update(MfaDevice).values(last_step=clock.epoch // 30))


@pytest.mark.parametrize(
    ("case", "code_of"),
    [
        ("not six digits", lambda secret, epoch: oathtool(secret, epoch)[:5]),
        # A wrong code that locks the checks: the lock's audit row and notice are the full
        # use case's; so is a wrong code from a session due its last-seen touch.
        ("wrong code, the lock", _one_short_of_the_lock),
        ("wrong code, touch due", _due_its_touch),
        ("replayed", _step_taken),
        ("locked", _lock),
        ("restricted", _restrict),
        ("forced password change", _reset_required),
        ("disabled", _disable),
        ("idle session", _idle),
        ("no device", _no_device),
        ("no token", None),
        ("unknown token", None),
    ],
)
def test_what_it_declines_is_left_as_it_was(
    ctx: Context,
    check: Any,
    runtime: Runtime,
    fresh: tuple[str, str],
    clock: FakeClock,
    case: str,
    code_of: Any,
) -> None:
    token, secret = fresh
    if case == "not six digits":
        code = code_of(secret, clock.epoch)
    else:
        if code_of is not None:
            code_of(runtime, clock)
        code = oathtool(secret, clock.epoch)  # the right code of the step it is now
        if case.startswith("wrong code"):
            code = _wrong(secret, clock.epoch)
    sent = {"no token": None, "unknown token": token[:-2] + "xx"}.get(case, token)
    state = _state(runtime)
    ctx.observer = recorder = Recorder()
    assert check(sent, code) is None, case
    assert _state(runtime) == state, case
    assert recorder.seen == [], case


def _meanwhile(runtime: Runtime, monkeypatch: pytest.MonkeyPatch, changes: list[Any]) -> None:
    """Make `changes` between the check's read and its write."""
    original = CodeCheck._judged

    def judged_then(self: CodeCheck, row: Any, code: str) -> Any:
        out = original(self, row, code)
        for change in changes:
            _write(runtime, change)
        return out

    monkeypatch.setattr(CodeCheck, "_judged", judged_then)


@pytest.mark.parametrize(
    ("code", "field"),
    [
        ("right", "last_step"),  # the same code, checked elsewhere first
        # a run of wrong codes locked the checks: the device's UPDATE, which ran, is undone
        ("right", "code_locked_until"),
        ("wrong", "code_failures"),  # another failure, counted first: the full use case
        ("wrong", "code_locked_until"),  # counts this one next, or refuses it as locked
    ],
)
def test_a_change_meanwhile_leaves_nothing_of_this_check(
    ctx: Context,
    check: Any,
    runtime: Runtime,
    fresh: tuple[str, str],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    code: str,
    field: str,
) -> None:
    """Between its read and its write, another check changed what the write depends on:
    the row counts decide, the check declines, and nothing of it stays."""
    token, secret = fresh
    sent = oathtool(secret, clock.epoch) if code == "right" else _wrong(secret, clock.epoch)
    value = {
        "last_step": clock.epoch // 30,
        "code_locked_until": clock.now() + timedelta(minutes=5),
        "code_failures": 1,
    }[field]
    model = MfaDevice if field == "last_step" else Principal
    meanwhile = [update(model).values({field: value})]
    _meanwhile(runtime, monkeypatch, meanwhile)
    ctx.observer = recorder = Recorder()
    before = _state(runtime)
    assert check(token, sent) is None
    assert _state(runtime) == {**before, field: value}
    assert recorder.seen == []
    # With nothing in the way, the same code goes through, or is counted.
    meanwhile.clear()
    _write(runtime, update(model).values({field: before[field]}))
    if code == "right":
        assert check(token, sent) is not None
    else:
        with pytest.raises(errors.InvalidMFACode):
            check(token, sent)
        assert _state(runtime)["code_failures"] == before["code_failures"] + 1


def test_its_connections_go_back_as_they_were_lent(
    ctx: Context, check: Any, runtime: Runtime, fresh: tuple[str, str], clock: FakeClock
) -> None:
    """The checks send nothing through the engine's machinery, and leave no transaction
    open: SQLite's pooled connections go back outside one, with the write gate free (the
    next use case's write transaction starts at once); PostgreSQL's event loop connections
    (autocommit) go back with none open on the server."""
    token, secret = fresh
    statements: list[str] = []

    def sent(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", sent)
    try:
        assert check(token, oathtool(secret, clock.epoch)) is not None
        assert check(token, oathtool(secret, clock.epoch)) is None  # declined
        with pytest.raises(errors.InvalidMFACode):  # counted, in one statement on PostgreSQL
            check(token, _wrong(secret, clock.epoch))
    finally:
        event.remove(runtime.engine, "before_cursor_execute", sent)
    assert statements == []
    assert _state(runtime)["code_failures"] == 1
    if runtime.loop_db is not None:
        with runtime.engine.connect() as conn:
            states = conn.execute(text(
                "SELECT state FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )).scalars().all()  # fmt: skip
        assert states and set(states) == {"idle"}, states
        return
    pool = runtime.engine.pool
    raws = [runtime.engine.raw_connection() for _ in range(pool.checkedin())]  # type: ignore[attr-defined]
    assert raws, "the checks' connections are back in the pool"
    try:
        assert not any(raw.driver_connection.in_transaction for raw in raws)
    finally:
        for raw in raws:
            raw.close()
    started = time.monotonic()
    _write(runtime, update(Principal).values(code_failures=0))  # the gate is free
    assert time.monotonic() - started < 1.0
    assert _state(runtime)["code_failures"] == 0
