"""The ASGI app for uvicorn and gunicorn workers: settings from the environment."""

import ctypes
import ctypes.util
import gc

from twofold.config import ConfigError, load_settings
from twofold.logs import configure as configure_logging
from twofold.web.app import create_app


def _limit_malloc_arenas(arenas: int = 2, mmap_threshold: int = 1 << 20) -> None:
    """glibc gives each thread its own malloc arena and keeps freed memory in it; with 19 MiB
    argon2 buffers hashed on several threads a worker grew past 500 MiB. Two arenas keep it
    near the working set (same effect as MALLOC_ARENA_MAX=2). A fixed mmap threshold keeps
    every buffer of 1 MiB and more (argon2's) in a mapping of its own, returned to the system
    when freed: glibc's sliding threshold would otherwise move up after the first one and
    serve the next from the heap, where it stays resident (MALLOC_MMAP_THRESHOLD_)."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return
    try:
        libc = ctypes.CDLL(libc_name)
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
        libc.mallopt(-3, mmap_threshold)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return


def _freeze_start_up(enabled: bool) -> None:
    """Move every object the start-up left (modules, the app, its routes, SQLAlchemy's
    tables and compiled statements: some 100-200 thousand) into the collector's permanent
    generation. Under load a full collection ran every 2-3 s and, walking all of them, took
    80-130 ms, finding nothing to free; every request in flight waited for it, and it set
    the p99 (bench/README.md). Garbage is collected first, so none of it is kept. What the
    process makes later, requests included, is collected as before."""
    if enabled:
        gc.collect()
        gc.freeze()


_limit_malloc_arenas()

try:
    _settings = load_settings()
    configure_logging(_settings.log_format)  # each worker (uvicorn's, gunicorn's) in one format
    app = create_app(_settings)
    _freeze_start_up(_settings.gc_freeze)
except ConfigError as exc:
    raise SystemExit(f"twofold: {exc}") from None
