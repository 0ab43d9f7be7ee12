"""Which sealing keys the stored secrets need: key ids as the database sees them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, Connection, Engine, func, inspect, select

from twofold.storage.db import READ_ONLY
from twofold.storage.models import MfaDevice


def _key_id(dialect: str) -> ColumnElement[str]:
    column = MfaDevice.sealed_secret
    if dialect == "postgresql":
        return func.split_part(column, ":", 1)
    return func.substr(column, 1, func.instr(column, ":") - 1)


def key_ids_in(conn: Connection, *, exclude: Iterable[str] = ()) -> set[str]:
    """The key ids the sealed secrets are sealed under, less `exclude`."""
    key_id = _key_id(conn.dialect.name)
    query = select(key_id).distinct()
    excluded = list(exclude)
    if excluded:
        query = query.where(key_id.not_in(excluded))
    return {row[0] for row in conn.execute(query)}


def sealed_key_ids(engine: Engine) -> set[str]:
    """Key ids the database needs; empty for a database with no sealed secret or no schema."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        if not inspect(conn).has_table(MfaDevice.__tablename__):
            return set()
        return key_ids_in(conn)
