from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from twofold.storage.db import Timeouts, make_engine
from twofold.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or ""
    # A migration may rewrite a large table: no request-sized statement timeout.
    engine = make_engine(url, pool_size=1, timeouts=Timeouts(statement=3600.0))
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


run_migrations_online()
