"""PostgreSQL on the event loop (storage/aio.py): statements read as the engine reads them,
a full pool waits for a returned connection up to the pool timeout, and a connection the
server dropped is replaced after idling, or fails one statement within the idle window."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import JSON, Engine, bindparam, create_engine, func, literal, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tests.storage.test_idle_ping import _drop
from tests.support import run_async
from twofold.storage.aio import LoopDatabase
from twofold.storage.db import Timeouts, make_engine
from twofold.storage.models import UTCDateTime

_PID = select(func.pg_backend_pid().label("pid"))


@pytest.fixture
def engine(pg_database: str) -> Iterator[Engine]:
    made = make_engine(pg_database, pool_size=1)
    with made.connect():
        pass  # the dialect learns its server: the loop's statements compile after that
    yield made
    made.dispose()


def _loop_db(engine: Engine, **timeouts: Any) -> LoopDatabase:
    db = LoopDatabase(engine, size=1, timeouts=Timeouts(**timeouts))
    assert db.ready()
    return db


async def _pid(db: LoopDatabase, *, read: bool = False) -> int:
    async with db.connection() as conn:
        return int((await conn.first(_PID, {}, read=read)).pid)


def test_rows_read_as_the_engine_reads_them(engine: Engine) -> None:
    """The parameters and columns go through SQLAlchemy's own conversions: an aware UTC
    datetime back (UTCDateTime), JSON both ways, a literal of the statement's own."""
    echo = select(
        bindparam("at", type_=UTCDateTime()).label("at"),
        bindparam("doc", type_=JSON()).label("doc"),
        literal("fixed").label("word"),
    )
    at = datetime(2026, 11, 27, 18, 0, tzinfo=timezone(timedelta(hours=8)))
    params = {"at": at, "doc": {"methods": ["pwd", "otp"], "n": 1}}
    with engine.connect() as conn:
        expected = tuple(conn.execute(echo, params).one())
    db = _loop_db(engine)

    async def read() -> Any:
        async with db.connection() as conn:
            return await conn.first(echo, params)

    row = run_async(read())
    assert tuple(row) == expected
    assert row.at == at and row.at.tzinfo is UTC
    assert row.doc == {"methods": ["pwd", "otp"], "n": 1} and row.word == "fixed"
    db.discard_idle()


async def _and_one_waiting(db: LoopDatabase, held: Any) -> tuple[int, asyncio.Task[int]]:
    """The backend of the connection `held` (the pool's only one), and a request started
    for another, given a moment to start waiting."""
    first = int((await held.first(_PID, {})).pid)
    waiting = asyncio.create_task(_pid(db))
    await asyncio.sleep(0.1)
    return first, waiting


def test_a_full_pool_hands_over_a_returned_connection_or_times_out(engine: Engine) -> None:
    db = _loop_db(engine, pool=0.5)

    async def scenario() -> None:
        async with db.connection() as held:
            first, waiting = await _and_one_waiting(db, held)
            assert not waiting.done()  # one connection, in use: it waits
        assert await waiting == first  # handed over as it came back
        async with db.connection():
            with pytest.raises(PoolTimeout):
                await _pid(db)
        assert await _pid(db) == first  # the one that timed out took nothing with it

    run_async(scenario())
    db.discard_idle()


def test_a_connection_lost_in_use_makes_room_for_a_request_waiting(
    engine: Engine, pg_database: str
) -> None:
    """The pool is full and a request waits; the connection in use is lost (the server
    dropped it). The waiting request opens a new one at once, not at the pool timeout."""
    db = _loop_db(engine, pool=30)

    async def scenario() -> None:
        async with db.connection() as held:
            first, waiting = await _and_one_waiting(db, held)
            assert await asyncio.to_thread(_drop, pg_database, first) == 1
            with pytest.raises(OperationalError):
                await held.first(_PID, {})
        assert await asyncio.wait_for(waiting, 10) != first

    run_async(scenario())
    db.discard_idle()


@pytest.mark.parametrize(("ping_idle", "read"), [(0, False), (3600, False), (3600, True)])
def test_a_connection_the_server_dropped_is_replaced(
    engine: Engine, pg_database: str, ping_idle: float, read: bool
) -> None:
    """Idle past `ping_idle`: the ping finds it dead, and a new connection serves the
    statement, no error. Within it, unpinged: a read runs again on a new connection, no
    error; any other statement fails (the engine's OperationalError: the app's 503), once,
    and the next gets a new connection."""
    db = _loop_db(engine, ping_idle=ping_idle)
    first = run_async(_pid(db))
    assert _drop(pg_database, first) == 1
    if ping_idle and not read:
        with pytest.raises(OperationalError):
            run_async(_pid(db))
    assert run_async(_pid(db, read=read)) != first
    db.discard_idle()


def test_only_where_reads_in_autocommit_lose_nothing(pg_database: str) -> None:
    """At READ COMMITTED each statement reads a snapshot of its own anyway; at a stricter
    default level the engine reads in one transaction, and the loop stands aside."""
    strict = create_engine(
        pg_database.replace("postgresql://", "postgresql+psycopg://", 1),
        connect_args={"options": "-c default_transaction_isolation=serializable"},
    )
    try:
        db = LoopDatabase(strict, size=1, timeouts=Timeouts())
        assert not db.ready()  # nothing known of the server yet
        with strict.connect():
            pass
        assert strict.dialect.default_isolation_level == "SERIALIZABLE"
        assert not db.ready()
    finally:
        strict.dispose()
