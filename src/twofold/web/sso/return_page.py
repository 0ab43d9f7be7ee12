"""`/sso/return?rd=URL`: where the console's sign-in sends a person that a reverse proxy sent
to sign in. `rd` is followed only to an origin of the account's registered applications'
redirect URIs; anything else lands on the console's home page (no open redirect)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from twofold.domain import apps, errors
from twofold.services.forward_auth import ForwardAuth
from twofold.services.sessions import Sessions
from twofold.web.api.deps import Ctx
from twofold.web.routing import EndingRoute
from twofold.web.sso.bridge import continue_page
from twofold.web.sso.forward_auth import RETURN_PATH, credential

router = APIRouter(route_class=EndingRoute, include_in_schema=False)


@router.get(RETURN_PATH)
def sso_return(
    request: Request, ctx: Ctx, rd: str = Query("", max_length=2000)
) -> Response:
    try:
        auth = Sessions(ctx).authenticate(credential(request))
    except errors.Unauthenticated:
        back = f"{RETURN_PATH}?rd={quote(rd, safe='')}"
        return RedirectResponse(f"/login?next={quote(back, safe='/')}", status_code=303)
    if auth.must_change_password:
        return RedirectResponse("/password/change", status_code=303)
    if auth.session.restricted:
        return RedirectResponse("/mfa/setup", status_code=303)
    origins = ForwardAuth(ctx).return_origins(auth.principal)
    if rd and apps.safe_return_url(rd, origins):
        return continue_page(rd)  # another origin: through a page (bridge.py)
    return RedirectResponse("/", status_code=303)
