"""A same-origin page that goes on to another address.

The console's forms carry the CSP `form-action 'self'`, and browsers apply it to every
redirect that follows a form's submission: a sign-in whose redirects end at an application
(another origin) is stopped there. A page in between ends the form's navigation; its refresh
(and its link, without one) starts a new navigation, which may leave for the application."""

from __future__ import annotations

from html import escape

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from twofold.web.console import security as sec


def bind_first(
    request: Request, back: str, page: str = "/mfa/setup?done=app-requires-mfa"
) -> RedirectResponse:
    """To the MFA setup an application requires (or the forced password change before it);
    the binding's last page, or the change, leads to `back`."""
    response = RedirectResponse(page, status_code=303)
    sec.set_cookie(request, response, sec.AFTER_MFA, back[:2500], sec.AFTER_MFA_SECONDS)
    return response


def continue_page(target: str) -> HTMLResponse:
    url = escape(target, quote=True)
    return HTMLResponse(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"refresh\" content=\"0;url={url}\"><title>Continuing</title>"
        f"</head><body><p><a id=\"continue\" href=\"{url}\">Continue</a></p></body></html>",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
