"""Flood limits per client address on the unauthenticated routes, in this process's memory.

Per process on purpose (docs/deploy.md): they only blunt floods; the security throttles
(password, code, mail sends) live in the database and hold across processes. Checked in
the event loop, before any thread-pool hop, so a refused request costs almost nothing.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import Depends, Request

from twofold.domain import errors
from twofold.domain.ports import Clock
from twofold.domain.rates import Rate, admit, parse_rate_limits
from twofold.web.runtime import client_address, runtime_of

_MAX_KEYS = 100_000  # past this, keys whose allowance has refilled are dropped


class FloodLimits:
    def __init__(self, spec: str, clock: Clock, *, hash_queue: int = 8) -> None:
        self.rates: dict[str, Rate] = parse_rate_limits(spec)
        self.clock = clock
        self._tat: dict[tuple[str, str], float] = {}
        # Requests that will hash a password, in flight in this process: one per core
        # hashing plus `hash_queue` waiting. Counted here, in the event loop, because past
        # the thread pool's size they would queue for a thread, out of the hasher's sight.
        self.hashing = 0
        self.hashing_limit = (os.cpu_count() or 1) + hash_queue

    def check(self, bucket: str, addr: str | None) -> None:
        rate = self.rates.get(bucket)
        if rate is None:
            return
        now = self.clock.now().timestamp()
        key = (bucket, addr or "")
        ok, tat, wait = admit(rate, self._tat.get(key), now)
        if not ok:
            raise errors.RateLimited.after("Too many requests from this address", wait)
        if len(self._tat) >= _MAX_KEYS:
            self._tat = {k: v for k, v in self._tat.items() if v > now}
        self._tat[key] = tat


def flood_of(request: Request) -> FloodLimits:
    """The app's flood limits: per process, so they live with the web app, not the Runtime."""
    flood: FloodLimits = request.app.state.flood
    return flood


def flood_limited(bucket: str) -> Any:
    """A route dependency: refuse with 429 RateLimited past the bucket's rate."""

    async def dependency(request: Request) -> None:
        flood_of(request).check(bucket, client_address(request, runtime_of(request)))

    call: Callable[[Request], Coroutine[Any, Any, None]] = dependency
    return Depends(call)


async def _hashing(request: Request) -> AsyncIterator[None]:
    flood = flood_of(request)
    if flood.hashing >= flood.hashing_limit:
        raise errors.Overloaded(retry_after=1)
    flood.hashing += 1
    try:
        yield
    finally:
        flood.hashing -= 1


# A route dependency for the routes that hash a password (sign-in, sign-up): when the
# hashing queue is full, shed the request at once with 429 Overloaded and Retry-After.
hash_bounded: Any = Depends(_hashing)
