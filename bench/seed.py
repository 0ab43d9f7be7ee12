"""Bulk seeding: N principals, each with an active TOTP device and a signed-in session.

Rows go in with the driver's bulk path (sqlite3 executemany, PostgreSQL COPY), not through the
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

from twofold.domain.passwords import HashParams, Passwords
from twofold.domain.sealing import KeyRing
from twofold.domain.tokens import token_digest
from twofold.services.codes import device_context
from twofold.storage.db import normalize_url
from twofold.storage.migrate import upgrade

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


def _rows(n: int, keys: KeyRing, pw_hash: str, now: datetime) -> Iterator[tuple[str, tuple]]:
    """(table, row), one table after the other (parents first), streamed."""
    for a in range(1, account_of(n) + 1):
        yield "accounts", (a, f"a{a:05d}", f"owner@a{a:05d}.example", now)
    for i in range(1, n + 1):
        login = login_of(i)
        primary = (i - 1) % PER_ACCOUNT == 0
        name = login if primary else f"u{i}"
        kind = "primary" if primary else "user"
        yield "principals", (i, account_of(i), kind, name, login, pw_hash, now)
    for i in range(1, n + 1):
        serial = serial_of(i)
        sealed = keys.seal(secret_of(i), device_context(serial))
        yield "mfa_devices", (i, serial, i, "active", sealed, now, now)
    # last_seen_at ahead of the clock: "active within the last minute" all through the run,
    # so the measured check is the steady state (no once-a-minute last-seen touch).
    seen_until = now + timedelta(hours=2)
    expires = now + timedelta(hours=12)
    for i in range(1, n + 1):
        digest = token_digest(token_of(i))
        yield "sessions", (i, f"{i:016x}", digest, i, now, seen_until, expires, now)


COLUMNS = {
    "accounts": "id, name, email, created_at",
    "principals": "id, account_id, kind, name, login, password_hash, created_at",
    "mfa_devices": "id, serial, principal_id, state, sealed_secret, created_at, bound_at",
    "sessions": (
        "id, public_id, token_hash, principal_id, created_at, last_seen_at, expires_at, "
        "verified_at"
    ),
}


def seed(url: str, n: int, keys: KeyRing, params: HashParams) -> float:
    """Create the schema and N principals/devices/sessions; returns seconds taken."""
    started = time.monotonic()
    pw_hash = Passwords(params).hash(PASSWORD)
    now = datetime.now(UTC).replace(microsecond=0)
    url = normalize_url(url)
    upgrade(url)
    rows = _rows(n, keys, pw_hash, now)
    if url.startswith("sqlite"):
        _seed_sqlite(url.split("///", 1)[1], rows)
    else:
        _seed_pg(url, rows)
    return time.monotonic() - started


def _sqlite_value(v: object) -> object:
    if isinstance(v, datetime):
        return v.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return v


def _seed_sqlite(path: str, rows: Iterator[tuple[str, tuple]]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    batch: dict[str, list[tuple]] = {t: [] for t in COLUMNS}

    def flush() -> None:
        for table, items in batch.items():
            if items:
                cols = COLUMNS[table]
                marks = ", ".join("?" * len(cols.split(",")))
                conn.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", items)
                items.clear()

    for count, (table, row) in enumerate(rows, 1):
        batch[table].append(tuple(_sqlite_value(v) for v in row))
        if count % 50_000 == 0:
            flush()
    flush()
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def _seed_pg(url: str, rows: Iterator[tuple[str, tuple]]) -> None:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        current: str | None = None
        copy_cm = None
        copy = None
        for table, row in rows:
            if table != current:
                if copy_cm is not None:
                    copy_cm.__exit__(None, None, None)
                current = table
                copy_cm = cur.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN")
                copy = copy_cm.__enter__()
            assert copy is not None
            copy.write_row(row)
        if copy_cm is not None:
            copy_cm.__exit__(None, None, None)
        for table in COLUMNS:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")


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
