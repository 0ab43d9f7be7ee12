"""Real server processes (uvicorn, as `twofold serve` runs it) for multi-process tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port free on loopback now (for a server the test or the bench starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return self.url + "/api/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the server (uvicorn's supervisor), wait for it, then end whatever of its
        process group is left: a SIGKILLed supervisor leaves its workers running."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def server_env(db_url: str, key_file: Path, **extra: str) -> dict[str, str]:
    """The environment `start_server` gives a server, for running `twofold` commands."""
    return {**os.environ, "TWOFOLD_DATABASE_URL": db_url, "TWOFOLD_KEY_FILE": str(key_file),
            "TWOFOLD_ENV": "test", **extra}


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`twofold ARGS...` in its own process."""
    return subprocess.run([sys.executable, "-m", "twofold", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def start_server(
    db_url: str,
    key_file: Path,
    log_dir: Path,
    *,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    port: int | None = None,
    argv_prefix: list[str] | None = None,
    startup: float = 30,
) -> LiveServer:
    """Start `twofold serve` in its own process and wait (up to `startup` seconds) until
    /healthz answers."""
    port = port or free_port()
    env = {
        **os.environ,
        "TWOFOLD_DATABASE_URL": db_url,
        "TWOFOLD_KEY_FILE": str(key_file),
        "TWOFOLD_ENV": "test",
        "TWOFOLD_ARGON2_MEMORY_KIB": "1024",
        "TWOFOLD_ARGON2_TIME_COST": "1",
        "TWOFOLD_RATE_LIMITS": "off",
        "TWOFOLD_ARGON2_MAX_QUEUE": "64",
        **(extra_env or {}),
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"server-{port}.log"
    fh = log_path.open("wb")
    proc = subprocess.Popen(
        [*(argv_prefix or []), sys.executable, "-m", "twofold", "serve", "--port", str(port),
         "--workers", str(workers)],
        env=env,
        stdout=fh,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, workers included: see kill()
    )
    server = LiveServer(f"http://127.0.0.1:{port}", proc, log_path, env)
    deadline = time.monotonic() + startup
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"server did not start:\n{server.log()}")


@contextmanager
def live_servers(
    db_url: str, key_file: Path, log_dir: Path, count: int = 2, **kw: object
) -> Iterator[list[LiveServer]]:
    """`count` separate server processes on one database and one key file."""
    servers: list[LiveServer] = []
    try:
        for _ in range(count):
            servers.append(start_server(db_url, key_file, log_dir, **kw))  # type: ignore[arg-type]
        yield servers
    finally:
        for s in servers:
            s.kill(signal.SIGTERM)
