"""Identity verification (step-up): a guarded page sends a stale session here with the page
to come back to (`next`) and what it is for (`for`, a key of some page's `PURPOSES`). Only
those travel through the page: no input of the guarded form, nothing secret."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from twofold.domain import errors
from twofold.services.mfa import Devices
from twofold.services.phones import Phones
from twofold.services.security_keys import SecurityKeys
from twofold.services.sessions import Auth, Sessions
from twofold.services.verification import Verification
from twofold.web.console.auth import Csrf, Ctx, VerifyPage
from twofold.web.console.errors import retry_headers, shown
from twofold.web.console.render import form_homes, redirect, render, safe_next
from twofold.web.flood import flood_limited
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

NOTICES = {"verified": "Your identity is verified. Continue where you were."}

_FAILURES = (
    errors.InvalidCredentials,
    errors.InvalidMFACode,
    errors.TooManyAttempts,
    errors.ValidationFailed,
    errors.MFANotEnabled,
)


def _masked(email: str | None) -> str | None:
    if not email:
        return None
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def _back(target: str) -> str:
    """The page to return to, with the notice that the verification is done."""
    page = safe_next(target)
    return page + ("&" if "?" in page else "?") + "done=verified"


def verify_page(
    request: Request,
    auth: Auth,
    ctx: Ctx,
    target: str,
    purpose: str,
    *,
    error: errors.TwofoldError | None = None,
    email_sent: bool = False,
    sms_sent: bool = False,
) -> HTMLResponse:
    purposes: Mapping[str, str] = request.app.state.console_purposes
    has_device = Devices(ctx).status(auth, auth.principal).enabled
    has_keys = bool(SecurityKeys(ctx).views_of(auth.principal.id))
    return render(
        request,
        "verify.html",
        error.status if error else 200,
        headers=retry_headers(error) if error else None,
        next=safe_next(target),
        purpose_key=purpose if purpose in purposes else "",
        purpose=purposes.get(purpose, "continue"),
        has_device=has_device,
        has_keys=has_keys,
        email=_masked(auth.principal.email),
        phone=Phones(ctx).view(auth.principal).phone,
        error=shown(error) if error else None,
        email_sent=email_sent,
        sms_sent=sms_sent,
    )


@router.get("/verify")
def verify_form(
    request: Request,
    auth: VerifyPage,
    ctx: Ctx,
    next: str | None = None,  # noqa: A002
    purpose: Annotated[str, Query(alias="for", max_length=64)] = "",
) -> Response:
    """Confirm it is you (a password, a code from the device, a mailed or texted code)."""
    if Sessions(ctx).may_step_up(auth.session):
        return redirect(safe_next(next))
    return verify_page(request, auth, ctx, next or "/", purpose)


@router.post("/verify", dependencies=[Csrf])
def verify_submit(
    request: Request,
    ctx: Ctx,
    auth: VerifyPage,
    method: Annotated[str, Form(max_length=16)] = "",
    password: Annotated[str | None, Form(max_length=1024)] = None,
    code: Annotated[str | None, Form(max_length=32)] = None,
    credential: Annotated[str | None, Form(max_length=16384)] = None,
    next: Annotated[str, Form(max_length=400)] = "/",  # noqa: A002
    purpose: Annotated[str, Form(alias="for", max_length=64)] = "",
) -> Response:
    """Identity verification; on success, back to the page that asked for it."""
    try:
        Verification(ctx).verify(
            auth, method, password=password, code=(code or "").strip() or None,
            credential=credential,
        )
    except (*_FAILURES, errors.ChallengeExpired) as exc:
        return verify_page(request, auth, ctx, next, purpose, error=exc)
    return redirect(_back(next))


@router.post("/verify/key-options", dependencies=[Csrf])
def verify_key_options(auth: VerifyPage, ctx: Ctx) -> Response:
    """Options for a step-up with a security key (fetched by console.js)."""
    return JSONResponse({"public_key": Verification(ctx).key_options(auth)})


Next = Annotated[str, Form(max_length=400)]
Purpose = Annotated[str, Form(alias="for", max_length=64)]
_SEND_FAILURES = (errors.ValidationFailed, errors.TooManyAttempts, errors.SMSUnavailable)


@router.post("/verify/email", dependencies=[flood_limited("email"), Csrf])
def verify_email(
    request: Request, ctx: Ctx, auth: VerifyPage, next: Next = "/", purpose: Purpose = ""  # noqa: A002
) -> Response:
    """Mail a verification code, then ask for it."""
    try:
        Verification(ctx).send_email_code(auth)
    except _SEND_FAILURES as exc:
        return verify_page(request, auth, ctx, next, purpose, error=exc)
    return verify_page(request, auth, ctx, next, purpose, email_sent=True)


@router.post("/verify/sms", dependencies=[Csrf])
def verify_sms(
    request: Request, ctx: Ctx, auth: VerifyPage, next: Next = "/", purpose: Purpose = ""  # noqa: A002
) -> Response:
    """Text a verification code to the verified phone, then ask for it."""
    try:
        Phones(ctx).send_verify_code(auth)
    except _SEND_FAILURES as exc:
        return verify_page(request, auth, ctx, next, purpose, error=exc)
    return verify_page(request, auth, ctx, next, purpose, sms_sent=True)


form_homes(router, {"/verify/email": "/", "/verify/sms": "/"})
