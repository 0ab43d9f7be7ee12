"""Pages of issue 13 before sign-in: "Forgot password?" (ask for a mailed link, and
the page behind the link) and the sign-up page. Forms in, the same services as the API out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from twofold.domain import errors
from twofold.services.accounts import Accounts
from twofold.services.password_reset import PasswordReset
from twofold.web.console import security as sec
from twofold.web.console.auth import Csrf, Ctx
from twofold.web.console.render import anonymous_page, redirect
from twofold.web.flood import flood_limited, hash_bounded
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

NOTICES = {
    "password-reset": "Your password was reset; every session was ended. Sign in with "
    "the new one (and your MFA code, if you use one).",
    "signed-up": "Your account was created, and a link to confirm your email address is on "
    "its way. Sign in with the account's name and your password.",
}


# ----------------------------------------------------------------------------- forgot password


@router.get("/password-reset")
def reset_page(request: Request) -> Response:
    """Forgot password: ask for a link by mail."""
    return anonymous_page(request, "reset_request.html")


@router.post("/password-reset", dependencies=[flood_limited("reset"), Csrf])
def reset_submit(
    request: Request, ctx: Ctx, login: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """The same page whatever the login: no one learns here which logins exist."""
    PasswordReset(ctx).request(login)
    return anonymous_page(request, "reset_request.html", sent=True)


@router.get("/password-reset/confirm")
def reset_confirm_page(request: Request, ctx: Ctx, token: str = "") -> Response:
    """The page behind the mailed link: choose a new password."""
    try:
        login = PasswordReset(ctx).check(token)
    except errors.ValidationFailed as exc:
        return anonymous_page(request, "reset_confirm.html", exc.status, invalid=exc.message)
    return anonymous_page(request, "reset_confirm.html", token=token, login=login)


@router.post("/password-reset/confirm", dependencies=[flood_limited("reset"), hash_bounded, Csrf])
def reset_confirm_submit(
    request: Request,
    ctx: Ctx,
    token: Annotated[str, Form(max_length=200)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    reset = PasswordReset(ctx)
    try:
        reset.confirm(token, new_password)
    except errors.ValidationFailed as exc:
        if exc.fields and "token" in exc.fields:
            return anonymous_page(request, "reset_confirm.html", exc.status, invalid=exc.message)
        login = reset.check(token)
        return anonymous_page(
            request, "reset_confirm.html", exc.status, token=token, login=login, error=exc.message
        )
    response = redirect("/login?done=password-reset")
    sec.clear_cookie(request, response, sec.SESSION)
    return response


# ----------------------------------------------------------------------------- sign-up


@router.get("/signup")
def signup_page(request: Request, ctx: Ctx) -> Response:
    """Sign up: a new account and its primary (while sign-up is open)."""
    if not ctx.settings.signup_open:
        raise errors.Forbidden("Sign-up is closed on this server.")
    return anonymous_page(request, "signup.html", form={})


@router.post("/signup", dependencies=[flood_limited("signup"), hash_bounded, Csrf])
def signup_submit(
    request: Request,
    ctx: Ctx,
    name: Annotated[str, Form(max_length=64)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """The same rules and errors as POST /accounts."""
    if not ctx.settings.signup_open:
        raise errors.Forbidden("Sign-up is closed on this server.")
    form = {"name": name, "email": email}
    try:
        Accounts(ctx).create(name.strip(), email.strip(), password, via="console")
    except (errors.ValidationFailed, errors.AlreadyExists) as exc:
        return anonymous_page(
            request, "signup.html", exc.status, form=form, error=exc.message,
            field_errors=exc.fields or {},
        )
    return redirect("/login?done=signed-up")
