"""Console pages of issue 10 on a sub-user's details page (primary): the "MFA verification
must be enabled" switch, and the user's sessions with an End button each. Forms in, the same
services as the API out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from twofold.domain import errors
from twofold.services.accounts import Users
from twofold.services.context import Context
from twofold.services.security import SessionManagement
from twofold.services.sessions import Auth
from twofold.web.console import routes as console
from twofold.web.console.routes import Csrf, Ctx, PrimaryPage
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

console.VERIFY_PURPOSES["user.mfa_required_off"] = "stop requiring MFA verification of a user"
console.NOTICES.update(
    {
        "mfa-required-on": "MFA verification is now required: the user binds a device before "
        "doing anything else, in its open sessions too.",
        "mfa-required-off": "MFA verification is no longer required for this user.",
        "user-session-ended": "The user's session was ended. Its remembered browsers must "
        "enter a code again.",
        "user-sessions-ended": "Every session of the user was ended. Its remembered browsers "
        "must enter a code again.",
    }
)


@router.post("/users/{name}/mfa-required", dependencies=[Csrf])
def user_mfa_required(
    request: Request,
    name: str,
    auth: PrimaryPage,
    ctx: Ctx,
    mfa_required: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """The "MFA verification must be enabled" switch. Turning it on tightens and runs at
    once; turning it off weakens, so a stale session verifies first."""
    if mfa_required not in ("on", "off"):
        raise errors.ValidationFailed(fields={"mfa_required": "on or off"})
    if mfa_required == "off":
        Users(ctx).find(auth, name)
        return console.run_op(request, auth, ctx, "user.mfa_required_off", {"name": name})
    user = Users(ctx).update(auth, name, {"mfa_required": True})
    return console.redirect(f"/users/{user.name}?done=mfa-required-on")


@console.operation("user.mfa_required_off", "/users/{name}")
def _mfa_required_off(
    request: Request, auth: Auth, ctx: Context, fields: dict[str, str]
) -> Response:
    user = Users(ctx).update(auth, fields["name"], {"mfa_required": False})
    return console.redirect(f"/users/{user.name}?done=mfa-required-off")


@router.post("/users/{name}/sessions/{session_id}/end", dependencies=[Csrf])
def user_session_end(
    request: Request, name: str, session_id: str, auth: PrimaryPage, ctx: Ctx
) -> Response:
    """End one of the user's sessions (ending tightens: no verification needed)."""
    SessionManagement(ctx).revoke_user(auth, name, session_id[:64], via="console")
    return console.redirect(f"/users/{name}?done=user-session-ended")


@router.post("/users/{name}/sessions/end-all", dependencies=[Csrf])
def user_sessions_end_all(request: Request, name: str, auth: PrimaryPage, ctx: Ctx) -> Response:
    """End every session of the user."""
    SessionManagement(ctx).revoke_user_all(auth, name, via="console")
    return console.redirect(f"/users/{name}?done=user-sessions-ended")


for _path in ("/users/{name}/sessions/{session_id}/end", "/users/{name}/sessions/end-all"):
    router.add_api_route(
        _path, console._home_of("/users/{name}"), methods=["GET"], include_in_schema=False
    )
