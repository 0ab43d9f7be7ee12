"""Engine and session factory for SQLite (embedded) and PostgreSQL (scale-out)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CursorResult,
    Engine,
    Executable,
    Result,
    Table,
    create_engine,
    event,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InvalidatePoolError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from twofold.config import ConfigError
from twofold.storage.watchdog import Watchdog

SQLITE_BUSY_TIMEOUT_MS = 10_000
# How long a writer tries the other processes' write lock again at once before it sleeps
# between tries (see _WriteGate).
WRITE_LOCK_SPIN_S = 0.0005
# An execution option: this connection's statements get this deadline (seconds) instead of
# the engine's statement timeout (/readyz uses a short one).
DEADLINE = "twofold_deadline"


@dataclass(frozen=True)
class Timeouts:
    """Seconds: open a connection, run one statement, wait for a pooled connection."""

    connect: float = 2.0
    statement: float = 5.0
    pool: float = 5.0
    # PostgreSQL: a pooled connection idle longer than this is pinged before use (one round
    # trip); one returned more recently is used as it is (HikariCP's aliveBypassWindowMs).
    ping_idle: float = 0.5

    @property
    def deadline(self) -> float:
        """PostgreSQL: the client's own deadline for a statement (storage/watchdog.py),
        past the server's statement_timeout, so a live server's clean error comes first."""
        return self.statement + 1.0

    def postgresql_connect_args(self) -> dict[str, Any]:
        """libpq's connection parameters for these timeouts: the engine's and the event
        loop's connections (storage/aio.py) alike."""
        return {
            # libpq counts whole seconds, and at least 2.
            "connect_timeout": max(2, round(self.connect)),
            # The server ends a slow statement itself; the watchdog covers a server that
            # cannot (frozen), a little later so the server's clean error wins.
            "options": f"-c statement_timeout={max(1, int(self.statement * 1000))}",
        }


