"""The account's sub-users (primary only): list and create, details, delete, their virtual
MFA (enable, bind, disable, "must be enabled"), and their sessions."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from twofold.domain import errors
from twofold.services.accounts import Users
from twofold.services.mfa import Devices
from twofold.services.security import SessionManagement
from twofold.services.security_keys import SecurityKeys
from twofold.services.sessions import Auth
from twofold.web.console.auth import Csrf, Ctx, PrimaryPage, ensure_fresh, fresh_page
from twofold.web.console.pages.mfa import BIND_ERRORS, bind_page
from twofold.web.console.render import form_homes, redirect, render
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

NOTICES = {
    "user-created": "The user was created.",
    "user-deleted": "The user was deleted.",
    "user-mfa-disabled": "The user's virtual MFA device is disabled.",
    "mfa-required-on": "MFA verification is now required: the user binds a device before "
    "doing anything else, in its open sessions too.",
    "mfa-required-off": "MFA verification is no longer required for this user.",
    "user-session-ended": "The user's session was ended. Its remembered browsers must "
    "enter a code again.",
    "user-sessions-ended": "Every session of the user was ended. Its remembered browsers "
    "must enter a code again.",
}
PURPOSES = {
    "mfa.create_user": "bind a virtual MFA device for a user",
    "user.delete": "delete a user",
    "user.mfa_disable": "disable a user's virtual MFA device",
    "user.mfa_required_off": "stop requiring MFA verification of a user",
}

# Buttons on the user's details page: a stale session verifies and comes back to it.
DeletePage = Annotated[
    Auth, Depends(fresh_page("user.delete", primary=True, back="/users/{name}"))
]
CreateDevicePage = Annotated[
    Auth, Depends(fresh_page("mfa.create_user", primary=True, back="/users/{name}"))
]
DisablePage = Annotated[Auth, Depends(fresh_page("user.mfa_disable", primary=True))]


@router.get("/users")
def users_page(request: Request, auth: PrimaryPage, ctx: Ctx) -> Response:
    """The account's sub-users, and a form to create one."""
    return _users(request, auth, ctx)


