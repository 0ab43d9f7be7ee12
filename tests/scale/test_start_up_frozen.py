"""A served worker (web/asgi.py, the module uvicorn and gunicorn load) moves what it built
at start-up into the collector's permanent generation, unless TWOFOLD_GC_FREEZE=false: full
collections under load then walk only what came later (bench/README.md: ~100 ms -> ~1 ms,
and with them the p99)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_PROBE = """
import gc, time
import twofold.web.asgi
frozen = gc.get_freeze_count()
started = time.perf_counter()
gc.collect()
print(frozen, round((time.perf_counter() - started) * 1000, 1))
"""


@pytest.mark.parametrize("freeze", ["true", "false"])
def test_the_start_up_is_frozen_unless_turned_off(tmp_path: Path, freeze: str) -> None:
    env = {
        **os.environ,
        "TWOFOLD_DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
        "TWOFOLD_KEY_FILE": f"{tmp_path}/k",
        "TWOFOLD_GC_FREEZE": freeze,
    }
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
    )
    frozen, full_ms = out.stdout.split()
    if freeze == "true":
        # the modules, the app and its routes, SQLAlchemy's tables: tens of thousands
        assert int(frozen) > 50_000, out.stdout
    else:
        assert int(frozen) == 0, out.stdout
    print(f"TWOFOLD_GC_FREEZE={freeze}: {frozen} objects frozen, a full collection {full_ms} ms")
