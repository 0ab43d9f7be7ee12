"""The code check's common cases on a connection of its own: a step-up (`POST /verify`) with
a code for the bound device, by a live, unrestricted session whose code checks are open.

One read (session, principal, account and active device in one SELECT, no write lock), then
unsealing and the TOTP arithmetic with no transaction open, then one write transaction that
holds only prebuilt Core statements. A right code: the conditional UPDATE of the device's
last step (replay protection), the conditional reset of the code throttle, the session's
verification, and the audit INSERT. A wrong code (or one of a device whose clock is off)
that does not lock the checks: the conditional count of the failure and the audit INSERT,
then the refusal is raised. The ORM's unit of work and the Session's per-statement
machinery cost more than all of these on SQLite, so none of it runs here. On PostgreSQL,
where each statement is a round trip, each write is one statement (`_in_one_statement`), and
both statements run on the event loop over psycopg's async connections (`verify_on_loop`,
storage/aio.py): a crossing into the thread pool costs more CPU than they do.

Everything else is declined (None) with nothing written: no session, a replayed code, a
failure that would lock the checks (its notice and the lock's audit row), a lock, a session
due a write of its own (removal, last-seen), restricted or held at the forced password
change. `Verification.verify`, the full use case, then answers it and counts it, once. Both
decide by the same row counts, so a race between them cannot let a code through twice or
count a failure twice."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, exists, func, select, update

from twofold.domain import amr, errors, policy, totp
from twofold.domain.sealing import SealingError
from twofold.domain.tokens import MAX_TOKEN_LENGTH, token_digest
from twofold.services.audit import EVENT_COLUMNS, INSERT_EVENT, Audit, Party
from twofold.services.codes import (
    ACCEPT_STEP,
    CHECK_RESULTS,
    device_context,
    failure_reason,
    result_of,
)
from twofold.services.context import Context
from twofold.services.sessions import SIGNED_IN, Sessions
from twofold.services.throttle import CODES, count_statement, reset_statement
from twofold.storage.db import table_of
from twofold.storage.lite import LiteConnection, LiteDatabase, Rollback
from twofold.storage.models import Account, AuditEvent, AuthSession, MfaDevice, Principal

if TYPE_CHECKING:
    from twofold.storage.aio import LoopDatabase

_SESSIONS = table_of(AuthSession)
_PRINCIPALS = table_of(Principal)
_ACCOUNTS = table_of(Account)
_DEVICES = table_of(MfaDevice)
_READ = (
    select(
        _SESSIONS.c.id.label("session_id"),
        _SESSIONS.c.last_seen_at,
        _SESSIONS.c.expires_at,
        _SESSIONS.c.restricted,
        _SESSIONS.c.amr,
        _PRINCIPALS.c.id.label("principal_id"),
        _PRINCIPALS.c.account_id,
        _PRINCIPALS.c.login,
        _PRINCIPALS.c.kind,
        _PRINCIPALS.c.disabled,
        _PRINCIPALS.c.password_reset_required,
        _PRINCIPALS.c.password_changed_at,
        _PRINCIPALS.c.code_failures,
        _PRINCIPALS.c.code_locked_until,
        _ACCOUNTS.c.login_networks,
        _ACCOUNTS.c.password_max_age_days,
        _DEVICES.c.id.label("device_id"),
        _DEVICES.c.serial,
        _DEVICES.c.sealed_secret,
        _DEVICES.c.drift,
    )
    .select_from(
        SIGNED_IN.join(
            _DEVICES,
            (_DEVICES.c.principal_id == _PRINCIPALS.c.id) & (_DEVICES.c.state == "active"),
        )
    )
    .where(_SESSIONS.c.token_hash == bindparam("token_hash"))
)
# The step-up itself: freshly verified, with a code (`otp`), and seen now.
_VERIFIED = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("session_id"))
    .values(
        verified_at=bindparam("now"),
        last_seen_at=bindparam("now"),
        amr=bindparam("methods", type_=_SESSIONS.c.amr.type),
    )
)
_RESET = reset_statement(CODES)
_COUNT = count_statement(CODES)
_EVENTS = table_of(AuditEvent)


def _logged_if(done: Any) -> Any:
    """The audit INSERT (parameters `event_<column>`) of a one-statement write, made when
    the CTE `done` returned a row."""
    event = select(*[bindparam(f"event_{c.key}", type_=c.type) for c in EVENT_COLUMNS])
    return (
        _EVENTS.insert()
        .from_select(EVENT_COLUMNS, event.where(exists(select(done.c.id))))
        .returning(_EVENTS.c.id)
        .cte("logged")
    )


def _in_one_statement() -> Any:
    """PostgreSQL: a step-up's write as one statement in autocommit, one round trip instead
    of six (BEGIN, four statements, COMMIT), with the same outcome by the same conditions.

    The device's row, then the principal's, are locked (`FOR UPDATE`: after waiting for a
    concurrent writer, each rechecks its condition against the row that writer left) in
    that order, the order of the full use case. The device UPDATE runs only when both rows
    qualified, so nothing is written unless everything is: a step taken or a lock set
    meanwhile leaves every row as it was, as the transaction's rollback does on SQLite.
    The answer is the number of throttle rows reset: 1 when the step-up happened.

    No parameter may be named like a column of these tables: SQLAlchemy would add it to an
    UPDATE's SET clause (the throttle's parameter is `throttled_id`, not `principal_id`)."""
    step_is_later = ACCEPT_STEP.whereclause
    assert step_is_later is not None
    step_open = select(_DEVICES.c.id).where(step_is_later).with_for_update().cte("step_open")
    checks_open = (
        select(_PRINCIPALS.c.id)
        .where(_RESET.whereclause, exists(select(step_open.c.id)))
        .with_for_update()
        .cte("checks_open")
    )
    stepped = (
        ACCEPT_STEP.where(exists(select(checks_open.c.id)))
        .returning(_DEVICES.c.id)
        .cte("stepped")
    )
    reset = _RESET.where(exists(select(stepped.c.id))).returning(_PRINCIPALS.c.id).cte("reset")
    verified = _VERIFIED.where(exists(select(reset.c.id))).returning(_SESSIONS.c.id)
    return (
        select(func.count())
        .select_from(reset)
        .add_cte(verified.cte("verified"), _logged_if(reset))
    )


def _counted_in_one_statement() -> Any:
    """PostgreSQL: a failure's count and its audit row as one statement in autocommit (the
    UPDATE rechecks its condition against the row a concurrent writer left). The answer is
    the number of rows counted: 1 when the failure was."""
    counted = _COUNT.returning(_PRINCIPALS.c.id).cte("counted")
    return select(func.count()).select_from(counted).add_cte(_logged_if(counted))


_ONE_STATEMENT = _in_one_statement()
_COUNTED_AT_ONCE = _counted_in_one_statement()


def _asked(token: str | None, raw_code: object) -> tuple[str, str] | None:
    """The session token's digest and the code, when both are well formed."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    code = totp.parse_code(raw_code)
    return None if code is None else (token_digest(token), code)


