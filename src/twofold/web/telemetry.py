"""What every request leaves behind for operators: HTTP metrics by route template, and
`GET /metrics` (Prometheus text) for the addresses TWOFOLD_METRICS_NETWORKS allows."""

from __future__ import annotations

import re
from time import perf_counter

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twofold.domain import errors
from twofold.metrics import UNMATCHED, Metrics
from twofold.web.routing import EndingRoute
from twofold.web.runtime import client_address, in_networks, runtime_of

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"

router = APIRouter(route_class=EndingRoute)


@router.get("/metrics", include_in_schema=False)
def metrics_page(request: Request) -> Response:
    """Prometheus text format: this process's counters, or every worker's summed."""
    rt = runtime_of(request)
    if rt.metrics is None:  # not mounted then; kept for a runtime swapped under the app
        raise errors.NotFound()
    if rt.metrics_networks:
        addr = client_address(request, rt)
        if addr is None or not in_networks(addr, rt.metrics_networks):
            # JSON, not the console's error page: the reader is a scraper or an operator.
            refused = errors.NetworkNotAllowed("Metrics are not served to this address.")
            return JSONResponse(
                {"error": {"code": refused.code, "message": refused.message}},
                status_code=refused.status,
            )
    return Response(rt.metrics.render(), media_type=PROMETHEUS_TEXT)


_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


def route_label(scope: Scope) -> str:
    """The template of the route that answered (`/api/v1/users/{name}`), never the raw path:
    one label per route, and one (`unmatched`) for every path no route knows.

    The matched route knows its own template, not the prefix of the router that included
    it: the prefix is what the path holds before the route's part."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        root = scope.get("root_path")
        if root and "endpoint" in scope:  # a mounted app (static files) under its prefix
            return f"{root}/{{path}}"
        return UNMATCHED
    own = template
    if "{" in template:
        params = scope.get("path_params") or {}
        own = _PARAM.sub(lambda m: str(params.get(m.group(1), "")), template)
    path: str = scope.get("path", "")
    prefix = path[: len(path) - len(own)] if own and path.endswith(own) else ""
    return prefix + template or "/"


class Telemetry:
    """ASGI middleware, outermost: times each HTTP request and counts it by route."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500  # an exception that escapes the app becomes a 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.request(
                route_label(scope), scope["method"], status, perf_counter() - started
            )
