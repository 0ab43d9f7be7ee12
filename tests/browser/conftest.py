"""A real server process, Debian's Chromium through Playwright, and a real-clock authenticator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy import select, update

from tests.conftest import Inbox
from tests.live import LiveServer, free_port, start_server
from tests.sms_gateway import SECRET as SMS_SECRET
from tests.sms_gateway import Gateway
from tests.support import PASSWORD, oathtool
from twofold.storage.db import make_engine, make_session_factory
from twofold.storage.models import AuthSession, LoginChallenge, Principal

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def step_now() -> int:
    return int(time.time()) // 30


class Authenticator:
    """The phone: codes of the real clock, never the same step twice (the server refuses a
    replayed step). It waits for the clock only when the next unused step is not yet valid."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.replace(" ", "")
        self.last = 0

    def at(self, step: int) -> str:
        return oathtool(self.secret, step * 30)

    def bind_codes(self) -> tuple[str, str]:
        # Codes of the previous and the current step: the server accepts them while its
        # clock is in this step or the next.
        s = step_now()
        self.last = s
        return self.at(s - 1), self.at(s)

    def code(self) -> str:
        step = max(step_now(), self.last + 1)
        while step > step_now() + 1:
            time.sleep(0.5)
        self.last = step
        return self.at(step)


class Site:
    """The live server, its database (to age sessions as time would) and its mail."""

    def __init__(
        self, server: LiveServer, db_url: str, inbox: Inbox, shots: Path, sms: Gateway
    ) -> None:
        self.server, self.url, self.inbox, self.shots = server, server.url, inbox, shots
        self.sms = sms
        self.engine = make_engine(db_url, pool_size=1)
        self.db = make_session_factory(self.engine)

    def signup(self, name: str) -> str:
        r = httpx.post(
            self.server.api + "/accounts",
            json={"name": name, "email": f"owner@{name}.example", "password": PASSWORD},
        )
        assert r.status_code == 201, r.text
        return name

    def api_login(self, login: str, password: str = PASSWORD) -> dict[str, str]:
        r = httpx.post(self.server.api + "/login", json={"login": login, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def add_user(
        self, owner: str, name: str, password: str, auth: dict[str, str] | None = None,
        **extra: Any,
    ) -> str:
        r = httpx.post(
            self.server.api + "/users",
            headers=auth or self.api_login(owner),
            json={"name": name, "password": password, **extra},
        )
        assert r.status_code == 201, r.text
        return f"{name}@{owner}"

    def age_sessions(self, login: str, minutes: int = 10) -> None:
        """As if `minutes` passed since the last verification (the session stays alive)."""
        with self.db() as db:
            pid = db.scalar(select(Principal.id).where(Principal.login == login))
            db.execute(
                update(AuthSession)
                .where(AuthSession.principal_id == pid)
                .values(verified_at=datetime.now(UTC) - timedelta(minutes=minutes))
            )
            db.commit()

    def expire_challenges(self, login: str) -> None:
        with self.db() as db:
            pid = db.scalar(select(Principal.id).where(Principal.login == login))
            db.execute(
                update(LoginChallenge)
                .where(LoginChallenge.principal_id == pid)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            db.commit()

    def shot(self, page: Page, name: str) -> Path:
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@contextmanager
def running_site(
    base: Path,
    output_dir: Path,
    smtp_server: tuple[Inbox, int],
    sms_server: Gateway,
    host: str = "127.0.0.1",
) -> Iterator[Site]:
    """A server on a fresh SQLite database, its console reached at http://HOST:PORT (the
    public URL too: the links in mails, and the WebAuthn relying party id)."""
    db_url = f"sqlite:///{base / 'twofold.db'}"
    port = free_port()
    server = start_server(
        db_url,
        base / "twofold.key",
        output_dir / "browser-logs",
        port=port,
        extra_env={
            "TWOFOLD_SMTP_URL": f"smtp://127.0.0.1:{smtp_server[1]}",
            "TWOFOLD_PUBLIC_URL": f"http://{host}:{port}",
            "TWOFOLD_SMS_PROVIDER": "webhook",
            "TWOFOLD_SMS_WEBHOOK_URL": sms_server.url,
            "TWOFOLD_SMS_WEBHOOK_SECRET": SMS_SECRET,
        },
    )
    shots = output_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    s = Site(server, db_url, smtp_server[0], shots, sms_server)
    s.url = f"http://{host}:{port}"
    try:
        yield s
    finally:
        s.engine.dispose()
        server.kill()


@pytest.fixture(scope="session")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    output_dir: Path,
    smtp_server: tuple[Inbox, int],
    sms_server: Gateway,
) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("browser")
    with running_site(base, output_dir, smtp_server, sms_server) as s:
        yield s


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        yield b
        b.close()


@pytest.fixture
def context(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=site.url, viewport={"width": 1100, "height": 800})
    yield ctx
    ctx.close()


def new_page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def sign_in(page: Page, login: str, password: str = PASSWORD, code: str | None = None) -> None:
    page.goto("/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    if code is not None:
        page.wait_for_url("**/login/mfa*")
        page.fill("input[name=code]", code)
        page.click("form[action='/login/mfa'] button[type=submit] >> nth=0")


def sign_out(page: Page) -> None:
    page.click("#user-menu summary")
    page.click("#user-menu button[type=submit]")
    page.wait_for_url("**/login?done=signed-out")


def bind_here(page: Page) -> Authenticator:
    """On a binding page: read the key as a person would, enter two consecutive codes."""
    phone = Authenticator(page.inner_text("#mfa-secret"))
    code1, code2 = phone.bind_codes()
    page.fill("input[name=code1]", code1)
    page.fill("input[name=code2]", code2)
    page.click("#bind-submit")
    return phone
