"""`twofold serve --workers 2`: /metrics of any worker answers the sum over all workers
(prometheus-client's multiprocess mode), an earlier run's files are cleared at start, and a
worker that dies keeps its counts in the sum; with TWOFOLD_LOG_FORMAT=json the supervisor's
lines are JSON as well."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.live import start_server

pytestmark = pytest.mark.multiprocess

HEALTHZ = {"route": "/healthz", "method": "GET", "status": "200"}


def healthz_total(url: str) -> float:
    r = httpx.get(url + "/metrics", timeout=10)  # a new connection each time
    assert r.status_code == 200, r.text
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            if s.name == "twofold_http_requests_total" and s.labels == HEALTHZ:
                return s.value
    return 0.0


def healthz_by_pid(metrics_dir: Path) -> dict[str, float]:
    """Each worker's own count, read from its file as the collector reads it."""
    out: dict[str, float] = {}
    for f in metrics_dir.glob("counter_*.db"):
        pid = f.stem.split("_", 1)[1]
        for key, val, _ts, _pos in MmapedDict.read_all_values_from_file(str(f)):
            _metric, sample, labels, _help = json.loads(key)
            if sample == "twofold_http_requests_total" and labels == HEALTHZ:
                out[pid] = out.get(pid, 0.0) + val
    return out


def workers_of(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children += [int(x) for x in (task / "children").read_text().split()]
    tracker = b"resource_tracker"
    return [p for p in children if tracker not in Path(f"/proc/{p}/cmdline").read_bytes()]


def test_every_worker_answers_the_sum(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # An earlier run's file: its 1,000 requests must not be added to this run's.
    subprocess.run(
        [sys.executable, "-c",
         "from prometheus_client import Counter; Counter('twofold_http_requests', 'x', "
         "['route', 'method', 'status']).labels('/healthz', 'GET', '200').inc(1000)"],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}, check=True,
    )
    assert list(metrics_dir.glob("counter_*.db"))
    server = start_server(
        f"sqlite:///{tmp_path / 'twofold.db'}", tmp_path / "twofold.key", tmp_path / "logs",
        workers=2, startup=90,  # two workers start slowly on a loaded machine
        extra_env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "TWOFOLD_LOG_FORMAT": "json"},
    )
    try:
        deadline = time.monotonic() + 90
        while len(workers_of(server.process.pid)) < 2 or len(healthz_by_pid(metrics_dir)) < 2:
            assert time.monotonic() < deadline, f"both workers never answered:\n{server.log()}"
            with ThreadPoolExecutor(8) as pool:  # parallel connections reach both workers
                codes = list(pool.map(
                    lambda _: httpx.get(server.url + "/healthz", timeout=10).status_code,
                    range(40),
                ))
            assert set(codes) == {200}
        per_worker = healthz_by_pid(metrics_dir)
        total = sum(per_worker.values())
        assert all(v > 0 for v in per_worker.values()) and len(per_worker) == 2
        for _ in range(8):  # whichever worker answers, it answers the sum
            assert healthz_total(server.url) == total

        # A worker killed outright: uvicorn starts another; the dead one's counts stay.
        victim = workers_of(server.process.pid)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 90
        while victim in workers_of(server.process.pid) or len(
            workers_of(server.process.pid)
        ) < 2:
            assert time.monotonic() < deadline, f"no new worker:\n{server.log()}"
            time.sleep(0.5)
        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
        assert healthz_total(server.url) == total + 1
    finally:
        server.kill(signal.SIGTERM)
    assert metrics_dir.is_dir()  # the operator's directory is kept (emptied at the next start)
    # JSON logs under the supervisor too: its lines and every worker's, the restart included.
    records = [json.loads(line) for line in server.log().splitlines()]
    assert any(r["event"].startswith("Started parent process") for r in records)
    assert any(r["event"] == f"Child process [{victim}] died" for r in records)
