"""Prometheus metrics: the services' Observer and the HTTP middleware's counters.

In one process the values live in memory. With several worker processes (`twofold serve
--workers N`, or gunicorn with PROMETHEUS_MULTIPROC_DIR set) prometheus-client's multiprocess
mode keeps them in files of that directory, one per process, and /metrics of any worker adds
them all up. The mode is chosen by the environment when prometheus-client is first imported,
so the serve command sets the variable before it starts the workers."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

# The `_created` series double the text and no dashboard reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"  # the route label of a request no route answered (404s of unknown paths)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess_dir(path: Path) -> None:
    """Create the directory (owner only) and empty it: files of an earlier run would be
    added to this one's counters."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for kind in ("counter", "gauge", "histogram", "summary"):
        for old in path.glob(f"{kind}_*.db"):
            old.unlink()


def mark_process_dead(pid: int, path: Path) -> None:
    """A worker ended: its live gauges stop counting (its counters stay in the sums, so a
    restart never makes a counter go backwards)."""
    multiprocess.mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]


class Metrics:
    """The counters and histograms of one process; also the services' Observer."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess_dir() is not None
        self.registry = CollectorRegistry()
        # Multiprocess mode: values go to files; a fresh registry reads them at each scrape.
        reg = None if self.multiprocess else self.registry
        if not self.multiprocess:
            ProcessCollector(registry=self.registry)
        self.logins = Counter(
            "twofold_logins", "Sign-in steps by result.", ["result"], registry=reg
        )
        self.mfa_checks = Counter(
            "twofold_mfa_checks", "Second-factor checks by method and result.",
            ["method", "result"], registry=reg,
        )
        self.lockouts = Counter(
            "twofold_lockouts", "Throttle locks that set in, by counter.", ["kind"], registry=reg
        )
        self.sessions = Counter(
            "twofold_sessions_created", "Signed-in sessions created.", registry=reg
        )
        self.requests = Counter(
            "twofold_http_requests", "HTTP requests by route template, method and status.",
            ["route", "method", "status"], registry=reg,
        )
        self.durations = Histogram(
            "twofold_http_request_duration_seconds", "Time to answer, by route template.",
            ["route"], buckets=BUCKETS, registry=reg,
        )
        # labels() validates and locks on every call: keep each child once made. The keys
        # are bounded (route templates, known methods, statuses, fixed results).
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # The Observer port (twofold.domain.ports.Observer).
    def login(self, result: str) -> None:
        self._child(self.logins, result).inc()

    def mfa_check(self, method: str, result: str) -> None:
        self._child(self.mfa_checks, method, result).inc()

    def lockout(self, kind: str) -> None:
        self._child(self.lockouts, kind).inc()

    def session_created(self) -> None:
        self.sessions.inc()

    def audited(self, event: Mapping[str, Any]) -> None:
        """Audit events go to the security log, not to the metrics."""

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One HTTP request answered (the middleware calls this)."""
        if method not in METHODS:
            method = "other"
        key = (route, method, status)
        pair = self._children.get(key)
        if pair is None:
            pair = self._children[key] = (
                self.requests.labels(route, method, str(status)),
                self.durations.labels(route),
            )
        pair[0].inc()
        pair[1].observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition: this process's, or every worker's summed."""
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
