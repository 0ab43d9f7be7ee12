"""Changing one's password: a guarded page (a stale session verifies before the form)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from twofold.domain import errors
from twofold.services.sessions import Auth
from twofold.services.verification import Verification
from twofold.web.console.auth import Csrf, Ctx, fresh_page
from twofold.web.console.render import localized, redirect, render
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

NOTICES = {"password-changed": "Your password was changed. Your other sessions were ended."}
PURPOSES = {"password.change": "change your password"}

FreshPage = Annotated[Auth, Depends(fresh_page("password.change", api_path="/me/password"))]


@router.get("/security/password")
def password_page(request: Request, auth: FreshPage) -> Response:
    """Change password."""
    return render(request, "password.html")


@router.post("/security/password", dependencies=[Csrf])
def password_submit(
    request: Request,
    auth: FreshPage,
    ctx: Ctx,
    current_password: Annotated[str, Form(max_length=1024)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
    new_password2: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    if new_password != new_password2:
        return render(
            request, "password.html", 400,
            error="The two new passwords differ.", field_errors={"new_password2": "differs"},
        )
    try:
        Verification(ctx).change_password(auth, current_password, new_password)
    except (errors.ValidationFailed, errors.InvalidCredentials, errors.TooManyAttempts) as exc:
        return render(
            request,
            "password.html",
            exc.status,
            error=localized(exc),
            field_errors=exc.fields or {},
        )
    return redirect("/security?done=password-changed")
