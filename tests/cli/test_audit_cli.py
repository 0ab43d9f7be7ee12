"""`twofold audit prune --before DATE`: retention through the audit service (both databases)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from tests.cli.test_cli import runner_env
from tests.support import Api
from twofold.cli.main import app as cli
from twofold.config import Settings
from twofold.storage.db import make_engine
from twofold.storage.models import AuditEvent, ThrottleCounter


@pytest.fixture
def run(settings: Settings) -> Callable[..., object]:
    def invoke(*args: str) -> object:
        return CliRunner().invoke(cli, list(args), env=runner_env(settings))

    return invoke


def _events(settings: Settings) -> list[AuditEvent]:
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(AuditEvent).order_by(AuditEvent.id)))  # type: ignore[arg-type]
    finally:
        engine.dispose()


def _add_old_events(settings: Settings, *days_ago: int) -> None:
    engine = make_engine(settings.database_url, pool_size=1)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            for days in days_ago:
                conn.execute(insert(AuditEvent).values(
                    action="login.password", result="success",
                    created_at=now - timedelta(days=days),
                ))
    finally:
        engine.dispose()


def test_prune_deletes_older_events_counts_them_and_is_audited(
    run: Callable[..., object], api: Api, settings: Settings
) -> None:
    api.signup()  # recent events, which stay
    recent = len(_events(settings))
    assert recent > 0
    _add_old_events(settings, 400, 200, 91)
    cutoff = date.today() - timedelta(days=90)

    r = run("audit", "prune", "--before", cutoff.isoformat())
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    assert f"deleted 3 audit events from before {cutoff.isoformat()}" in r.output  # type: ignore[attr-defined]

    left = _events(settings)
    assert len(left) == recent + 1
    pruned = left[-1]
    assert pruned.action == "audit.pruned" and pruned.result == "success"
    assert pruned.detail == {"before": cutoff.isoformat(), "deleted": 3, "counters_deleted": 0,
                             "via": "cli"}
    assert all(e.created_at.date() >= cutoff for e in left)

    again = run("audit", "prune", "--before", cutoff.isoformat())
    assert "deleted 0 audit events" in again.output  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ((date.today() + timedelta(days=2)).isoformat(), "in the future"),
        ("yesterday", "is not a date"),
        ("2024-13-01", "is not a date"),
    ],
)
def test_prune_refuses_a_future_or_unparsable_date(
    run: Callable[..., object], api: Api, settings: Settings, value: str, message: str
) -> None:
    _add_old_events(settings, 400)
    before = len(_events(settings))
    r = run("audit", "prune", "--before", value)
    assert r.exit_code == 2, r.output  # type: ignore[attr-defined]
    assert message in r.output  # type: ignore[attr-defined]
    assert len(_events(settings)) == before


def test_prune_forgets_throttle_counters_past_every_window_but_not_a_lock(
    run: Callable[..., object], api: Api, settings: Settings
) -> None:
    api.signup()
    now = datetime.now(UTC)
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(insert(ThrottleCounter).values([
                {"key": "stale", "count": 3, "started_at": now - timedelta(days=3),
                 "locked_until": None},
                {"key": "stale-locked", "count": 12, "started_at": now - timedelta(days=3),
                 "locked_until": now + timedelta(minutes=30)},
                {"key": "in-window", "count": 2, "started_at": now - timedelta(hours=2),
                 "locked_until": None},
            ]))
        r = run("audit", "prune", "--before", date.today().isoformat())
        assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
        with engine.connect() as conn:
            # (the sign-up's confirmation mail counted too, in the current window)
            mine = ThrottleCounter.key.in_(["stale", "stale-locked", "in-window"])
            left = sorted(conn.execute(select(ThrottleCounter.key).where(mine)).scalars())
    finally:
        engine.dispose()
    assert left == ["in-window", "stale-locked"]
    pruned = [e for e in _events(settings) if e.action == "audit.pruned"][-1]
    assert pruned.detail["counters_deleted"] == 1
