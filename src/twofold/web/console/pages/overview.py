"""The overview: who is signed in, MFA state, and the users (for the primary)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from twofold.services.accounts import Users, email_verified
from twofold.services.mfa import Devices
from twofold.web.console.auth import Ctx, Page
from twofold.web.console.render import render
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)


@router.get("/")
def overview(request: Request, auth: Page, ctx: Ctx) -> Response:
    """Overview: who is signed in, MFA state, users (primary)."""
    mfa = Devices(ctx).status(auth, auth.principal)
    users = Users(ctx).count(auth.principal.account_id) if auth.is_primary else None
    p = auth.principal
    unconfirmed = bool(p.email) and not email_verified(p)
    return render(
        request, "overview.html", mfa=mfa, user_count=users, principal=p,
        email_unconfirmed=unconfirmed,
    )
