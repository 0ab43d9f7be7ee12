"""The readiness probe must never drop SQLite's locks.

Closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
included; a probe that opened and closed the database's files while a connection held the
write lock let another process write at the same time, which corrupted databases under load
(seen as "database disk image is malformed" in the benchmarks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from twofold.storage.db import make_engine, sqlite_writable

OTHER_WRITER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
try:
    conn.execute("BEGIN IMMEDIATE")
except sqlite3.OperationalError as exc:
    print("locked:", exc)
else:
    conn.execute("ROLLBACK")
    print("got the write lock")
"""


def other_process_writes(db: Path) -> str:
    return subprocess.run(
        [sys.executable, "-c", OTHER_WRITER, str(db)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()


def test_the_probe_keeps_the_write_lock_of_an_open_transaction(tmp_path: Path) -> None:
    db = tmp_path / "twofold.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.commit()
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
            raw.driver_connection.execute("INSERT INTO t VALUES (1)")  # type: ignore[union-attr]
            assert other_process_writes(db).startswith("locked:")
            assert sqlite_writable(engine) is None  # the probe, as /readyz runs it
            assert other_process_writes(db).startswith("locked:")
            raw.driver_connection.execute("COMMIT")  # type: ignore[union-attr]
        finally:
            raw.close()
        assert other_process_writes(db) == "got the write lock"
    finally:
        engine.dispose()
