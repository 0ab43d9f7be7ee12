"""One's own virtual MFA: the security page, setting or replacing a device (create, then bind
with two codes), disabling it, and the recovery codes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from twofold.domain import errors
from twofold.i18n import N_
from twofold.services.mfa import BoundDevice, Devices, PendingDevice
from twofold.services.phones import Phones
from twofold.services.security_keys import SecurityKeys
from twofold.services.sessions import Auth
from twofold.web.console import security as sec
from twofold.web.console.auth import Csrf, Ctx, Page, SetupPage, console_auth, fresh_page
from twofold.web.console.errors import retry_headers, shown
from twofold.web.console.render import form_homes, redirect, render, safe_next, signed_in_as
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

RECOVERY_WARNING_AT = 3  # the console warns when this many recovery codes or fewer remain

NOTICES = {
    "mfa-disabled": "Virtual MFA is disabled. The device's codes no longer work.",
    "app-requires-mfa": "The application you are signing in to requires MFA: bind a virtual "
    "MFA device, then continue to the application.",
}
PURPOSES = {
    "mfa.create_self": "bind a virtual MFA device",
    "mfa.disable": "disable your virtual MFA device",
    "recovery.regenerate": "create new recovery codes",
}

# Set / Replace is a button on /security (and Set on /mfa/setup); a stale session verifies and
# comes back to /security to press it again. A setup-only session, which never sees /security,
# binds its first device at once (the first-factor exception).
CreatePage = Annotated[
    Auth,
    Depends(fresh_page("mfa.create_self", api_path="/me/mfa-device", back="/security",
                       first_factor=True)),
]
DisablePage = Annotated[Auth, Depends(fresh_page("mfa.disable"))]
RegeneratePage = Annotated[
    Auth, Depends(fresh_page("recovery.regenerate", back="/security/recovery-codes"))
]
BindPage = Annotated[Auth, Depends(console_auth("/me/mfa-device/bind"))]


@router.get("/security")
def security_page(request: Request, auth: Page, ctx: Ctx) -> Response:
    """Security settings: virtual MFA (Set / Replace / Disable), password, recovery codes."""
    return security_view(request, auth, ctx)


def security_view(
    request: Request,
    auth: Auth,
    ctx: Ctx,
    *,
    recovery_codes: list[str] | None = None,
    notice: str | None = None,
    continue_to: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The security page (the setup page for a setup-only session), with what just
    happened."""
    mfa = Devices(ctx).status(auth, auth.principal)
    keys = SecurityKeys(ctx).views_of(auth.principal.id)
    extra: dict[str, Any] = {"notice": notice} if notice else {}
    if auth.session.restricted:
        return render(
            request, "mfa_setup.html", status, mfa=mfa, keys=keys, restricted=True,
            may_manage=mfa.may_manage, principal=auth.principal, error=error, **extra,
        )
    return render(
        request,
        "security.html",
        status,
        mfa=mfa,
        keys=keys,
        phone=Phones(ctx).view(auth.principal),
        principal=auth.principal,
        recovery_codes=recovery_codes,
        continue_to=continue_to,
        error=error,
        **extra,
    )


@router.get("/mfa/setup")
def mfa_setup_page(request: Request, auth: SetupPage, ctx: Ctx) -> Response:
    """Where the "MFA verification" entries lead; the only page of a setup-only session."""
    mfa = Devices(ctx).status(auth, auth.principal)
    return render(
        request, "mfa_setup.html", mfa=mfa, restricted=auth.session.restricted,
        may_manage=mfa.may_manage, principal=auth.principal,
        keys=SecurityKeys(ctx).views_of(auth.principal.id),
    )


@router.post("/mfa/device", dependencies=[Csrf])
def mfa_create(request: Request, auth: CreatePage, ctx: Ctx) -> Response:
    """Set or Replace: a new key and QR code (on a freshly verified session)."""
    replacing = Devices(ctx).status(auth, auth.principal).enabled
    pending = Devices(ctx).create_pending(auth, auth.principal)
    return bind_page(request, pending, action="/mfa/bind", target=None, replacing=replacing)


