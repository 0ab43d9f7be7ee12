"""Test helpers shared by every suite: a settable clock, oathtool codes, an API driver."""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from fastapi.testclient import TestClient

PASSWORD = "correct-horse-battery-9"
USER_PASSWORD = "sub-user passphrase 42"


class FakeClock:
    """An injected clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    @property
    def epoch(self) -> int:
        return int(self._now.timestamp())

    def align(self, offset: int = 5) -> None:
        """Move to `offset` seconds into the current 30-second step."""
        self._now = datetime.fromtimestamp(self.epoch - self.epoch % 30 + offset, UTC)


def oathtool(secret: str, epoch: int) -> str:
    """The code a real authenticator shows at `epoch`."""
    out = subprocess.run(
        ["oathtool", "--totp", "-b", secret, "-N", f"@{epoch}"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


class WallClockWatch:
    """Tells a stalled machine from a server's refusal, for tests that compute real-time
    codes for a live server (which has no injected clock).

    A code computed from the wall clock a moment before the server checks it is refused,
    rightly, when that moment lasts a TOTP step or more: the VM was paused, starved or its
    clock stepped. Such a test may compute its codes again once, but only when this watch
    saw the clock do that; any other refusal stays a failure."""

    def __init__(self) -> None:
        self.wall, self.mono = time.time(), time.monotonic()

    def elapsed(self) -> tuple[float, float]:
        return time.time() - self.wall, time.monotonic() - self.mono

    def jumped(self) -> bool:
        """The wall clock ran 25 s or more (most of a step), or apart from the monotonic
        clock by more than a second, since the watch was made."""
        wall, mono = self.elapsed()
        return wall >= 25 or abs(wall - mono) > 1

    def __str__(self) -> str:
        wall, mono = self.elapsed()
        return f"{wall:.1f} s on the wall clock, {mono:.1f} s monotonic since the codes"


CONFIRM_LINK = re.compile(r"(http://\S+/email/confirm\?token=([A-Za-z0-9_-]+))")


def confirmation_token(bodies: list[str]) -> str:
    """The token of the newest "confirm your address" link among these mail bodies."""
    links = [m for body in bodies for m in CONFIRM_LINK.findall(body)]
    assert links, "no confirmation link in the mail"
    return str(links[-1][1])


def status_codes_in_parallel(*calls: Callable[[], Any]) -> list[int]:
    """Run the calls (each answering a response) on threads released together; their
    status codes, sorted: for races where exactly one may win."""
    barrier = threading.Barrier(len(calls))
    answers: list[int] = []

    def run(call: Callable[[], Any]) -> None:
        barrier.wait()
        answers.append(call().status_code)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(answers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Principal:
    login: str
    password: str
    token: str | None = None
    secret: str | None = None
    serial: str | None = None
    recovery_codes: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        assert self.token, "not signed in"
        return bearer(self.token)


class Api:
    """Drives the JSON API the way a script of a user would."""

    prefix = "/api/v1"

    def __init__(self, client: TestClient, clock: FakeClock) -> None:
        self.client = client
        self.clock = clock

    def call(self, method: str, path: str, who: Principal | None = None, **kw: Any) -> Any:
        headers = kw.pop("headers", {})
        if who is not None and who.token:
            headers = {**who.headers, **headers}
        return self.client.request(method, self.prefix + path, headers=headers, **kw)

    def signup(self, name: str = "acme", email: str | None = None) -> Principal:
        r = self.call(
            "POST",
            "/accounts",
            json={"name": name, "email": email or f"owner@{name}.example", "password": PASSWORD},
        )
        assert r.status_code == 201, r.text
        p = Principal(name, PASSWORD)
        self.login(p)
        return p

    def confirm_email(self, bodies: list[str]) -> None:
        """Follow the newest confirmation link mailed (the mails of one address)."""
        r = self.call("POST", "/email/confirm", json={"token": confirmation_token(bodies)})
        assert r.status_code == 200, r.text

    def login(self, p: Principal, *, code: str | None = None) -> Any:
        r = self.call("POST", "/login", json={"login": p.login, "password": p.password})
        assert r.status_code == 200, r.text
        body = r.json()
        if body["state"] == "mfa_required":
            assert p.secret, "MFA is on but the test holds no secret"
            self.clock.advance(30)
            r = self.call(
                "POST",
                "/login/mfa",
                json={"challenge": body["challenge"], "code": code or self.code(p)},
            )
            assert r.status_code == 200, r.text
            body = r.json()
        p.token = body["token"]
        return body

    def code(self, p: Principal, steps: int = 0) -> str:
        assert p.secret
        return oathtool(p.secret, self.clock.epoch + 30 * steps)

    def add_user(self, primary: Principal, name: str = "alice", **extra: Any) -> Principal:
        r = self.call(
            "POST", "/users", primary, json={"name": name, "password": USER_PASSWORD, **extra}
        )
        assert r.status_code == 201, r.text
        account = primary.login
        return Principal(f"{name}@{account}", USER_PASSWORD)

    def enable_mfa(
        self, p: Principal, *, path: str = "/me/mfa-device", actor: Principal | None = None
    ) -> dict[str, Any]:
        """Create a device and bind it with two consecutive oathtool codes."""
        actor = actor or p
        r = self.call("POST", path, actor)
        assert r.status_code == 201, r.text
        dev = r.json()
        self.clock.align(5)
        code1 = oathtool(dev["secret"], self.clock.epoch - 30)
        code2 = oathtool(dev["secret"], self.clock.epoch)
        r = self.call(
            "POST",
            path + "/bind",
            actor,
            json={"serial": dev["serial"], "code1": code1, "code2": code2},
        )
        assert r.status_code == 200, r.text
        p.secret, p.serial = dev["secret"], dev["serial"]
        p.recovery_codes = r.json()["recovery_codes"]
        self.clock.advance(30)  # the binding steps are used up
        return dev

    def verify_mfa(self, p: Principal) -> Any:
        self.clock.advance(30)
        return self.call("POST", "/verify", p, json={"method": "mfa", "code": self.code(p)})


T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end on an event loop of its own, in a thread of its own: the
    test's thread may have a loop running already (Playwright's sync API keeps one)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
