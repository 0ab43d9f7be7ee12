"""The cost of metrics on the code check: the same server with TWOFOLD_METRICS on and off,
side by side in one run (issue 15):

    python -m bench.metrics [--duration 4] [--reps 3] [--workers 1,2] [--principals 20000]

SQLite (WAL), one seeded data set, two `twofold serve` processes per worker count (metrics
off, metrics on; with 2 workers "on" runs prometheus-client's multiprocess mode), wrk on
loopback with 32 connections. Each repetition runs both servers back to back (off, then on),
so both see the same machine load; `/healthz` (the framework alone) and the code check with a
fresh code (`POST /api/v1/verify`, bench/README.md) are measured. Prints medians and the
ratio on/off."""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from pathlib import Path

from bench.run import Options, Sample, loadavg, log, twofold_server, verify_lines, wrk
from bench.seed import reset_state, seed
from twofold.config import Settings
from twofold.domain.passwords import HashParams
from twofold.storage import keyfile


def main() -> None:
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
            with twofold_server(url, key_file, workers, work / "logs",
                                {"TWOFOLD_METRICS": "false"}) as off, \
                    twofold_server(url, key_file, workers, work / "logs",
                                   {"TWOFOLD_METRICS": "true"}) as on:
                servers = {"off": off, "on": on}
                for rep in range(opts.reps):
                    for label, srv in servers.items():
                        reset_state(url)
                        runs["bare endpoint (/healthz)"][label].append(
                            wrk(srv.url, "bare", None, work, opts))
                        reset_state(url)
                        runs["code check, fresh code"][label].append(
                            wrk(srv.url, "verify", verify_lines(ids), work, opts))
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
