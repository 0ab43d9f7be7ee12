"""Run every Twofold measurement of issue 6 in one go; print one table, write JSON and a PNG.

    python -m bench.run            # the full run (about 15 minutes on the 2-core machine)
    python -m bench.run --quick    # a smoke run: short durations, 20,000 principals

Load comes from wrk (a separate process, on loopback) with bench/lua/load.lua. See
bench/README.md for what each measurement means and how replay protection is handled.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher, Type
from tests.live import free_port

from bench import peer
from bench.seed import (
    PASSWORD,
    create_pg_database,
    login_of,
    reset_state,
    secret_bytes,
    seed,
    token_of,
)
from twofold.config import Settings
from twofold.domain.passwords import HashParams
from twofold.storage import keyfile

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "lua" / "load.lua"
PG_ADMIN = os.environ.get("TWOFOLD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def hotp(key: bytes, counter: int) -> str:
    digest = hmac.new(key, counter.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = digest[-1] & 15
    value = (int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF) % 1_000_000
    return f"{value:06d}"


def current_step() -> int:
    return int(time.time()) // 30


@dataclass
class Options:
    duration: float
    reps: int
    connections: int
    small: int
    big: int
    pool: int
    scale_pool: int
    peer_tokens: int
    out: Path
    kinds: list[str]
    skip_peer: bool
    # wrk's threads: on this 2-core machine every thread beyond the cores the server leaves
    # idle is descheduled now and then, and its connections' answers wait in the socket
    # buffer meanwhile: they are counted as the server's latency (bench/README.md, p99).
    load_threads: int = 2


@dataclass
class Sample:
    ok: int
    bad: int
    elapsed_s: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return (self.ok + self.bad) / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class Result:
    config: str  # "sqlite-1w", "sqlite-2w", "postgresql-2w"
    name: str
    samples: list[Sample] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def median(self, attr: str) -> float:
        values = [s.rate if attr == "rate" else getattr(s, attr) for s in self.samples]
        return statistics.median(values) if values else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "name": self.name,
            "rate_per_s": round(self.median("rate"), 1),
            "p50_ms": round(self.median("p50_ms"), 2),
            "p99_ms": round(self.median("p99_ms"), 2),
            "unexpected": sum(s.bad for s in self.samples),
            "samples": [s.__dict__ | {"rate": round(s.rate, 1)} for s in self.samples],
            **self.extra,
        }


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", flush=True)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# ---------------------------------------------------------------------------- wrk


def wrk(
    url: str, mode: str, lines: list[str] | None, work: Path, opts: Options,
    *, duration: float | None = None, expect: int = 200,
) -> Sample:
    threads = opts.connections if mode == "full" else opts.load_threads
    path = "-"
    if lines is not None:
        file = work / f"lines-{mode}.tsv"
        file.write_text("\n".join(lines) + "\n")
        path = str(file)
    cmd = [
        "wrk", "-t", str(threads), "-c", str(opts.connections),
        "-d", f"{int(duration or opts.duration)}s", "--timeout", "10s",
        "-s", str(LUA), url, "--", mode, path, str(threads), str(expect),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    data = json.loads(line[6:])
    return Sample(data["ok"], data["bad"], data["elapsed_s"], data["p50_ms"], data["p99_ms"])


def verify_lines(ids: list[int], *, wrong: bool = False) -> list[str]:
    """Two passes over the pool: every device's code of this step, then of the next.

    Both are inside the accepted window (±1 step) until the end of the next step, so a run
    of under 25 s started now never sends a code the server may reject as stale, and each
    device sees each step once: every accepted code is a fresh one.
    """
    step = current_step()
    if time.time() % 30 > 28:  # too close to the edge: begin in the next step
        time.sleep(2.5)
        step = current_step()
    out = []
    for s in ((step,) if wrong else (step, step + 1)):
        for i in ids:
            code = hotp(secret_bytes(i), s)
            if wrong:
                code = f"{(int(code) + 500_000) % 1_000_000:06d}"
            out.append(f"{token_of(i)}\t{code}")
    return out


def full_login_lines(ids: list[int]) -> list[str]:
    step = current_step()
    return [f"{login_of(i)}\t{PASSWORD}\t{hotp(secret_bytes(i), s)}"
            for s in (step, step + 1) for i in ids]


# ---------------------------------------------------------------------------- servers


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def rss_mib(self) -> dict[str, float]:
        """Resident size of the serving processes (the uvicorn workers; with one worker
        uvicorn serves in its main process)."""
        pid = self.process.pid
        children = _children(pid)
        pids = children or [pid]
        return {str(p): round(_rss_kib(p) / 1024, 1) for p in pids}


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text().split()
        out += [int(x) for x in text]
    # uvicorn's multiprocess supervisor also starts a resource tracker; keep the workers only
    return [p for p in out if b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextmanager
def twofold_server(
    db_url: str, key_file: Path, workers: int, logs: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    port = free_port()
    env = {
        **os.environ,
        "TWOFOLD_DATABASE_URL": db_url,
        "TWOFOLD_KEY_FILE": str(key_file),
        "TWOFOLD_ENV": "development",
        # Throughput runs: 32 connections from one address, on purpose. Flood limits and
        # load shedding are measured on their own by bench/flood.py.
        "TWOFOLD_RATE_LIMITS": "off",
        "TWOFOLD_ARGON2_MAX_QUEUE": "64",
        **(extra_env or {}),
    }
    logs.mkdir(parents=True, exist_ok=True)
    fh = (logs / f"twofold-{port}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "twofold", "serve", "--port", str(port),
         "--workers", str(workers)],
        env=env, stdout=fh, stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", proc)
    try:
        wait_ready(server.url + "/readyz", proc)
        yield server
    finally:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        log(f"  server stopped on SIGTERM: exit {code} in {time.monotonic() - started:.1f} s")


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early ({proc.returncode}); see bench/results logs")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready")


# ---------------------------------------------------------------------------- argon2


def _hash_loop(args: tuple[HashParams, str, float]) -> int:
    params, stored, seconds = args
    hasher = PasswordHasher(
        time_cost=params.time_cost, memory_cost=params.memory_kib,
        parallelism=params.parallelism, type=Type.ID,
    )
    count, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        hasher.verify(stored, PASSWORD)
        count += 1
    return count


def argon2_rate(params: HashParams, processes: int, seconds: float) -> float:
    """Verifications per second of the configured parameters with `processes` in parallel."""
    stored = PasswordHasher(
        time_cost=params.time_cost, memory_cost=params.memory_kib,
        parallelism=params.parallelism, type=Type.ID,
    ).hash(PASSWORD)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        counts = pool.map(_hash_loop, [(params, stored, seconds)] * processes)
    return sum(counts) / seconds


# ---------------------------------------------------------------------------- the run


def measure_twofold(
    results: list[Result], config: str, url: str, n: int, size: str, opts: Options,
    work: Path, key_file: Path, workers: int,
) -> None:
    rng = random.Random(f"{config}-{size}")
    pool_ids = rng.sample(range(1, n + 1), min(n, opts.pool))
    scale_ids = rng.sample(range(1, n + 1), min(n, opts.scale_pool))
    login_lines = [f"{login_of(i)}\t{PASSWORD}" for i in rng.sample(range(1, n + 1), min(n, 5000))]
    with twofold_server(url, key_file, workers, work / "logs") as srv:
        def run(name: str, mode: str, make_lines: Any, **kw: Any) -> Result:
            res = Result(config, name)
            for _ in range(opts.reps):
                time.sleep(1.0)  # let the previous run's queued requests drain
                reset_state(url)
                res.samples.append(wrk(srv.url, mode, make_lines(), work, opts, **kw))
            res.extra["load"] = loadavg()
            results.append(res)
            r = res.as_json()
            log(f"  {config} {name}: {r['rate_per_s']}/s p50 {r['p50_ms']} ms "
                f"p99 {r['p99_ms']} ms unexpected {r['unexpected']} (load {res.extra['load']})")
            return res

        scale_duration = min(opts.duration, 5)
        if size == "big":
            run("bare endpoint (/healthz)", "bare", lambda: None)
            run("code check, fresh code", "verify", lambda: verify_lines(pool_ids))
            run("code check, wrong code", "verify",
                lambda: verify_lines(pool_ids, wrong=True), expect=401)
            run("password login", "login", lambda: login_lines)
            run("full login (password + code)", "full", lambda: full_login_lines(pool_ids))
        label = f"{n:,}"
        run(f"scale: code check, {label} principals", "verify",
            lambda: verify_lines(scale_ids), duration=scale_duration)
        run(f"scale: password login, {label} principals", "login", lambda: login_lines,
            duration=scale_duration)
        mem = Result(config, f"memory after the run ({label})")
        mem.extra["rss_mib_per_worker"] = srv.rss_mib()
        results.append(mem)
        log(f"  {config} RSS MiB per worker: {mem.extra['rss_mib_per_worker']}")


def measure_peer(
    results: list[Result], config: str, kind: str, workers: int, opts: Options, work: Path,
) -> None:
    name = "privacyIDEA /validate/check, fresh code"
    try:
        with peer.privacyidea_server(kind, workers, work / "privacyidea", opts.peer_tokens,
                                     PG_ADMIN) as pi:
            res = Result(config, name)
            for _ in range(opts.reps):
                pi.reset()
                step = current_step()
                lines = [f"{pi.serial(i)}\t{hotp(pi.secret(i), s)}"
                         for s in (step, step + 1) for i in range(opts.peer_tokens)]
                res.samples.append(wrk(pi.url, "pi", lines, work, opts))
            res.extra["load"] = loadavg()
            results.append(res)
            r = res.as_json()
            log(f"  {config} {name}: {r['rate_per_s']}/s p50 {r['p50_ms']} ms "
                f"p99 {r['p99_ms']} ms unexpected {r['unexpected']}")
    except peer.PeerUnavailable as exc:
        log(f"  privacyIDEA not measured: {exc}")
        res = Result(config, name)
        res.extra["unavailable"] = str(exc)
        results.append(res)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short smoke run")
    ap.add_argument("--duration", type=float, help="seconds per repetition (default 8)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--big", type=int, help="principals in the large data set (1,000,000)")
    ap.add_argument("--kinds", default="sqlite,postgresql")
    ap.add_argument("--skip-peer", action="store_true", help="do not run privacyIDEA")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    a = ap.parse_args(argv)
    quick = a.quick
    opts = Options(
        duration=a.duration or (3 if quick else 8),
        reps=a.reps,
        connections=a.connections,
        small=1000,
        big=a.big or (20_000 if quick else 1_000_000),
        pool=10_000 if quick else 30_000,
        scale_pool=1000,
        peer_tokens=300 if quick else 1000,
        out=a.out,
        kinds=a.kinds.split(","),
        skip_peer=a.skip_peer,
    )
    if opts.duration > 25:
        ap.error("--duration must stay under 25 s: the codes sent are of this step and the next")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = opts.out / stamp
    work.mkdir(parents=True, exist_ok=True)
    key_file = work / "twofold.key"
    keys = keyfile.create(str(key_file))  # a new directory: a new key file
    s = Settings()
    params = HashParams(s.argon2_memory_kib, s.argon2_time_cost, s.argon2_parallelism)
    log(f"bench {stamp}: {opts}; argon2 {params}; load {loadavg()}; cpus {os.cpu_count()}")
    started = time.monotonic()
    results: list[Result] = []

    for procs in (1, 2):
        res = Result(f"argon2-{procs}p", "raw argon2 verify (configured parameters)")
        for _ in range(opts.reps):
            rate = argon2_rate(params, procs, min(opts.duration, 5))
            res.samples.append(Sample(int(rate * 1000), 0, 1000.0, 0.0, 0.0))
        results.append(res)
        log(f"  argon2 x{procs}: {res.median('rate'):.1f} verifications/s")

    for kind in opts.kinds:
        urls: dict[str, tuple[str, int]] = {}
        for size, n in (("small", opts.small), ("big", opts.big)):
            if kind == "sqlite":
                path = work / f"twofold-{size}.db"
                url = f"sqlite:///{path}"
            else:
                url = create_pg_database(PG_ADMIN, f"twofold_bench_{size}")
            log(f"seeding {kind} with {n:,} principals, devices and sessions ...")
            took = seed(url, n, keys, params)
            log(f"  seeded in {took:.1f} s")
            urls[size] = (url, n)
        for workers in ((1, 2) if kind == "sqlite" else (2,)):
            config = f"{kind}-{workers}w"
            log(f"== {config}")
            for size in ("big", "small"):
                url, n = urls[size]
                measure_twofold(results, config, url, n, size, opts, work, key_file, workers)
            if not opts.skip_peer:
                measure_peer(results, config, kind, workers, opts, work)

    took = time.monotonic() - started
    report = {
        "stamp": stamp,
        "options": {k: str(v) for k, v in opts.__dict__.items()},
        "argon2": params.__dict__,
        "cpus": os.cpu_count(),
        "load_at_end": loadavg(),
        "seconds": round(took),
        "results": [r.as_json() for r in results],
    }
    from bench import report as rep

    table = rep.table(report)
    (work / "results.json").write_text(json.dumps(report, indent=2))
    (work / "table.md").write_text(table)
    rep.chart(report, work / "chart.png")
    print(table)
    log(f"wrote {work}/results.json, table.md and chart.png in {took / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
