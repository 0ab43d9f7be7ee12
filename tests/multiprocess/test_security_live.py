"""Issue 7 against real server processes: the recovery-code race across two processes, and
login networks behind a trusted proxy and from a spoofing untrusted peer."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
import pytest

from tests.live import live_servers, start_server
from tests.security.live_helpers import enable_mfa
from tests.support import PASSWORD, USER_PASSWORD, bearer

pytestmark = pytest.mark.multiprocess


def _signup(api: str) -> str:
    r = httpx.post(
        api + "/accounts", json={"name": "acme", "email": "o@acme.example", "password": PASSWORD}
    )
    assert r.status_code == 201, r.text
    r = httpx.post(api + "/login", json={"login": "acme", "password": PASSWORD})
    token: str = r.json()["token"]
    return token


def test_one_recovery_code_used_in_parallel_on_two_processes_wins_once(
    db_url: str, tmp_path: Path
) -> None:
    with live_servers(db_url, tmp_path / "key", tmp_path / "logs", count=2) as (a, b):
        codes = enable_mfa(a.api, _signup(a.api))["recovery_codes"]
        for round_ in range(4):
            code = codes[round_]
            challenges = []
            for server in (a, b):
                r = httpx.post(server.api + "/login", json={"login": "acme", "password": PASSWORD})
                challenges.append(r.json()["challenge"])
            barrier = threading.Barrier(2)
            results: list[httpx.Response] = []

            def use(api: str, challenge: str) -> None:
                with httpx.Client() as c:
                    barrier.wait()
                    results.append(
                        c.post(
                            api + "/login/mfa",
                            json={"challenge": challenge, "recovery_code": code},
                        )
                    )

            threads = [
                threading.Thread(target=use, args=(s.api, ch))
                for s, ch in zip((a, b), challenges, strict=True)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            statuses = sorted(r.status_code for r in results)
            assert statuses == [200, 401], [r.text for r in results]
            loser = next(r for r in results if r.status_code == 401)
            assert loser.json()["error"]["code"] == "InvalidMFACode"
            winner = next(r for r in results if r.status_code == 200)
            assert winner.json()["recovery_codes_left"] == 9 - round_
        token = winner.json()["token"]
        me = httpx.get(b.api + "/me", headers=bearer(token)).json()
        assert me["mfa"]["recovery_codes_left"] == 6


def test_login_networks_behind_a_trusted_proxy_and_from_a_spoofing_peer(
    db_url: str, tmp_path: Path
) -> None:
    key, logs = tmp_path / "key", tmp_path / "logs"
    # `behind`: the peer (127.0.0.1) is the trusted proxy; `direct`: a proxy is configured,
    # but the peer is not it, so whatever X-Forwarded-For it sends is ignored.
    behind = start_server(db_url, key, logs, extra_env={"TWOFOLD_TRUSTED_PROXIES": "127.0.0.1/32"})
    direct = start_server(db_url, key, logs, extra_env={"TWOFOLD_TRUSTED_PROXIES": "10.0.0.0/8"})
    try:
        owner = _signup(behind.api)
        r = httpx.post(
            behind.api + "/users",
            headers=bearer(owner),
            json={"name": "alice", "password": USER_PASSWORD},
        )
        assert r.status_code == 201, r.text
        r = httpx.patch(
            behind.api + "/account/security",
            headers=bearer(owner),
            json={"login_networks": ["203.0.113.0/24", "2001:db8::/32"]},
        )
        assert r.status_code == 200, r.text
        alice = {"login": "alice@acme", "password": USER_PASSWORD}

        def login(server_api: str, forwarded: str | None) -> tuple[int, str]:
            headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
            r = httpx.post(server_api + "/login", json=alice, headers=headers)
            body = r.json()
            return r.status_code, body.get("state") or body["error"]["code"]

        ok, refused = (200, "authenticated"), (403, "NetworkNotAllowed")
        assert login(behind.api, "203.0.113.7") == ok
        assert login(behind.api, "2001:db8::7") == ok
        assert login(behind.api, "198.51.100.1") == refused
        # A client-written hop before the real one does not help: the nearest untrusted
        # hop (what the proxy saw) decides.
        assert login(behind.api, "203.0.113.7, 198.51.100.1") == refused
        assert login(behind.api, None) == refused  # the proxy itself is not in the list
        assert login(direct.api, "203.0.113.7") == refused  # spoofed: ignored
        assert login(direct.api, None) == refused
        # The recorded address is the forwarded one behind the proxy.
        r = httpx.post(
            behind.api + "/login", json=alice, headers={"X-Forwarded-For": "203.0.113.44"}
        )
        token = r.json()["token"]
        # Every request of the session is held to the list (F9), not the login alone.
        outside = httpx.get(behind.api + "/me/sessions", headers=bearer(token))
        assert outside.json()["error"]["code"] == "NetworkNotAllowed"
        sessions = httpx.get(
            behind.api + "/me/sessions",
            headers={**bearer(token), "X-Forwarded-For": "203.0.113.44"},
        )
        current = next(s for s in sessions.json()["sessions"] if s["current"])
        assert current["client_addr"] == "203.0.113.44"
        # The primary is never held by the list.
        r = httpx.post(direct.api + "/login", json={"login": "acme", "password": PASSWORD})
        assert r.json()["state"] == "authenticated"
    finally:
        behind.kill(signal.SIGTERM)
        direct.kill(signal.SIGTERM)