def normalize_url(url: str) -> str:
    """Accept postgres:// and postgresql:// and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, pool_size: int = 10, timeouts: Timeouts | None = None) -> Engine:
    url = normalize_url(url)
    timeouts = timeouts or Timeouts()
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"TWOFOLD_DATABASE_URL is not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=timeouts.pool,
            # The most recently returned connection first: on the event loop (web/hot.py)
            # one connection serves request after request, its page cache warm.
            pool_use_lifo=True,
        )
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_recycle=1800,
            pool_timeout=timeouts.pool,
            connect_args=timeouts.postgresql_connect_args(),
        )
        _guard_postgresql(engine, Watchdog(), timeouts)
        _ping_when_idle(engine, timeouts.ping_idle)
        return engine
    raise ConfigError(f"TWOFOLD_DATABASE_URL must be sqlite:// or postgresql://, not {backend}://")


class _WriteGate:
    """One write transaction at a time, queued on locks that wake the next writer at once.

    SQLite allows one writer anyway; without the gate, every waiting thread sits in SQLite's
    busy handler, which sleeps in growing steps (up to 100 ms) instead of waking when the lock
    frees, and p99 latency climbs into seconds. Threads of a process queue on a lock; the
    processes sharing the database file then take turns on an flock() of a file beside it:
    tried again at once (yielding the CPU) for `WRITE_LOCK_SPIN_S`, as long as a write
    transaction of the hot paths takes, then every millisecond at most. A process's event
    loop waits here with everything else (web/hot.py); a sleep of 0.1 ms and more left it
    idle after the lock had freed, and two workers' code checks gained 7-10 % without it
    (bench/README.md). Both give up after the busy timeout (a 503).
    """

    FLAG = "twofold_write_gate"

    def __init__(self, lock_path: str | None) -> None:
        self._lock = threading.Lock()
        self._fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600) if lock_path else None

    def enter(self, conn: Any) -> None:
        self.enter_raw(conn.info, lambda: conn.exec_driver_sql("BEGIN IMMEDIATE"))

    def enter_raw(self, info: dict[str, Any], begin: Callable[[], Any]) -> None:
        """Take the gate for the connection whose `info` this is, then `begin` its write
        transaction (BEGIN IMMEDIATE) on it: `enter` through the engine, or on the driver's
        own connection (storage/lite.py)."""
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        if not self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise _queue_timeout()
        info[self.FLAG] = True
        try:
            self._lock_file(deadline)
            begin()
        except BaseException:
            self.leave(info)
            raise

    def _lock_file(self, deadline: float) -> None:
        if self._fd is None:
            return
        spin_until = time.monotonic() + WRITE_LOCK_SPIN_S
        pause = 0.0001
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                now = time.monotonic()
                if now > deadline:
                    raise _queue_timeout() from None
                if now < spin_until:
                    os.sched_yield()  # the holder's transaction is short: try again at once
                    continue
                time.sleep(pause)
                pause = min(pause * 2, 0.001)

    def leave(self, info: dict[str, Any]) -> None:
        if info.pop(self.FLAG, False):
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._lock.release()


_GATES: weakref.WeakKeyDictionary[Engine, _WriteGate] = weakref.WeakKeyDictionary()


def write_gate(engine: Engine) -> _WriteGate:
    """The SQLite engine's write gate, for a write transaction on the driver's own
    connection (storage/lite.py)."""
    return _GATES[engine]


def _queue_timeout() -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", None, Exception("write queue timed out"))


def _create_private(database: str) -> None:
    """Create the database file 0600 before SQLite does (it would use 0644 under the usual
    umask): it holds password hashes. SQLite gives the -wal, -shm and -journal files it makes
    later the mode of the database file, so they are 0600 too. An existing file is left as
    the operator set it."""
    # It exists, or its directory does not (SQLite's own error is then the clearer one).
    with contextlib.suppress(OSError):
        os.close(os.open(database, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))


def _configure_sqlite(engine: Engine) -> None:
    database = engine.url.database
    in_memory = not database or database == ":memory:" or database.startswith("file::memory:")
    if database and not in_memory and not database.startswith("file:"):
        _create_private(database)
    gate = _WriteGate(None if in_memory else f"{database}.lock")
    _GATES[engine] = gate

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take over transaction control from pysqlite so BEGIN IMMEDIATE is ours to issue.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            # A read-only transaction: WAL readers run beside the writer, no lock taken.
            conn.exec_driver_sql("BEGIN")
            return
        # Every other transaction takes the write lock up front: a deferred transaction that
        # reads and then writes fails at once (SQLITE_BUSY_SNAPSHOT) when another process
        # wrote in between, instead of waiting its turn. Long work (password hashing)
        # happens outside transactions.
        gate.enter(conn)

    # End the transaction ourselves, then open the gate, so the next writer never finds the
    # database still locked by this one; the driver's own COMMIT/ROLLBACK is then a no-op.
    @event.listens_for(engine, "commit")
    def _on_commit(conn: Any) -> None:
        try:
            conn.connection.dbapi_connection.execute("COMMIT")
        finally:
            gate.leave(conn.info)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Any) -> None:
        try:
            dbapi = conn.connection.dbapi_connection
            if dbapi is not None and dbapi.in_transaction:
                dbapi.execute("ROLLBACK")
        finally:
            gate.leave(conn.info)

    @event.listens_for(engine, "handle_error")
    def _on_error(ctx: Any) -> None:
        if sqlite_discards(ctx.original_exception):
            # Drop this connection and the rest of the pool (opened in the same fault, most
            # likely): new ones open the file as it is now, so the service heals by itself.
            ctx.is_disconnect = True
            if ctx.connection is not None:
                gate.leave(ctx.connection.info)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        gate.leave(record.info)  # a connection returned without commit or rollback


# SQLite result codes (the low byte) that leave a connection unusable for writes for good:
# a connection opened while the file could not be written stays read-only after the file is
# writable again. Such a connection must be discarded, or a share of writes keeps failing.
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CANTOPEN = 8, 10, 14
_SQLITE_DISCARD = {_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CANTOPEN}


def sqlite_discards(exc: BaseException | None) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _SQLITE_DISCARD


def sqlite_writable(engine: Engine) -> str | None:
    """None when a new connection could write the SQLite database, else why not.

    SQLite opens a file it may not write read-only without a word, and BEGIN IMMEDIATE still
    succeeds on such a connection; so ask the OS whether the effective user may write each
    file. Never by opening and closing it: closing any descriptor of a file drops every POSIX
    lock this process holds on it, SQLite's own included, and a process that does that while
    its connections hold locks corrupts the database ("How To Corrupt An SQLite Database
    File", 2.2). access(2) opens nothing."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    for path in (database, f"{database}-wal", f"{database}-shm"):
        if not os.path.exists(path):
            continue
        if not os.access(path, os.W_OK, effective_ids=True):
            return f"the database file {path} cannot be written"
    directory = os.path.dirname(os.path.abspath(database))
    if not os.access(directory, os.W_OK, effective_ids=True):
        return f"the database directory {directory} cannot be written"
    return None


def _guard_postgresql(engine: Engine, watchdog: Watchdog, timeouts: Timeouts) -> None:
    """Every round trip to the server gets a deadline (see watchdog.py): statements, the
    pool's ping, COMMIT and ROLLBACK."""
    limit = timeouts.deadline
    armed = "twofold_armed"

    @event.listens_for(engine, "before_cursor_execute")
    def _arm(conn: Any, cursor: Any, _s: Any, _p: Any, _c: Any, _m: Any) -> None:
        fd = cursor.connection.fileno()
        timeout = conn.get_execution_options().get(DEADLINE, limit)
        stale = conn.info.get(armed)
        if stale is not None:  # a statement that ended without either event: never cut later
            watchdog.disarm(stale[0])
        conn.info[armed] = (watchdog.arm(fd, timeout), fd)

    @event.listens_for(engine, "after_cursor_execute")
    def _disarm(conn: Any, *_args: Any) -> None:
        token_fd = conn.info.pop(armed, None)
        if token_fd is not None:
            watchdog.disarm(token_fd[0])

    @event.listens_for(engine, "handle_error")
    def _on_error(ctx: Any) -> None:
        conn = ctx.connection
        token_fd = conn.info.pop(armed, None) if conn is not None else None
        if token_fd is not None:
            watchdog.disarm(token_fd[0])
            if watchdog.cut(token_fd[1]):
                ctx.is_disconnect = True  # discard it (the whole pool is suspect too)

    def _guarded(conn: Any, run: str) -> None:
        if conn.invalidated:  # its connection is gone (a disconnect): nothing to send
            return
        dbapi = conn.connection.dbapi_connection
        if dbapi is None or dbapi.closed:
            return
        timeout = conn.get_execution_options().get(DEADLINE, limit)
        token = watchdog.arm(dbapi.fileno(), timeout)
        try:
            getattr(dbapi, run)()  # the driver's own call that follows is then a no-op
        finally:
            watchdog.disarm(token)

    event.listen(engine, "commit", lambda conn: _guarded(conn, "commit"))
    event.listen(engine, "rollback", lambda conn: _guarded(conn, "rollback"))

    ping = engine.dialect.do_ping
    ping_limit = min(timeouts.connect, limit)

    def guarded_ping(dbapi_connection: Any) -> bool:
        token = watchdog.arm(dbapi_connection.fileno(), ping_limit)
        try:
            return bool(ping(dbapi_connection))
        finally:
            watchdog.disarm(token)

    engine.dialect.do_ping = guarded_ping  # type: ignore[method-assign]


def _ping_when_idle(engine: Engine, idle: float) -> None:
    """Ping a pooled connection before use only when it sat idle more than `idle` seconds.

    A connection the server dropped (a restart, a failover, an idle timeout) is found by
    the ping and replaced, the pool's older connections with it, before a request uses it.
    Under load every connection comes back within milliseconds, and the ping is skipped: a
    round trip, one of a hot read's two and of a code check's three. What remains: a
    connection dropped less than `idle` seconds after its last use fails the statement that
    meets it (a 503), and that failure invalidates the pool, so the next request gets a new
    connection."""
    returned = "twofold_returned_at"
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi: Any, record: Any) -> None:
        if record is not None:
            record.info[returned] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        at = record.info.get(returned)  # None: a connection made for this checkout
        if at is None or time.monotonic() - at <= idle:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)  # the guarded ping: it has a deadline
        except dialect.loaded_dbapi.Error as exc:
            if not dialect.is_disconnect(exc, dbapi_connection, None):
                raise
            alive = False
        if not alive:  # the pool discards its connections older than now, then reconnects
            raise InvalidatePoolError()


