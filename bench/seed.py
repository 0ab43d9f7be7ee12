"""Bulk seeding: N principals, each with an active TOTP device and a signed-in session.

Rows go in through the models' own tables (SQLAlchemy Core executemany), not through the
services: one argon2 hash shared by every principal, secrets sealed with the app's own KeyRing
(so the server opens them exactly as it opens its own). Secrets and tokens are derived from
the principal number, so the load generator computes codes without reading the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import Table, insert, text

from twofold.domain.passwords import HashParams, Passwords
from twofold.domain.sealing import KeyRing
from twofold.domain.tokens import token_digest
from twofold.services.codes import device_context
from twofold.storage.db import Timeouts, make_engine, normalize_url
from twofold.storage.migrate import upgrade
from twofold.storage.models import Account, AuthSession, MfaDevice, Principal

PASSWORD = "bench-password-2718"
PER_ACCOUNT = 1000
_SEED_KEY = b"twofold-bench-seed"


def secret_bytes(i: int) -> bytes:
    return hmac.new(_SEED_KEY, f"secret:{i}".encode(), hashlib.sha1).digest()


def secret_of(i: int) -> str:
    return base64.b32encode(secret_bytes(i)).decode("ascii").rstrip("=")


def token_of(i: int) -> str:
    mac = hmac.new(_SEED_KEY, f"token:{i}".encode(), hashlib.sha256).hexdigest()
    return f"bench{i}-{mac[:32]}"


def account_of(i: int) -> int:
    return (i - 1) // PER_ACCOUNT + 1


def login_of(i: int) -> str:
    a = account_of(i)
    return f"a{a:05d}" if (i - 1) % PER_ACCOUNT == 0 else f"u{i}@a{a:05d}"


def serial_of(i: int) -> str:
    return f"vmfa-bench{i:010d}"


def _rows(n: int, keys: KeyRing, pw_hash: str, now: datetime) -> Iterator[tuple[Table, dict]]:
    """(table, row), one table after the other (parents first), streamed. Rows name the
    models' own columns; what is left out gets the models' defaults."""
    for a in range(1, account_of(n) + 1):
        yield ACCOUNTS, {"id": a, "name": f"a{a:05d}", "email": f"owner@a{a:05d}.example",
                         "created_at": now}
    for i in range(1, n + 1):
        login = login_of(i)
        primary = (i - 1) % PER_ACCOUNT == 0
        yield PRINCIPALS, {
            "id": i, "account_id": account_of(i), "kind": "primary" if primary else "user",
            "name": login if primary else f"u{i}", "login": login, "password_hash": pw_hash,
            "created_at": now, "password_changed_at": now,
        }
    for i in range(1, n + 1):
        serial = serial_of(i)
        yield DEVICES, {
            "id": i, "serial": serial, "principal_id": i, "state": "active",
            "sealed_secret": keys.seal(secret_of(i), device_context(serial)),
            "created_at": now, "bound_at": now,
        }
    # last_seen_at ahead of the clock: "active within the last minute" all through the run,
    # so the measured check is the steady state (no once-a-minute last-seen touch).
    seen_until = now + timedelta(hours=2)
    expires = now + timedelta(hours=12)
    for i in range(1, n + 1):
        yield SESSIONS, {
            "id": i, "public_id": f"{i:016x}", "token_hash": token_digest(token_of(i)),
            "principal_id": i, "created_at": now, "last_seen_at": seen_until,
            "expires_at": expires, "verified_at": now,
        }


ACCOUNTS = Account.__table__
PRINCIPALS = Principal.__table__
DEVICES = MfaDevice.__table__
SESSIONS = AuthSession.__table__
BATCH = 20_000


def seed(url: str, n: int, keys: KeyRing, params: HashParams) -> float:
    """Create the schema and N principals/devices/sessions; returns seconds taken.

    Rows go in through the models' tables (SQLAlchemy Core, executemany), so their column
    types encode the values exactly as the app's own writes do, and a column the seed does
    not know gets the model's default, or fails here if it has none."""
    started = time.monotonic()
    pw_hash = Passwords(params).hash(PASSWORD)
    now = datetime.now(UTC).replace(microsecond=0)
    url = normalize_url(url)
    upgrade(url)
    # Bulk statements: no request-sized statement timeout.
    engine = make_engine(url, pool_size=1, timeouts=Timeouts(statement=3600.0))
    try:
        with engine.begin() as conn:
            batch: list[dict] = []
            table: Table | None = None
            for row_table, row in _rows(n, keys, pw_hash, now):
                if row_table is not table or len(batch) >= BATCH:
                    if batch and table is not None:
                        conn.execute(insert(table), batch)
                    batch, table = [], row_table
                batch.append(row)
            if batch and table is not None:
                conn.execute(insert(table), batch)
            if engine.dialect.name == "postgresql":
                for t in (ACCOUNTS, PRINCIPALS, DEVICES, SESSIONS):
                    conn.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'), "
                        f"(SELECT max(id) FROM {t.name}))"
                    ))
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql(
                "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
            )
    finally:
        engine.dispose()
    return time.monotonic() - started


def sqlite_path(url: str) -> str:
    return url.split("///", 1)[1]


def create_pg_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def reset_state(url: str) -> None:
    """Between runs: forget used steps, failure counts and login leftovers, so the next run
    starts from the same state (a device accepts each step once)."""
    statements = [
        "UPDATE mfa_devices SET last_step = 0 WHERE last_step <> 0",
        "UPDATE principals SET code_failures = 0, code_locked_until = NULL, "
        "password_failures = 0, password_locked_until = NULL "
        "WHERE code_failures <> 0 OR code_locked_until IS NOT NULL "
        "OR password_failures <> 0 OR password_locked_until IS NOT NULL",
        "UPDATE principals SET recovery_failures = 0, recovery_locked_until = NULL "
        "WHERE recovery_failures <> 0 OR recovery_locked_until IS NOT NULL",
        "DELETE FROM throttle_counters",
        "DELETE FROM login_challenges",
        "DELETE FROM audit_events",
        "DELETE FROM sessions WHERE id > (SELECT count(*) FROM principals)",
    ]
    url = normalize_url(url)
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(url), isolation_level=None, timeout=30)
        conn.execute("BEGIN IMMEDIATE")
        for s in statements:
            conn.execute(s)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    else:
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as conn:
            for s in statements:
                conn.execute(s)  # type: ignore[arg-type]
