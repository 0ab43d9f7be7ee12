"""PostgreSQL: a pooled connection is pinged before use only after sitting idle
(storage/db.py `_ping_when_idle`). A connection the server dropped meanwhile (a restart, a
failover: here its backend is terminated) is then replaced before any statement meets it;
within the idle window the statement that meets it fails, once, and the pool recovers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from tests.support import PASSWORD, Api
from twofold.storage.db import Timeouts, make_engine


def _backend(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _drop(url: str, pid: int | None = None) -> int:
    """Terminate backend `pid`, or every other backend on the database (as a restart would),
    and wait until the server no longer lists them: how many were terminated."""
    with psycopg.connect(url, autocommit=True) as admin:
        listed = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND (%(pid)s::int IS NULL OR pid = %(pid)s::int)",
            {"pid": pid},
        )
        pids = [p for (p,) in listed]
        for p in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (p,))
        for _ in range(200):
            if admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
            ).fetchone() is None:
                return len(pids)
            admin.execute("SELECT pg_sleep(0.01)")
    raise AssertionError(f"backends {pids} still there")


@contextmanager
def _dropped_after_use(url: str, ping_idle: float) -> Iterator[tuple[Engine, int]]:
    """An engine whose one pooled connection was used, then dropped by the server."""
    engine = make_engine(url, pool_size=1, timeouts=Timeouts(ping_idle=ping_idle))
    try:
        first = _backend(engine)
        assert _drop(url, first) == 1
        yield engine, first
    finally:
        engine.dispose()


def test_an_idle_connection_dropped_by_the_server_is_replaced_before_use(
    pg_database: str,
) -> None:
    with _dropped_after_use(pg_database, ping_idle=0.0) as (engine, first):
        assert _backend(engine) != first  # the ping found it dead: no error reached the caller


def test_within_the_idle_window_no_ping_and_the_pool_recovers_after_one_failure(
    pg_database: str,
) -> None:
    with _dropped_after_use(pg_database, ping_idle=3600.0) as (engine, first):
        with pytest.raises(DBAPIError) as failed:  # no ping: the statement met the dead one
            _backend(engine)
        assert failed.value.connection_invalidated
        assert _backend(engine) != first


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_right_after_a_drop_reads_answer_and_a_login_fails_once(
    api_with: Callable[..., Api], db_url: str
) -> None:
    """Within the idle window: `GET /me` meets the dead connection in its first answer,
    which declines, and the route answers on a new one; a login meets it in its write and
    is refused with a 503 (nothing accepted), the next one is not."""
    api = api_with(db_ping_idle=3600.0)
    acme = api.signup("acme")
    assert api.call("GET", "/me", acme).status_code == 200
    assert _drop(db_url) >= 1
    r = api.call("GET", "/me", acme)
    assert r.status_code == 200, r.text
    assert _drop(db_url) >= 1
    login = {"login": "acme", "password": PASSWORD}
    r = api.call("POST", "/login", json=login)
    assert (r.status_code, r.json()["error"]["code"]) == (503, "Unavailable"), r.text
    assert api.call("POST", "/login", json=login).status_code == 200


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_past_the_idle_window_a_drop_fails_no_request(
    api_with: Callable[..., Api], db_url: str
) -> None:
    api = api_with(db_ping_idle=0.0)
    api.signup("acme")
    assert _drop(db_url) >= 1
    r = api.call("POST", "/login", json={"login": "acme", "password": PASSWORD})
    assert r.status_code == 200, r.text
