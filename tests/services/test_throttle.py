"""The lockout counters, driven directly: back-off, independence, and the lock's edges."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import FakeClock
from twofold.domain.errors import TooManyAttempts
from twofold.services.context import Context
from twofold.services.throttle import CODES, PASSWORDS, Throttle
from twofold.storage.models import Principal


def _reload(ctx: Context, principal_id: int) -> Principal:
    ctx.db.expire_all()
    row = ctx.db.get(Principal, principal_id)
    assert row is not None
    return row


def test_five_code_failures_lock_for_a_minute_then_doubling(
    ctx: Context, primary: Any, clock: FakeClock
) -> None:
    codes = Throttle(ctx, CODES)
    counts = [codes.record_failure(primary.id) for _ in range(5)]
    ctx.db.commit()
    assert counts == [1, 2, 3, 4, 5]
    row = _reload(ctx, primary.id)
    assert row.code_locked_until is not None
    assert (row.code_locked_until - clock.now()).total_seconds() == 60
    with pytest.raises(TooManyAttempts) as locked:
        codes.ensure_open(row)
    assert locked.value.retry_after == 60
    # While locked, a failure does not count (the lock cannot be stretched by hammering).
    with pytest.raises(TooManyAttempts):
        codes.record_failure(primary.id)
    ctx.db.rollback()
    assert _reload(ctx, primary.id).code_failures == 5
    clock.advance(61)
    assert codes.record_failure(primary.id) == 6
    ctx.db.commit()
    row = _reload(ctx, primary.id)
    assert (row.code_locked_until - clock.now()).total_seconds() == 120


def test_a_success_while_locked_is_refused_and_resets_nothing(ctx: Context, primary: Any) -> None:
    codes = Throttle(ctx, CODES)
    for _ in range(5):
        codes.record_failure(primary.id)
    ctx.db.commit()
    with pytest.raises(TooManyAttempts):
        codes.record_success(primary.id)
    ctx.db.rollback()
    assert _reload(ctx, primary.id).code_failures == 5


def test_a_success_resets_the_count(ctx: Context, primary: Any) -> None:
    codes = Throttle(ctx, CODES)
    for _ in range(4):
        codes.record_failure(primary.id)
    codes.record_success(primary.id)
    ctx.db.commit()
    row = _reload(ctx, primary.id)
    assert (row.code_failures, row.code_locked_until) == (0, None)


def test_password_and_code_counters_are_independent(ctx: Context, primary: Any) -> None:
    passwords, codes = Throttle(ctx, PASSWORDS), Throttle(ctx, CODES)
    for _ in range(10):
        passwords.record_failure(primary.id)
    ctx.db.commit()
    row = _reload(ctx, primary.id)
    with pytest.raises(TooManyAttempts):
        passwords.ensure_open(row)
    codes.ensure_open(row)  # the code checks stay open
    assert codes.record_failure(primary.id) == 1


def test_the_cap_is_an_hour(ctx: Context, primary: Any, clock: FakeClock) -> None:
    codes = Throttle(ctx, CODES)
    for _ in range(5):
        codes.record_failure(primary.id)
    ctx.db.commit()
    for _ in range(10):  # each lock waited out, then one more failure
        clock.advance(3601)
        codes.record_failure(primary.id)
        ctx.db.commit()
    row = _reload(ctx, primary.id)
    assert (row.code_locked_until - clock.now()).total_seconds() == 3600
