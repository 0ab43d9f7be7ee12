"""Scale-out proof: several server processes on one PostgreSQL database keep every guarantee.

Each server is a separate `twofold serve` process (tests/live.py); all security state is in the
database, so what one process decides, the others see at once.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.live import live_servers
from tests.security.live_helpers import enable_mfa, signup
from tests.support import PASSWORD, bearer, oathtool

pytestmark = [pytest.mark.multiprocess]

PROCESSES = 3


@pytest.fixture
def pg_url(pg_database: str) -> str:
    from sqlalchemy import text

    from tests.conftest import TABLES
    from twofold.storage.db import make_engine

    engine = make_engine(pg_database, pool_size=1)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return pg_database


def _signup_with_mfa(api: str, name: str = "acme") -> tuple[str, str]:
    """An account with a bound device (the previous and the current step, so the next step
    is the first fresh one); returns (token, secret)."""
    token = signup(api, name)
    return token, str(enable_mfa(api, token)["secret"])


def test_guarantees_hold_across_processes(pg_url, tmp_path) -> None:
    with live_servers(pg_url, tmp_path / "key", tmp_path / "logs", count=PROCESSES) as servers:
        apis = [s.api for s in servers]
        token, secret = _signup_with_mfa(apis[0])

        # 1. One fresh code, raced on every process at once (several requests each): one wins.
        # The bind used the previous and the current step; the next one is fresh and already
        # inside the accepted window.
        code = oathtool(secret, int(time.time()) + 30)
        barrier_calls = [apis[i % PROCESSES] for i in range(4 * PROCESSES)]
        with ThreadPoolExecutor(len(barrier_calls)) as pool:
            answers = list(pool.map(
                lambda api: httpx.post(api + "/verify", headers=bearer(token), timeout=30,
                                       json={"method": "mfa", "code": code}),
                barrier_calls,
            ))
        codes = [r.json()["error"]["code"] for r in answers if r.status_code != 200]
        assert [r.status_code for r in answers].count(200) == 1, [r.text for r in answers]

        # 2. Lockout counts are shared: the losers are replays, counted as failures in the
        # database whichever process answered; the fifth locks, the rest are refused.
        assert codes.count("InvalidMFACode") == 5, codes
        assert codes.count("TooManyAttempts") == len(answers) - 6, codes
        for api in apis:  # every process refuses any code now: the lock is shared
            r = httpx.post(api + "/verify", headers=bearer(token),
                           json={"method": "mfa", "code": "123456"})
            assert r.status_code == 429, r.text
            assert r.json()["error"]["code"] == "TooManyAttempts"

        # 2b. Wrong codes raced on every process at once: each counted once, whichever
        # process and whichever path counted it (the code check's own count below the lock,
        # the full use case's for the lock): the fifth locks, the rest are refused.
        other_token, _ = _signup_with_mfa(apis[1], "beta")
        with ThreadPoolExecutor(len(barrier_calls)) as pool:
            answers = list(pool.map(
                lambda api: httpx.post(api + "/verify", headers=bearer(other_token), timeout=30,
                                       json={"method": "mfa", "code": "000000"}),
                barrier_calls,
            ))
        codes = [r.json()["error"]["code"] for r in answers]
        assert codes.count("InvalidMFACode") == 5, codes
        assert codes.count("TooManyAttempts") == len(answers) - 5, codes

        # 3. A logout on one process is seen by the others at once.
        login = httpx.post(apis[2] + "/login", json={"login": "acme", "password": PASSWORD})
        assert login.json()["state"] == "mfa_required"
        other = httpx.post(apis[0] + "/login", json={"login": "acme", "password": PASSWORD})
        assert other.status_code == 200
        # the signed-in session from the sign-up still works everywhere ...
        for api in apis:
            assert httpx.get(api + "/me", headers=bearer(token)).status_code == 200
        r = httpx.post(apis[0] + "/logout", headers=bearer(token))
        assert r.status_code == 204
        # ... and is gone everywhere the moment the logout answered
        for api in apis:
            r = httpx.get(api + "/me", headers=bearer(token))
            assert r.status_code == 401, (api, r.text)
