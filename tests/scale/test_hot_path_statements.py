"""The hot paths stay a bounded number of indexed statements (bench/README.md lists them).

A regression (an extra query, an ORM lazy load) changes the count and fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from tests.support import Api
from twofold.storage.lite import LiteConnection


@contextmanager
def recorded(app: Any) -> Iterator[list[str]]:
    """The statements sent, in order: the engine's, and those the hot paths send on the
    driver's own connections (storage/aio.py on PostgreSQL, storage/lite.py on SQLite)."""
    engine = app.state.runtime.engine
    loop_db = app.state.runtime.loop_db
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", before)
    if loop_db is not None:
        prepared = loop_db.prepared

        def recording(statement: Any) -> Any:
            made = prepared(statement)
            statements.append(" ".join(made.sql.split()))
            return made

        loop_db.prepared = recording
    send = LiteConnection.send

    def sending(conn: LiteConnection, sql: str, params: Any = ()) -> Any:
        statements.append(" ".join(sql.split()))
        return send(conn, sql, params)

    LiteConnection.send = sending  # type: ignore[method-assign]
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)
        if loop_db is not None:
            loop_db.prepared = prepared
        LiteConnection.send = send  # type: ignore[method-assign]


def _kinds(statements: list[str]) -> list[str]:
    return [
        "BEGIN IMMEDIATE" if s.upper().startswith("BEGIN IMMEDIATE") else s.split(" ", 1)[0].upper()
        for s in statements
    ]


def _begin(db_url: str, *, write: bool = False) -> list[str]:
    # SQLite: each transaction opens with our own BEGIN (IMMEDIATE for writers: the write
    # lock), sent as a statement; PostgreSQL's driver begins implicitly.
    if not db_url.startswith("sqlite"):
        return []
    return ["BEGIN IMMEDIATE"] if write else ["BEGIN"]


@pytest.fixture
def mfa_owner(api: Api) -> Any:
    owner = api.signup()
    api.enable_mfa(owner)
    api.clock.advance(61)  # past the session touch interval: measure the steady state below
    api.call("GET", "/me", owner)
    return owner


def _tables(statements: list[str]) -> list[str]:
    """Each statement's kind and the table it writes (or, for a SELECT, reads first)."""
    out = []
    for s in statements:
        words = s.replace(",", " ").split()
        kind = words[0].upper()
        if s.upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            out.append(s.upper())
        elif kind == "WITH":  # one statement of several writes: each write's table, in order
            writes = re.findall(r"\((UPDATE|INSERT INTO) ([a-z_]+)", s)
            out.append("WITH " + ", ".join(f"{k.split()[0]} {t}" for k, t in writes))
        elif kind == "UPDATE":
            out.append(f"UPDATE {words[1]}")
        elif kind == "INSERT":
            out.append(f"INSERT {words[2]}")
        else:
            out.append(f"{kind} {words[words.index('FROM') + 1]}")
    return out


def test_verify_mfa_is_one_read_then_the_writes(app, api: Api, mfa_owner, db_url) -> None:
    api.clock.advance(30)
    code = api.code(mfa_owner)
    with recorded(app) as statements:
        r = api.call("POST", "/verify", mfa_owner, json={"method": "mfa", "code": code})
    assert r.status_code == 200, r.text
    writes = [
        "UPDATE mfa_devices",  # last_step < step, by primary key: replay protection
        "UPDATE principals",  # reset the code failure count unless locked, by primary key
        "UPDATE sessions",  # verified_at, amr and last_seen_at, by primary key
        "INSERT audit_events",
    ]
    # the read is a lone SELECT (its own read transaction, no write lock, nothing held
    # after it): unsealing and the TOTP arithmetic run with no transaction open; SQLite's
    # write lock covers the conditional UPDATEs and the audit INSERT alone, and PostgreSQL
    # runs them as one statement (autocommit, one round trip)
    if db_url.startswith("sqlite"):
        then = ["BEGIN IMMEDIATE", *writes, "COMMIT"]
    else:
        then = ["WITH " + ", ".join(writes)]
    assert _tables(statements) == [
        # sessions JOIN principals JOIN accounts JOIN mfa_devices, by sessions.token_hash
        # (unique index) and (principal_id, state) (unique index)
        "SELECT sessions",
        *then,
    ], statements
    assert "JOIN mfa_devices" in statements[0]


