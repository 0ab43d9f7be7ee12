"""Services called directly, with a Context as the faces build it (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import PASSWORD, FakeClock
from twofold.bootstrap import Runtime, build_runtime
from twofold.config import Settings
from twofold.services.accounts import Accounts
from twofold.services.context import Context
from twofold.storage.models import Principal


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    rt = build_runtime(settings, clock=clock)
    yield rt
    rt.engine.dispose()


@pytest.fixture
def ctx(runtime: Runtime) -> Iterator[Context]:
    db = runtime.sessions()
    yield runtime.context(db, "192.0.2.1", "pytest")
    db.close()


@pytest.fixture
def primary(ctx: Context) -> Any:
    Accounts(ctx).create("acme", "owner@acme.example", PASSWORD)
    principal = ctx.db.query(Principal).filter_by(login="acme").one()
    ctx.db.commit()
    return principal
