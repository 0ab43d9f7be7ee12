"""Forward-auth for reverse proxies: nginx `auth_request` and Traefik/Caddy `forward_auth`.

The credential is the console's session cookie or a bearer token. The original URL of a
request (for the sign-in's way back) is believed only from TWOFOLD_TRUSTED_PROXIES."""

from __future__ import annotations

import functools
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Receive, Scope, Send

from twofold.bootstrap import Runtime
from twofold.domain import errors
from twofold.domain.sealing import SealingError
from twofold.services.forward_auth import ForwardAuth
from twofold.services.sessions import WriteNeeded
from twofold.services.views import Identity
from twofold.web.console import security as sec
from twofold.web.routing import EndingRoute
from twofold.web.runtime import client_address, is_trusted_peer, runtime_of

router = APIRouter(route_class=EndingRoute, tags=["single sign-on"])
RETURN_PATH = "/sso/return"
_COOKIE_NAMES = tuple(f"{p}{sec.SESSION}" for p in ("__Host-", "__Secure-", ""))


def credential(request: Request) -> str | None:
    """A bearer token, else the console's session cookie (whatever its secure prefix)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    for name in _COOKIE_NAMES:
        value = request.cookies.get(name)
        if value and len(value) <= 200:
            return value
    return None


def _identity(request: Request, app: str) -> Identity | None:
    # Its own database session, not the request-context dependency: this runs on every
    # proxied request, and the dependency's machinery costs more than the check itself.
    rt = runtime_of(request)
    with rt.open_context(client_address(request, rt), None) as ctx:
        try:
            return ForwardAuth(ctx).check(credential(request), app)
        except errors.ApplicationDisabled:
            raise  # a 403 that says so (nginx passes a 403 on): signing in would not help
        except errors.TwofoldError as exc:
            if exc.status in (401, 403):  # not signed in, or not allowed in: the proxy's 401
                return None
            raise


def _passed(identity: Identity) -> Response:
    return Response(
        status_code=200,
        headers={
            "Remote-User": identity.login,
            "Remote-Email": identity.email or "",
            "Remote-Name": identity.name,
            "Remote-Account": identity.account,
            "Cache-Control": "no-store",
        },
    )


def original_url(request: Request) -> str | None:
    """The URL the person asked the proxy for, from a trusted proxy's headers only."""
    if not is_trusted_peer(request):
        return None
    h = request.headers
    url = h.get("x-original-url")
    if not url and h.get("x-forwarded-host"):
        proto = h.get("x-forwarded-proto", "https").split(",")[0].strip()
        host = h["x-forwarded-host"].split(",")[0].strip()
        url = f"{proto}://{host}{h.get('x-forwarded-uri', '/')}"
    if not url or len(url) > 2000 or any(ord(c) < 33 for c in url):
        return None
    return url


def return_path(back: str, app: str) -> str:
    """The way back to `back` after a sign-in (or an MFA binding) for the application."""
    return f"{RETURN_PATH}?rd={quote(back, safe='')}&app={quote(app, safe='')}"


def login_url(request: Request, back: str | None, app: str) -> str:
    """The console's sign-in, which returns through RETURN_PATH to `back` (when allowed)."""
    base = runtime_of(request).settings.public_url
    if not back:
        return f"{base}/login"
    after = return_path(back, app)
    return f"{base}/login?next={quote(after, safe='/')}"


AUTH_REQUEST = "/authz/auth-request"
FORWARD_AUTH = "/authz/forward-auth"


@router.get(
    AUTH_REQUEST,
    responses={401: {"description": "Not allowed in."}, 403: {"description": "Disabled."}},
)
def auth_request(request: Request, app: str = Query(max_length=48)) -> Response:
    """nginx `auth_request`: 200 with `Remote-User`, `Remote-Email`, `Remote-Name`,
    `Remote-Account` for a principal allowed into the application `app`, else 401 (403
    `Forbidden` while the application is disabled)."""
    identity = _identity(request, app)
    if identity is None:
        return Response(status_code=401, headers={"Cache-Control": "no-store"})
    return _passed(identity)


@router.get(FORWARD_AUTH, responses={302: {"description": "Sign in first."}})
def forward_auth(request: Request, app: str = Query(max_length=48)) -> Response:
    """Traefik ForwardAuth, Caddy forward_auth: the same 200, else a 302 to the console's
    sign-in, which comes back to the original URL (403 while the application is disabled)."""
    identity = _identity(request, app)
    if identity is None:
        return RedirectResponse(login_url(request, original_url(request), app), status_code=302)
    return _passed(identity)


class _AskTheRoute(Exception):
    """The common case does not apply: the route below answers instead."""


def _read_only_check(rt: Runtime, request: Request, app: str) -> Identity | None:
    """`_identity` without a write: raises _AskTheRoute where the route must answer."""
    with rt.open_context(client_address(request, rt), None) as ctx:
        try:
            return ForwardAuth(ctx).check(credential(request), app, writes=False)
        except (WriteNeeded, errors.ApplicationDisabled) as exc:
            raise _AskTheRoute() from exc
        except errors.TwofoldError as exc:
            if exc.status in (401, 403):
                return None
            raise _AskTheRoute() from exc


class ForwardAuthFirst:
    """ASGI middleware, the innermost of the app's own: answers forward-auth's common case
    (a GET with one well-formed `app`, a check that writes nothing) without the framework's
    routing, parameter solving and response machinery, which cost several times the check.

    On SQLite the check (two reads by key on a local file, never waiting for a lock in WAL
    mode) runs inline; elsewhere on a worker thread (it waits for the network). Anything
    else — a missing or bad parameter, a session whose last-seen touch is due, a disabled
    application, a database fault — goes on to the routes, which answer as they always
    have. The outer middlewares (request id, access log, metrics, headers) see both alike."""

    def __init__(self, app: ASGIApp, paths: dict[str, object]) -> None:
        self.app = app
        self.routes = paths  # path -> its route (for the route label of logs and metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope.get("path", "")) if scope["type"] == "http" else None
        if route is None or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        apps = request.query_params.getlist("app")
        rt: Runtime = scope["app"].state.runtime
        if len(apps) != 1 or len(apps[0]) > 48:
            await self.app(scope, receive, send)
            return
        check = functools.partial(_read_only_check, rt, request, apps[0])
        try:
            if rt.engine.dialect.name == "sqlite":
                identity = check()
            else:
                identity = await anyio.to_thread.run_sync(check)
        except (_AskTheRoute, SQLAlchemyError, SealingError):
            # The route answers: with the write, the 403, or the 503 it always gave.
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        if identity is not None:
            answer = _passed(identity)
        elif scope["path"].endswith("/forward-auth"):
            answer = RedirectResponse(
                login_url(request, original_url(request), apps[0]), status_code=302
            )
        else:
            answer = Response(status_code=401, headers={"Cache-Control": "no-store"})
        await answer(scope, receive, send)


def fast_paths(prefix: str) -> dict[str, object]:
    """The forward-auth routes by full path (the router included under `prefix`), for
    ForwardAuthFirst. The route is what the app's router would have put in the scope: the
    access log and the metrics label the answer by its template."""
    return {f"{prefix}{getattr(r, 'path', '')}": r for r in router.routes}
