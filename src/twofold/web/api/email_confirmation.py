"""Confirming an email address (issue 13): mail a new link, and confirm with one."""

from __future__ import annotations

from fastapi import APIRouter, Response

from twofold.services.email_confirmation import EmailConfirmations
from twofold.web.api import schemas as s
from twofold.web.api.deps import Ctx, CurrentAuth
from twofold.web.flood import flood_limited
from twofold.web.routing import EndingRoute

_ERR = {"model": s.ErrorOut}
router = APIRouter(
    route_class=EndingRoute, responses={code: _ERR for code in (400, 401, 403, 409, 413, 429, 503)}
)


@router.post(
    "/me/email/confirmation",
    status_code=202,
    response_class=Response,
    tags=["me"],
    dependencies=[flood_limited("email")],
)
def resend_confirmation(auth: CurrentAuth, ctx: Ctx) -> Response:
    """Mail a new link (24 hours, single use) that confirms the principal's address; the
    older link stops working. 409 EmailAlreadyVerified once it is confirmed."""
    EmailConfirmations(ctx).resend(auth)
    return Response(status_code=202)


@router.post(
    "/email/confirm",
    response_model=s.EmailConfirmedOut,
    tags=["me"],
    dependencies=[flood_limited("email")],
)
def confirm_email(body: s.EmailConfirmIn, ctx: Ctx) -> s.EmailConfirmedOut:
    """Confirm the address a mailed link was sent to (no sign-in needed: the token is the
    proof). Password reset links then go to it."""
    return s.EmailConfirmedOut.model_validate(EmailConfirmations(ctx).confirm(body.token))
