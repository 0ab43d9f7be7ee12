"""The audit log: security events, newest first, paged."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from twofold.services.audit import Audit
from twofold.web.console.auth import Ctx, Page
from twofold.web.console.render import render
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

AUDIT_PAGE = 20


@router.get("/audit")
def audit_page(request: Request, auth: Page, ctx: Ctx, before: str | None = None) -> Response:
    """Security events, newest first, paged."""
    cursor = int(before) if before and before.isdigit() and len(before) < 19 else None
    page = Audit(ctx).page(auth.principal, limit=AUDIT_PAGE, before=cursor)
    return render(request, "audit.html", events=page.events, next_before=page.next_before,
                  paged=cursor is not None)
