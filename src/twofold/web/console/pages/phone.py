"""One's phone on the security settings page: add or change it (a code is sent by SMS and
typed back), remove it. Adding, changing and removing are guarded (freshly verified), as
`PUT`/`DELETE /me/phone` are; typing the code back is not (`POST /me/phone/verify`)."""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from twofold.domain import errors
from twofold.services.phones import Phones
from twofold.services.sessions import Auth
from twofold.web.console.auth import Csrf, Ctx, Page, fresh_page
from twofold.web.console.errors import retry_headers, shown
from twofold.web.console.render import form_homes, redirect, render
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

NOTICES = {
    "phone-verified": "Your phone number is verified. You can verify your identity with it.",
    "phone-removed": "The phone number was removed.",
}
PURPOSES = {
    "phone.change": "add or change your phone number",
    "phone.remove": "remove your phone number",
}

ChangePage = Annotated[Auth, Depends(fresh_page("phone.change", api_path="/me/phone"))]
RemovePage = Annotated[
    Auth, Depends(fresh_page("phone.remove", api_path="/me/phone", back="/security"))
]

_FAILURES = (errors.ValidationFailed, errors.TooManyAttempts, errors.SMSUnavailable)


def phone_page(
    request: Request,
    auth: Auth,
    ctx: Ctx,
    *,
    error: errors.TwofoldError | None = None,
    sent_to: str | None = None,
    typed: str = "",
) -> HTMLResponse:
    view = Phones(ctx).view(auth.principal)
    return render(
        request,
        "phone.html",
        error.status if error else 200,
        headers=retry_headers(error) if error else None,
        phone=view,
        sent_to=sent_to or view.pending,
        typed=typed,
        error=shown(error) if error else None,
    )


@router.get("/security/phone")
def phone_form(request: Request, auth: ChangePage, ctx: Ctx) -> Response:
    """Add or change the phone number (and type back a code sent to a new one)."""
    return phone_page(request, auth, ctx)


@router.post("/security/phone", dependencies=[Csrf])
def phone_submit(
    request: Request,
    auth: ChangePage,
    ctx: Ctx,
    phone: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Send a code to the new number."""
    try:
        sent_to = Phones(ctx).start_change(auth, phone)
    except _FAILURES as exc:
        return phone_page(request, auth, ctx, error=exc, typed=phone)
    return phone_page(request, auth, ctx, sent_to=sent_to)


@router.post("/security/phone/confirm", dependencies=[Csrf])
def phone_confirm(
    request: Request,
    auth: Page,
    ctx: Ctx,
    code: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """The code sent to the new number: then it is the verified phone."""
    try:
        Phones(ctx).confirm(auth, code.strip())
    except (errors.InvalidMFACode, errors.TooManyAttempts) as exc:
        return phone_page(request, auth, ctx, error=exc)
    return redirect("/security?done=phone-verified")


@router.post("/security/phone/remove", dependencies=[Csrf])
def phone_remove(request: Request, auth: RemovePage, ctx: Ctx) -> Response:
    """Remove the phone number."""
    with suppress(errors.NotFound):  # removed already (another tab): the page shows it gone
        Phones(ctx).remove(auth)
    return redirect("/security?done=phone-removed")


form_homes(
    router, {"/security/phone/confirm": "/security/phone", "/security/phone/remove": "/security"}
)
