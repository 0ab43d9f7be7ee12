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
from twofold.web.sso.bridge import bind_first, continue_page
from twofold.web.sso.forward_auth import RETURN_PATH, credential, return_path

router = APIRouter(route_class=EndingRoute, include_in_schema=False)


@router.get(RETURN_PATH)
def sso_return(
    request: Request,
    ctx: Ctx,
    rd: str = Query("", max_length=2000),
    app: str = Query("", max_length=48),
) -> Response:
    """`app` (the application forward-auth answered for) lets a principal that must bind a
    device first come back here afterwards, instead of going round between the proxy and
    the sign-in; one not allowed in sees why (another account, a disabled application)."""
    back = return_path(rd, app)
    try:
        auth = Sessions(ctx).authenticate(credential(request))
    except errors.Unauthenticated:
        return RedirectResponse(f"/login?next={quote(back, safe='/')}", status_code=303)
    if auth.must_change_password:
        return RedirectResponse("/password/change", status_code=303)
    if auth.session.restricted:
        return bind_first(request, back)
    if app:
        try:
            ForwardAuth(ctx).check(auth.token, app)
        except errors.MFASetupRequired:
            return bind_first(request, back)
        except errors.Unauthenticated:
            pass  # an unknown application: `rd` is judged by its origin alone
    origins = ForwardAuth(ctx).return_origins(auth.principal)
    if rd and apps.safe_return_url(rd, origins):
        return continue_page(rd)  # another origin: through a page (bridge.py)
    return RedirectResponse("/", status_code=303)
