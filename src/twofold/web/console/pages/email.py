"""Confirming one's email address (issue 13): the page behind the mailed link, and "send the
link again" from the overview. Forms in, the same service as the API out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from twofold.domain import errors
from twofold.services.email_confirmation import EmailConfirmations
from twofold.web.console.auth import Csrf, Ctx, Page
from twofold.web.console.render import anonymous_page, form_homes, redirect
from twofold.web.flood import flood_limited
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

NOTICES = {
    "confirmation-sent": "A new link to confirm your email address is on its way. It works "
    "once, within 24 hours; the link mailed before no longer works.",
}


@router.get("/email/confirm")
def confirm_page(request: Request, ctx: Ctx, token: str = "") -> Response:
    """The page behind the mailed link: one button confirms (a link opened by a mail
    scanner confirms nothing)."""
    try:
        found = EmailConfirmations(ctx).check(token)
    except errors.ValidationFailed as exc:
        return anonymous_page(request, "email_confirm.html", exc.status, invalid=exc.message)
    return anonymous_page(
        request, "email_confirm.html", token=token, login=found.login, email=found.email
    )


@router.post("/email/confirm", dependencies=[flood_limited("email"), Csrf])
def confirm_submit(
    request: Request, ctx: Ctx, token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    try:
        found = EmailConfirmations(ctx).confirm(token)
    except errors.ValidationFailed as exc:
        return anonymous_page(request, "email_confirm.html", exc.status, invalid=exc.message)
    return anonymous_page(
        request, "email_confirm.html", confirmed=True, login=found.login, email=found.email
    )


@router.post("/email/confirmation", dependencies=[flood_limited("email"), Csrf])
def resend_submit(request: Request, auth: Page, ctx: Ctx) -> Response:
    """Send the confirmation link again (the overview's button)."""
    try:
        EmailConfirmations(ctx).resend(auth)
    except (errors.EmailAlreadyVerified, errors.ValidationFailed):
        return redirect("/")  # nothing to confirm: the overview shows why
    return redirect("/?done=confirmation-sent")


form_homes(router, {"/email/confirmation": "/"})