def bind_page(
    request: Request,
    pending: PendingDevice | None,
    *,
    action: str,
    target: str | None,
    replacing: bool = False,
    serial: str | None = None,
    error: errors.TwofoldError | None = None,
    restart: str = "/mfa/device",
) -> HTMLResponse:
    """The binding page: the key and QR once, then the two codes (again, after a failure)."""
    return render(
        request,
        "bind.html",
        error.status if error else 200,
        headers=retry_headers(error) if error else None,
        qr=Markup(pending.qr_svg) if pending else None,  # noqa: S704 (segno's own SVG)
        secret=pending.grouped_secret if pending else None,
        serial=pending.serial if pending else serial,
        action=action,
        target=target,
        replacing=replacing,
        error=shown(error) if error else None,
        restart=restart,
    )


BIND_ERRORS = (
    errors.InvalidBindCode,
    errors.NoPendingDevice,
    errors.MFAAlreadyEnabled,
    errors.TooManyAttempts,
)


@router.post("/mfa/bind", dependencies=[Csrf])
def mfa_bind(
    request: Request,
    ctx: Ctx,
    auth: BindPage,
    serial: Annotated[str, Form(max_length=64)] = "",
    code1: Annotated[str, Form(max_length=32)] = "",
    code2: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Bind the new device with two consecutive codes; shows the recovery codes once."""
    try:
        bound = Devices(ctx).bind(auth, auth.principal, serial, code1.strip(), code2.strip())
    except BIND_ERRORS as exc:
        return bind_page(request, None, action="/mfa/bind", target=None, serial=serial,
                         error=exc)
    return first_factor_view(request, auth, ctx, bound.recovery_codes, _bound_notice(bound))


def first_factor_view(
    request: Request, auth: Auth, ctx: Ctx, recovery_codes: list[str] | None, notice: str
) -> HTMLResponse:
    """After a binding or a key's registration: the security page with its recovery codes,
    and the way back to an application's sign-in that waits for this factor."""
    signed_in_as(request, auth)  # a setup-only session was just lifted: the full header now
    back = safe_next(request.cookies.get(sec.cookie_name(request, sec.AFTER_MFA)))
    response = security_view(
        request, auth, ctx, recovery_codes=recovery_codes, notice=notice,
        continue_to=back if back != "/" else None,
    )
    sec.clear_cookie(request, response, sec.AFTER_MFA)
    return response


def _bound_notice(bound: BoundDevice) -> str:
    if bound.replaced:
        return N_("The new virtual MFA device is bound. The old device's codes no longer work.")
    return N_("Virtual MFA is enabled.")


@router.get("/mfa/disable")
def mfa_disable_page(request: Request, auth: DisablePage, ctx: Ctx) -> Response:
    """Disable: a warning and a confirmation, on a freshly verified session (the API's rule
    for DELETE /me/mfa-device)."""
    mfa = Devices(ctx).status(auth, auth.principal)
    if not mfa.enabled:
        return redirect("/security")
    return render(request, "disable.html", mfa=mfa)


@router.post("/mfa/disable", dependencies=[Csrf])
def mfa_disable(request: Request, auth: DisablePage, ctx: Ctx) -> Response:
    """Disable the device."""
    try:
        Devices(ctx).disable(auth, auth.principal)
    except errors.MFANotEnabled:
        return redirect("/security")
    return redirect("/security?done=mfa-disabled")


@router.get("/security/recovery-codes")
def recovery_page(request: Request, auth: Page, ctx: Ctx) -> Response:
    """How many recovery codes remain, a warning when few do, and a new set."""
    mfa = Devices(ctx).status(auth, auth.principal)
    return render(
        request,
        "preferences/recovery_codes.html",
        mfa=mfa,
        warn_at=RECOVERY_WARNING_AT,
    )


@router.post("/security/recovery-codes", dependencies=[Csrf])
def recovery_regenerate(request: Request, auth: RegeneratePage, ctx: Ctx) -> Response:
    """A new set of recovery codes (the old set stops working)."""
    try:
        codes = Devices(ctx).regenerate_recovery_codes(auth)
    except errors.MFANotEnabled:
        return redirect("/security")
    return security_view(
        request, auth, ctx, recovery_codes=codes,
        notice="New recovery codes were made; the old ones no longer work.",
    )


form_homes(router, {"/mfa/device": "/mfa/setup", "/mfa/bind": "/mfa/setup"})
