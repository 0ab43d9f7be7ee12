"""The password throttle of sign-in, keyed so a stranger cannot lock the owner out.

Two runs of failures, both in `throttle_counters` under keyed hashes of the typed login:
- per (login, client address): ten failures lock that pair, with doubling back-off;
- per login across all addresses: a ceiling of 100 (NIST SP 800-63B 5.2.2) that pauses
  briefly rather than locks, and that the owner passes from a usual address (one of its last
  sign-ins) or a remembered browser.
An unknown login has the very same counters (the key is a hash of what was typed), so a known
and an unknown login answer alike under the same failures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from twofold.domain import policy
from twofold.domain.errors import N_, TooManyAttempts
from twofold.services.context import Context
from twofold.services.counters import CounterRow, Counters


@dataclass
class Gate:
    pair_key: str
    login_key: str
    rows: dict[str, CounterRow] = field(default_factory=dict)
    passed_ceiling: bool = False


def locked(until: datetime, now: datetime, what: str = N_("sign-in attempts")) -> TooManyAttempts:
    seconds = policy.retry_after_seconds(until, now)
    return TooManyAttempts.locked(what, seconds)


class PasswordGuard:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.counters = Counters(ctx)

    def open(self, login: str, *, may_pass_ceiling: Callable[[], bool]) -> Gate:
        """Refuse when this login is locked for this client (or paused for everyone and the
        caller is not the owner's usual client). One SELECT by primary key."""
        addr = self.ctx.client_addr or ""
        gate = Gate(self.counters.key("pw-pair", login, addr), self.counters.key("pw-login", login))
        gate.rows = self.counters.load([gate.pair_key, gate.login_key])
        now = self.ctx.clock.now()
        pair = gate.rows.get(gate.pair_key)
        if pair and pair.locked_until and pair.locked_until > now:
            raise locked(pair.locked_until, now)
        ceiling = gate.rows.get(gate.login_key)
        if ceiling and ceiling.locked_until and ceiling.locked_until > now:
            if not may_pass_ceiling():
                raise locked(ceiling.locked_until, now)
            gate.passed_ceiling = True
        return gate

    def failed(self, gate: Gate) -> list[str]:
        """Count a wrong password; returns which locks this failure set first ("client",
        "login"), for the notice to the owner."""
        first: list[str] = []
        count = self.counters.fail(gate.pair_key, policy.PASSWORD_FAILURE_LIMIT, policy.BACKOFF_CAP)
        if count is None:  # locked meanwhile by a parallel request
            now = self.ctx.clock.now()
            row = self.counters.load([gate.pair_key]).get(gate.pair_key)
            raise locked(row.locked_until if row and row.locked_until else now, now)
        if count == policy.PASSWORD_FAILURE_LIMIT:
            first.append("client")
        total = self.counters.fail(
            gate.login_key, policy.LOGIN_FAILURE_CEILING, policy.LOGIN_CEILING_CAP
        )
        # None: the ceiling is paused and the owner's client passed it; nothing to count.
        if total == policy.LOGIN_FAILURE_CEILING:
            first.append("login")
        return first

    def succeeded(self, gate: Gate) -> None:
        """A right password ends both runs (no statement when there was none)."""
        if gate.rows:
            self.counters.clear(list(gate.rows))
