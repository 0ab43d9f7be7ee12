"""The hot paths side by side in one run, as ratios to `/healthz` of the same server.

    python -m bench.hot                       # SQLite, 1 and 2 workers, 3 s repetitions
    python -m bench.hot --kinds sqlite,postgresql --duration 3 --reps 3

A short run for before/after comparisons on a shared, noisy machine: absolute rates move
with the other load, ratios to the bare endpoint measured moments apart move much less.
Measures `/healthz`, the code check (`POST /verify`, fresh codes), `GET /me`, password
login, and the RSS of each worker. With each rate, the CPU per request of the server, of
PostgreSQL and of the load generator, and the cores the three kept busy at that rate: on a
2-core machine a configuration at 2 cores busy has no more to gain from another worker.
bench/README.md ("Issue 16") has the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import asyncio_client
from bench.run import (
    LUA,
    PG_ADMIN,
    ROOT,
    Options,
    Result,
    loadavg,
    log,
    twofold_server,
    verify_lines,
    wrk,
)
from bench.seed import PASSWORD, create_pg_database, login_of, reset_state, seed, token_of
from twofold.config import Settings
from twofold.domain.passwords import HashParams
from twofold.storage import keyfile

assert LUA.exists()
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[str]) -> float:
    """User + system CPU time of the serving processes: CPU per request holds up on a
    loaded machine, where rates and latencies move with the other load."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def client_cpu() -> float:
    """CPU seconds (user + system) of the load generator so far: wrk, a child waited for,
    or the asyncio client, which runs in this process. It shares the machine's cores with
    the server, so the three together tell how busy the cores were (bench/README.md)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def database_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of every PostgreSQL server process, by pid: on a 2-core
    machine the database's backends share the cores with the workers, which bounds what a
    second worker can add (bench/README.md). A backend started during a run counts from 0."""
    used: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        name, _, rest = text.partition(" (")[2].partition(")")
        if name.startswith("postgres"):
            fields = rest.split()
            used[stat.parent.name] = (int(fields[11]) + int(fields[12])) / _TICK
    return used


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--principals", type=int, default=5000)
    ap.add_argument("--kinds", default="sqlite")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument(
        "--wrk-threads", type=int, default=1,
        help="wrk's threads: 1 leaves a core to a 1-worker server (bench/README.md, p99)",
    )
    ap.add_argument("--no-login", action="store_true", help="skip password login (argon2)")
    ap.add_argument("--no-wrong", action="store_true", help="skip the wrong-code check")
    ap.add_argument(
        "--second-client", action="store_true",
        help="run the code check and GET /me again with bench/asyncio_client.py, beside wrk",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    a = ap.parse_args(argv)
    n = a.principals
    opts = Options(
        duration=a.duration,
        reps=a.reps,
        connections=a.connections,
        small=n,
        big=n,
        pool=n,
        scale_pool=n,
        peer_tokens=0,
        out=a.out,
        kinds=a.kinds.split(","),
        skip_peer=True,
        load_threads=a.wrk_threads,
    )
    work = a.out / ("hot-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
    work.mkdir(parents=True, exist_ok=True)
    key_file = work / "twofold.key"
    keys = keyfile.create(str(key_file))
    s = Settings()
    params = HashParams(s.argon2_memory_kib, s.argon2_time_cost, s.argon2_parallelism)
    rows: list[dict[str, object]] = []
    for kind in opts.kinds:
        if kind == "sqlite":
            url = f"sqlite:///{work / 'hot.db'}"
        else:
            url = create_pg_database(PG_ADMIN, "twofold_bench_hot")
        seed(url, n, keys, params)
        ids = list(range(1, n + 1))
        random.Random(1).shuffle(ids)
        me_lines = [token_of(i) for i in ids[:2000]]
        login_lines = [f"{login_of(i)}\t{PASSWORD}" for i in ids[:2000]]
        for workers in [int(w) for w in a.workers.split(",")]:
            config = f"{kind}-{workers}w"
            with twofold_server(url, key_file, workers, work / "logs") as srv:
                measured: dict[str, Result] = {}
                cpu: dict[str, float] = {}
                db_cpu: dict[str, float] = {}
                load_cpu: dict[str, float] = {}
                pids = list(srv.rss_mib())

                def run(
                    name: str, mode: str, lines: object, expect: int = 200, client: str = "wrk"
                ) -> None:
                    res = Result(config, name)  # noqa: B023
                    used, served, db_used, client_used = 0.0, 0, 0.0, 0.0
                    for _ in range(opts.reps):
                        time.sleep(0.5)
                        reset_state(url)  # noqa: B023
                        made = lines() if callable(lines) else lines
                        before, db_before = cpu_seconds(pids), database_cpu()  # noqa: B023
                        client_before = client_cpu()
                        if client == "wrk":
                            sample = wrk(srv.url, mode, made, work, opts, expect=expect)  # noqa: B023
                        else:
                            sample = asyncio_client.load(
                                srv.url, mode, made, connections=opts.connections,  # noqa: B023
                                duration=opts.duration, expect=expect,
                            )
                        client_used += client_cpu() - client_before
                        used += cpu_seconds(pids) - before  # noqa: B023
                        db_after = database_cpu()
                        db_used += sum(v - db_before.get(k, 0.0) for k, v in db_after.items())
                        served += sample.ok + sample.bad
                        res.samples.append(sample)
                    measured[name] = res  # noqa: B023
                    cpu[name] = used / served * 1e6 if served else 0.0  # noqa: B023
                    db_cpu[name] = db_used / served * 1e6 if served else 0.0  # noqa: B023
                    load_cpu[name] = client_used / served * 1e6 if served else 0.0  # noqa: B023

                run("bare", "bare", None)
                run("code check", "verify", lambda: verify_lines(ids[: min(n, 20000)]))
                run("GET /me", "me", me_lines)
                if a.second_client:
                    run(
                        "code check, asyncio client", "verify",
                        lambda: verify_lines(ids[: min(n, 20000)]), client="asyncio",
                    )
                    run("GET /me, asyncio client", "me", me_lines, client="asyncio")
                if not a.no_wrong:
                    run(
                        "code check, wrong",
                        "verify",
                        lambda: verify_lines(ids[:5000], wrong=True),
                        expect=401,
                    )
                if not a.no_login:
                    run("password login", "login", login_lines)
                bare = measured["bare"].median("rate")
                # Right after the last run a worker may still be hashing queued logins (two
                # argon2 buffers of 19 MiB, mapped while in use): settled is 3 s later.
                busy = srv.rss_mib()
                time.sleep(3)
                rss = srv.rss_mib()
                for name, res in measured.items():
                    rate = res.median("rate")
                    server_side_db = db_cpu[name] if kind != "sqlite" else 0.0  # noqa: B023
                    row = {
                        "config": config,
                        "name": name,
                        "rate": round(rate),
                        "ratio": round(rate / bare, 3) if bare else None,
                        "p50_ms": round(res.median("p50_ms"), 1),
                        "p99_ms": round(res.median("p99_ms"), 1),
                        "unexpected": sum(x.bad for x in res.samples),
                        "cpu_us": round(cpu[name]),
                        "cpu_ratio": round(cpu[name] / cpu["bare"], 1) if cpu["bare"] else None,
                        "db_cpu_us": round(db_cpu[name]) if kind != "sqlite" else None,  # noqa: B023
                        "load_cpu_us": round(load_cpu[name]),
                        # cores busy: server, database (PostgreSQL's; on SQLite it is in
                        # the server) and load generator, at this rate
                        "cores": round(
                            rate * (cpu[name] + server_side_db + load_cpu[name]) / 1e6, 2
                        ),
                    }
                    rows.append(row)
                    log(json.dumps(row))
                rows.append({"config": config, "name": "rss MiB", "rss": rss, "busy": busy})
                log(f"{config} rss {rss} (right after the runs {busy}) load {loadavg()}")
    (work / "hot.json").write_text(json.dumps(rows, indent=2))
    print(
        "| config | measurement | rate /s | ratio to /healthz | p50 ms | p99 ms "
        "| server CPU µs/request | CPU × /healthz | PostgreSQL CPU µs/request "
        "| load generator CPU µs/request | cores busy |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        if "rss" in r:
            print(f"| {r['config']} | RSS MiB per worker, settled | {r['rss']} |" + " |" * 8)
            print(f"| {r['config']} | RSS MiB per worker, right after | {r['busy']} |" + " |" * 8)
        else:
            print(
                f"| {r['config']} | {r['name']} | {r['rate']:,} | {r['ratio']} | "
                f"{r['p50_ms']} | {r['p99_ms']} | {r['cpu_us']} | {r['cpu_ratio']} | "
                f"{'' if r['db_cpu_us'] is None else r['db_cpu_us']} | "
                f"{r['load_cpu_us']} | {r['cores']} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
