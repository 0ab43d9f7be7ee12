"""Issue 18, the database: a frozen PostgreSQL (SIGSTOP of a throwaway cluster the test
starts itself, never the shared one) answers 503 within the timeouts and /readyz within a
second, and recovers on SIGCONT; a SQLite file made read-only and restored heals by itself."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.live import LiveServer, free_port, start_server
from tests.security.live_helpers import bearer, enable_mfa, parallel, signup
from tests.support import PASSWORD, oathtool
from twofold.storage.migrate import upgrade

pytestmark = [pytest.mark.multiprocess]

# The machine's PostgreSQL server binaries (Debian keeps them per major version); `make test`
# needs PostgreSQL anyway, so their absence is a failure, not a skip.
PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), default=Path("/usr/lib/postgresql/15/bin"))
SETPRIV = shutil.which("setpriv")
TIMEOUTS = {"TWOFOLD_DB_CONNECT_TIMEOUT": "2", "TWOFOLD_DB_STATEMENT_TIMEOUT": "2",
            "TWOFOLD_DB_POOL_TIMEOUT": "2"}


@pytest.fixture
def throwaway_pg() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A PostgreSQL cluster of the test's own (to freeze), on a free loopback port."""
    assert (PG_BIN / "initdb").exists(), f"PostgreSQL's server binaries are not in {PG_BIN}"
    data = Path(tempfile.mkdtemp(prefix="twofold-pg-"))
    shutil.chown(data, "postgres", "postgres")
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"}
    subprocess.run([PG_BIN / "initdb", "-D", data / "db", "-A", "trust", "-U", "postgres",
                    "-E", "UTF8", "--no-sync"],
                   user="postgres", env=env, check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(
        [PG_BIN / "postgres", "-D", data / "db", "-p", str(port), "-k", str(data),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=50"],
        user="postgres", env=env,
        stdout=subprocess.DEVNULL, stderr=(data / "log").open("wb"),
    )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                log = (data / "log").read_text()
                assert time.monotonic() < deadline and proc.poll() is None, log
                time.sleep(0.1)
        upgrade(url)
        yield url, proc
    finally:
        signal_cluster(proc.pid, signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(data, ignore_errors=True)


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry))
    return kids


def signal_cluster(postmaster: int, sig: int) -> None:
    """Signal the postmaster and every backend (each runs in a session of its own)."""
    os.kill(postmaster, sig)
    for pid in _children(postmaster):
        with suppress(ProcessLookupError):
            os.kill(pid, sig)


def _login(server: LiveServer, timeout: float = 30) -> httpx.Response:
    return httpx.post(server.api + "/login", json={"login": "acme", "password": PASSWORD},
                      timeout=timeout)


def test_a_frozen_postgresql_answers_503_in_time_and_recovers(
    throwaway_pg: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    url, pg = throwaway_pg
    server = start_server(url, tmp_path / "key", tmp_path / "logs", extra_env=TIMEOUTS)
    try:
        signup(server.api, "acme")
        for _ in range(3):  # pooled connections, all open before the freeze
            assert _login(server).status_code == 200
        signal_cluster(pg.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            r = _login(server, timeout=20)
            took = time.monotonic() - t0
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "Unavailable" and "Retry-After" in r.headers
            assert took < 2 + 1 + 2.5, f"answered after {took:.1f}s"  # statement limit + slack
            print(f"frozen: a login answered 503 after {took:.2f}s")
            for _ in range(3):
                t0 = time.monotonic()
                ready = httpx.get(server.url + "/readyz", timeout=20)
                took = time.monotonic() - t0
                assert ready.status_code == 503 and took < 1.0, (ready.text, took)
                print(f"frozen: /readyz answered {ready.status_code} after {took:.2f}s")
            # Several at once, each on a connection that is pooled or must be opened.
            t0 = time.monotonic()
            answers = parallel([("POST", server.api + "/login",
                                 {"json": {"login": "acme", "password": PASSWORD}})] * 6)
            took = time.monotonic() - t0
            assert {a.status_code for a in answers} == {503}, [a.text for a in answers]
            assert took < 12, f"6 requests took {took:.1f}s"
            print(f"frozen: 6 parallel logins all answered 503 within {took:.2f}s")
        finally:
            signal_cluster(pg.pid, signal.SIGCONT)
        thawed = time.monotonic()
        while _login(server).status_code != 200:
            assert time.monotonic() < thawed + 10, "no recovery after SIGCONT"
            time.sleep(0.2)
        print(f"thawed: logins succeed again after {time.monotonic() - thawed:.2f}s")
        assert httpx.get(server.url + "/readyz", timeout=5).status_code == 200
        assert "Traceback" not in server.log()
    finally:
        server.kill()


def test_a_code_check_on_the_event_loop_meets_a_frozen_postgresql_without_stalling_it(
    throwaway_pg: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """The code check and `GET /me` send their statements from the event loop itself
    (storage/aio.py). A frozen server must cost them a 503 at the deadline, never the
    worker: `/healthz` answers at once meanwhile, and the checks work again after SIGCONT."""
    url, pg = throwaway_pg
    server = start_server(url, tmp_path / "key", tmp_path / "logs", extra_env=TIMEOUTS)
    try:
        token = signup(server.api, "acme")
        device = enable_mfa(server.api, token)
        auth = bearer(token)
        step = device["bound_step"] + 1  # the next step: within the window already

        def check(code: str) -> httpx.Response:
            return httpx.post(server.api + "/verify", headers=auth, timeout=20,
                              json={"method": "mfa", "code": code})

        wrong = f"{(int(oathtool(device['secret'], step * 30)) + 1) % 10**6:06d}"
        assert check(wrong).status_code == 401  # the loop's connection is open and pooled
        assert httpx.get(server.api + "/me", headers=auth, timeout=20).status_code == 200
        signal_cluster(pg.pid, signal.SIGSTOP)
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                t0 = time.monotonic()
                stalled = pool.submit(check, wrong)
                time.sleep(0.3)  # the check is waiting for the frozen server now
                for _ in range(5):
                    h0 = time.monotonic()
                    assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
                    assert time.monotonic() - h0 < 0.5, "the event loop waited for the database"
                    assert not stalled.done()
                r = stalled.result()
                took = time.monotonic() - t0
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "Unavailable"
            assert took < 2 + 1 + 2.5, f"answered after {took:.1f}s"  # statement limit + slack
            print(f"frozen: a code check answered 503 after {took:.2f}s, /healthz at once")
        finally:
            signal_cluster(pg.pid, signal.SIGCONT)
        thawed = time.monotonic()
        while check(oathtool(device["secret"], step * 30)).status_code != 200:
            assert time.monotonic() < thawed + 10, "no recovery after SIGCONT"
            time.sleep(0.2)
        assert httpx.get(server.api + "/me", headers=auth, timeout=20).status_code == 200
        assert "Traceback" not in server.log()
    finally:
        server.kill()


def test_a_read_only_sqlite_file_restored_heals_by_itself(
    sqlite_template: Path, tmp_path: Path
) -> None:
    assert SETPRIV is not None, "setpriv (util-linux) runs the server without root's override"
    db = tmp_path / "twofold.db"
    shutil.copy(sqlite_template, db)
    # As root the server would write a 0444 file anyway: drop the capability that allows it.
    no_override = [str(SETPRIV), "--inh-caps=-dac_override,-dac_read_search",
                   "--bounding-set=-dac_override,-dac_read_search"]
    first = start_server(f"sqlite:///{db}", tmp_path / "key", tmp_path / "logs",
                         argv_prefix=no_override)
    try:
        signup(first.api, "acme")
    finally:
        first.kill()
    db.chmod(0o444)
    try:
        # Started during the fault, so every connection it opens is opened read-only (a
        # running server opens new ones the same way when its pool grows under load).
        server = start_server(f"sqlite:///{db}", tmp_path / "key", tmp_path / "logs",
                              argv_prefix=no_override)
    except BaseException:
        db.chmod(0o600)
        raise
    logins = [("POST", server.api + "/login", {"json": {"login": "acme", "password": PASSWORD}})]
    try:
        try:
            failed = [a for a in parallel(logins * 8) if a.status_code != 200]
            assert failed, "no write failed: the fault did not take"
            assert all(a.status_code == 503 for a in failed), [a.text for a in failed]
            assert all("Retry-After" in a.headers for a in failed)
            ready = httpx.get(server.url + "/readyz", timeout=5)
            assert ready.status_code == 503 and "written" in ready.json()["status"], ready.text
        finally:
            db.chmod(0o600)
        t0 = time.monotonic()
        healed_at = None
        while time.monotonic() - t0 < 8:
            codes = [a.status_code for a in parallel(logins * 8)]
            if all(c == 200 for c in codes):
                healed_at = healed_at or time.monotonic() - t0
                if time.monotonic() - t0 > healed_at + 1.5:
                    break  # and it stays healed
            else:
                healed_at = None
        assert healed_at is not None and healed_at < 5, f"writes still failing: {codes}"
        print(f"restored: every write succeeds again after {healed_at:.2f}s")
        assert httpx.get(server.url + "/readyz", timeout=5).status_code == 200
    finally:
        server.kill()
