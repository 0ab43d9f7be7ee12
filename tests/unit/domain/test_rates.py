"""The flood-limit syntax and GCRA: a burst of N, then one every period/N."""

from __future__ import annotations

import pytest

from twofold.domain.rates import Rate, admit, parse_rate_limits


def test_parse_over_the_defaults() -> None:
    rates = parse_rate_limits("login=3/minute, signup=off")
    assert rates["login"] == Rate(3, 60.0)
    assert "signup" not in rates and rates["login_mfa"] == Rate(30, 60.0)
    assert parse_rate_limits("off") == {}
    for bad in ("login=3", "nope=1/m", "login=-1/m", "login=2/fortnight"):
        with pytest.raises(ValueError):
            parse_rate_limits(bad)


def test_burst_then_one_per_interval() -> None:
    rate, tat, now = Rate(3, 60.0), None, 1000.0
    results = []
    for _ in range(4):
        ok, new, wait = admit(rate, tat, now)
        results.append((ok, wait))
        if ok:
            tat = new
    assert results == [(True, 0), (True, 0), (True, 0), (False, 20)]
    assert admit(rate, tat, now + 19.9)[0] is False
    assert admit(rate, tat, now + 20)[0] is True
    assert admit(rate, tat, now + 600)[0] is True  # an idle key is as good as new
