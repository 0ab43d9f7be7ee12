"""Issue 18's fault-injection run as a standing test: one short kill under load per database
(see kill_under_load.py to run more rounds by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.kill_under_load import run

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_kill_minus_9_under_load_loses_nothing(kind: str, tmp_path: Path) -> None:
    assert run(kind, rounds=1, seconds=2.0, threads=8, workdir=tmp_path) == []
