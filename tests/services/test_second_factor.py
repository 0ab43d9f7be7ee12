"""SecondFactor.check_totp on its own: window, replay by step, drift, pending devices."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import FakeClock, oathtool
from twofold.domain import errors
from twofold.services.codes import SecondFactor
from twofold.services.context import Context


@pytest.fixture
def bound(signed_in: tuple[str, str]) -> str:
    return signed_in[1]


def test_each_step_is_accepted_once_and_never_an_older_one(
    ctx: Context, primary: Any, bound: str, clock: FakeClock
) -> None:
    factor = SecondFactor(ctx)
    with pytest.raises(errors.ReplayedMFACode):  # the binding used this step
        factor.check_totp(primary, oathtool(bound, clock.epoch), purpose="verify")
    clock.advance(30)
    factor.check_totp(primary, oathtool(bound, clock.epoch + 30), purpose="verify")
    ctx.db.commit()
    with pytest.raises(errors.ReplayedMFACode):  # the same step again
        factor.check_totp(primary, oathtool(bound, clock.epoch + 30), purpose="verify")
    with pytest.raises(errors.ReplayedMFACode):  # never used, but older than the last one
        factor.check_totp(primary, oathtool(bound, clock.epoch), purpose="verify")


def test_a_code_ten_steps_off_is_reported_as_a_clock_problem(
    ctx: Context, primary: Any, bound: str, clock: FakeClock
) -> None:
    with pytest.raises(errors.OutOfSyncMFACode) as err:
        SecondFactor(ctx).check_totp(
            primary, oathtool(bound, clock.epoch + 8 * 30), purpose="verify"
        )
    assert "clock" in err.value.message


@pytest.mark.parametrize("raw", [" 123456", "123 456", "123456\n", "１２３４５６", 123456, None])
def test_anything_but_six_ascii_digits_is_a_wrong_code(
    ctx: Context, primary: Any, bound: str, raw: object
) -> None:
    with pytest.raises(errors.InvalidMFACode):
        SecondFactor(ctx).check_totp(primary, raw, purpose="verify")


def test_no_active_device_means_mfa_not_enabled(ctx: Context, primary: Any) -> None:
    with pytest.raises(errors.MFANotEnabled):
        SecondFactor(ctx).check_totp(primary, "123456", purpose="verify")