READ_ONLY = "twofold_read_only"


def begin_read_only(db: Session) -> None:
    """Start the session's next transaction as a read-only one (SQLite: no write lock;
    PostgreSQL: `lone_reads`).

    Call before the first statement of the transaction. Never write in it: the write may
    fail on SQLite, and would commit on its own on PostgreSQL."""
    if lone_reads(db.get_bind().dialect):
        db.connection(execution_options={READ_ONLY: True, "isolation_level": "AUTOCOMMIT"})
    else:
        db.connection(execution_options={READ_ONLY: True})


def lone_reads(dialect: Any) -> bool:
    """Whether a read-only transaction may run as statements in autocommit: at READ
    COMMITTED, PostgreSQL's default, each statement of a transaction sees a snapshot of its
    own anyway, so nothing is lost, and the BEGIN and COMMIT round trips are saved (the pool
    puts the connection back to the default when it is returned)."""
    # Known once the engine's first connection was made: until then, a transaction.
    level = getattr(dialect, "default_isolation_level", None)
    return dialect.name == "postgresql" and level == "READ COMMITTED"


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


def table_of(model: type[Any]) -> Table:
    """A mapped class's Table, for Core statements (no ORM layer on the hot paths)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a single table")
    return table


def run(db: Session, statement: Executable, params: dict[str, Any]) -> CursorResult[Any]:
    """Execute a prebuilt Core statement on the session's connection, in its transaction:
    the ORM's per-statement work skipped (it costs more than the statement on SQLite)."""
    return db.connection().execute(statement, params)


def affected(result: Result[Any]) -> int:
    """Rows changed by an UPDATE or DELETE: the number that decides a conditional write."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"an UPDATE or DELETE gives a CursorResult, not {type(result).__name__}")
    return int(result.rowcount)