def _written(
    conn: LiteConnection, writes: list[tuple[Any, dict[str, Any]]], conditional: int = 1
) -> bool:
    """SQLite: `writes` in one write transaction (the write lock for them alone); the first
    `conditional` must each change one row, or all of it is rolled back: False."""
    try:
        with conn.writing():
            for i, (statement, params) in enumerate(writes):
                if conn.changed(statement, params) != 1 and i < conditional:
                    raise Rollback()
    except Rollback:
        return False
    return True


class CodeCheck:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def verify(
        self, lite_db: LiteDatabase, token: str | None, raw_code: object
    ) -> datetime | None:
        """SQLite, inline on the event loop (web/hot.py), on the driver's own connection
        (storage/lite.py): until when the session is freshly verified, or None: declined,
        nothing written. Raises InvalidMFACode (OutOfSyncMFACode) for a failure counted
        here. On PostgreSQL: `verify_on_loop`."""
        asked = _asked(token, raw_code)
        if asked is None:
            return None
        with lite_db.connection() as conn:
            row = conn.first(_READ, {"token_hash": asked[0]})  # a lone read: no write lock
            judged = self._judged(row, asked[1])
            if judged is None:
                return None
            now, step, failure = judged
            if failure is not None:
                params, event = self._count(row, now, failure)
                if not _written(conn, [(_COUNT, params), (INSERT_EVENT, event)]):
                    return None  # the count or the lock changed meanwhile
                self._counted_now(event, failure)
                raise failure
            assert step is not None
            event = self._event(row)
            writes = [
                (ACCEPT_STEP, {"device_id": row.device_id, "step": step}),
                (_RESET, {"throttled_id": row.principal_id, "now": now}),
                (_VERIFIED, {
                    "session_id": row.session_id,
                    "now": now,
                    "methods": amr.merged(row.amr or [], "otp"),
                }),
                (INSERT_EVENT, event),
            ]  # fmt: skip
            if not _written(conn, writes, conditional=2):
                return None  # replayed, or locked meanwhile: the full use case says which
            return self._accepted_now(event, now)

    async def verify_on_loop(
        self, loop_db: LoopDatabase, token: str | None, raw_code: object
    ) -> datetime | None:
        """`verify` on PostgreSQL, on the event loop (storage/aio.py), once `loop_db` is
        ready (`Runtime.hot_db`): the same read and the same one-statement writes, on a
        connection of the loop's."""
        asked = _asked(token, raw_code)
        if asked is None:
            return None
        async with loop_db.connection() as conn:
            row = await conn.first(_READ, {"token_hash": asked[0]}, read=True)
            judged = self._judged(row, asked[1])
            if judged is None:
                return None
            now, step, failure = judged
            if failure is not None:
                params, event = self._count(row, now, failure)
                if (await conn.first(_COUNTED_AT_ONCE, params))[0] != 1:
                    return None
                self._counted_now(event, failure)
                raise failure
            assert step is not None
            params, event = self._step(row, now, step)
            if (await conn.first(_ONE_STATEMENT, params))[0] != 1:
                return None  # replayed, or locked meanwhile: the full use case says which
            return self._accepted_now(event, now)

    def _judged(
        self, row: Any, code: str
    ) -> tuple[datetime, int | None, errors.InvalidMFACode | None] | None:
        """Now, and the step the code matches or the failure to count, when a common case
        holds (for `row`, the read's, None when no session matched); else None."""
        if row is None:
            return None
        try:
            now, due = Sessions(self.ctx).admission(
                row.last_seen_at, row.expires_at, row.disabled, row.kind, row.login_networks
            )
        except errors.TwofoldError:
            return None
        locked_until = row.code_locked_until
        if (
            due == "expired"
            or row.restricted
            or row.password_reset_required
            or policy.password_expired(
                row.kind, row.password_changed_at, row.password_max_age_days or 0, now
            )
            or (locked_until is not None and locked_until > now)
        ):
            return None
        try:
            secret = self.ctx.keys.unseal(row.sealed_secret, device_context(row.serial))
        except SealingError:
            return None
        centre = totp.time_step(now) + row.drift
        step, out_of_sync = totp.search(
            secret, code, centre, policy.CODE_WINDOW, policy.SYNC_SEARCH_WINDOW
        )
        if step is not None:
            return now, step, None
        # A failure: counted here unless the session is due its last-seen touch (the full
        # use case writes it) or this failure locks the checks (the lock's audit row and
        # notice are the full use case's).
        if due is not None or row.code_failures + 1 >= CODES.limit:
            return None
        return now, None, errors.OutOfSyncMFACode() if out_of_sync else errors.InvalidMFACode()

    def _count(
        self, row: Any, now: datetime, failure: errors.InvalidMFACode
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The one-statement count's parameters, and its audit row: as `SecondFactor.fail`
        counts a failure below the limit."""
        count = row.code_failures + 1
        who = Party(row.principal_id, row.login, row.account_id)
        detail = {"method": "mfa", "consecutive_failures": count}
        event = Audit(self.ctx).own_event(
            "mfa.verify.failed", who, detail, result=failure_reason(failure)
        )
        params = {"throttled_id": row.principal_id, "seen": row.code_failures, "now": now}
        return {**params, **{f"event_{key}": value for key, value in event.items()}}, event

    def _counted_now(self, event: dict[str, Any], failure: errors.InvalidMFACode) -> None:
        self.ctx.observer.audited(event)
        self.ctx.observer.mfa_check("totp", result_of(failure, CHECK_RESULTS))

    def _event(self, row: Any) -> dict[str, Any]:
        who = Party(row.principal_id, row.login, row.account_id)
        return Audit(self.ctx).own_event("verify.succeeded", who, {"method": "mfa"})

    def _step(self, row: Any, now: datetime, step: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """The one-statement step-up's parameters, and its audit row."""
        event = self._event(row)
        params = {
            "device_id": row.device_id,
            "step": step,
            "throttled_id": row.principal_id,
            "now": now,
            "session_id": row.session_id,
            "methods": amr.merged(row.amr or [], "otp"),
            **{f"event_{key}": value for key, value in event.items()},
        }
        return params, event

    def _accepted_now(self, event: dict[str, Any], now: datetime) -> datetime:
        """After the commit: the security log's line, the metric, and the fresh window."""
        self.ctx.observer.audited(event)
        self.ctx.observer.mfa_check("totp", "accepted")
        return now + self.ctx.settings.fresh_window
