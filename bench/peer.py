"""privacyIDEA, the peer: installed from PyPI into bench/.venv-privacyidea (by `make bench`),
configured on the same database kind, TOTP tokens imported in bulk (pi-manage token import),
served by gunicorn with the same number of worker processes, loaded at /validate/check.

Nothing of privacyIDEA is committed; this module only drives its own command-line tools.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from tests.live import free_port

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venv-privacyidea"
_KEY = b"twofold-bench-privacyidea"


class PeerUnavailable(Exception):
    """privacyIDEA cannot be installed or run here; the message says why."""


@dataclass
class Peer:
    url: str
    kind: str
    db: str

    @staticmethod
    def serial(i: int) -> str:
        return f"PIBENCH{i:06d}"

    @staticmethod
    def secret(i: int) -> bytes:
        return hmac.new(_KEY, str(i).encode(), hashlib.sha1).digest()

    def reset(self) -> None:
        """Forget used OTP counters and failures (replay protection, as for Twofold)."""
        sql = "UPDATE token SET count = 0, failcount = 0, locked = false"
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.db, timeout=30)
            conn.execute(sql)
            conn.execute("DELETE FROM pidea_audit")
            conn.commit()
            conn.close()
        else:
            with psycopg.connect(self.db) as conn:
                conn.execute(sql)
                conn.execute("DELETE FROM pidea_audit")


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> None:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PeerUnavailable(f"{' '.join(cmd[:3])} failed: {proc.stderr.strip()[-400:]}")


def _configure(kind: str, home: Path, tokens: int, pg_admin: str) -> tuple[dict[str, str], str]:
    home.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        db = str(home / "pi.sqlite")
        uri = f"sqlite:///{db}"
    else:
        name = "privacyidea_bench"
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        db = pg_admin.rsplit("/", 1)[0] + "/" + name
        uri = db.replace("postgresql://", "postgresql+psycopg2://")
    cfg = home / "pi.cfg"
    cfg.write_text(
        f"SQLALCHEMY_DATABASE_URI = {uri!r}\n"
        "SECRET_KEY = 'bench-only-secret-key'\n"
        "PI_PEPPER = 'bench-only-pepper'\n"
        f"PI_ENCFILE = {str(home / 'enckey')!r}\n"
        f"PI_AUDIT_KEY_PRIVATE = {str(home / 'private.pem')!r}\n"
        f"PI_AUDIT_KEY_PUBLIC = {str(home / 'public.pem')!r}\n"
        f"PI_LOGFILE = {str(home / 'privacyidea.log')!r}\n"
        "PI_LOGLEVEL = 30\n"
    )
    env = {**os.environ, "PRIVACYIDEA_CONFIGFILE": str(cfg)}
    if not (home / "ready").exists():
        manage = str(VENV / "bin" / "pi-manage")
        for f in ("enckey", "private.pem", "public.pem"):
            (home / f).unlink(missing_ok=True)
        _run([manage, "setup", "create_enckey"], env, home)
        _run([manage, "setup", "create_audit_keys"], env, home)
        _run([manage, "setup", "create_tables"], env, home)
        if kind == "sqlite":  # WAL, as Twofold runs SQLite: privacyIDEA's better mode here
            conn = sqlite3.connect(db)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.close()
        csv = home / "tokens.csv"
        csv.write_text("".join(
            f"{Peer.serial(i)}, {Peer.secret(i).hex()}, totp, 6, 30\n" for i in range(tokens)
        ))
        _run([manage, "token", "import", str(csv)], env, home)
        (home / "ready").write_text("ok")
    return env, db


@contextmanager
def privacyidea_server(
    kind: str, workers: int, home: Path, tokens: int, pg_admin: str
) -> Iterator[Peer]:
    if not (VENV / "bin" / "gunicorn").exists() or not (VENV / "bin" / "pi-manage").exists():
        raise PeerUnavailable(f"{VENV} lacks privacyidea or gunicorn: run `make bench-peer`")
    home = home / kind
    env, db = _configure(kind, home, tokens, pg_admin)
    port = free_port()
    app = (
        "privacyidea.app:create_app(config_name='production', "
        f"config_file={env['PRIVACYIDEA_CONFIGFILE']!r}, silent=True)"
    )
    log = (home / f"gunicorn-{port}.log").open("wb")
    proc = subprocess.Popen(
        [str(VENV / "bin" / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--backlog", "2048", app],
        env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise PeerUnavailable(f"gunicorn exited ({proc.returncode}); see {log.name}")
            try:
                httpx.post(url + "/validate/check", data={"serial": "none", "pass": "0"}, timeout=5)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise PeerUnavailable("privacyIDEA did not answer within 60 s") from None
                time.sleep(0.5)
        yield Peer(url, kind, db)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
