"""Two real server processes on one database: one code is accepted once, and nothing secret
reaches the database in clear or the logs."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import MetaData, select

from tests.conftest import Inbox
from tests.live import LiveServer, live_servers
from tests.security.live_helpers import enable_mfa
from tests.support import PASSWORD, oathtool
from twofold.storage.db import make_engine


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signup(server: LiveServer, name: str = "acme", email: str = "o@acme.example") -> str:
    r = httpx.post(server.api + "/accounts",
                   json={"name": name, "email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = httpx.post(server.api + "/login", json={"login": name, "password": PASSWORD})
    return str(r.json()["token"])


def test_thirty_parallel_submissions_of_one_code_succeed_once(db_url: str,
                                                              tmp_path: Path) -> None:
    with live_servers(db_url, tmp_path / "key", tmp_path / "logs", count=2) as servers:
        a, b = servers
        token = signup(a)
        secret = enable_mfa(a.api, token)["secret"]
        challenges = []
        for i in range(30):
            r = httpx.post(servers[i % 2].api + "/login",
                           json={"login": "acme", "password": PASSWORD})
            assert r.json()["state"] == "mfa_required"
            challenges.append(r.json()["challenge"])
        # A code of the next step: fresh, never accepted, inside the window.
        code = oathtool(secret, int(time.time()) + 30)
        barrier = threading.Barrier(30)

        def submit(i: int) -> int:
            with httpx.Client(timeout=30) as c:
                barrier.wait()
                return c.post(servers[i % 2].api + "/login/mfa",
                              json={"challenge": challenges[i], "code": code}).status_code

        with ThreadPoolExecutor(30) as pool:
            statuses = list(pool.map(submit, range(30)))
        assert statuses.count(200) == 1, statuses
        assert set(statuses) <= {200, 401, 429}, statuses
        # Both processes took part.
        assert {i % 2 for i, s in enumerate(statuses) if s != 200} == {0, 1}


def _dump(db_url: str, tmp_path: Path) -> str:
    if db_url.startswith("sqlite"):
        path = db_url.removeprefix("sqlite:///")
        conn = sqlite3.connect(path)
        try:
            return "\n".join(conn.iterdump())
        finally:
            conn.close()
    engine = make_engine(db_url, pool_size=1)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return "\n".join(
                repr(tuple(row)) for table in meta.sorted_tables
                for row in conn.execute(select(table))
            )
    finally:
        engine.dispose()


def test_database_and_logs_hold_no_secret_or_token_in_clear(
    db_url: str, tmp_path: Path, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    inbox.clear()
    secrets: dict[str, str] = {}
    env = {"TWOFOLD_SMTP_URL": f"smtp://127.0.0.1:{port}"}
    with live_servers(db_url, tmp_path / "key", tmp_path / "logs", count=2,
                      extra_env=env) as servers:
        a, b = servers
        token = signup(a)
        secrets["first session token"] = token
        bound = enable_mfa(b.api, token)
        secret = bound["secret"]
        secrets["totp secret"] = secret
        for i, rc in enumerate(bound["recovery_codes"]):
            secrets[f"recovery code {i}"] = rc
            secrets[f"recovery code {i} flat"] = rc.replace("-", "")
        # A pending device that is never bound.
        pending = httpx.post(a.api + "/me/mfa-device", headers=bearer(token)).json()
        secrets["pending secret"] = pending["secret"]
        # Two-step login: challenge, a wrong code, the right code.
        r = httpx.post(b.api + "/login", json={"login": "acme", "password": PASSWORD})
        challenge = r.json()["challenge"]
        secrets["challenge"] = challenge
        httpx.post(a.api + "/login/mfa", json={"challenge": challenge, "code": "000000x"})
        code = oathtool(secret, int(time.time()) + 30)
        r = httpx.post(a.api + "/login/mfa", json={"challenge": challenge, "code": code})
        assert r.status_code == 200, r.text
        secrets["second session token"] = r.json()["token"]
        # A recovery-code login and a sub-user with an emailed step-up code.
        r = httpx.post(b.api + "/login", json={"login": "acme", "password": PASSWORD})
        r = httpx.post(b.api + "/login/mfa", json={"challenge": r.json()["challenge"],
                                                   "recovery_code": bound["recovery_codes"][0]})
        assert r.status_code == 200, r.text
        secrets["third session token"] = r.json()["token"]
        r = httpx.post(a.api + "/users", headers=bearer(token),
                       json={"name": "alice", "password": "alice passphrase 1",
                             "email": "alice@acme.example"})
        assert r.status_code == 201, r.text
        r = httpx.post(a.api + "/login", json={"login": "alice@acme",
                                               "password": "alice passphrase 1"})
        alice = r.json()["token"]
        secrets["alice token"] = alice
        assert httpx.post(b.api + "/verify/email", headers=bearer(alice)).status_code == 202
        mailed = re.search(r"\b(\d{6})\b", inbox.bodies_to("alice@acme.example")[-1])
        assert mailed
        r = httpx.post(a.api + "/verify", headers=bearer(alice),
                       json={"method": "email", "code": mailed.group(1)})
        assert r.status_code == 200, r.text
        logs = "\n".join(s.log() for s in servers)
    dump = _dump(db_url, tmp_path)
    assert "mfa_devices" in dump or "vmfa-" in dump  # the dump is real
    assert bound["serial"] in dump
    for what, value in secrets.items():
        assert value not in dump, f"{what} is in the database dump"
        assert value not in logs, f"{what} is in the server logs"
    # The secret in any spelling: lower case, or grouped for manual entry.
    assert secret.lower() not in dump.lower()
    grouped = " ".join(secret[i:i + 4] for i in range(0, 32, 4))
    assert grouped not in dump and grouped not in logs
