"""Forgot password (issue 13): ask for a mailed link, and set a new password with it."""

from __future__ import annotations

from fastapi import APIRouter, Response

from twofold.services.password_reset import PasswordReset
from twofold.web.api import schemas as s
from twofold.web.api.deps import Ctx
from twofold.web.flood import flood_limited, hash_bounded
from twofold.web.routing import EndingRoute

_ERR = {"model": s.ErrorOut}
router = APIRouter(
    route_class=EndingRoute, responses={code: _ERR for code in (400, 413, 429, 503)}
)


@router.post(
    "/password-reset",
    status_code=202,
    response_class=Response,
    tags=["login"],
    dependencies=[flood_limited("reset")],
)
def request_reset(body: s.ResetIn, ctx: Ctx) -> Response:
    """Mail a single-use reset link (30 minutes) to the login's own address, once that
    address is confirmed. The answer is 202 whether the login exists (and a link was mailed)
    or not."""
    PasswordReset(ctx).request(body.login)
    return Response(status_code=202)


@router.post(
    "/password-reset/confirm",
    status_code=204,
    response_class=Response,
    tags=["login"],
    dependencies=[flood_limited("reset"), hash_bounded],
)
def confirm_reset(body: s.ResetConfirmIn, ctx: Ctx) -> Response:
    """Set a new password with the mailed token; every session ends, MFA stays bound."""
    PasswordReset(ctx).confirm(body.token, body.new_password)
    return Response(status_code=204)