def test_wrong_code_is_one_read_then_the_writes(app, api: Api, mfa_owner, db_url) -> None:
    with recorded(app) as statements:
        r = api.call("POST", "/verify", mfa_owner, json={"method": "mfa", "code": "000000"})
    assert r.status_code == 401, r.text
    writes = [
        "UPDATE principals",  # count the failure if the count is as read, by primary key
        "INSERT audit_events",
    ]
    # the same read as a right code's; the failure is counted by the code check itself
    # (one below the lock), with the write lock for the two writes alone on SQLite, and in
    # one statement on PostgreSQL
    if db_url.startswith("sqlite"):
        then = ["BEGIN IMMEDIATE", *writes, "COMMIT"]
    else:
        then = ["WITH " + ", ".join(writes)]
    assert _tables(statements) == [
        "SELECT sessions",  # sessions JOIN principals JOIN accounts JOIN mfa_devices
        *then,
    ], statements


def test_password_login_is_a_few_indexed_statements(app, api: Api, mfa_owner, db_url) -> None:
    with recorded(app) as statements:
        r = api.call(
            "POST", "/login", json={"login": mfa_owner.login, "password": mfa_owner.password}
        )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "mfa_required"
    assert _kinds(statements) == [
        *_begin(db_url),  # read-only: no write lock
        "SELECT",  # principals JOIN accounts by principals.login (unique index)
        "SELECT",  # throttle_counters: the (login, client) and login runs, by primary key
        "SELECT",  # EXISTS mfa_devices (principal_id, state), EXISTS security_keys (principal_id)
        # the read-only transaction ends here: argon2 runs with no transaction open
        *_begin(db_url, write=True),
        # no write when there was no run of failures to end (was: UPDATE principals)
        "INSERT",  # login_challenges
        "INSERT",  # audit_events
    ], statements


def test_get_me_reads_without_a_transaction_round_trip(app, api: Api, mfa_owner, db_url) -> None:
    """`GET /me` only reads, each statement a read of its own, on the hot paths'
    connections (storage/hot.py): no BEGIN and no COMMIT. On SQLite a lone SELECT is its
    own WAL read transaction (no write lock); on PostgreSQL, at READ COMMITTED, each
    statement of a transaction sees a snapshot of its own anyway, so they run in autocommit
    on the event loop's own connections (storage/aio.py), and the engine's pool is left
    untouched, its connections as they were, for the next use case's writes."""
    with recorded(app) as statements:
        r = api.call("GET", "/me", mfa_owner)
    assert r.status_code == 200, r.text
    # the session (sessions JOIN principals JOIN accounts); the MFA status
    assert _tables(statements) == ["SELECT sessions", "SELECT mfa_devices"], statements
    if db_url.startswith("sqlite"):
        return
    loop_db = app.state.runtime.loop_db
    assert loop_db._idle and all(conn.autocommit for conn, _ in loop_db._idle)
    engine = app.state.runtime.engine
    conns = [engine.raw_connection() for _ in range(engine.pool.checkedin())]
    try:
        assert conns and not any(c.dbapi_connection.autocommit for c in conns)
    finally:
        for c in conns:
            c.close()


def test_forward_auth_reads_by_key_without_a_transaction(
    app, api: Api, mfa_owner, db_url
) -> None:
    """Forward-auth's common case: the application, the session, and (the application
    requires MFA) the principal's factors, each a read by key of its own on the hot paths'
    connections, with nothing written."""
    body = {"name": "Wiki", "redirect_uris": ["https://wiki.example/cb"], "require_mfa": True}
    created = api.call("POST", "/applications", mfa_owner, json=body)
    assert created.status_code == 201, created.text
    client_id = created.json()["client_id"]
    with recorded(app) as statements:
        r = api.call("GET", f"/authz/auth-request?app={client_id}", mfa_owner)
    assert r.status_code == 200, r.text
    assert r.headers["remote-user"] == mfa_owner.login
    assert _tables(statements) == [
        "SELECT applications",  # by client_id (unique index)
        "SELECT sessions",  # sessions JOIN principals JOIN accounts, by token_hash
        "SELECT mfa_devices",  # the factors: EXISTS by (principal_id, state), security keys
    ], statements
