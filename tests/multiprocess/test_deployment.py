"""Deployment with real processes: the SQLite files are private, and behind a TLS load
balancer (X-Forwarded-Proto from a trusted address) cookies are Secure and https forms pass."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.live import start_server
from tests.support import PASSWORD

pytestmark = pytest.mark.multiprocess

_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _env(db: Path, key: Path) -> dict[str, str]:
    return {**os.environ, "TWOFOLD_DATABASE_URL": f"sqlite:///{db}", "TWOFOLD_KEY_FILE": str(key),
            "TWOFOLD_ENV": "test"}


def test_db_upgrade_creates_a_private_database(tmp_path: Path) -> None:
    db, key = tmp_path / "twofold.db", tmp_path / "twofold.key"
    old = os.umask(0o022)  # the usual umask, under which SQLite alone makes 0644 files
    try:
        out = subprocess.run([sys.executable, "-m", "twofold", "db", "upgrade"],
                             env=_env(db, key), capture_output=True, text=True, timeout=120)
    finally:
        os.umask(old)
    assert out.returncode == 0, out.stderr
    assert _mode(db) == 0o600
    assert _mode(key) == 0o600
    for extra in tmp_path.glob("twofold.db*"):
        assert _mode(extra) == 0o600, extra


def test_a_served_database_and_its_wal_are_private(tmp_path: Path) -> None:
    db, key = tmp_path / "twofold.db", tmp_path / "twofold.key"
    old = os.umask(0o022)
    try:
        server = start_server(f"sqlite:///{db}", key, tmp_path / "logs")
    finally:
        os.umask(old)
    try:
        r = httpx.post(server.api + "/accounts", timeout=30,
                       json={"name": "acme", "email": "o@acme.example", "password": PASSWORD})
        assert r.status_code == 201, r.text
        wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
        assert wal.exists() and shm.exists()  # WAL mode, connections open
        assert {p.name: _mode(p) for p in (db, wal, shm)} == {
            db.name: 0o600, wal.name: 0o600, shm.name: 0o600
        }
    finally:
        server.kill()


def _login_form(url: str, headers: dict[str, str]) -> tuple[httpx.Client, str, list[str]]:
    client = httpx.Client(base_url=url, timeout=30, headers=headers)
    page = client.get("/login")
    assert page.status_code == 200
    found = _CSRF.search(page.text)
    assert found
    return client, found.group(1), page.headers.get_list("set-cookie")


def _post_login(client: httpx.Client, csrf: str, origin: str) -> httpx.Response:
    # httpx does not send back __Host-/Secure cookies over http: carry them by hand.
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    return client.post("/login", data={"csrf": csrf, "login": "nobody", "password": "x" * 12},
                       headers={"Origin": origin, "Cookie": cookie})


@pytest.mark.parametrize("workers", [1, 2])
def test_tls_at_a_trusted_proxy(tmp_path: Path, workers: int) -> None:
    server = start_server(f"sqlite:///{tmp_path / 'db'}", tmp_path / "key", tmp_path / "logs",
                          workers=workers, extra_env={"TWOFOLD_TRUSTED_PROXIES": "127.0.0.0/8"})
    try:
        host = server.url.removeprefix("http://")
        client, csrf, cookies = _login_form(server.url, {"X-Forwarded-Proto": "https"})
        assert cookies and all("secure" in c.lower() for c in cookies), cookies
        assert all(c.startswith("__Host-") for c in cookies), cookies
        r = _post_login(client, csrf, f"https://{host}")
        # The form is accepted and judged: a wrong password, not a refused form.
        assert r.status_code == 401 and "could not be accepted" not in r.text
    finally:
        server.kill()


def test_forwarded_proto_from_an_untrusted_address_is_ignored(tmp_path: Path) -> None:
    server = start_server(f"sqlite:///{tmp_path / 'db'}", tmp_path / "key", tmp_path / "logs",
                          extra_env={"TWOFOLD_TRUSTED_PROXIES": "10.0.0.0/8"})
    try:
        host = server.url.removeprefix("http://")
        client, csrf, cookies = _login_form(server.url, {"X-Forwarded-Proto": "https"})
        assert cookies and not any("secure" in c.lower() for c in cookies), cookies
        r = _post_login(client, csrf, f"https://{host}")
        assert r.status_code == 403
    finally:
        server.kill()


def test_secure_cookies_can_be_forced(tmp_path: Path) -> None:
    server = start_server(f"sqlite:///{tmp_path / 'db'}", tmp_path / "key", tmp_path / "logs",
                          extra_env={"TWOFOLD_SECURE_COOKIES": "true"})
    try:
        _, _, cookies = _login_form(server.url, {})
        assert cookies and all("secure" in c.lower() for c in cookies), cookies
    finally:
        server.kill()
