"""The language switch of the top bar: a cookie for this browser and, when signed in, the
principal's own preference, so the choice follows it to the next browser."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from twofold import i18n
from twofold.domain import errors
from twofold.services.accounts import Principals
from twofold.services.sessions import Sessions
from twofold.web.console import security as sec
from twofold.web.console.auth import Csrf, Ctx
from twofold.web.console.render import came_from, form_homes, redirect, safe_next
from twofold.web.locale import LANG
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)
YEAR = 365 * 24 * 3600


@router.post("/language", dependencies=[Csrf])
def switch_language(
    request: Request,
    ctx: Ctx,
    lang: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Answer in `lang` from now on, and go back to the page the switch was on (its Referer:
    the page's own query, a `next` say, is never echoed into the form)."""
    chosen = i18n.known(lang)
    if chosen is None:
        raise errors.ValidationFailed(
            "That language is not offered.", fields={"lang": ", ".join(i18n.LANGUAGES)}
        )
    token = sec.read_cookie(request, sec.SESSION)
    if token:
        try:
            auth = Sessions(ctx).authenticate(token)
        except errors.Unauthenticated:
            pass  # an ended session: the cookie alone
        else:
            Principals(ctx).set_locale(auth, chosen)
    response = redirect(safe_next(came_from(request)))
    sec.set_cookie(request, response, LANG, chosen, YEAR)
    return response


form_homes(router, {"/language": "/"})
