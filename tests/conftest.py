"""Fixtures: every storage-touching test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.live import free_port
from tests.sms_gateway import SECRET as SMS_SECRET
from tests.sms_gateway import Gateway, running_gateway
from tests.support import Api, FakeClock
from twofold.bootstrap import build_runtime
from twofold.config import Settings
from twofold.storage.db import make_engine
from twofold.storage.migrate import upgrade
from twofold.storage.models import Base
from twofold.web.app import create_app

PG_ADMIN_URL = os.environ.get("TWOFOLD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
OUTPUT = Path(os.environ.get("TWOFOLD_TEST_OUTPUT", "test-output"))
# Every table of the schema (not Alembic's own): emptied between tests on PostgreSQL.
TABLES = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))


def _pg_url(dbname: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One migrated PostgreSQL database for the run; tests empty it between them."""
    name = f"twofold_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _pg_url(name)
    upgrade(url)
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated SQLite database of the test's own (a copy of the template)."""
    path = tmp_path / "twofold.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    url: str = request.getfixturevalue("pg_database")
    engine = make_engine(url, pool_size=1)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


class Inbox:
    """Mail received by a real SMTP server (aiosmtpd) on loopback."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = message_from_bytes(envelope.content)
        self.messages.append(msg)
        return "250 OK"

    def bodies_to(self, address: str) -> list[str]:
        return [m.get_payload(decode=True).decode() for m in self.messages if m["To"] == address]

    def clear(self) -> None:
        self.messages.clear()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def inbox(smtp_server: tuple[Inbox, int]) -> Inbox:
    smtp_server[0].clear()
    return smtp_server[0]


@pytest.fixture(scope="session")
def sms_server() -> Iterator[Gateway]:
    with running_gateway() as gateway:
        yield gateway


@pytest.fixture
def gateway(sms_server: Gateway) -> Gateway:
    """The SMS gateway every test app sends to, emptied and answering 200."""
    sms_server.reset()
    return sms_server


@pytest.fixture
def clock() -> FakeClock:
    c = FakeClock()
    c.align(5)
    return c


@pytest.fixture
def settings(
    db_url: str, tmp_path: Path, smtp_server: tuple[Inbox, int], sms_server: Gateway
) -> Settings:
    return Settings(
        env="test",
        database_url=db_url,
        key_file=str(tmp_path / "twofold.key"),
        smtp_url=f"smtp://127.0.0.1:{smtp_server[1]}",
        argon2_memory_kib=1024,  # tests check behaviour, not hash cost
        argon2_time_cost=1,
        rate_limits="off",  # flood limits are tested on their own (tests/web/api/test_flood.py)
        argon2_max_queue=64,  # parallel tests must not be shed; test_flood.py sheds on purpose
        sms_provider="webhook",
        sms_webhook_url=sms_server.url,
        sms_webhook_secret=SMS_SECRET,
        sms_webhook_timeout=2.0,
        sms_webhook_retries=1,
    )


@pytest.fixture
def app(settings: Settings, clock: FakeClock) -> Any:
    rt = build_runtime(settings, clock=clock)
    application = create_app(settings, runtime=rt)
    yield application
    rt.close()


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def api(client: TestClient, clock: FakeClock, inbox: Inbox) -> Api:
    return Api(client, clock)


@pytest.fixture
def api_with(settings: Settings, clock: FakeClock) -> Iterator[Callable[..., Api]]:
    """Build an Api on the same database with some settings changed."""
    made: list[Any] = []

    def make(**changes: Any) -> Api:
        s = settings.model_copy(update=changes)
        rt = build_runtime(s, clock=clock)
        client = TestClient(create_app(s, runtime=rt), base_url="http://testserver")
        client.__enter__()
        made.append((rt, client))
        return Api(client, clock)

    yield make
    for rt, client in made:
        client.__exit__(None, None, None)
        rt.close()
