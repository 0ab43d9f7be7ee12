"""Kill under load: `kill -9` of `twofold serve --workers 2` (the supervisor and its workers)
in the middle of a mixed load, then integrity checks on what is left:

- no principal with two active devices (binds raced for the same sub-user),
- every sealed secret opens with the key file,
- every success a client saw is there (sessions answer, bound devices are active),
- every code accepted before the crash is refused after it (no replay).

Runs on its own, loopback only, bounded in time:

    .venv/bin/python -m tests.security.kill_under_load --kind sqlite --rounds 5 --seconds 3
    .venv/bin/python -m tests.security.kill_under_load --kind postgresql   # needs TWOFOLD_TEST_PG

and, one short round per database, as tests/security/test_kill_under_load.py.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import text

from tests.live import LiveServer, start_server
from tests.security.live_helpers import bearer, enable_mfa, signup
from tests.support import oathtool
from twofold.services.codes import device_context
from twofold.storage import keyfile
from twofold.storage.db import make_engine
from twofold.storage.migrate import upgrade

USER_PASSWORD = "sub-user passphrase 42"
PG_ADMIN_URL = os.environ.get("TWOFOLD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Seen:
    """What the clients were told succeeded."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: list[str] = field(default_factory=list)
    accepted: list[tuple[str, str, int]] = field(default_factory=list)  # login, secret, step
    bound: list[str] = field(default_factory=list)  # serials
    answers: dict[int, int] = field(default_factory=dict)
    replays_refused: int = 0

    def count(self, status: int) -> None:
        with self.lock:
            self.answers[status] = self.answers.get(status, 0) + 1


@dataclass
class World:
    token: str  # the account's primary
    devices: dict[str, str]  # login -> secret, bound before the load
    decoys: list[str]  # bound too, sent only wrong codes (their throttle fills up)
    free: list[str]  # sub-users without a device: binds race for them


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry))
    return kids


def kill_tree(server: LiveServer) -> None:
    """SIGKILL the supervisor and its workers at once, as a power cut would."""
    pids = [server.process.pid, *_children(server.process.pid)]
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait(timeout=15)
    deadline = time.monotonic() + 10
    for pid in pids[1:]:  # orphans, reaped by init: wait until they are dead
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                break
            if state in ("Z", "X"):
                break
            time.sleep(0.01)


def _prepare(api: str, bound: int, free: int, decoys: int = 2) -> World:
    token = signup(api, "acme")
    devices: dict[str, str] = {}
    for i in range(bound + free + decoys):
        r = httpx.post(api + "/users", headers=bearer(token), timeout=30,
                       json={"name": f"user-{i}", "password": USER_PASSWORD})
        assert r.status_code == 201, r.text
    for i in range(bound):
        dev = enable_mfa(api, token, f"/users/user-{i}/mfa-device")
        devices[f"user-{i}@acme"] = str(dev["secret"])
    for i in range(bound + free, bound + free + decoys):
        enable_mfa(api, token, f"/users/user-{i}/mfa-device")
    return World(token, devices,
                 [f"user-{i}@acme" for i in range(bound + free, bound + free + decoys)],
                 [f"user-{i}" for i in range(bound, bound + free)])


def _login_mfa(api: str, client: httpx.Client, world: World, seen: Seen) -> None:
    login, secret = random.choice(list(world.devices.items()))
    r = client.post(api + "/login", json={"login": login, "password": USER_PASSWORD})
    seen.count(r.status_code)
    if r.status_code != 200 or r.json().get("state") != "mfa_required":
        return
    # Any step of the window: a device accepts each step once, later steps only.
    step = int(time.time()) // 30 + random.choice((-1, 0, 1))
    r = client.post(api + "/login/mfa", json={"challenge": r.json()["challenge"],
                                              "code": oathtool(secret, step * 30)})
    seen.count(r.status_code)
    if r.status_code == 200:
        with seen.lock:
            seen.tokens.append(r.json()["token"])
            seen.accepted.append((login, secret, step))


def _bind(api: str, client: httpx.Client, world: World, seen: Seen) -> None:
    name = random.choice(world.free[:4])  # few names: binds for one sub-user race
    path = f"/users/{name}/mfa-device"
    r = client.post(api + path, headers=bearer(world.token))
    seen.count(r.status_code)
    if r.status_code != 201:
        return
    dev = r.json()
    now = int(time.time())
    r = client.post(api + path + "/bind", headers=bearer(world.token),
                    json={"serial": dev["serial"], "code1": oathtool(dev["secret"], now - 30),
                          "code2": oathtool(dev["secret"], now)})
    seen.count(r.status_code)
    if r.status_code == 200:
        with seen.lock:
            seen.bound.append(dev["serial"])


def _wrong_code(api: str, client: httpx.Client, world: World, seen: Seen) -> None:
    login = random.choice(world.decoys)
    r = client.post(api + "/login", json={"login": login, "password": USER_PASSWORD})
    seen.count(r.status_code)
    if r.status_code == 200 and r.json().get("state") == "mfa_required":
        r = client.post(api + "/login/mfa", json={"challenge": r.json()["challenge"],
                                                  "code": "000000"})
        seen.count(r.status_code)


