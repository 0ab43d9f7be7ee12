"""Account life-cycle pages (issue 13): disabling or enabling a sub-user and resetting its
password (its details page, primary), and the forced "Change your password" gate at sign-in.
Forms in, the same services as the API out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from twofold.domain import errors
from twofold.domain.passwords import generate_password
from twofold.services.accounts import Users
from twofold.services.sessions import Auth
from twofold.services.verification import Verification
from twofold.web.console import security as sec
from twofold.web.console.auth import Csrf, Ctx, PrimaryPage, console_auth, fresh_page
from twofold.web.console.render import localized, redirect, render, safe_next
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

NOTICES = {
    "user-disabled": "The user is disabled: its sessions ended and it cannot sign in.",
    "user-enabled": "The user is enabled again; it can sign in.",
    "password-chosen": "Your new password is set. Your other sessions were ended.",
}
PURPOSES = {
    "user.set_disabled": "disable or enable a user",
    "user.set_password": "set a user's password",
}

StatusPage = Annotated[
    Auth, Depends(fresh_page("user.set_disabled", primary=True, back="/users/{name}/status"))
]
# Verified before the form is shown; a POST on a stale session comes back to the empty form
# (the password never travels through the verification).
PasswordPage = Annotated[
    Auth, Depends(fresh_page("user.set_password", primary=True, back="/users/{name}/password"))
]
# The forced change reaches what the API's /me/password does for such a session.
ChangePage = Annotated[Auth, Depends(console_auth("/me/password"))]


# ----------------------------------------------------------------------------- disable


@router.get("/users/{name}/status")
def user_status_page(request: Request, name: str, auth: PrimaryPage, ctx: Ctx) -> Response:
    """Confirm disabling (or enabling) a sub-user."""
    user = Users(ctx).view(auth, name)
    return render(request, "user_status.html", user=user.as_dict())


@router.post("/users/{name}/status", dependencies=[Csrf])
def user_status_submit(
    request: Request,
    name: str,
    auth: StatusPage,
    ctx: Ctx,
    disabled: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Disable (`disabled=on`) or enable (`off`) a sub-user."""
    if disabled not in ("on", "off"):
        raise errors.ValidationFailed(fields={"disabled": "on or off"})
    Users(ctx).update(auth, name, {"disabled": disabled == "on"})
    done = "user-disabled" if disabled == "on" else "user-enabled"
    return redirect(f"/users/{name}?done={done}")


# ----------------------------------------------------------------------------- set password


@router.get("/users/{name}/password")
def user_password_page(request: Request, name: str, auth: PasswordPage, ctx: Ctx) -> Response:
    """Reset a user's password: set one, or generate one shown once."""
    user = Users(ctx).view(auth, name)
    return render(request, "user_password.html", user=user.as_dict(), must_change=True)


@router.post("/users/{name}/password", dependencies=[Csrf])
def user_password_submit(
    request: Request,
    name: str,
    auth: PasswordPage,
    ctx: Ctx,
    mode: Annotated[str, Form(max_length=16)] = "set",
    password: Annotated[str, Form(max_length=1024)] = "",
    must_change: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    """Every session of the user ends. "Must change at next sign-in" is ticked by default
    (as in RAM)."""
    users = Users(ctx)
    generated = mode == "generate"
    chosen = generate_password() if generated else password
    try:
        users.update(
            auth, name, {"password": chosen, "password_reset_required": bool(must_change)}
        )
    except errors.ValidationFailed as exc:
        view = users.view(auth, name)
        return render(
            request, "user_password.html", exc.status, user=view.as_dict(),
            error=localized(exc), must_change=bool(must_change),
        )
    view = users.view(auth, name)
    return render(
        request, "user_password_done.html", user=view.as_dict(),
        generated=chosen if generated else None, must_change=bool(must_change),
    )


# ----------------------------------------------------------------------------- forced change


@router.get("/password/change")
def forced_change_page(request: Request, auth: ChangePage) -> Response:
    """The "Change your password" gate: the primary set this password, or it expired."""
    if not auth.must_change_password:
        return redirect("/")
    return render(request, "password_forced.html")


@router.post("/password/change", dependencies=[Csrf])
def forced_change_submit(
    request: Request,
    auth: ChangePage,
    ctx: Ctx,
    new_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    if not auth.must_change_password:
        return redirect("/")
    try:
        Verification(ctx).change_password(auth, None, new_password)
    except errors.ValidationFailed as exc:
        return render(request, "password_forced.html", exc.status, error=localized(exc))
    # Next: the MFA setup when that is also due (the overview's gate sends there; a sign-in
    # to an application comes back after its binding), else back to that application's
    # sign-in, else the overview.
    back = safe_next(request.cookies.get(sec.cookie_name(request, sec.AFTER_MFA)))
    if back != "/" and not auth.session.restricted:
        response = redirect(back)
        sec.clear_cookie(request, response, sec.AFTER_MFA)
        return response
    return redirect("/?done=password-chosen")


