"""Devices: who may manage a device, failing closed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import PASSWORD
from twofold.domain import errors
from twofold.services.accounts import Users
from twofold.services.context import Context
from twofold.services.mfa import Devices
from twofold.services.sessions import Sessions
from twofold.storage.models import Account


def _auth(ctx: Context, principal: Any) -> Any:
    account = ctx.db.get(Account, principal.account_id)
    token, _ = Sessions(ctx).create(principal, account)
    ctx.db.commit()
    return Sessions(ctx).authenticate(token)


def test_a_sub_user_manages_its_device_only_while_its_account_row_says_so(
    ctx: Context, primary: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = Users(ctx).create(_auth(ctx, primary), name="alice", password=PASSWORD)
    auth = _auth(ctx, user)
    devices = Devices(ctx)
    assert devices.may_manage(auth, user)  # allow_users_to_manage_mfa is on by default

    # The account row missing (deleted meanwhile): nothing says the user may, so it may not.
    real_get = ctx.db.get
    monkeypatch.setattr(
        ctx.db, "get", lambda kind, key, **kw: None if kind is Account else real_get(kind, key)
    )
    assert not devices.may_manage(auth, user)
    with pytest.raises(errors.Forbidden):
        devices.create_pending(auth, user)
