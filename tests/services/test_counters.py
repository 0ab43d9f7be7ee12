"""The keyed counters of `throttle_counters`, driven directly on both databases: a run of
failures locks with doubling back-off and forgets a day-old run; a window count restarts."""

from __future__ import annotations

from datetime import timedelta

from tests.support import FakeClock
from twofold.domain import policy
from twofold.services.context import Context
from twofold.services.counters import Counters


def test_a_run_locks_at_the_limit_doubles_and_is_not_stretched_while_locked(
    ctx: Context, clock: FakeClock
) -> None:
    c = Counters(ctx)
    key = c.key("test", "acme", "192.0.2.1")
    assert [c.fail(key, 3, policy.BACKOFF_CAP) for _ in range(3)] == [1, 2, 3]
    row = c.load([key])[key]
    assert row.locked_until == clock.now() + timedelta(minutes=1)
    assert c.fail(key, 3, policy.BACKOFF_CAP) is None  # locked: not counted
    ctx.db.commit()
    clock.advance(61)
    assert c.fail(key, 3, policy.BACKOFF_CAP) == 4
    assert c.load([key])[key].locked_until == clock.now() + timedelta(minutes=2)
    ctx.db.commit()


def test_the_cap_and_a_day_old_run_starting_over(ctx: Context, clock: FakeClock) -> None:
    c = Counters(ctx)
    key = c.key("test", "acme")
    for _ in range(10):
        c.fail(key, 2, timedelta(minutes=3))
        clock.advance(3600)
    assert c.load([key])[key].locked_until == clock.now() - timedelta(hours=1) + timedelta(
        minutes=3
    )
    clock.advance(policy.FAILURE_MEMORY.total_seconds())
    assert c.fail(key, 2, timedelta(minutes=3)) == 1
    ctx.db.commit()


def test_a_window_count_restarts_when_its_window_ends(ctx: Context, clock: FakeClock) -> None:
    c = Counters(ctx)
    key = c.key("send", "1")
    assert [c.bump(key, timedelta(hours=1)).count for _ in range(3)] == [1, 2, 3]
    c.set_ref(key, 42)
    assert c.bump(key, timedelta(hours=1)).ref == 42
    clock.advance(3600)
    row = c.bump(key, timedelta(hours=1))
    assert (row.count, row.started_at, row.ref) == (1, clock.now(), None)
    ctx.db.commit()
    assert "acme" not in key and len(key) == 64
