"""Forward-auth next to a bare sync endpoint, same server, same run (issue 12):

    python -m bench.forward_auth [--duration 5] [--reps 3] [--connections 32]
                                 [--database sqlite|postgresql]

One `twofold serve` worker on SQLite (WAL) or PostgreSQL (TWOFOLD_BENCH_PG's server), wrk on
loopback with 32 connections: a bare sync FastAPI endpoint (bench/bare_app.py, its own
uvicorn worker), `GET /healthz`, then `GET /api/v1/authz/auth-request?app=…` with a bearer
token and with the console's session cookie. Prints the median rate and p50/p99 of each, and
the ratio to the bare endpoint (goal: at least 0.50)."""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from tests.live import free_port

from bench.run import PG_ADMIN, twofold_server, wait_ready
from bench.seed import PASSWORD, create_pg_database


@contextmanager
def _stopping(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise RuntimeError(f"wrk printed a latency this bench cannot read: {text!r}")
    number, unit = match.groups()
    return float(number) * _UNITS[unit]


def wrk(url: str, header: str | None, seconds: int, connections: int) -> tuple[float, float, float]:
    cmd = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency",
           "--timeout", "10s"]
    if header:
        cmd += ["-H", header]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx answers from {url}:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    return rate, p50, p99


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if opts.database == "sqlite":
            db = f"sqlite:///{work / 'bench.db'}"
        else:
            db = create_pg_database(PG_ADMIN, "twofold_bench_forward_auth")
        subprocess.run(["twofold", "db", "upgrade"], check=True, capture_output=True,
                       env={"TWOFOLD_DATABASE_URL": db, "TWOFOLD_KEY_FILE": str(work / "k"),
                            "PATH": str(Path(__file__).resolve().parents[1] / ".venv/bin")})
        bare_port = free_port()
        bare_proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(bare_port),
             "--workers", "1", "--log-level", "warning"],
        )
        bare_url = f"http://127.0.0.1:{bare_port}/bare"
        with _stopping(bare_proc), twofold_server(db, work / "k", 1, work / "logs") as server:
            wait_ready(bare_url, bare_proc)
            api = server.url + "/api/v1"
            httpx.post(f"{api}/accounts", json={"name": "acme", "email": "o@acme.example",
                                                 "password": PASSWORD}).raise_for_status()
            token = httpx.post(f"{api}/login", json={"login": "acme", "password": PASSWORD}
                               ).json()["token"]
            app = httpx.post(f"{api}/applications", headers={"Authorization": f"Bearer {token}"},
                             json={"name": "Bench", "redirect_uris": ["https://a.example/"]}
                             ).json()["client_id"]
            runs = {
                "bare sync FastAPI endpoint": (bare_url, None),
                "GET /healthz (async, same server)": (server.url + "/healthz", None),
                "forward-auth, bearer": (f"{api}/authz/auth-request?app={app}",
                                         f"Authorization: Bearer {token}"),
                "forward-auth, cookie": (f"{api}/authz/auth-request?app={app}",
                                         f"Cookie: twofold_session={token}"),
            }
            results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in runs}
            for _ in range(opts.reps):
                for name, (url, header) in runs.items():
                    results[name].append(wrk(url, header, opts.duration, opts.connections))
    bare = statistics.median(r[0] for r in results["bare sync FastAPI endpoint"])
    print(f"| measurement | req/s | p50 ms | p99 ms | vs bare |  ({opts.connections} "
          f"connections, 1 worker, {opts.database}, median of {opts.reps} × {opts.duration} s)")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, samples in results.items():
        rate = statistics.median(s[0] for s in samples)
        p50 = statistics.median(s[1] for s in samples)
        p99 = statistics.median(s[2] for s in samples)
        print(f"| {name} | {rate:,.0f} | {p50:.1f} | {p99:.1f} | {rate / bare:.2f} |")


if __name__ == "__main__":
    main()
