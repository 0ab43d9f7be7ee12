"""Consecutive-failure lockout with exponential back-off, kept in the principal's row.

Two independent counters: codes (TOTP, email and recovery codes) and passwords. Each change
is one conditional UPDATE, so the count holds across processes and under parallel requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.orm import InstrumentedAttribute

from twofold.domain import policy
from twofold.domain.errors import TooManyAttempts
from twofold.services.context import Context
from twofold.storage.db import affected
from twofold.storage.models import Principal


@dataclass(frozen=True)
class Counter:
    failures: InstrumentedAttribute[int]
    locked_until: InstrumentedAttribute[datetime | None]
    limit: int
    what: str


CODES = Counter(
    Principal.code_failures, Principal.code_locked_until, policy.CODE_FAILURE_LIMIT, "codes"
)
PASSWORDS = Counter(
    Principal.password_failures,
    Principal.password_locked_until,
    policy.PASSWORD_FAILURE_LIMIT,
    "passwords",
)


class Throttle:
    def __init__(self, ctx: Context, counter: Counter) -> None:
        self.ctx = ctx
        self.c = counter

    def _unlocked(self, now: datetime) -> object:
        return (self.c.locked_until.is_(None)) | (self.c.locked_until <= now)

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
        new_count = self.c.failures + 1
        whens = []
        for n in range(self.c.limit, self.c.limit + 7):
            lock = policy.lockout_for(n, self.c.limit)
            assert lock is not None
            whens.append((new_count == n, now + lock))
        cap = now + policy.BACKOFF_CAP
        stmt = (
            update(Principal)
            .where(Principal.id == principal_id, self._unlocked(now))  # type: ignore[arg-type]
            .values(
                {
                    self.c.failures: new_count,
                    self.c.locked_until: case((new_count < self.c.limit, None), *whens, else_=cap),
                }
            )
            .returning(self.c.failures)
        )
        count = self.ctx.db.execute(stmt).scalar_one_or_none()
        if count is None:
            raise self._current_lock(principal_id, now)
        return int(count)

    def record_success(self, principal_id: int) -> None:
        """Reset the count; raises TooManyAttempts if a lock was set meanwhile."""
        now = self.ctx.clock.now()
        stmt = (
            update(Principal)
            .where(Principal.id == principal_id, self._unlocked(now))  # type: ignore[arg-type]
            .values({self.c.failures: 0, self.c.locked_until: None})
        )
        if affected(self.ctx.db.execute(stmt)) != 1:
            raise self._current_lock(principal_id, now)

    def _current_lock(self, principal_id: int, now: datetime) -> TooManyAttempts:
        locked_until = self.ctx.db.scalar(
            select(self.c.locked_until).where(Principal.id == principal_id)
        )
        return self._locked(locked_until or now, now)

    def _locked(self, locked_until: datetime, now: datetime) -> TooManyAttempts:
        seconds = policy.retry_after_seconds(locked_until, now)
        return TooManyAttempts(
            f"Too many failed {self.c.what}; try again in {seconds} seconds.",
            retry_after=seconds,
        )
