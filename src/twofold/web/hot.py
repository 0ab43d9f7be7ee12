"""The hot routes' common case, answered before the framework's routing.

FastAPI's routing, parameter solving (an async-generator dependency, a shielded exit stack)
and response machinery cost several times what forward-auth or `GET /me` do themselves.
A hot route registers a *first answer* here: given the request, it answers, or it declines
(None) before it has written anything, and the route below answers as it always has (a bad
parameter, a session due its last-seen touch, an error the route renders). A first answer
that fails after writing (a wrong code, counted) answers with the app's own error handlers
(`rendered`), so the route never repeats a write. The route stays the contract, in the
OpenAPI document and for every other case.

Their statements run on the hot paths' connections (storage/hot.py): inline on the event loop
on SQLite, a local file that never waits for a lock in WAL mode, where a crossing into the
thread pool (with the GIL handed between threads) costs more than the reads. So does the
code check's common case, whose write transaction is four short statements: it may wait
for the write lock, at most as long as another writer's transaction, and every transaction
that waits on anything else (a hash, the network) runs outside one. On PostgreSQL they run
on the event loop's own connections (storage/aio.py). Other work crosses once. The outer
middlewares (request id, access log, metrics, headers, language) see a first answer like
any other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FirstAnswer = Callable[[Request], Awaitable[Response | None]]


class HotRoutes:
    """ASGI middleware, the innermost of the app's own: `answers` maps (method, full path)
    to the route (for the route label of logs and metrics) and its first answer."""

    def __init__(self, app: ASGIApp, answers: dict[tuple[str, str], tuple[Any, FirstAnswer]]):
        self.app = app
        self.answers = answers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry = None
        if scope["type"] == "http":
            entry = self.answers.get((scope["method"], scope.get("path", "")))
        if entry is not None:
            route, first = entry
            request = Request(scope, receive)
            answer = await first(request)
            if answer is not None:
                scope["route"] = route
                await answer(scope, receive, send)
                return
            receive = _replaying(request, receive)
        await self.app(scope, receive, send)


def _replaying(request: Request, receive: Receive) -> Receive:
    """`receive` for the route after a first answer declined: the body it read, again."""
    body: bytes | None = getattr(request, "_body", None)  # Starlette keeps what it read
    if body is None:
        return receive
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # a disconnect, should the route wait for one
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def rendered(request: Request, exc: Exception) -> Response:
    """The answer the app's own exception handlers give `exc` (the route's would be the
    same): for a first answer that failed after writing, so the route cannot ask again."""
    handlers = request.app.exception_handlers
    for kind in type(exc).__mro__:
        if kind in handlers:
            answer: Response = await handlers[kind](request, exc)
            return answer
    raise exc


def first_answers(
    prefix: str, routes: Sequence[Any], answers: Mapping[str, FirstAnswer]
) -> dict[tuple[str, str], tuple[Any, FirstAnswer]]:
    """The entries for HotRoutes of a router included under `prefix`: `answers` by the
    route's endpoint name."""
    out: dict[tuple[str, str], tuple[Any, FirstAnswer]] = {}
    for route in routes:
        first = answers.get(getattr(route, "name", ""))
        if first is not None:
            for method in route.methods:
                out[(method, f"{prefix}{route.path}")] = (route, first)
    missing = set(answers) - {getattr(r, "name", "") for r in routes}
    if missing:
        raise LookupError(f"first answers for routes that do not exist: {sorted(missing)}")
    return out
