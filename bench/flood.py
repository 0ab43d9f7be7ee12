"""Flood scenario of issue 10 F3, runnable on its own (loopback only, bounded in time):

    .venv/bin/python -m bench.flood                     # this tree, default flood limits
    .venv/bin/python -m bench.flood --rate-limits off   # the argon2 queue bound alone
    .venv/bin/python -m bench.flood --server-src /tmp/old/src   # another tree (before/after)

A `twofold serve` on a fresh SQLite database; one real account. First a real login's median
with no flood; then 48 concurrent clients on 127.0.0.1 send unknown-login requests with
1,024-character passwords for `--seconds`, while the real user signs in from 127.0.0.2 every
0.4 s (under its own flood allowance). Prints the medians, the flood's answers by status, and
the audit rows written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.run import free_port, wait_ready

PASSWORD = "a long passphrase here 42"
REAL_BODY = {"login": "acme", "password": PASSWORD}
FLOOD_BODY = {"login": "nobody-at-all", "password": "x" * 1024}


async def real_logins(url: str, seconds: float, pause: float) -> list[float]:
    """Sign in as the real user from 127.0.0.2 every `pause` seconds; login times in ms."""
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    times: list[float] = []
    async with httpx.AsyncClient(transport=transport, timeout=30) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            r = await client.post(url + "/api/v1/login", json=REAL_BODY)
            elapsed = (time.perf_counter() - started) * 1000
            if r.status_code == 200:
                times.append(elapsed)
            else:
                times.append(float("inf"))  # refused: counted as unbounded in the median
            await asyncio.sleep(pause)
    return times


async def flood(url: str, seconds: float, concurrency: int, vary: bool) -> Counter[int]:
    statuses: Counter[int] = Counter()
    end = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    sent = 0

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal sent
        while time.monotonic() < end:
            sent += 1
            # --vary-login: a new name each time, so the password throttle (per login and
            # client) never stops the flood and only the flood limits and the queue bound act.
            body = {**FLOOD_BODY, "login": f"nobody-{sent}"} if vary else FLOOD_BODY
            try:
                r = await client.post(url + "/api/v1/login", json=body)
                statuses[r.status_code] += 1
            except httpx.HTTPError:
                statuses[0] += 1

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(one(client) for _ in range(concurrency)))
    return statuses


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def scenario(url: str, seconds: float, concurrency: int, vary: bool) -> dict[str, Any]:
    quiet = await real_logins(url, min(seconds, 6.0), 0.4)
    real, statuses = await asyncio.gather(
        real_logins(url, seconds, 0.4), flood(url, seconds, concurrency, vary)
    )
    return {
        "real_login_median_ms_quiet": round(median(quiet), 1),
        "real_login_median_ms_under_flood": round(median(real), 1),
        "real_login_median_ms_admitted_under_flood": round(
            median([t for t in real if t != float("inf")]), 1
        ),
        "real_login_refused_under_flood": sum(1 for t in real if t == float("inf")),
        "real_logins_under_flood": len(real),
        "flood_answers": dict(sorted(statuses.items())),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=48)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--rate-limits", default=None, help="TWOFOLD_RATE_LIMITS for the server")
    ap.add_argument("--vary-login", action="store_true", help="a new unknown login each time")
    ap.add_argument("--server-src", default=None, help="serve the twofold package found here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="twofold-flood-") as tmp:
        db = Path(tmp) / "flood.db"
        port = free_port()
        env = {
            **os.environ,
            "TWOFOLD_DATABASE_URL": f"sqlite:///{db}",
            "TWOFOLD_KEY_FILE": str(Path(tmp) / "key"),
            "TWOFOLD_ENV": "development",
        }
        if args.rate_limits is not None:
            env["TWOFOLD_RATE_LIMITS"] = args.rate_limits
        if args.server_src:
            env["PYTHONPATH"] = args.server_src
        log = (Path(tmp) / "server.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "twofold", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(args.workers)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url + "/readyz", proc)
            with httpx.Client(
                transport=httpx.HTTPTransport(local_address="127.0.0.3"), timeout=30
            ) as c:
                r = c.post(
                    url + "/api/v1/accounts",
                    json={"name": "acme", "email": "owner@acme.example", "password": PASSWORD},
                )
            assert r.status_code == 201, r.text
            result = asyncio.run(scenario(url, args.seconds, args.concurrency, args.vary_login))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        with sqlite3.connect(db) as conn:
            result["audit_rows_unknown_login"] = conn.execute(
                "SELECT count(*) FROM audit_events WHERE result = 'unknown_login'"
            ).fetchone()[0]
    result["server_src"] = args.server_src or "this tree"
    result["rate_limits"] = args.rate_limits or "default"
    result["vary_login"] = args.vary_login
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
