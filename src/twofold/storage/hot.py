"""The hot paths' database: SQLite's driver connections (storage/lite.py), or PostgreSQL's
connections on the event loop (storage/aio.py), for reads by key written once
(`prebuilt.Reads`) and run on either. storage/aio.py (psycopg, about 9 MiB resident) is
imported by PostgreSQL's runtime alone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from twofold.storage.lite import LiteDatabase
from twofold.storage.prebuilt import Reads, T

if TYPE_CHECKING:
    from twofold.storage.aio import LoopDatabase

HotDatabase = Union[LiteDatabase, "LoopDatabase"]  # noqa: UP007 (a name only type checkers see)


async def read_by_key(db: HotDatabase, steps: Reads[T]) -> T:
    """Run `steps` on a connection of `db`: inline on SQLite (a local file, a few lone
    SELECTs that never wait for a lock in WAL mode), awaiting each round trip on
    PostgreSQL."""
    if isinstance(db, LiteDatabase):
        with db.connection() as conn:
            return conn.read(steps)
    async with db.connection() as conn:
        return await conn.read(steps)
