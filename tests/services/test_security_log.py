"""The security log tells an audit event once its transaction commits, never one that was
rolled back."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from twofold.services.audit import Audit
from twofold.services.context import Context


def test_only_committed_events_are_logged(
    ctx: Context, primary: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="twofold.security"):
        Audit(ctx).record("user.updated", actor=primary, detail={"try": 1})
        assert not caplog.records  # not before the commit
        ctx.db.rollback()
        Audit(ctx).record("user.updated", actor=primary, detail={"try": 2})
        ctx.db.commit()
    logged = [(r.getMessage(), r.login, r.detail) for r in caplog.records]  # type: ignore[attr-defined]
    assert logged == [("user.updated", "acme", {"try": 2})]
    assert caplog.records[0].client == "192.0.2.1"  # type: ignore[attr-defined]
