"""Every route ends the request's open transaction in its own worker thread.

A sync endpoint runs on a worker thread of the bounded pool (`TWOFOLD_THREADS`). If the use
case it called left a transaction open — a read that began one after the commit, or a failure
part-way — that transaction holds SQLite's write gate until it ends. Ending it only in the
request's teardown is too late: FastAPI validates a response model on another pool thread
*before* the teardown runs, and when every pool thread is already waiting for the gate, the
holder can never get one. Each waiter then gives up after the busy timeout with a 503.
Ending the transaction here, on the thread that still holds a slot, breaks that cycle.
(The response model is now validated on the event loop, see `_one_crossing`; the rule
stands for any later crossing.)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

# The request's database session, set by the request-context dependency; worker threads see
# it because the pool runs each call in a copy of the request's context.
REQUEST_DB: ContextVar[Session | None] = ContextVar("twofold_request_db", default=None)


def _ending_transaction(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(endpoint)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return endpoint(*args, **kwargs)
        finally:
            db = REQUEST_DB.get()
            if db is not None and db.in_transaction():
                db.close()  # rolls back: a use case commits what it means to keep

    return call


def _one_crossing(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The sync endpoint behind an async one that sends it to the pool itself. FastAPI runs
    a sync endpoint on a pool thread and then validates its response model on *another*
    pool crossing; an async endpoint's result is validated on the event loop, which costs
    less than a crossing (a few microseconds for the models here). The parameters FastAPI
    reads are the sync endpoint's (`functools.wraps`)."""
    ending = _ending_transaction(endpoint)

    @functools.wraps(endpoint)
    async def call(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(ending, *args, **kwargs)

    return call


class EndingRoute(APIRoute):
    """An APIRoute whose sync endpoint ends the request's open transaction on return, and
    crosses into the thread pool once (for the endpoint, not again for its answer)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _one_crossing(endpoint)
        super().__init__(path, endpoint, **kwargs)
