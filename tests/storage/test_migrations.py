"""Migrations on both databases, and the SQLite connection settings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import inspect, select, text

from tests.conftest import PG_ADMIN_URL, _pg_url
from twofold.config import ConfigError
from twofold.storage import schema_version
from twofold.storage.db import SQLITE_BUSY_TIMEOUT_MS, make_engine, make_session_factory
from twofold.storage.migrate import (
    alembic_head,
    current_revision,
    head_revision,
    is_current,
    upgrade,
)
from twofold.storage.models import Account, Base

TABLES = {t.name for t in Base.metadata.sorted_tables}  # every table the models declare


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"twofold_mig_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _pg_url(name)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_upgrade_creates_the_schema_and_is_idempotent(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url, pool_size=1)
    try:
        assert current_revision(engine) is None
        with engine.connect() as conn:  # what servers read, without Alembic
            assert schema_version.current_revision(conn) is None
        assert not is_current(engine)
        upgrade(empty_db_url, engine)
        assert current_revision(engine) == head_revision()
        # The server's reading of the migration files agrees with Alembic's.
        assert head_revision() == alembic_head() is not None
        with engine.connect() as conn:
            assert schema_version.current_revision(conn) == alembic_head()
        assert is_current(engine)
        assert set(inspect(engine).get_table_names()) >= TABLES
        upgrade(empty_db_url, engine)  # a second run changes nothing and does not fail
        assert is_current(engine)
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url, pool_size=1)
    try:
        upgrade(empty_db_url, engine)
        insp = inspect(engine)
        for table in Base.metadata.sorted_tables:
            migrated = {c["name"] for c in insp.get_columns(table.name)}
            assert migrated == set(table.columns.keys()), table.name
    finally:
        engine.dispose()


def test_times_roundtrip_timezone_aware_utc(db_url: str) -> None:
    engine = make_engine(db_url, pool_size=1)
    try:
        factory = make_session_factory(engine)
        when = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
        with factory() as db:
            db.add(Account(name="acme", email="o@acme.example", created_at=when,
                           login_networks=[]))
            db.commit()
        with factory() as db:
            got = db.scalar(select(Account.created_at))
            assert got == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
            assert got is not None and got.utcoffset() == timedelta(0)
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == SQLITE_BUSY_TIMEOUT_MS
            assert SQLITE_BUSY_TIMEOUT_MS >= 1000
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()


def test_sqlite_writer_waits_for_another_writer_instead_of_failing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    upgrade(url)
    a = make_engine(url, pool_size=1)
    b = make_engine(url, pool_size=1)
    try:
        import threading

        with a.connect() as ca:
            ca.begin()
            ca.execute(text("INSERT INTO accounts (name, email, created_at, login_networks) "
                            "VALUES ('one', 'e', '2024-01-01', '[]')"))
            entered, finished = threading.Event(), threading.Event()
            order: list[str] = []
            failures: list[BaseException] = []

            def second_writer() -> None:
                entered.set()
                try:
                    with b.begin() as cb:
                        cb.execute(text("INSERT INTO accounts (name, email, created_at, "
                                        "login_networks) VALUES ('two', 'e', '2024-01-01', '[]')"))
                    order.append("second")
                except BaseException as exc:  # noqa: BLE001 - the test reports it
                    failures.append(exc)
                finished.set()

            t = threading.Thread(target=second_writer)
            t.start()
            assert entered.wait(10)
            # Still waiting while the first holds the lock: neither through nor failed. A slow
            # machine only makes this wait longer, never wrong.
            assert not finished.wait(0.3)
            order.append("first")
            ca.commit()
            t.join(15)
        assert not failures, failures
        assert order == ["first", "second"]
        with b.connect() as cb:
            assert cb.execute(text("SELECT count(*) FROM accounts")).scalar() == 2
    finally:
        a.dispose()
        b.dispose()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://u@h/db", "must be sqlite:// or postgresql://"),
    ],
)
def test_bad_database_urls_are_refused_in_one_line(url: str, reason: str) -> None:
    with pytest.raises(ConfigError) as exc:
        make_engine(url)
    assert reason in str(exc.value)
    assert "\n" not in str(exc.value)


def test_postgres_scheme_aliases_use_psycopg() -> None:
    for url in ("postgres://u@localhost/db", "postgresql://u@localhost/db"):
        engine = make_engine(url, pool_size=1)
        assert engine.dialect.driver == "psycopg"
        engine.dispose()
