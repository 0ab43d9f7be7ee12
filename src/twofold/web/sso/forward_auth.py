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

from twofold.domain import errors
from twofold.domain.sealing import SealingError
from twofold.services.forward_auth import ForwardAuth
from twofold.services.sessions import WriteNeeded
from twofold.services.views import Identity
from twofold.storage.hot import HotDatabase
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


def _identity(request: Request, app: str, *, writes: bool = True) -> Identity | None:
    # Its own database session, not the request-context dependency: this runs on every
    # proxied request, and the dependency's machinery costs more than the check itself.
    # With writes=False a session due its last-seen touch raises WriteNeeded.
    rt = runtime_of(request)
    with rt.open_context(client_address(request, rt), None) as ctx:
        try:
            return ForwardAuth(ctx).check(credential(request), app, writes=writes)
        except errors.TwofoldError as exc:
            if _refused(exc):
                return None
            raise


def _refused(exc: errors.TwofoldError) -> bool:
    """Not signed in, or not allowed in: the proxy's 401 (no identity). A disabled
    application's 403 is not: it says so (nginx passes a 403 on), signing in would not help."""
    return exc.status in (401, 403) and not isinstance(exc, errors.ApplicationDisabled)


def _answer(request: Request, identity: Identity | None, app: str) -> Response:
    """200 with the identity headers; else 401 (auth-request) or the 302 to the console's
    sign-in (forward-auth)."""
    if identity is not None:
        return _passed(identity)
    if request.url.path.endswith(FORWARD_AUTH):
        return RedirectResponse(login_url(request, original_url(request), app), status_code=302)
    return Response(status_code=401, headers={"Cache-Control": "no-store"})


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
    return _answer(request, _identity(request, app), app)


@router.get(FORWARD_AUTH, responses={302: {"description": "Sign in first."}})
def forward_auth(request: Request, app: str = Query(max_length=48)) -> Response:
    """Traefik ForwardAuth, Caddy forward_auth: the same 200, else a 302 to the console's
    sign-in, which comes back to the original URL (403 while the application is disabled)."""
    return _answer(request, _identity(request, app), app)


async def first_answer(request: Request) -> Response | None:
    """Forward-auth's common case for HotRoutes (web/hot.py): one well-formed `app`, a check
    that writes nothing. Anything else goes on to the route: a missing or bad parameter, a
    session due its last-seen touch or removal, a disabled application (the route's 403),
    a database fault (its 503)."""
    apps = request.query_params.getlist("app")
    if len(apps) != 1 or len(apps[0]) > 48:
        return None
    rt = runtime_of(request)
    db = rt.hot_db()
    try:
        if db is not None:
            identity = await _identity_hot(request, apps[0], db)
        else:
            check = functools.partial(_identity, request, apps[0], writes=False)
            identity = await anyio.to_thread.run_sync(check)
    except (WriteNeeded, errors.TwofoldError, SQLAlchemyError, SealingError):
        return None  # the route answers: the touch, the 403 of a disabled application, a 503
    return _answer(request, identity, apps[0])


async def _identity_hot(request: Request, app: str, db: HotDatabase) -> Identity | None:
    """`_identity(..., writes=False)` on the hot paths' connections (storage/hot.py)."""
    rt = runtime_of(request)
    with rt.open_context(client_address(request, rt), None) as ctx:
        try:
            return await ForwardAuth(ctx).check_hot(db, credential(request), app)
        except errors.TwofoldError as exc:
            if _refused(exc):
                return None
            raise


FIRST_ANSWERS = {"auth_request": first_answer, "forward_auth": first_answer}
