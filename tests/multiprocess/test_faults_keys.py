"""Issue 18, keys: a missing or wrong key file is refused before anything is written, and a
rotation reaches running servers, with real `twofold` processes on both databases."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests.live import run_cli, server_env, start_server
from tests.security.live_helpers import bearer, challenge, enable_mfa, signup
from tests.support import oathtool
from twofold.storage import keyfile
from twofold.storage.db import make_engine

pytestmark = [pytest.mark.multiprocess]


def _rows(db_url: str, sql: str) -> list[tuple[object, ...]]:
    engine = make_engine(db_url, pool_size=1)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _snapshot(db_url: str) -> list[tuple[object, ...]]:
    """What a refused command must leave as it was."""
    return _rows(db_url, "SELECT serial, sealed_secret, state, last_step FROM mfa_devices"
                 " ORDER BY serial") + _rows(db_url, "SELECT count(*) FROM audit_events")


def _populate(db_url: str, tmp_path: Path) -> tuple[Path, dict[str, object]]:
    key = tmp_path / "twofold.key"
    server = start_server(db_url, key, tmp_path / "logs")
    try:
        dev = enable_mfa(server.api, signup(server.api, "acme"))
    finally:
        server.kill()
    return key, dev


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_serve_refuses_a_missing_key_file_over_sealed_secrets(db_url: str, tmp_path: Path) -> None:
    key, _ = _populate(db_url, tmp_path)
    needed = keyfile.load(str(key)).current
    key.rename(tmp_path / "elsewhere.key")
    before = _snapshot(db_url)
    db_file = Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite") else None
    db_digest = _digest(db_file) if db_file else None
    env = server_env(db_url, key)
    for args in (["serve", "--port", "1"], ["keys", "rotate"]):
        out = run_cli(env, *args)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and str(key) in lines[0] and needed in lines[0], out.stderr
        assert "Traceback" not in out.stderr
        assert not key.exists()
    assert _snapshot(db_url) == before
    if db_file:
        assert _digest(db_file) == db_digest
    # `keys init` refuses too, unless told to give those secrets up.
    out = run_cli(env, "keys", "init")
    assert out.returncode == 2 and needed in out.stderr and not key.exists(), out.stderr


def test_keys_init_creates_over_an_empty_database_only_once(db_url: str, tmp_path: Path) -> None:
    key = tmp_path / "twofold.key"
    env = server_env(db_url, key)
    out = run_cli(env, "keys", "init")
    assert out.returncode == 0, out.stderr
    digest = _digest(key)
    out = run_cli(env, "keys", "init")
    assert out.returncode == 2 and "already exists" in out.stderr
    assert _digest(key) == digest


def test_rotate_with_a_wrong_key_file_changes_nothing(db_url: str, tmp_path: Path) -> None:
    key, _ = _populate(db_url, tmp_path)
    env = server_env(db_url, key)
    # First, retire is refused while a secret uses the key (a new key, nothing re-sealed).
    old = keyfile.load(str(key))
    keyfile.add_key(str(key), old)
    digest = _digest(key)
    out = run_cli(env, "keys", "retire", old.current)
    assert out.returncode == 2 and "KeyInUse" in out.stderr and "rotate" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert _digest(key) == digest
    key.rename(tmp_path / "right.key")
    wrong = keyfile.create(str(key))  # another installation's key file
    before, digest = _snapshot(db_url), _digest(key)
    out = run_cli(env, "keys", "rotate")
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert "KeyFileMismatch" in out.stderr and wrong.current in out.stderr
    assert _digest(key) == digest and _snapshot(db_url) == before
    # A missing key file: the same, and no file made.
    key.unlink()
    out = run_cli(env, "keys", "rotate")
    assert out.returncode == 2 and not key.exists() and "Traceback" not in out.stderr
    assert _snapshot(db_url) == before


def test_a_missing_key_is_its_own_error_and_readyz_fails(db_url: str, tmp_path: Path) -> None:
    key, dev = _populate(db_url, tmp_path)
    lost = keyfile.load(str(key)).current
    key.rename(tmp_path / "lost.key")
    env = server_env(db_url, key)
    assert run_cli(env, "keys", "init", "--force").returncode == 0
    server = start_server(db_url, key, tmp_path / "logs")
    try:
        r = httpx.get(server.url + "/readyz", timeout=5)
        assert r.status_code == 503 and lost in r.json()["status"], r.text
        ch = challenge(server.api, "acme")
        code = oathtool(str(dev["secret"]), int(time.time()))
        r = httpx.post(server.api + "/login/mfa", json={"challenge": ch, "code": code}, timeout=30)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "SecretUnavailable", r.text
        assert "key" in r.json()["error"]["message"] and "Retry-After" not in r.headers
    finally:
        server.kill()


def test_a_rotation_reaches_running_servers_and_the_old_key_retires(
    db_url: str, tmp_path: Path
) -> None:
    key, logs = tmp_path / "twofold.key", tmp_path / "logs"
    env = server_env(db_url, key)
    a = start_server(db_url, key, logs)
    b = start_server(db_url, key, logs)
    try:
        first = keyfile.load(str(key)).current
        token = signup(a.api, "acme")
        dev = enable_mfa(a.api, token)
        out = run_cli(env, "keys", "retire", first)
        assert out.returncode == 2 and "current" in out.stderr, out.stderr
        out = run_cli(env, "keys", "rotate")
        assert out.returncode == 0, out.stderr
        second = keyfile.load(str(key)).current
        assert second != first
        for i, server in enumerate((a, b)):  # neither was restarted: both loaded `first`
            r = httpx.post(server.api + "/users", headers=bearer(token), timeout=30,
                           json={"name": f"user-{i}", "password": "sub-user pw 42!"})
            assert r.status_code == 201, r.text
            r = httpx.post(server.api + f"/users/user-{i}/mfa-device", headers=bearer(token),
                           timeout=30)
            assert r.status_code == 201, r.text
            kid = _rows(db_url, "SELECT sealed_secret FROM mfa_devices WHERE serial = '"
                        + r.json()["serial"] + "'")[0][0]
            assert str(kid).split(":")[0] == second, (server.url, kid)
        out = run_cli(env, "keys", "retire", first)
        assert out.returncode == 0, out.stderr
        assert first not in json.loads(key.read_text())["keys"]
        # Codes of the device bound before the rotation still work, on both servers.
        for server in (a, b):
            step = max(int(dev["bound_step"]) + 1, int(time.time()) // 30)
            ch = challenge(server.api, "acme")
            r = httpx.post(server.api + "/login/mfa", timeout=30,
                           json={"challenge": ch, "code": oathtool(str(dev["secret"]), step * 30)})
            assert r.status_code in (200, 401), r.text
            if r.status_code == 401:  # the same step, already used on the other server
                assert r.json()["error"]["code"] == "InvalidMFACode"
            assert httpx.get(server.url + "/readyz", timeout=5).status_code == 200
    finally:
        a.kill()
        b.kill()
