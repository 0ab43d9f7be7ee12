"""Flood limits per client address: the `TWOFOLD_RATE_LIMITS` syntax and the GCRA rule.

GCRA (the generic cell rate algorithm) keeps one number per key, the theoretical arrival
time: `count` requests may come at once, then one each `period / count`. Pure: the caller
passes `now` (seconds) and keeps the state.
"""

from __future__ import annotations

from dataclasses import dataclass

BUCKETS = ("login", "login_mfa", "signup", "email", "reset")
DEFAULT = "login=30/minute,login_mfa=30/minute,signup=5/hour,email=10/hour,reset=5/hour"
_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_PERIODS |= {k[0]: v for k, v in _PERIODS.items()}


@dataclass(frozen=True)
class Rate:
    count: int
    period: float  # seconds

    @property
    def interval(self) -> float:
        return self.period / self.count


def parse_rate_limits(spec: str) -> dict[str, Rate]:
    """`off`, or `name=N/period` items separated by commas, over the defaults (`name=off`
    turns one off). Raises ValueError naming the bad item."""
    spec = spec.strip().lower()
    if spec in ("off", "none", "0", "false"):
        return {}
    rates: dict[str, Rate | None] = {}
    for source in (DEFAULT, spec):
        for item in filter(None, (p.strip() for p in source.split(","))):
            name, _, value = item.partition("=")
            name, value = name.strip(), value.strip()
            if name not in BUCKETS:
                raise ValueError(f"unknown limit {name!r} (one of {', '.join(BUCKETS)})")
            if value == "off":
                rates[name] = None
                continue
            count, _, period = value.partition("/")
            if not count.strip().isdigit() or int(count) < 1 or period.strip() not in _PERIODS:
                raise ValueError(f"{item!r} is not name=N/second|minute|hour|day")
            rates[name] = Rate(int(count), float(_PERIODS[period.strip()]))
    return {k: v for k, v in rates.items() if v is not None}


def admit(rate: Rate, tat: float | None, now: float) -> tuple[bool, float, int]:
    """One request at `now` against the stored arrival time `tat`: (admitted, the new tat,
    seconds to wait when refused)."""
    tat = max(tat or now, now)
    burst = rate.period - rate.interval
    if tat - now > burst:
        wait = tat - burst - now
        return False, tat, max(1, int(wait + 0.999))
    return True, tat + rate.interval, 0
