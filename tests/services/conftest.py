"""Services called directly, with a Context as the faces build it (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import PASSWORD, FakeClock, oathtool
from twofold.bootstrap import Runtime, build_runtime
from twofold.config import Settings
from twofold.services.accounts import Accounts
from twofold.services.context import Context
from twofold.services.mfa import Devices
from twofold.services.sessions import Sessions
from twofold.storage.models import Account, Principal


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    rt = build_runtime(settings, clock=clock)
    yield rt
    rt.close()


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


@pytest.fixture
def signed_in(ctx: Context, primary: Any, clock: FakeClock) -> tuple[str, str]:
    """A password session's token, and the secret of the device its principal bound with
    it (the codes of this step and the one before)."""
    account = ctx.db.get(Account, primary.account_id)
    token, _ = Sessions(ctx).create(primary, account, methods=("pwd",))
    ctx.db.commit()
    auth = Sessions(ctx).authenticate(token)
    pending = Devices(ctx).create_pending(auth, primary)
    clock.align(5)
    Devices(ctx).bind(
        auth,
        primary,
        pending.serial,
        oathtool(pending.secret, clock.epoch - 30),
        oathtool(pending.secret, clock.epoch),
    )
    return token, pending.secret
