"""The hot paths' database: SQLite's driver connections (storage/lite.py), or PostgreSQL's
connections on the event loop (storage/aio.py), for reads by key written once
(`prebuilt.Reads`) and run on either."""

from __future__ import annotations

from twofold.storage.aio import LoopDatabase
from twofold.storage.lite import LiteDatabase
from twofold.storage.prebuilt import Reads, T

HotDatabase = LiteDatabase | LoopDatabase


async def read_by_key(db: HotDatabase, steps: Reads[T]) -> T:
    """Run `steps` on a connection of `db`: inline on SQLite (a local file, a few lone
    SELECTs that never wait for a lock in WAL mode), awaiting each round trip on
    PostgreSQL."""
    if isinstance(db, LiteDatabase):
        with db.connection() as conn:
            return conn.read(steps)
    async with db.connection() as conn:
        return await conn.read(steps)
