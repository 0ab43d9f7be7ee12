"""First answers (web/hot.py) for the API's hot routes, `GET /me` and `POST /verify`: the
same use cases as their routes in routes.py, without the framework's routing, parameter
solving and response machinery. What they decline, the route answers."""

from __future__ import annotations

import functools

import anyio.to_thread
from fastapi import Request, Response
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from twofold.bootstrap import Runtime
from twofold.domain import errors
from twofold.domain.sealing import SealingError
from twofold.services.accounts import Principals
from twofold.services.code_check import CodeCheck
from twofold.services.sessions import Sessions, WriteNeeded
from twofold.services.verification import Verification
from twofold.services.views import MeView
from twofold.storage.hot import HotDatabase
from twofold.storage.lite import LiteDatabase
from twofold.web.api import schemas as s
from twofold.web.api.deps import bearer_token, may_reach
from twofold.web.hot import FirstAnswer, rendered
from twofold.web.runtime import client_address, runtime_of


def _json(body: str) -> Response:
    return Response(body, media_type="application/json")


def _me_now(rt: Runtime, request: Request) -> MeView | None:
    agent = request.headers.get("user-agent")
    with rt.open_context(client_address(request, rt), agent) as ctx, ctx.reading():
        try:  # one read-only transaction for the session and the MFA status
            who = Sessions(ctx).identify(bearer_token(request), writes=False)
            may_reach(who, "/me")
        except (WriteNeeded, errors.TwofoldError):
            return None
        return Principals(ctx).me_of(who)


async def _me_hot(rt: Runtime, request: Request, db: HotDatabase) -> MeView | None:
    agent = request.headers.get("user-agent")
    with rt.open_context(client_address(request, rt), agent) as ctx:
        try:
            return await Principals(ctx).me_hot(
                db, bearer_token(request), lambda who: may_reach(who, "/me")
            )
        except (WriteNeeded, errors.TwofoldError):
            return None


async def me_first(request: Request) -> Response | None:
    """`GET /me`: reads only, on the hot paths' connections (storage/hot.py: inline on
    SQLite, on the event loop's on PostgreSQL), else in one crossing into the thread pool.
    Any error, or a session due its last-seen touch, goes on to the route, which answers
    it."""
    rt = runtime_of(request)
    db = rt.hot_db()
    try:
        if db is not None:
            view = await _me_hot(rt, request, db)
        else:
            view = await anyio.to_thread.run_sync(functools.partial(_me_now, rt, request))
    except (SQLAlchemyError, SealingError):
        return None
    if view is None:
        return None
    return _json(s.MeOut.model_validate(view).model_dump_json())


def _quick_now(
    rt: Runtime, request: Request, asked: s.VerifyIn, lite_db: LiteDatabase
) -> str | None:
    """The common cases of a code check (services/code_check.py): until when, a refusal
    raised (a wrong code, counted), or None: declined."""
    with rt.open_context(client_address(request, rt), request.headers.get("user-agent")) as ctx:
        until = CodeCheck(ctx).verify(lite_db, bearer_token(request), asked.code)
        return None if until is None else until.isoformat()


def _verify_now(rt: Runtime, request: Request, asked: s.VerifyIn) -> str:
    with rt.open_context(client_address(request, rt), request.headers.get("user-agent")) as ctx:
        auth = Sessions(ctx).authenticate(bearer_token(request))
        may_reach(auth.signed_in(), "/verify")
        verified = Verification(ctx).verify(
            auth, asked.method, password=asked.password, code=asked.code,
            credential=asked.credential,
        )  # fmt: skip
        return verified.isoformat()


async def _quick(rt: Runtime, request: Request, asked: s.VerifyIn) -> str | None:
    """The code check's common cases on the hot paths' connections (storage/hot.py): inline
    on SQLite, on the loop's own on PostgreSQL once they may run there; else None."""
    db = rt.hot_db()
    if db is None:
        return None
    if isinstance(db, LiteDatabase):
        return _quick_now(rt, request, asked, db)
    with rt.open_context(client_address(request, rt), request.headers.get("user-agent")) as ctx:
        until = await CodeCheck(ctx).verify_on_loop(db, bearer_token(request), asked.code)
    return None if until is None else until.isoformat()


async def verify_first(request: Request) -> Response | None:
    """`POST /verify` (the code check). A code for the device, right or wrong, is checked by
    services/code_check.py on the event loop: inline on SQLite, on the driver's own
    connection (storage/lite.py: its write transaction is a few short statements, and a
    thread crossing costs more than all of them), on psycopg's async connections on
    PostgreSQL (storage/aio.py). Anything it
    declines, and every other method, runs the full use case, in one crossing into the pool
    (it may hash a password).

    A body the route would refuse goes on to the route (it reads the same bytes); a refusal
    of the use case (a wrong code, counted) is answered here, by the app's own error
    handlers, for the route must not count it twice."""
    if request.headers.get("content-type", "").partition(";")[0].strip() != "application/json":
        return None
    try:
        asked = s.VerifyIn.model_validate_json(await request.body())
    except ValidationError:
        return None
    rt = runtime_of(request)
    try:
        until = await _quick(rt, request, asked) if asked.method == "mfa" else None
        if until is None:
            until = await anyio.to_thread.run_sync(
                functools.partial(_verify_now, rt, request, asked)
            )
    except (errors.TwofoldError, SQLAlchemyError, SealingError) as exc:
        return await rendered(request, exc)
    return _json(s.VerifyOut(verified_until=until).model_dump_json())


FIRST_ANSWERS: dict[str, FirstAnswer] = {"me": me_first, "verify": verify_first}
