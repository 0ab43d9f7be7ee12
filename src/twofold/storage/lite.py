"""SQLite's hot paths on the driver's own connection, for a few prebuilt statements.

The engine's per-statement work (its connection and transaction events, the BEGIN and
COMMIT it sends around a read, its result machinery) costs several times what SQLite does
for a statement by key: in-process, the code check's read took 85 µs through the engine
and 11 µs on the sqlite3 connection (bench/README.md). The code check sends its read and
its write transaction here instead, on a connection of the engine's own pool, and `GET /me`
and forward-auth their reads by key (`read`, storage/hot.py).

What this keeps from the engine (storage/db.py):
- **The statements and their types**: compiled once by the engine's dialect, converted by
  SQLAlchemy's own processors (storage/prebuilt.py).
- **Reads without the write lock.** A lone SELECT in autocommit is its own read transaction
  in WAL mode: one snapshot, as the read-only BEGIN gave it, and no BEGIN or COMMIT sent.
- **The write gate.** A write transaction takes the same gate as the engine's (the
  process's lock, the flock beside the database, BEGIN IMMEDIATE) and leaves it after its
  COMMIT or ROLLBACK; the pool's checkin leaves it too, should anything escape.
- **Errors.** An sqlite3 error is raised as SQLAlchemy's (a 503 by the app's handlers); one
  that leaves the connection unusable for writes (a read-only or vanished file) replaces it
  and the pool's others, as the engine's error handler does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Executable
from sqlalchemy.exc import DBAPIError

from twofold.storage.db import sqlite_discards, write_gate
from twofold.storage.prebuilt import Prebuilt, Reads, T


class LiteConnection:
    """One pooled connection, its statements sent on the driver's connection."""

    def __init__(self, db: LiteDatabase, raw: Any) -> None:
        self._db = db
        self._raw = raw  # the pool's proxy: its info, its invalidation, its return
        self._driver: sqlite3.Connection = raw.driver_connection

    def send(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        """Every statement of this path goes through here (tests record them)."""
        try:
            return self._driver.execute(sql, params)
        except sqlite3.Error as exc:
            if sqlite_discards(exc):
                self._raw.invalidate(exc)
                self._db.engine.dispose()  # the pool's others: opened in the same fault
            error = DBAPIError.instance(sql, None, exc, sqlite3.Error)
            raise error from exc

    def first(self, statement: Executable, params: dict[str, Any]) -> Any:
        prepared = self._db.prepared(statement)
        values = self.send(prepared.sql, prepared.parameters(params)).fetchone()
        return None if values is None else prepared.row(values)

    def read(self, steps: Reads[T]) -> T:
        """Run a use case's reads by key (storage/prebuilt.py), each a lone SELECT."""
        try:
            statement, params = next(steps)
            while True:
                statement, params = steps.send(self.first(statement, params))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def changed(self, statement: Executable, params: dict[str, Any]) -> int:
        """Rows changed by an UPDATE (or added by an INSERT)."""
        prepared = self._db.prepared(statement)
        return int(self.send(prepared.sql, prepared.parameters(params)).rowcount)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """A write transaction under the engine's write gate: committed at the end, rolled
        back on any error (and on `Rollback`)."""
        gate = self._db.gate
        info = self._raw.info
        gate.enter_raw(info, lambda: self.send("BEGIN IMMEDIATE"))
        try:
            try:
                yield
            except BaseException:
                if self._driver.in_transaction:
                    self.send("ROLLBACK")
                raise
            self.send("COMMIT")
        finally:
            gate.leave(info)


class Rollback(Exception):
    """Raised inside `writing()` to end its transaction with nothing written."""


class LiteDatabase:
    """The engine's SQLite connections, for prebuilt statements (see the module's
    docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.gate = write_gate(engine)
        self.prepared = Prebuilt(engine.dialect)

    @contextmanager
    def connection(self) -> Iterator[LiteConnection]:
        raw = self.engine.raw_connection()
        try:
            yield LiteConnection(self, raw)
        finally:
            raw.close()  # back to the pool (a rollback of anything left open, as always)
