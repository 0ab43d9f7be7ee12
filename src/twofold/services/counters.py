"""Counters kept in `throttle_counters`, keyed by a keyed hash, each change one upsert.

Two shapes: a run of consecutive failures that locks with doubling back-off (the password
throttle per login and client, and per login), and a count per fixed window (mail sends,
unknown-login audit tallies). The keys are HMACs with the server's hash key, so the table
holds no typed login names or client addresses. Like `throttle.py`, the row count of one
conditional statement decides, so the counts hold across processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from twofold.domain import errors, policy
from twofold.services.context import Context
from twofold.storage.db import affected
from twofold.storage.models import ThrottleCounter

T = ThrottleCounter


@dataclass(frozen=True)
class CounterRow:
    key: str
    count: int
    started_at: datetime
    locked_until: datetime | None
    ref: int | None


class Counters:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def key(self, kind: str, *parts: str) -> str:
        return self.ctx.keys.keyed_hash("throttle\x1f" + kind + "\x1f" + "\x1f".join(parts))

    def _insert(self) -> Any:
        name = self.ctx.db.get_bind().dialect.name
        return (postgresql if name == "postgresql" else sqlite).insert(T)

    def forget_stale(self, before: datetime) -> int:
        """Delete the counters no check reads any more: started before `before` and before the
        longest window (a day of password failures), and not holding a lock."""
        now = self.ctx.clock.now()
        T = ThrottleCounter  # noqa: N806
        stale = T.started_at < min(before, now - policy.FAILURE_MEMORY)
        unlocked = T.locked_until.is_(None) | (T.locked_until <= now)
        return int(affected(self.ctx.db.execute(delete(T).where(stale, unlocked))))

    def load(self, keys: list[str]) -> dict[str, CounterRow]:
        rows = self.ctx.db.execute(
            select(T.key, T.count, T.started_at, T.locked_until, T.ref).where(T.key.in_(keys))
        ).all()
        return {r[0]: CounterRow(*r) for r in rows}

    def fail(self, key: str, limit: int, cap: timedelta) -> int | None:
        """Count one failure of a run; lock from the limit-th on, doubling up to `cap`.

        Returns the new count, or None when the key was locked (the failure does not count,
        so a lock cannot be stretched by hammering it)."""
        now = self.ctx.clock.now()
        stale = T.started_at <= now - policy.FAILURE_MEMORY
        new = case((stale, 0), else_=T.count) + 1
        locks = []
        for n in range(limit, limit + 7):
            locks.append((new == n, now + min(policy.backoff(n - limit), cap)))
        first_lock = now + policy.BACKOFF_START if limit <= 1 else None
        stmt = self._insert().values(key=key, count=1, started_at=now, locked_until=first_lock)
        stmt = stmt.on_conflict_do_update(
            index_elements=[T.key],
            set_={
                "count": new,
                "started_at": case((stale, now), else_=T.started_at),
                "locked_until": case(
                    (new < limit, None), *locks, else_=now + min(cap, policy.BACKOFF_CAP)
                ),
            },
            where=T.locked_until.is_(None) | (T.locked_until <= now),
        ).returning(T.count)
        count = self.ctx.db.execute(stmt).scalar_one_or_none()
        return None if count is None else int(count)

    def bump(self, key: str, window: timedelta) -> CounterRow:
        """Count one event in the key's current window (a new window starts when it ends)."""
        now = self.ctx.clock.now()
        expired = T.started_at <= now - window
        stmt = self._insert().values(key=key, count=1, started_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[T.key],
            set_={
                "count": case((expired, 1), else_=T.count + 1),
                "started_at": case((expired, now), else_=T.started_at),
                "ref": case((expired, None), else_=T.ref),
            },
        ).returning(T.key, T.count, T.started_at, T.locked_until, T.ref)
        row = self.ctx.db.execute(stmt).one()
        return CounterRow(*row)

    def limit_sends(self, channel: str, principal_id: int, to: str, per_window: int) -> list[str]:
        """Count one send of `channel` ("mail", "sms") for the principal and for the
        destination, refusing past `per_window` in SEND_WINDOW (TooManyAttempts with the
        wait). A refused send rolls back with the request, so it does not count. Returns the
        keys counted (`take_back` them when the send then fails)."""
        now = self.ctx.clock.now()
        keys = [
            self.key(f"{channel}-send-principal", str(principal_id)),
            self.key(f"{channel}-send-to", to.strip().lower()),
        ]
        for key in keys:
            row = self.bump(key, policy.SEND_WINDOW)
            if row.count > per_window:
                seconds = policy.retry_after_seconds(row.started_at + policy.SEND_WINDOW, now)
                raise errors.TooManyAttempts.after("Too many codes were sent", seconds)
        return keys

    def take_back(self, keys: list[str]) -> None:
        """Undo one `bump` of each key (a send that did not happen)."""
        self.ctx.db.execute(update(T).where(T.key.in_(keys), T.count > 0).values(count=T.count - 1))

    def set_ref(self, key: str, ref: int) -> None:
        self.ctx.db.execute(update(T).where(T.key == key).values(ref=ref))

    def clear(self, keys: list[str]) -> None:
        self.ctx.db.execute(delete(T).where(T.key.in_(keys)))