def _users(
    request: Request,
    auth: Auth,
    ctx: Ctx,
    *,
    error: errors.TwofoldError | None = None,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    users = [view.as_dict() for view in Users(ctx).views(auth)]
    return render(
        request,
        "users.html",
        error.status if error else 200,
        users=users,
        form=form or {},
        error=error.message if error else None,
        field_errors=(error.fields if error else None) or {},
        account=auth.principal.login,
    )


@router.post("/users", dependencies=[Csrf])
def users_create(
    request: Request,
    auth: PrimaryPage,
    ctx: Ctx,
    name: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    mfa_required: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    """Create a sub-user."""
    form = {"name": name, "email": email, "mfa_required": mfa_required is not None}
    try:
        email_value = _valid_email(email.strip()) if email.strip() else None
        user = Users(ctx).create(
            auth,
            name=name.strip(),
            password=password,
            email=email_value,
            mfa_required=mfa_required is not None,
        )
    except (errors.ValidationFailed, errors.AlreadyExists) as exc:
        return _users(request, auth, ctx, error=exc, form=form)
    return redirect(f"/users/{user.name}?done=user-created")


def _valid_email(value: str) -> str:
    from twofold.services.emails import checked_email  # the one rule, for every face

    return checked_email(value)


@router.get("/users/{name}")
def user_page(request: Request, name: str, auth: PrimaryPage, ctx: Ctx) -> Response:
    """User details with its Security credentials."""
    return _user(request, auth, ctx, name)


def _user(
    request: Request,
    auth: Auth,
    ctx: Ctx,
    name: str,
    *,
    recovery_codes: list[str] | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    user, sessions = Users(ctx).details(auth, name)
    keys = SecurityKeys(ctx).views_of(Users(ctx).look_up(auth, name).id)
    extra: dict[str, Any] = {"notice": notice} if notice else {}
    return render(request, "user.html", user=user, recovery_codes=recovery_codes,
                  sessions=sessions, keys=keys, **extra)


@router.post("/users/{name}/delete", dependencies=[Csrf])
def user_delete(request: Request, name: str, auth: DeletePage, ctx: Ctx) -> Response:
    """Delete a sub-user (on a freshly verified session)."""
    Users(ctx).delete(auth, name)
    return redirect("/users?done=user-deleted")


@router.post("/users/{name}/mfa/device", dependencies=[Csrf])
def user_mfa_create(request: Request, name: str, auth: CreateDevicePage, ctx: Ctx) -> Response:
    """Enable MFA for a sub-user: a key and QR code for its phone."""
    user = Users(ctx).find(auth, name)
    replacing = Devices(ctx).status(auth, user).enabled
    pending = Devices(ctx).create_pending(auth, user)
    return bind_page(
        request, pending, action=f"/users/{user.name}/mfa/bind", target=user.login,
        replacing=replacing, restart=f"/users/{user.name}/mfa/device",
    )


@router.post("/users/{name}/mfa/bind", dependencies=[Csrf])
def user_mfa_bind(
    request: Request,
    name: str,
    auth: PrimaryPage,
    ctx: Ctx,
    serial: Annotated[str, Form(max_length=64)] = "",
    code1: Annotated[str, Form(max_length=32)] = "",
    code2: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Bind the sub-user's device with two consecutive codes."""
    user = Users(ctx).find(auth, name)
    try:
        bound = Devices(ctx).bind(auth, user, serial, code1.strip(), code2.strip())
    except BIND_ERRORS as exc:
        return bind_page(
            request, None, action=f"/users/{user.name}/mfa/bind", target=user.login,
            serial=serial, error=exc, restart=f"/users/{user.name}/mfa/device",
        )
    return _user(
        request, auth, ctx, user.name, recovery_codes=bound.recovery_codes,
        notice=f"Virtual MFA is enabled for {user.login}.",
    )


@router.get("/users/{name}/mfa/disable")
def user_mfa_disable_page(request: Request, name: str, auth: DisablePage, ctx: Ctx) -> Response:
    """Disable a sub-user's device: the warning and a confirmation."""
    user = Users(ctx).view(auth, name)
    if not user.mfa.totp:
        return redirect(f"/users/{name}")
    return render(request, "user_disable.html", user=user)


@router.post("/users/{name}/mfa/disable", dependencies=[Csrf])
def user_mfa_disable(request: Request, name: str, auth: DisablePage, ctx: Ctx) -> Response:
    user = Users(ctx).find(auth, name)
    with contextlib.suppress(errors.MFANotEnabled):
        Devices(ctx).disable(auth, user)
    return redirect(f"/users/{user.name}?done=user-mfa-disabled")


@router.post("/users/{name}/mfa-required", dependencies=[Csrf])
def user_mfa_required(
    request: Request,
    name: str,
    auth: PrimaryPage,
    ctx: Ctx,
    mfa_required: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """The "MFA verification must be enabled" switch. Turning it on tightens and runs at
    once; turning it off weakens, so a stale session verifies first (and comes back here)."""
    if mfa_required not in ("on", "off"):
        raise errors.ValidationFailed(fields={"mfa_required": "on or off"})
    if mfa_required == "off":
        ensure_fresh(ctx, auth, f"/users/{name}", "user.mfa_required_off")
    user = Users(ctx).update(auth, name, {"mfa_required": mfa_required == "on"})
    return redirect(f"/users/{user.name}?done=mfa-required-{mfa_required}")


@router.post("/users/{name}/sessions/{session_id}/end", dependencies=[Csrf])
def user_session_end(
    request: Request, name: str, session_id: str, auth: PrimaryPage, ctx: Ctx
) -> Response:
    """End one of the user's sessions (ending tightens: no verification needed)."""
    SessionManagement(ctx).revoke_user(auth, name, session_id[:64], via="console")
    return redirect(f"/users/{name}?done=user-session-ended")


@router.post("/users/{name}/sessions/end-all", dependencies=[Csrf])
def user_sessions_end_all(request: Request, name: str, auth: PrimaryPage, ctx: Ctx) -> Response:
    """End every session of the user."""
    SessionManagement(ctx).revoke_user_all(auth, name, via="console")
    return redirect(f"/users/{name}?done=user-sessions-ended")


form_homes(
    router,
    {
        "/users/{name}/delete": "/users/{name}",
        "/users/{name}/mfa/device": "/users/{name}",
        "/users/{name}/mfa/bind": "/users/{name}",
        "/users/{name}/mfa-required": "/users/{name}",
        "/users/{name}/sessions/{session_id}/end": "/users/{name}",
        "/users/{name}/sessions/end-all": "/users/{name}",
    },
)
