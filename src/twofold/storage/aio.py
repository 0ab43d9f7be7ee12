"""PostgreSQL on the event loop, for the hot paths' one or two prebuilt statements.

A request that crosses into the thread pool for its statements pays more for the crossing
than for them: the pool thread and the event loop hand the GIL back and forth at every
round trip, and SQLAlchemy's connection, event and result machinery runs per statement. Run
on the loop through psycopg's async connections instead, a code check's read costs about
a quarter of the CPU (bench/README.md), and while it waits for the server the loop serves
other requests, which running the sync driver inline would not allow.

What this keeps from the sync engine (storage/db.py):
- **The statements and their types.** A Core statement is compiled once by the engine's
  own dialect; its parameters and result columns go through SQLAlchemy's own conversions
  (the UTC datetimes, JSON), so a row reads as it does through the engine.
- **Deadlines.** Every round trip is armed on the watchdog (storage/watchdog.py): a frozen
  server gets the socket shut down at the deadline and the request a 503, and the loop
  never waits on it meanwhile. (Cancelling the task would not do: psycopg then waits for
  the server to acknowledge a cancel.)
- **The ping after idling.** A connection idle longer than `Timeouts.ping_idle` is pinged
  first; a dead one is discarded with every idle connection beside it.
- **Autocommit.** Each statement is its own transaction, as the sync engine's hot reads and
  one-statement writes are (PostgreSQL's READ COMMITTED gives each statement its own
  snapshot anyway). No transaction spans two statements here.

With `size` connections in use, a request waits for one returned, up to the pool timeout
(then `sqlalchemy.exc.TimeoutError`, a 503, as the sync pool's). Connections are not bound
to an event loop (each is used by one task at a time), so a test client's loops may share
them.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, Executable
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from twofold.storage.db import Timeouts, lone_reads
from twofold.storage.prebuilt import Prebuilt, Reads, T
from twofold.storage.watchdog import Watchdog


class LoopConnection:
    """One checked-out connection: statements with a deadline, errors as SQLAlchemy's."""

    def __init__(self, db: LoopDatabase, conn: AsyncConnection[Any], *, unproven: bool) -> None:
        self._db = db
        self.conn = conn
        # Taken from the pool within the ping window, not pinged: the server may have
        # dropped it since (a restart). Cleared by its first statement.
        self._unproven = unproven

    async def rows(
        self, statement: Executable, params: dict[str, Any], *, read: bool = False
    ) -> list[Any]:
        """The statement's rows. A `read` that meets a connection the server dropped while
        it sat unpinged in the pool runs again on a new one, as a ping would have found it:
        a read sent twice changes nothing."""
        unproven, self._unproven = self._unproven, False
        try:
            return await self._run(statement, params)
        except DBAPIError as exc:
            lost = self.conn.closed or self.conn.broken
            if not (read and unproven and lost and not exc.connection_invalidated):
                raise
        self.conn = await self._db._replace(self.conn)
        return await self._run(statement, params)

    async def _run(self, statement: Executable, params: dict[str, Any]) -> list[Any]:
        prepared = self._db.prepared(statement)
        watchdog = self._db.watchdog
        fd, token = -1, None
        try:
            fd = self.conn.fileno()  # raises for a connection closed meanwhile
            token = watchdog.arm(fd, self._db.limit)
            cursor = await self.conn.execute(prepared.sql, prepared.parameters(params))
            values = await cursor.fetchall() if cursor.description is not None else []
        except psycopg.Error as exc:
            raise _as_sqlalchemy(prepared.sql, exc, watchdog.cut(fd)) from exc
        finally:
            if token is not None:
                watchdog.disarm(token)
        return [prepared.row(v) for v in values]

    async def first(
        self, statement: Executable, params: dict[str, Any], *, read: bool = False
    ) -> Any:
        found = await self.rows(statement, params, read=read)
        return found[0] if found else None

    async def read(self, steps: Reads[T]) -> T:
        """Run a use case's reads by key (storage/prebuilt.py), each a statement in
        autocommit (a `read`: sent again on a new connection if need be, see `rows`)."""
        try:
            statement, params = next(steps)
            while True:
                row = await self.first(statement, params, read=True)
                statement, params = steps.send(row)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def _as_sqlalchemy(sql: str, exc: psycopg.Error, cut: bool) -> DBAPIError:
    """The error as the sync engine raises it (an OperationalError for a lost connection),
    so the app's handlers answer it alike (a 503)."""
    error = DBAPIError.instance(sql, None, exc, psycopg.Error, connection_invalidated=cut)
    assert isinstance(error, DBAPIError)
    return error


