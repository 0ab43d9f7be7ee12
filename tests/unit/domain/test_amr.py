"""RFC 8176 method references: recorded once each, `mfa` derived from two kinds of factor."""

from __future__ import annotations

import pytest

from twofold.domain.amr import amr_claim, merged


def test_methods_are_recorded_once_in_order_of_use() -> None:
    assert merged([], "pwd") == ["pwd"]
    assert merged(["pwd"], "otp", "pwd") == ["pwd", "otp"]


@pytest.mark.parametrize("value", ["mfa", "totp", "", "PWD"])
def test_unknown_or_derived_values_are_not_recorded(value: str) -> None:
    with pytest.raises(ValueError):
        merged(["pwd"], value)


@pytest.mark.parametrize(
    ("recorded", "claim"),
    [
        ([], []),
        (["pwd"], ["pwd"]),
        (["pwd", "otp"], ["pwd", "otp", "mfa"]),
        (["pwd", "hwk"], ["pwd", "hwk", "mfa"]),
        (["hwk", "user"], ["hwk", "user"]),  # presence is no second factor
        (["hwk", "pin"], ["hwk", "pin", "mfa"]),  # a passkey with user verification
        (["pwd", "pin"], ["pwd", "pin"]),  # two things known are one kind of factor
        (["pwd", "sms"], ["pwd", "sms", "mfa"]),
        (["pwd", "bogus"], ["pwd"]),  # a stored value nobody knows is left out
    ],
)
def test_the_claim_adds_mfa_for_two_kinds_of_factor(recorded: list[str], claim: list[str]) -> None:
    assert amr_claim(recorded) == claim
