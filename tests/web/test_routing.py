"""Every sync route ends the request's open transaction on its own worker thread.

Without it, a use case that leaves a transaction open holds SQLite's write gate until the
request's teardown, which runs only after FastAPI has validated the response on another pool
thread: with every pool thread waiting for the gate, requests answer 503 after the busy
timeout (tests/security/test_multiprocess.py shows it with two server processes)."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.routing import APIRoute

from twofold.web.routing import EndingRoute
from twofold.web.runtime import request_context


def _uses_database(dependant: Any) -> bool:
    return dependant.call is request_context or any(
        _uses_database(d) for d in dependant.dependencies
    )


def _routes(routes: list[Any]) -> list[Any]:
    """The routes, also those of included routers (newer FastAPI keeps them nested)."""
    found: list[Any] = []
    for r in routes:
        nested = getattr(r, "original_router", None)
        found.extend(_routes(nested.routes) if nested is not None else [r])
    return found


def test_every_sync_route_ends_its_transaction(app: Any) -> None:
    sync = [
        r
        for r in _routes(app.routes)
        if isinstance(r, APIRoute)
        and not inspect.iscoroutinefunction(inspect.unwrap(r.endpoint))
        and _uses_database(r.dependant)
    ]
    assert len(sync) > 30, "the API's and the console's routes"
    missing = [r.path for r in sync if not isinstance(r, EndingRoute)]
    assert missing == []