class LoopDatabase:
    """Up to `size` psycopg async connections per process, idle ones reused most recently
    returned first; with all of them in use a request waits for one, up to the pool
    timeout (see the module's docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        size: int,
        timeouts: Timeouts,
        watchdog: Watchdog | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.size = size
        self.timeouts = timeouts
        self.limit = timeouts.deadline
        self.watchdog = watchdog or Watchdog()
        self._now = monotonic
        url = engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._connect_args = timeouts.postgresql_connect_args()
        self._idle: deque[tuple[AsyncConnection[Any], float]] = deque()
        self._waiting: deque[asyncio.Future[AsyncConnection[Any] | None]] = deque()
        self._open = 0  # connections made and not yet closed: idle and in use
        self.prepared = Prebuilt(engine.dialect)

    def ready(self) -> bool:
        """Whether the hot paths may run here: the engine's dialect knows its server (after
        the engine's first connection: statements compile by it), and the server's default
        isolation is READ COMMITTED, where reads in autocommit lose nothing (`lone_reads`).
        Otherwise the sync path answers."""
        dialect = self.engine.dialect
        return dialect.server_version_info is not None and lone_reads(dialect)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[LoopConnection]:
        """A connection for a few statements. One that failed is discarded, with every idle
        one (the server most likely dropped them all)."""
        conn, unproven = await self._checkout()
        lent = LoopConnection(self, conn, unproven=unproven)
        try:
            yield lent
        except BaseException:
            self._release(lent.conn)
            raise
        self._release(lent.conn)

    async def _checkout(self) -> tuple[AsyncConnection[Any], bool]:
        """A connection, and whether it is unproven (see LoopConnection)."""
        while self._idle:
            conn, returned = self._idle.pop()
            if self._now() - returned <= self.timeouts.ping_idle:
                return conn, True
            if await self._alive(conn):
                return conn, False
            self._discard(conn)
            self.discard_idle()
        while self._open >= self.size:
            handed = await self._returned()
            if handed is not None:
                return handed, False  # just returned: it answered a moment ago
            # None: one was discarded, so there is room to open one (unless taken meanwhile)
        return await self._connect(), False

    async def _replace(self, lost: AsyncConnection[Any]) -> AsyncConnection[Any]:
        """A new connection for one the server dropped; the idle ones go with it. Should
        the new one fail, the lost one is released (and discarded) as any failed one."""
        self.discard_idle()
        fresh = await self._connect()
        self._discard(lost)
        return fresh

    async def _connect(self) -> AsyncConnection[Any]:
        self._open += 1
        try:
            return await AsyncConnection.connect(
                self._conninfo, autocommit=True, **self._connect_args
            )
        except psycopg.Error as exc:
            self._open -= 1
            self._give(None)
            raise _as_sqlalchemy("connect", exc, False) from exc
        except BaseException:
            self._open -= 1
            self._give(None)
            raise

    async def _returned(self) -> AsyncConnection[Any] | None:
        """Wait for a connection handed over by `_release` (None: room to open one), up to
        the pool timeout."""
        waiter: asyncio.Future[AsyncConnection[Any] | None]
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await asyncio.wait_for(waiter, self.timeouts.pool)
        except TimeoutError:
            raise PoolTimeout(
                f"no connection of {self.size} returned within {self.timeouts.pool}s"
            ) from None
        except BaseException:  # cancelled: what was handed over meanwhile goes on
            if waiter.done() and not waiter.cancelled():
                self._pass_on(waiter.result())
            raise
        finally:
            if waiter in self._waiting:
                self._waiting.remove(waiter)

    async def _alive(self, conn: AsyncConnection[Any]) -> bool:
        if conn.closed:
            return False
        token = self.watchdog.arm(conn.fileno(), min(self.timeouts.connect, self.limit))
        try:
            await conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False
        finally:
            self.watchdog.disarm(token)

    def _release(self, conn: AsyncConnection[Any]) -> None:
        if conn.closed or conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
            self._discard(conn)
            self.discard_idle()
            self._give(None)  # a waiter may open a new one
            return
        if not self._give(conn):
            self._idle.append((conn, self._now()))

    def _give(self, conn: AsyncConnection[Any] | None) -> bool:
        """Hand `conn` (None: room for a new one) to the first request waiting; False when
        none waits."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if waiter.done():  # timed out meanwhile
                continue
            loop = waiter.get_loop()
            if loop is _running_loop():
                waiter.set_result(conn)
            else:  # a test client's other event loop
                loop.call_soon_threadsafe(self._hand, waiter, conn)
            return True
        return False

    def _hand(
        self, waiter: asyncio.Future[AsyncConnection[Any] | None], conn: AsyncConnection[Any] | None
    ) -> None:
        if waiter.done():
            self._pass_on(conn)
        else:
            waiter.set_result(conn)

    def _pass_on(self, conn: AsyncConnection[Any] | None) -> None:
        """What a request that stopped waiting was handed: to the pool, or the room to the
        next one waiting."""
        if conn is not None:
            self._release(conn)
        else:
            self._give(None)

    def _discard(self, conn: AsyncConnection[Any]) -> None:
        self._open -= 1
        conn.pgconn.finish()  # libpq's close: synchronous, no round trip to wait for

    def discard_idle(self) -> None:
        """Close the idle connections (after a failure; and when the process stops)."""
        while self._idle:
            self._discard(self._idle.pop()[0])


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
