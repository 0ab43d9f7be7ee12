"""The cost of metrics on the code check: the same server with TWOFOLD_METRICS on and off,
side by side in one run (issue 15):

    python -m bench.metrics [--duration 4] [--reps 3] [--workers 1,2] [--principals 20000]

SQLite (WAL), one seeded data set, `twofold serve` with metrics off and on (with 2 workers
"on" runs prometheus-client's multiprocess mode), wrk on loopback with 32 connections. Each
repetition starts the two servers one after the other (off, then on), so both see about the
same machine load; `/healthz` (the framework alone) and the code check with a
fresh code (`POST /api/v1/verify`, bench/README.md) are measured. Prints medians and the
ratio on/off."""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.run import Options, Sample, loadavg, log, twofold_server, verify_lines, wrk
from bench.seed import reset_state, seed
from twofold.config import Settings
from twofold.domain.passwords import HashParams
from twofold.storage import keyfile


def micro(n: int = 20_000) -> None:
    """The instrumentation alone, in this process: µs per request of the middleware (request
    id, timing, route label, access line) with metrics on and off, and of one observer call,
    for the two value stores of prometheus-client. No HTTP, no machine-load noise."""
    import asyncio
    import logging
    import os
    import subprocess
    import sys

    if "--micro-child" not in sys.argv:  # parent: run both stores, each in a fresh process
        print("| prometheus-client store | middleware, metrics off µs | on µs | "
              "on − off µs | observer call µs |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for store in ("memory", "files"):
            env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
            if store == "files":
                env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="twofold-bench-")
            subprocess.run([sys.executable, "-m", "bench.metrics", "--micro-child", store],
                           env=env, check=True)
        return

    from twofold.logs import configure
    from twofold.metrics import Metrics
    from twofold.web.telemetry import Telemetry

    configure("json")
    logging.getLogger("twofold").handlers[0].stream = open(os.devnull, "w")  # noqa: SIM115
    metrics = Metrics()

    class Route:
        path = "/api/v1/verify"

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        scope["route"] = Route
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"{}"})  # type: ignore[operator]

    async def drop(message: object) -> None:
        return None

    def timed(wrapped: Telemetry) -> float:
        scope = {"type": "http", "method": "POST", "path": "/api/v1/verify",
                 "headers": [(b"x-forwarded-for", b"10.0.0.1")], "client": ("127.0.0.1", 1)}

        async def loop() -> float:
            t0 = time.perf_counter()
            for _ in range(n):
                await wrapped(dict(scope), None, drop)  # type: ignore[arg-type]
            return (time.perf_counter() - t0) / n * 1e6

        return asyncio.run(loop())

    off = min(timed(Telemetry(app, None, [])) for _ in range(3))  # type: ignore[arg-type]
    on = min(timed(Telemetry(app, metrics, [])) for _ in range(3))  # type: ignore[arg-type]
    t0 = time.perf_counter()
    for _ in range(n):
        metrics.mfa_check("totp", "accepted")
    call = (time.perf_counter() - t0) / n * 1e6
    print(f"| {sys.argv[-1]} | {off:.1f} | {on:.1f} | {on - off:.1f} | {call:.2f} |")


def main() -> None:
    if "--micro" in sys.argv or "--micro-child" in sys.argv:
        micro()
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=4)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--principals", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=32)
    a = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        opts = Options(
            duration=a.duration, reps=a.reps, connections=a.connections, small=0,
            big=a.principals, pool=10_000, scale_pool=0, peer_tokens=0, out=work,
            kinds=["sqlite"], skip_peer=True,
        )
        key_file = work / "twofold.key"
        keys = keyfile.create(str(key_file))
        s = Settings()
        url = f"sqlite:///{work / 'bench.db'}"
        log(f"seeding {a.principals:,} principals ...")
        seed(url, a.principals, keys,
             HashParams(s.argon2_memory_kib, s.argon2_time_cost, s.argon2_parallelism))
        ids = random.Random(15).sample(range(1, a.principals + 1), min(a.principals, opts.pool))
        rows: list[tuple[str, int, dict[str, list[Sample]]]] = []
        for workers in (int(w) for w in a.workers.split(",")):
            runs: dict[str, dict[str, list[Sample]]] = {
                "bare endpoint (/healthz)": {"off": [], "on": []},
                "code check, fresh code": {"off": [], "on": []},
            }
            # One server at a time (as bench/run.py runs them): started afresh for each
            # repetition, off then on, so both see the same machine load.
            for rep in range(opts.reps):
                for label in ("off", "on"):
                    env = {"TWOFOLD_METRICS": "true" if label == "on" else "false"}
                    with twofold_server(url, key_file, workers, work / "logs", env) as srv:
                        for name, mode in (("bare endpoint (/healthz)", "bare"),
                                           ("code check, fresh code", "verify")):
                            time.sleep(1.0)  # let the previous run's queued requests drain
                            reset_state(url)
                            lines = verify_lines(ids) if mode == "verify" else None
                            runs[name][label].append(wrk(srv.url, mode, lines, work, opts))
                    last = runs["code check, fresh code"][label][-1]
                    log(f"  {workers}w rep {rep + 1} metrics {label}: code check "
                        f"{last.rate:.0f}/s p50 {last.p50_ms:.1f} ms, unexpected {last.bad}")
            rows += [(name, workers, by) for name, by in runs.items()]
    print(f"\n{opts.reps} × {opts.duration:.0f} s, {opts.connections} connections, SQLite, "
          f"{a.principals:,} principals, medians; load average at the end {loadavg()}\n")
    print("| measurement | workers | off: rate /s | p50 ms | p99 ms | on: rate /s | p50 ms "
          "| p99 ms | on/off rate |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, workers, by in rows:
        cells = []
        for label in ("off", "on"):
            samples = by[label]
            cells.append((statistics.median(x.rate for x in samples),
                          statistics.median(x.p50_ms for x in samples),
                          statistics.median(x.p99_ms for x in samples)))
        (r0, a0, b0), (r1, a1, b1) = cells
        bad = sum(x.bad for label in ("off", "on") for x in by[label])
        flag = f" ({bad} unexpected)" if bad else ""
        print(f"| {name}{flag} | {workers} | {r0:,.0f} | {a0:.1f} | {b0:.1f} | {r1:,.0f} | "
              f"{a1:.1f} | {b1:.1f} | {r1 / r0:.2f} |")


if __name__ == "__main__":
    main()
