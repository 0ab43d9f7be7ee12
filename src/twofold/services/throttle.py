"""Consecutive-failure lockout with exponential back-off, kept in the principal's row.

Three independent counters: codes (TOTP and email codes), recovery codes (their own, so a
code lock never closes the way out), and passwords at step-up (sign-in has its own, keyed by
login and client: `password_guard.py`). Each change
is one conditional UPDATE, so the count holds across processes and under parallel requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.orm import InstrumentedAttribute

from twofold.domain import policy
from twofold.domain.errors import N_, TooManyAttempts
from twofold.services.context import Context
from twofold.storage.db import affected, run, table_of
from twofold.storage.models import Principal


@dataclass(frozen=True)
class Counter:
    failures: InstrumentedAttribute[int]
    locked_until: InstrumentedAttribute[datetime | None]
    limit: int
    what: str


CODES = Counter(
    Principal.code_failures, Principal.code_locked_until, policy.CODE_FAILURE_LIMIT, N_("codes")
)
PASSWORDS = Counter(
    Principal.password_failures,
    Principal.password_locked_until,
    policy.PASSWORD_FAILURE_LIMIT,
    N_("passwords"),
)


def _statements(c: Counter) -> tuple[Any, Any]:
    """The failure and success UPDATEs of a counter, built once (values come as parameters):
    Core statements on the table, run on the connection (no ORM work under the write lock)."""
    table = table_of(Principal)
    failures, locked_until = table.c[c.failures.key], table.c[c.locked_until.key]
    unlocked = locked_until.is_(None) | (locked_until <= bindparam("now"))
    new_count = failures + 1
    steps = range(c.limit, c.limit + _DOUBLINGS)
    fail = (
        update(table)
        .where(table.c.id == bindparam("throttled_id"), unlocked)
        .values(
            {
                failures: new_count,
                locked_until: case(
                    (new_count < c.limit, None),
                    *[(new_count == n, bindparam(f"lock_{n}")) for n in steps],
                    else_=bindparam("lock_cap"),
                ),
            }
        )
        .returning(failures)
    )
    succeed = (
        update(table)
        .where(table.c.id == bindparam("throttled_id"), unlocked)
        .values({failures: 0, locked_until: None})
    )
    return fail, succeed


RECOVERY = Counter(
    Principal.recovery_failures,
    Principal.recovery_locked_until,
    policy.RECOVERY_FAILURE_LIMIT,
    N_("recovery codes"),
)

_DOUBLINGS = 7  # failures past the limit that still double the lock; later ones get the cap
_STATEMENTS = {c.what: _statements(c) for c in (CODES, PASSWORDS, RECOVERY)}


def count_statement(counter: Counter) -> Any:
    """A failure that does not lock, prebuilt (parameters `throttled_id`, `seen` and `now`),
    for a caller with a connection of its own that read the count (`seen`) and found it
    below the limit by more than one: one row when the count is still `seen` and the checks
    open, none when either changed meanwhile (the caller then counts it the usual way).
    Its outcome is `record_failure`'s with `seen + 1` returned."""
    table = table_of(Principal)
    failures, locked_until = table.c[counter.failures.key], table.c[counter.locked_until.key]
    return (
        update(table)
        .where(
            table.c.id == bindparam("throttled_id"),
            failures == bindparam("seen"),
            failures + 1 < counter.limit,
            locked_until.is_(None) | (locked_until <= bindparam("now")),
        )
        .values({failures: failures + 1, locked_until: None})
    )


def reset_statement(counter: Counter) -> Any:
    """The counter's success UPDATE, prebuilt (parameters `throttled_id`, `now`), for a
    caller with a connection of its own: one row when the checks were open, none when a
    lock was set meanwhile (the success must then not count)."""
    return _STATEMENTS[counter.what][1]


class Throttle:
    def __init__(self, ctx: Context, counter: Counter) -> None:
        self.ctx = ctx
        self.c = counter
        self._fail, self._succeed = _STATEMENTS[counter.what]

    def ensure_open(self, principal: Principal) -> None:
        """Refuse at once when the loaded row shows a lock (no statement)."""
        now = self.ctx.clock.now()
        locked_until: datetime | None = getattr(principal, self.c.locked_until.key)
        if locked_until is not None and locked_until > now:
            raise self._locked(locked_until, now)

    def record_failure(self, principal_id: int) -> int:
        """Count one failure and lock when the limit is reached; returns the new count.

        Raises TooManyAttempts when the checks were already locked (the failure then does
        not count, so a lock cannot be extended by hammering it).
        """
        now = self.ctx.clock.now()
        params: dict[str, Any] = {"throttled_id": principal_id, "now": now}
        for n in range(self.c.limit, self.c.limit + _DOUBLINGS):
            params[f"lock_{n}"] = now + policy.backoff(n - self.c.limit)
        params["lock_cap"] = now + policy.BACKOFF_CAP
        count = run(self.ctx.db, self._fail, params).scalar_one_or_none()
        if count is None:
            raise self._current_lock(principal_id, now)
        return int(count)

    def record_success(self, principal_id: int) -> None:
        """Reset the count; raises TooManyAttempts if a lock was set meanwhile."""
        now = self.ctx.clock.now()
        if (
            affected(run(self.ctx.db, self._succeed, {"throttled_id": principal_id, "now": now}))
            != 1
        ):
            raise self._current_lock(principal_id, now)

    def _current_lock(self, principal_id: int, now: datetime) -> TooManyAttempts:
        locked_until = self.ctx.db.scalar(
            select(self.c.locked_until).where(Principal.id == principal_id)
        )
        return self._locked(locked_until or now, now)

    def _locked(self, locked_until: datetime, now: datetime) -> TooManyAttempts:
        seconds = policy.retry_after_seconds(locked_until, now)
        return TooManyAttempts.locked(self.c.what, seconds)