def load(api: str, world: World, seen: Seen, stop: threading.Event) -> None:
    ops = [_login_mfa] * 6 + [_bind] * 3 + [_wrong_code]
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            try:
                random.choice(ops)(api, client, world, seen)
            except httpx.HTTPError:
                seen.count(0)  # the kill: a connection cut mid-request
                time.sleep(0.05)


def _rows(db_url: str, sql: str) -> list[tuple[object, ...]]:
    engine = make_engine(db_url, pool_size=1)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def check(db_url: str, key: Path, server: LiveServer, seen: Seen) -> list[str]:
    """The integrity checks; returns the problems found (none, when all is well)."""
    problems = []
    doubles = _rows(db_url, "SELECT principal_id, count(*) FROM mfa_devices WHERE state ="
                    " 'active' GROUP BY principal_id HAVING count(*) > 1")
    if doubles:
        problems.append(f"principals with two active devices: {doubles}")
    ring = keyfile.load(str(key))
    for serial, sealed in _rows(db_url, "SELECT serial, sealed_secret FROM mfa_devices"):
        try:
            ring.unseal(str(sealed), device_context(str(serial)))
        except Exception as exc:  # noqa: BLE001 - any failure to open is the finding
            problems.append(f"device {serial} does not open: {exc}")
    # A bound device stays active, or is gone (a later bind for the same sub-user replaced
    # it); never pending again.
    pending = {str(s) for (s,) in _rows(db_url, "SELECT serial FROM mfa_devices"
                                                 " WHERE state = 'pending'")}
    problems += [f"bind {s} answered 200 but the device is pending"
                 for s in seen.bound if s in pending]
    steps = [(login, step) for login, _, step in seen.accepted]
    if len(set(steps)) != len(steps):
        problems.append("one code was accepted twice before the crash")
    with httpx.Client(timeout=10) as client:
        for token in seen.tokens[-50:]:
            r = client.get(server.api + "/me", headers=bearer(token))
            if r.status_code != 200:
                problems.append(f"a session answered 200 before the crash is gone: {r.text}")
        # Durable: the device's last step covers every step accepted (so the conditional
        # update refuses them again); and, where the sub-user is not locked out, a replay
        # through the API is refused.
        last = dict(_rows(db_url, "SELECT p.login, d.last_step FROM mfa_devices d JOIN"
                          " principals p ON p.id = d.principal_id WHERE d.state = 'active'"))
        now_step = int(time.time()) // 30
        for login, secret, step in seen.accepted:
            if int(str(last.get(login, -1))) < step:
                problems.append(f"{login}: step {step} accepted, last_step {last.get(login)}")
            if abs(step - now_step) > 1:
                continue  # outside the window anyway
            r = client.post(server.api + "/login",
                            json={"login": login, "password": USER_PASSWORD})
            if r.status_code != 200 or r.json().get("state") != "mfa_required":
                continue  # locked out by the replays of the load: refused anyway
            r = client.post(server.api + "/login/mfa", json={
                "challenge": r.json()["challenge"], "code": oathtool(secret, step * 30)})
            seen.replays_refused += r.status_code != 200
            if r.status_code == 200:
                problems.append(f"a code of {login} accepted before the crash was replayed")
    return problems


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'twofold.db'}"
        upgrade(url)
        yield url
        return
    name = f"twofold_kill_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(kind: str, rounds: int, seconds: float, threads: int, workdir: Path) -> list[str]:
    """`rounds` kills under load; returns every problem found (empty: all invariants held)."""
    key, logs = workdir / "twofold.key", workdir / "logs"
    problems: list[str] = []
    with database(kind, workdir) as db_url:
        server = start_server(db_url, key, logs, workers=2)
        try:
            world = _prepare(server.api, bound=12, free=4 * rounds)
            for n in range(rounds):
                seen, stop = Seen(), threading.Event()
                workers = [threading.Thread(target=load, args=(server.api, world, seen, stop))
                           for _ in range(threads)]
                for t in workers:
                    t.start()
                time.sleep(seconds * random.uniform(0.6, 1.0))
                kill_tree(server)
                stop.set()
                for t in workers:
                    t.join(timeout=30)
                server = start_server(db_url, key, logs, workers=2)
                found = check(db_url, key, server, seen)
                print(f"{kind} round {n + 1}: answers {dict(sorted(seen.answers.items()))}, "
                      f"{len(seen.accepted)} codes accepted, {len(seen.bound)} binds, "
                      f"{seen.replays_refused} replays refused after; "
                      f"{found or 'ok'}")
                problems += found
                world.free = world.free[4:] or world.free  # fresh names for the next races
        finally:
            kill_tree(server)
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0, help="load before each kill")
    ap.add_argument("--threads", type=int, default=16)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="twofold-kill-") as tmp:
        problems = run(a.kind, a.rounds, min(a.seconds, 20), a.threads, Path(tmp))
    if problems:
        raise SystemExit("FAILED:\n" + "\n".join(problems))
    print("all invariants held")


if __name__ == "__main__":
    main()
