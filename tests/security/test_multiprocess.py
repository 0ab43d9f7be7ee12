"""Items 3 and 20: parallel attacks across two real server processes on one database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import live_servers
from tests.security.live_helpers import (
    bearer,
    enable_mfa,
    parallel,
    signup,
)
from tests.support import PASSWORD, oathtool

pytestmark = [pytest.mark.multiprocess]


def _no_server_error(responses: list[httpx.Response]) -> None:
    for r in responses:
        assert r.status_code < 500, r.text
        assert "locked" not in r.text.lower() or "TooManyAttempts" in r.text, r.text


def _challenges(a: Any, b: Any, login: str) -> list[str]:
    results = parallel([("POST", (a, b)[i % 2].api + "/login",
                         {"json": {"login": login, "password": PASSWORD}}) for i in range(30)])
    return [r.json()["challenge"] for r in results]


def test_one_code_one_recovery_code_one_email_code_30_times_in_parallel(
    db_url: str, tmp_path: Path, smtp_server: Any
) -> None:
    inbox, smtp_port = smtp_server
    inbox.clear()
    env = {"TWOFOLD_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}"}
    with live_servers(db_url, tmp_path / "key", tmp_path / "logs", count=2,
                      extra_env=env) as (a, b):
        # TOTP: 30 challenges, one code (the step after the binding ones), 15 per process.
        token = signup(a.api, "acme")
        dev = enable_mfa(a.api, token)
        code = oathtool(dev["secret"], (dev["bound_step"] + 1) * 30)
        challenges = _challenges(a, b, "acme")
        calls = [("POST", (a, b)[i % 2].api + "/login/mfa", {"json": {"challenge": ch,
                                                                      "code": code}})
                 for i, ch in enumerate(challenges)]
        results = parallel(calls)
        _no_server_error(results)
        assert sorted(r.status_code for r in results).count(200) == 1, [r.text for r in results]
        assert {r.status_code for r in results} <= {200, 401, 429}

        # One recovery code, 30 times.
        token = signup(b.api, "beta")
        dev = enable_mfa(b.api, token)
        recovery = dev["recovery_codes"][0]
        challenges = _challenges(a, b, "beta")
        calls = [("POST", (a, b)[i % 2].api + "/login/mfa",
                  {"json": {"challenge": ch, "recovery_code": recovery}})
                 for i, ch in enumerate(challenges)]
        results = parallel(calls)
        _no_server_error(results)
        assert [r.status_code for r in results].count(200) == 1, [r.text for r in results]

        # One email code, 30 times, from 30 sessions of one principal.
        signup(a.api, "gamma", email="g@gamma.example")
        tokens = [r.json()["token"] for r in parallel(
            [("POST", (a, b)[i % 2].api + "/login", {"json": {"login": "gamma",
                                                              "password": PASSWORD}})
             for i in range(30)])]
        r = httpx.post(a.api + "/verify/email", headers=bearer(tokens[0]), timeout=30)
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 10
        while not inbox.bodies_to("g@gamma.example") and time.monotonic() < deadline:
            time.sleep(0.05)
        email_code = inbox.bodies_to("g@gamma.example")[-1].split("code is ")[1][:6]
        calls = [("POST", (a, b)[i % 2].api + "/verify",
                  {"json": {"method": "email", "code": email_code},
                   "headers": bearer(t)}) for i, t in enumerate(tokens)]
        results = parallel(calls)
        _no_server_error(results)
        assert [r.status_code for r in results].count(200) == 1, [r.text for r in results]
        for s in (a, b):
            assert "Traceback" not in s.log()


def test_two_writer_processes_never_answer_500(db_url: str, tmp_path: Path) -> None:
    """Item 20: concurrent writes from two processes (SQLite has one writer) stay clean."""
    with live_servers(db_url, tmp_path / "key", tmp_path / "logs", count=2) as (a, b):
        token = signup(a.api, "acme")
        calls: list[tuple[str, str, dict[str, Any]]] = []
        for i in range(40):
            server = (a, b)[i % 2]
            kind = i % 4
            if kind == 0:
                calls.append(("POST", server.api + "/accounts", {"json": {
                    "name": f"acct-{i}", "email": f"x{i}@example.org", "password": PASSWORD}}))
            elif kind == 1:
                calls.append(("POST", server.api + "/login",
                              {"json": {"login": "acme", "password": PASSWORD}}))
            elif kind == 2:
                calls.append(("POST", server.api + "/users", {"headers": bearer(token), "json": {
                    "name": f"user-{i}", "password": "sub-user passphrase 42"}}))
            else:
                calls.append(("POST", server.api + "/me/mfa-device", {"headers": bearer(token)}))
        results = parallel(calls)
        _no_server_error(results)
        assert all(r.status_code in (200, 201) for r in results), [
            (r.status_code, r.text) for r in results if r.status_code >= 300]
        for s in (a, b):
            assert "database is locked" not in s.log()
            assert "Traceback" not in s.log()
