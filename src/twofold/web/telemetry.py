"""What every request leaves behind for operators: its id, an access log line, HTTP metrics
by route template; and `GET /metrics` (Prometheus text) for the addresses
TWOFOLD_METRICS_NETWORKS allows."""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
from time import perf_counter

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twofold.domain import errors
from twofold.logs import ACCESS, REQUEST_ID
from twofold.metrics import UNMATCHED, Metrics
from twofold.web.routing import EndingRoute
from twofold.web.runtime import client_address, forwarded_client, in_networks, runtime_of

Networks = list[ipaddress.IPv4Network | ipaddress.IPv6Network]
# A proxy's request id is kept when it is this plain (it goes into logs and a header).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
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


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def from_trusted_proxy(scope: Scope, trusted: Networks) -> bool:
    """Whether the connection came from one of TWOFOLD_TRUSTED_PROXIES. uvicorn's proxy
    middleware has already replaced such a peer with the forwarded client, whose port is
    then 0 (a TCP peer never has port 0)."""
    client = scope.get("client")
    if not client or not trusted:
        return False
    if in_networks(client[0], trusted):
        return True
    return client[1] == 0 and bool(_header(scope, b"x-forwarded-for"))


def request_id_of(scope: Scope, trusted: Networks) -> str:
    """The proxy's X-Request-ID when a trusted proxy sent a well-formed one, else a new id."""
    given = _header(scope, b"x-request-id")
    if given and _REQUEST_ID.fullmatch(given) and from_trusted_proxy(scope, trusted):
        return given
    return secrets.token_hex(16)


class Telemetry:
    """ASGI middleware, outermost: gives each HTTP request its id (X-Request-ID, answered in
    the response and stamped on every log line of the request), times it, counts it by route
    and writes one access line (method, route template, status, duration, client)."""

    def __init__(
        self, app: ASGIApp, metrics: Metrics | None, trusted: Networks, access_log: bool = True
    ) -> None:
        self.app, self.metrics, self.trusted = app, metrics, trusted
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        rid = request_id_of(scope, self.trusted)
        token = REQUEST_ID.set(rid)
        status = 500  # an exception that escapes the app becomes a 500
        header = (b"x-request-id", rid.encode("latin-1"))

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = perf_counter() - started
            route = route_label(scope)
            if self.metrics is not None:
                self.metrics.request(route, scope["method"], status, seconds)
            if self.access_log and ACCESS.isEnabledFor(logging.INFO):
                client = scope.get("client")
                ACCESS.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                        "client": forwarded_client(
                            client[0] if client else None,
                            _header(scope, b"x-forwarded-for"),
                            self.trusted,
                        ),
                    },
                )
            REQUEST_ID.reset(token)
