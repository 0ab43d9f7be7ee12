"""`twofold serve --workers N`: uvicorn's supervisor, with the metrics directory kept.

prometheus-client's multiprocess mode keeps each worker's values in files of one directory
(PROMETHEUS_MULTIPROC_DIR), which /metrics of any worker adds up. The serve command owns the
directory: it empties it at start (an earlier run's counts would be added in), and tells the
library when a worker died, so a restarted worker's live gauges do not count twice."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from uvicorn import Config, Server
from uvicorn.supervisors import Multiprocess

from twofold.metrics import MULTIPROC_ENV, mark_process_dead, prepare_multiprocess_dir


def serves_multiprocess(metrics: bool, workers: int) -> bool:
    """Several workers, or the operator chose a directory (then even one worker uses it)."""
    return metrics and (workers > 1 or bool(os.environ.get(MULTIPROC_ENV)))


@contextmanager
def metrics_directory(wanted: bool) -> Iterator[Path | None]:
    """PROMETHEUS_MULTIPROC_DIR for the workers: the operator's, emptied, or a private
    temporary one removed at exit. Set in the environment the workers inherit. None when
    not `wanted` (metrics off, or one worker keeping its values in memory)."""
    if not wanted:
        yield None
        return
    given = os.environ.get(MULTIPROC_ENV)
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix="twofold-metrics-"))
    prepare_multiprocess_dir(path)
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        if not given:
            shutil.rmtree(path, ignore_errors=True)
            os.environ.pop(MULTIPROC_ENV, None)


class _Supervisor(Multiprocess):
    """uvicorn's supervisor (restarts a worker that died), marking dead workers' files."""

    metrics_dir: Path | None = None

    def _mark_replaced(self, before: set[int | None]) -> None:
        if self.metrics_dir is None:
            return
        for pid in before - {p.pid for p in self.processes}:
            if pid is not None:
                mark_process_dead(pid, self.metrics_dir)

    def keep_subprocess_alive(self) -> None:
        before = {p.pid for p in self.processes}
        super().keep_subprocess_alive()
        self._mark_replaced(before)

    def restart_all(self) -> None:
        before = {p.pid for p in self.processes}
        super().restart_all()
        self._mark_replaced(before)


def run_workers(config: Config, metrics_dir: Path | None) -> None:
    """What uvicorn.run does for workers > 1, with the supervisor above."""
    Server(config=config)  # uvicorn.run makes one too; the workers make their own
    sock = config.bind_socket()
    supervisor = _Supervisor(config, sockets=[sock])
    supervisor.metrics_dir = metrics_dir
    with suppress(KeyboardInterrupt):
        supervisor.run()
