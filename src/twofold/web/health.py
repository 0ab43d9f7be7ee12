"""/healthz and /readyz. /readyz answers within `readyz_timeout` whatever the database does:
its work runs on threads of its own (never queued behind requests stuck on a hung
database), under a short statement deadline, and is abandoned when the time is up."""

from __future__ import annotations

import anyio
import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from twofold.bootstrap import Runtime
from twofold.storage.db import DEADLINE, READ_ONLY, sqlite_writable
from twofold.storage.schema_version import current_revision, head_revision
from twofold.storage.sealed import key_ids_in


def readiness(rt: Runtime, head: str | None) -> tuple[int, str]:
    """(status code, status) after checking the database, the schema and the key file."""
    rt.keys.catch_up()  # a rotation made elsewhere counts as known keys
    options = {READ_ONLY: True, DEADLINE: rt.settings.readyz_timeout}
    try:
        with rt.engine.connect().execution_options(**options) as conn:
            conn.execute(text("SELECT 1"))
            current = current_revision(conn) == head
            unknown = key_ids_in(conn, exclude=rt.keys.keys) if current else set()
    except SQLAlchemyError:
        return 503, "database unreachable"
    if not current:
        return 503, "migrations pending"
    if unknown:
        return 503, (
            f"secrets sealed under key ids missing from the key file: {', '.join(sorted(unknown))}"
        )
    if rt.settings.is_sqlite:
        problem = sqlite_writable(rt.engine)
        if problem:
            return 503, problem
    return 200, "ready"


def install_health(app: FastAPI, rt: Runtime) -> None:
    limiter: list[anyio.CapacityLimiter] = []
    head = head_revision()  # the code's newest migration: fixed for the process's life

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        if not limiter:
            limiter.append(anyio.CapacityLimiter(2))  # made in the running loop, as anyio needs
        status, text_ = 503, "database did not answer in time"
        with anyio.move_on_after(rt.settings.readyz_timeout):
            status, text_ = await anyio.to_thread.run_sync(
                readiness, rt, head, limiter=limiter[0], abandon_on_cancel=True
            )
        return JSONResponse({"status": text_}, status_code=status)
