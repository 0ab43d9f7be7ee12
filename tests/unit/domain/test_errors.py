"""The human wording of errors lives with the errors: one sentence for a lock, whatever face
shows it."""

from __future__ import annotations

import pytest

from twofold.domain import errors


@pytest.mark.parametrize(
    ("seconds", "wording"),
    [
        (None, "60 seconds"),
        (1, "1 second"),
        (60, "60 seconds"),
        (89, "89 seconds"),
        (90, "2 minutes"),
        (120, "2 minutes"),
        (121, "3 minutes"),
        (3600, "60 minutes"),
    ],
)
def test_wait_wording(seconds: int | None, wording: str) -> None:
    assert errors.wait_wording(seconds) == wording


def test_a_lock_says_what_failed_and_how_long_to_wait() -> None:
    exc = errors.TooManyAttempts.locked("codes", 300)
    assert exc.message == "Too many failed codes: locked for now; try again in 5 minutes."
    assert exc.retry_after == 300 and exc.status == 429


def test_every_wait_is_worded_the_same() -> None:
    sent = errors.TooManyAttempts.after("Too many codes were sent", 1200)
    assert sent.message == "Too many codes were sent; try again in 20 minutes."
    assert isinstance(sent, errors.TooManyAttempts) and sent.retry_after == 1200
    flood = errors.RateLimited.after("Too many requests from this address", 3)
    assert flood.message == "Too many requests from this address; try again in 3 seconds."
