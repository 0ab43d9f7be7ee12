"""Item 19: a process killed with SIGKILL in the middle of binding, of a code check and of a
key rotation leaves each wholly done or wholly not done, and loses nothing.

On PostgreSQL the kill lands inside the transaction for certain: the test locks a table the
operation writes last, waits until the server's transaction blocks on it (it has already
written the rest), and kills the process then. On SQLite, which has no such lock to wait on,
the kill lands at several points in time and the invariants are checked after each.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import insert, select, text

from tests.live import LiveServer, start_server
from tests.security.live_helpers import bearer, challenge, enable_mfa, signup
from tests.support import oathtool
from twofold.domain import totp
from twofold.services.codes import device_context
from twofold.storage import keyfile
from twofold.storage.db import make_engine, normalize_url
from twofold.storage.models import MfaDevice, Principal

pytestmark = [pytest.mark.multiprocess]


def _pg_dsn(db_url: str) -> str:
    return normalize_url(db_url).replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def table_locked(db_url: str, table: str) -> Iterator[Callable[[], None]]:
    """Hold an EXCLUSIVE lock on `table` (PostgreSQL); yields a wait-until-blocked function."""
    conn = psycopg.connect(_pg_dsn(db_url))
    conn.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")

    def wait_blocked() -> None:
        with psycopg.connect(_pg_dsn(db_url), autocommit=True) as probe:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                n = probe.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                ).fetchone()
                if n and n[0] > 0:
                    return
                time.sleep(0.02)
        raise AssertionError(f"no transaction blocked on {table}")

    try:
        yield wait_blocked
    finally:
        conn.rollback()
        conn.close()


def kill_during(db_url: str, server: LiveServer, table: str, delay: float,
                request: Callable[[], Any]) -> None:
    """Send `request` and SIGKILL the server while it is in the middle of it."""
    t = threading.Thread(target=lambda: _swallow(request), daemon=True)
    if db_url.startswith("postgresql"):
        with table_locked(db_url, table) as wait_blocked:
            t.start()
            wait_blocked()
            server.kill()
    else:
        t.start()
        time.sleep(delay)
        server.kill()
    t.join(timeout=30)


def _swallow(request: Callable[[], Any]) -> None:
    with suppress(httpx.HTTPError):
        request()


def scalar(db_url: str, sql: str, **params: Any) -> Any:
    engine = make_engine(db_url, pool_size=1)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


DELAYS = (0.0, 0.004, 0.012)


def test_sigkill_in_the_middle_of_a_code_check(db_url: str, tmp_path: Path) -> None:
    key, logs = tmp_path / "key", tmp_path / "logs"
    server = start_server(db_url, key, logs)
    try:
        token = signup(server.api, "acme")
        dev = enable_mfa(server.api, token)
        code = oathtool(dev["secret"], (dev["bound_step"] + 1) * 30)
        delays = DELAYS if db_url.startswith("sqlite") else (0.0,)
        for delay in delays:
            ch = challenge(server.api, "acme")
            step_before = scalar(db_url, "SELECT last_step FROM mfa_devices WHERE state='active'")
            sessions_before = scalar(db_url, "SELECT count(*) FROM sessions")
            kill_during(db_url, server, "sessions", delay, lambda ch=ch: httpx.post(
                server.api + "/login/mfa", json={"challenge": ch, "code": code}, timeout=30))
            server = start_server(db_url, key, logs)
            step_after = scalar(db_url, "SELECT last_step FROM mfa_devices WHERE state='active'")
            used = scalar(db_url, "SELECT count(*) FROM login_challenges WHERE used_at IS NOT NULL")
            sessions_after = scalar(db_url, "SELECT count(*) FROM sessions")
            done = step_after != step_before
            # All or nothing: the step, the challenge and the session move together.
            assert (sessions_after == sessions_before + 1) == done
            assert used == (1 if done else 0) + (1 if step_before > dev["bound_step"] else 0)
            r = httpx.post(server.api + "/login/mfa", json={"challenge": ch, "code": code},
                           timeout=30)
            if done:
                assert r.status_code == 401, r.text  # used up, as it should be
            else:
                assert r.status_code == 200, r.text  # nothing lost: the same code still works
                break
        else:
            assert db_url.startswith("sqlite"), "PostgreSQL must have been killed mid-way"
    finally:
        server.kill()


def test_sigkill_in_the_middle_of_binding(db_url: str, tmp_path: Path) -> None:
    key, logs = tmp_path / "key", tmp_path / "logs"
    server = start_server(db_url, key, logs)
    try:
        token = signup(server.api, "acme")
        delays = DELAYS if db_url.startswith("sqlite") else (0.0,)
        for i, delay in enumerate(delays):
            name = f"user-{i}"
            r = httpx.post(server.api + "/users", headers=bearer(token), timeout=30,
                           json={"name": name, "password": "sub-user passphrase 42"})
            assert r.status_code == 201, r.text
            path = f"/users/{name}/mfa-device"
            dev = httpx.post(server.api + path, headers=bearer(token), timeout=30).json()
            now = int(time.time())
            body = {"serial": dev["serial"], "code1": oathtool(dev["secret"], now - 30),
                    "code2": oathtool(dev["secret"], now)}
            kill_during(db_url, server, "recovery_codes", delay, lambda p=path, b=body: httpx.post(
                server.api + p + "/bind", headers=bearer(token), json=b, timeout=30))
            server = start_server(db_url, key, logs)
            state = scalar(db_url, "SELECT state FROM mfa_devices WHERE serial = :s",
                           s=dev["serial"])
            codes = scalar(db_url, "SELECT count(*) FROM recovery_codes r JOIN principals p ON"
                           " p.id = r.principal_id WHERE p.name = :n", n=name)
            bound_events = scalar(db_url, "SELECT count(*) FROM audit_events WHERE action ="
                                  " 'mfa.device_bound' AND target = :t", t=f"{name}@acme")
            assert state in ("pending", "active")
            if state == "active":
                assert codes == 10 and bound_events == 1
            else:
                assert codes == 0 and bound_events == 0
                r = httpx.post(server.api + path + "/bind", headers=bearer(token), json=body,
                               timeout=30)
                assert r.status_code == 200, r.text  # nothing lost: binding still possible
                break
        else:
            assert db_url.startswith("sqlite"), "PostgreSQL must have been killed mid-way"
    finally:
        server.kill()


def _seed_devices(db_url: str, key: Path, count: int) -> dict[str, str]:
    """`count` principals with an active device each, sealed under the current key."""
    ring = keyfile.load(str(key))
    engine = make_engine(db_url, pool_size=1)
    secrets_by_serial: dict[str, str] = {}
    with engine.begin() as conn:
        account_id = conn.execute(text("SELECT id FROM accounts WHERE name='acme'")).scalar()
        rows = [{"account_id": account_id, "kind": "user", "name": f"u{i}", "login": f"u{i}@acme",
                 "password_hash": "x", "mfa_required": False, "created_at": _now()}
                for i in range(count)]
        conn.execute(insert(Principal), rows)
        ids = conn.execute(select(Principal.id, Principal.name).where(
            Principal.kind == "user")).all()
        devices = []
        for pid, name in ids:
            serial = f"vmfa-seed-{name}"
            secret = totp.new_secret()
            secrets_by_serial[serial] = secret
            devices.append({"serial": serial, "principal_id": pid, "state": "active",
                            "sealed_secret": ring.seal(secret, device_context(serial)),
                            "last_step": 0, "drift": 0, "created_at": _now()})
        conn.execute(insert(MfaDevice), devices)
    engine.dispose()
    return secrets_by_serial


def _now() -> Any:
    from datetime import UTC, datetime
    return datetime.now(UTC)


def _check_all_open(db_url: str, key: Path, expected: dict[str, str]) -> set[str]:
    """Every device secret opens with the key file to its original value; returns key ids."""
    ring = keyfile.load(str(key))
    engine = make_engine(db_url, pool_size=1)
    with engine.connect() as conn:
        rows = conn.execute(select(MfaDevice.serial, MfaDevice.sealed_secret)).all()
    engine.dispose()
    opened = {s: ring.unseal(sealed, device_context(s)) for s, sealed in rows}
    for serial, secret in expected.items():
        assert opened[serial] == secret
    return {ring.key_id_of(sealed) for _, sealed in rows}


def test_sigkill_in_the_middle_of_a_key_rotation(db_url: str, tmp_path: Path) -> None:
    key, logs = tmp_path / "key", tmp_path / "logs"
    server = start_server(db_url, key, logs)
    try:
        token = signup(server.api, "acme")
        dev = enable_mfa(server.api, token)
    finally:
        server.kill()
    # SQLite needs enough devices for the kill to land in the middle by time; PostgreSQL is
    # stopped in the middle by a lock, so a few suffice.
    expected = _seed_devices(db_url, key, 3000 if db_url.startswith("sqlite") else 300)
    first_key = keyfile.load(str(key)).current
    env = {**server.env}
    cmd = [sys.executable, "-m", "twofold", "keys", "rotate"]
    if db_url.startswith("postgresql"):
        with table_locked(db_url, "audit_events") as wait_blocked:
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            wait_blocked()  # every device is re-sealed, uncommitted, waiting on the audit row
            assert proc.poll() is None
            proc.kill()
            proc.wait()
    else:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while keyfile.load(str(key)).current == first_key:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.005)
        time.sleep(0.15)  # into the re-sealing loop
        assert proc.poll() is None, "the rotation finished before the kill: seed more devices"
        proc.kill()
        proc.wait()
    assert proc.returncode == -9
    # The key file gained a key; the database was not touched: all still under the first key.
    assert _check_all_open(db_url, key, expected) == {first_key}
    # Nothing lost: the server still checks codes of the bound device, and a rotation redone
    # to the end moves every secret to the newest key.
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    newest = keyfile.load(str(key)).current
    assert _check_all_open(db_url, key, expected) == {newest}
    server = start_server(db_url, key, logs)
    try:
        step = max(dev["bound_step"] + 1, int(time.time()) // 30)
        ch = challenge(server.api, "acme")
        r = httpx.post(server.api + "/login/mfa", timeout=30,
                       json={"challenge": ch, "code": oathtool(dev["secret"], step * 30)})
        assert r.status_code == 200, r.text
    finally:
        server.kill()
