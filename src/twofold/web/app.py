"""create_app(settings): the one place the web app is put together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twofold import __version__, i18n
from twofold.bootstrap import Runtime, build_runtime
from twofold.config import Settings
from twofold.domain import errors
from twofold.domain.ports import Clock, Mailer
from twofold.domain.sealing import SealingError
from twofold.services.oidc import SigningKeys
from twofold.web.api.applications import router as applications_router
from twofold.web.api.deps import API_PREFIX
from twofold.web.api.email_confirmation import router as confirmation_router
from twofold.web.api.hot import FIRST_ANSWERS as API_FIRST
from twofold.web.api.password_reset import router as reset_router
from twofold.web.api.phone import router as phone_router
from twofold.web.api.routes import router as api_router
from twofold.web.api.security_keys import router as security_keys_router
from twofold.web.console.mount import install as install_console
from twofold.web.docs import ApiHeaders, install_docs
from twofold.web.flood import FloodLimits
from twofold.web.health import install_health
from twofold.web.hot import HotRoutes, first_answers
from twofold.web.locale import LocaleMiddleware
from twofold.web.sso.forward_auth import FIRST_ANSWERS as FORWARD_AUTH_FIRST
from twofold.web.sso.forward_auth import router as forward_auth_router
from twofold.web.sso.oidc import router as oidc_router
from twofold.web.sso.return_page import router as sso_return_router
from twofold.web.telemetry import Telemetry
from twofold.web.telemetry import router as metrics_router

log = logging.getLogger("twofold")
METHOD = i18n.N_("Method not allowed.")
DB_RETRY_AFTER = 2  # seconds: a locked, busy or hung database, or a dropped connection


class BodyLimit:
    """Refuse bodies over the limit with 413 before the app reads them (ASGI middleware)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await too_large()(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await too_large()(scope, receive, send)


class _TooLarge(Exception):
    pass


def too_large() -> JSONResponse:
    return error_response(errors.PayloadTooLarge())


def error_body(exc: errors.TwofoldError) -> dict[str, Any]:
    # The message in the request's language (Accept-Language, or the console's cookie); the
    # code never changes.
    detail: dict[str, Any] = {"code": exc.code, "message": exc.localized(i18n.translator())}
    if exc.fields:
        detail["fields"] = exc.fields
    return {"error": detail}


def error_response(exc: errors.TwofoldError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return JSONResponse(error_body(exc), status_code=exc.status, headers=headers)


def _validation_fields(exc: RequestValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        fields[".".join(loc) or "body"] = str(err.get("msg", "invalid"))
    return fields


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def install_error_handlers(app: FastAPI) -> None:
    """Every failure becomes the error body of API.md (or a console page, for the console)."""

    async def on_twofold(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, errors.TwofoldError):  # registered for TwofoldError only
            raise exc
        console = getattr(request.app.state, "console_error", None)
        if console is not None and not _is_api(request):
            page: Response = await console(request, exc)
            return page
        return error_response(exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, RequestValidationError):
            raise exc
        fields = _validation_fields(exc)
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return error_response(
                errors.ValidationFailed(
                    "The body is not valid JSON.", fields={"body": "malformed JSON"}
                )
            )
        return await on_twofold(request, errors.ValidationFailed(fields=fields))

    async def on_http(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, StarletteHTTPException):
            raise exc
        mapped: errors.TwofoldError
        if exc.status_code == 404:
            mapped = errors.NotFound()
        elif exc.status_code == 405:
            return JSONResponse(
                {"error": {"code": "MethodNotAllowed", "message": i18n.gettext(METHOD)}},
                status_code=405,
                headers=exc.headers,
            )
        elif exc.status_code == 413 or isinstance(exc.__cause__, _TooLarge):
            # FastAPI turns any failure while reading the body into a 400 "error parsing the
            # body"; a chunked body cut off by BodyLimit is still too large, not malformed.
            mapped = errors.PayloadTooLarge()
        else:
            mapped = errors.ValidationFailed(str(exc.detail))
        return await on_twofold(request, mapped)

    async def on_database(request: Request, exc: Exception) -> Response:
        # Fail closed: nothing was accepted, the transaction was rolled back.
        # The driver's own message only ("database is locked"): never the statement or its
        # parameters, which SQLAlchemy's text of the error would include.
        orig = getattr(exc, "orig", None)
        reason = str(orig).splitlines()[0][:200] if orig is not None else type(exc).__name__
        log.error("database error on %s %s: %s", request.method, request.url.path, reason)
        return await on_twofold(request, errors.Unavailable(retry_after=DB_RETRY_AFTER))

    app.add_exception_handler(errors.TwofoldError, on_twofold)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)

    async def on_sealing(request: Request, exc: Exception) -> Response:
        # A secret that does not open (key file out of step): refuse, never accept; and say
        # so, for retrying will not help.
        log.error("sealed secret did not open on %s %s: %s", request.method, request.url.path, exc)
        return await on_twofold(request, errors.SecretUnavailable())

    app.add_exception_handler(SealingError, on_sealing)
    app.add_exception_handler(DBAPIError, on_database)
    app.add_exception_handler(SQLAlchemyError, on_database)


def _first_signing_key(rt: Runtime) -> None:
    """The OpenID Connect signing key, made on the first start. Not fatal: a database that
    is not ready yet gets it on first use instead."""
    try:
        with rt.open_context(None, "startup") as ctx:
            SigningKeys(ctx).ensure()
    except (SQLAlchemyError, SealingError, errors.TwofoldError) as exc:
        log.warning("the signing key will be made on first use: %s", type(exc).__name__)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    runtime: Runtime | None = None,
) -> FastAPI:
    settings = settings or Settings()
    rt = runtime or build_runtime(settings, clock=clock, mailer=mailer)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Few threads: each holds the GIL in turn, and on SQLite the one inside the write
        # transaction must not queue behind dozens of others to finish it.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        await anyio.to_thread.run_sync(_first_signing_key, rt)
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="Twofold",
        version=__version__,
        description="Accounts, sub-users and virtual MFA (RFC 6238).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # install_docs: Swagger UI from local files, under a CSP
        redoc_url=None,
    )
    app.state.runtime = rt
    # Flood limits count per process, in memory: the web app's, beside the Runtime.
    app.state.flood = FloodLimits(
        settings.rate_limits, rt.clock, hash_queue=settings.argon2_max_queue
    )
    install_error_handlers(app)
    # Routes match in the order they were added, one included router after another (each a
    # linear scan): the hot paths come first. Forward-auth answers every proxied request.
    app.include_router(forward_auth_router, prefix=API_PREFIX)
    # Added first: the innermost middleware, inside every header, id and metric of the others.
    app.add_middleware(
        HotRoutes,
        answers={
            **first_answers(API_PREFIX, forward_auth_router.routes, FORWARD_AUTH_FIRST),
            **first_answers(API_PREFIX, api_router.routes, API_FIRST),
        },
    )
    app.include_router(api_router, prefix=API_PREFIX)
    app.include_router(reset_router, prefix=API_PREFIX)
    app.include_router(security_keys_router, prefix=API_PREFIX)
    app.include_router(confirmation_router, prefix=API_PREFIX)
    app.include_router(phone_router, prefix=API_PREFIX)
    app.include_router(applications_router, prefix=API_PREFIX)

    install_health(app, rt)

    if settings.api_docs:
        install_docs(app)
    install_console(app)
    app.include_router(sso_return_router)
    app.include_router(oidc_router)
    app.add_middleware(ApiHeaders)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(LocaleMiddleware)  # every answer, a refused body too
    if rt.metrics is not None:
        app.include_router(metrics_router)
    app.add_middleware(  # last added: outermost
        Telemetry, metrics=rt.metrics, trusted=rt.trusted, access_log=settings.access_log
    )
    return app
