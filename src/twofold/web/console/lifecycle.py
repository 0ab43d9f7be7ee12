"""Console pages of issue 13 (account life-cycle): disabling or enabling a sub-user and
setting its password (user details page, primary), and the forced "Change your password"
gate at sign-in. Forms in, the same services as the API out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from twofold.domain import errors
from twofold.domain.passwords import generate_password
from twofold.services.accounts import Users
from twofold.services.context import Context
from twofold.services.sessions import Auth, Sessions
from twofold.services.verification import Verification
from twofold.web.console import routes as console
from twofold.web.console.routes import Csrf, Ctx, PrimaryPage
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

# The forced change reaches what the API's /me/password does for such a session.
ChangePage = Annotated[Auth, Depends(console.console_auth("/me/password"))]

console.VERIFY_PURPOSES.update(
    {
        "user.set_disabled": "disable or enable a user",
        "user.password_form": "set a user's password",
    }
)
console.NOTICES.update(
    {
        "user-disabled": "The user is disabled: its sessions ended and it cannot sign in.",
        "user-enabled": "The user is enabled again; it can sign in.",
        "password-chosen": "Your new password is set. Your other sessions were ended.",
    }
)


# ----------------------------------------------------------------------------- disable


@router.get("/users/{name}/status")
def user_status_page(request: Request, name: str, auth: PrimaryPage, ctx: Ctx) -> Response:
    """Confirm disabling (or enabling) a sub-user."""
    user = Users(ctx).view(auth, name)
    return console.render(request, "user_status.html", user=user.as_dict())


@router.post("/users/{name}/status", dependencies=[Csrf])
def user_status_submit(
    request: Request,
    name: str,
    auth: PrimaryPage,
    ctx: Ctx,
    disabled: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Disable (`disabled=on`) or enable (`off`) a sub-user, after identity verification."""
    if disabled not in ("on", "off"):
        raise errors.ValidationFailed(fields={"disabled": "on or off"})
    Users(ctx).find(auth, name)
    return console.run_op(
        request, auth, ctx, "user.set_disabled", {"name": name, "disabled": disabled}
    )


@console.operation("user.set_disabled", "/users/{name}")
def _set_disabled(request: Request, auth: Auth, ctx: Context, fields: dict[str, str]) -> Response:
    on = fields.get("disabled") == "on"
    Users(ctx).update(auth, fields["name"], {"disabled": on})
    done = "user-disabled" if on else "user-enabled"
    return console.redirect(f"/users/{fields['name']}?done={done}")


# ----------------------------------------------------------------------------- set password


@router.get("/users/{name}/password")
def user_password_page(request: Request, name: str, auth: PrimaryPage, ctx: Ctx) -> Response:
    """Reset a user's password: verified before the form is shown (no secret travels
    through the verification)."""
    Users(ctx).find(auth, name)
    return console.run_op(request, auth, ctx, "user.password_form", {"name": name})


@console.operation("user.password_form", "/users/{name}")
def _password_form(
    request: Request, auth: Auth, ctx: Context, fields: dict[str, str]
) -> Response:
    user = Users(ctx).view(auth, fields["name"])
    return console.render(request, "user_password.html", user=user.as_dict(), must_change=True)


@router.post("/users/{name}/password", dependencies=[Csrf])
def user_password_submit(
    request: Request,
    name: str,
    auth: PrimaryPage,
    ctx: Ctx,
    mode: Annotated[str, Form(max_length=16)] = "set",
    password: Annotated[str, Form(max_length=1024)] = "",
    must_change: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    """Set the given password, or a generated one shown once; every session of the user
    ends. "Must change at next sign-in" is ticked by default (as in RAM)."""
    users = Users(ctx)
    users.find(auth, name)
    if not Sessions(ctx).is_fresh(auth.session):
        # The verification lapsed while the form was open: verify, then fill it in again.
        return console.run_op(request, auth, ctx, "user.password_form", {"name": name})
    generated = mode == "generate"
    chosen = generate_password() if generated else password
    try:
        users.update(
            auth, name, {"password": chosen, "password_reset_required": bool(must_change)}
        )
    except errors.ValidationFailed as exc:
        view = users.view(auth, name)
        return console.render(
            request, "user_password.html", exc.status, user=view.as_dict(),
            error=exc.message, must_change=bool(must_change),
        )
    view = users.view(auth, name)
    return console.render(
        request, "user_password_done.html", user=view.as_dict(),
        generated=chosen if generated else None, must_change=bool(must_change),
    )


# ----------------------------------------------------------------------------- forced change


@router.get("/password/change")
def forced_change_page(request: Request, auth: ChangePage) -> Response:
    """The "Change your password" gate: the primary set this password."""
    if not auth.must_change_password:
        return console.redirect("/")
    return console.render(request, "password_forced.html")


@router.post("/password/change", dependencies=[Csrf])
def forced_change_submit(
    request: Request,
    auth: ChangePage,
    ctx: Ctx,
    new_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    if not auth.must_change_password:
        return console.redirect("/")
    try:
        Verification(ctx).change_password(auth, None, new_password)
    except errors.ValidationFailed as exc:
        return console.render(request, "password_forced.html", exc.status, error=exc.message)
    # Next: the overview, or the MFA setup when that is also due (its gate sends there).
    return console.redirect("/?done=password-chosen")
