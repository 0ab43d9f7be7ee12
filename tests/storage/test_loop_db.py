"""PostgreSQL on the event loop (storage/aio.py): statements read as the engine reads them,
a full pool waits for a returned connection up to the pool timeout, and a connection the
server dropped is replaced after idling, or fails one statement within the idle window."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import JSON, Engine, bindparam, func, literal, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tests.storage.test_idle_ping import _drop
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


async def _pid(db: LoopDatabase) -> int:
    async with db.connection() as conn:
        return int((await conn.first(_PID, {})).pid)


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

    row = asyncio.run(read())
    assert tuple(row) == expected
    assert row.at == at and row.at.tzinfo is UTC
    assert row.doc == {"methods": ["pwd", "otp"], "n": 1} and row.word == "fixed"
    db.discard_idle()


def test_a_full_pool_hands_over_a_returned_connection_or_times_out(engine: Engine) -> None:
    db = _loop_db(engine, pool=0.5)

    async def scenario() -> None:
        async with db.connection() as held:
            first = (await held.first(_PID, {})).pid
            waiting = asyncio.create_task(_pid(db))
            await asyncio.sleep(0.1)
            assert not waiting.done()  # one connection, in use: it waits
        assert await waiting == first  # handed over as it came back
        async with db.connection():
            with pytest.raises(PoolTimeout):
                await _pid(db)
        assert await _pid(db) == first  # the one that timed out took nothing with it

    asyncio.run(scenario())
    db.discard_idle()


def test_a_connection_dropped_while_idle_is_replaced_before_use(
    engine: Engine, pg_database: str
) -> None:
    db = _loop_db(engine, ping_idle=0)
    first = asyncio.run(_pid(db))
    assert _drop(pg_database, first) == 1
    again = asyncio.run(_pid(db))  # the ping found it dead: a new connection, no error
    assert again != first
    db.discard_idle()


def test_within_the_idle_window_a_dropped_connection_fails_once(
    engine: Engine, pg_database: str
) -> None:
    db = _loop_db(engine, ping_idle=3600)
    first = asyncio.run(_pid(db))
    assert _drop(pg_database, first) == 1
    with pytest.raises(OperationalError):  # as the engine raises it: the app's 503
        asyncio.run(_pid(db))
    assert asyncio.run(_pid(db)) != first  # discarded; the next one is new
    db.discard_idle()
