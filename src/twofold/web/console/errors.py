"""How every failure of a console page is shown: the one exception-to-page table.

The human wording lives with the errors themselves (`domain/errors.py`); this module only
presents it. A form that shows its own failure in place (a wrong code, a taken name) takes the
message from `shown()`, so it reads the same on every page. Everything else becomes a redirect
or the error page here, registered once by `install()`.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from twofold.domain import errors
from twofold.web.console import security as sec
from twofold.web.console.auth import VerifyFirst
from twofold.web.console.render import page_of, redirect, render, with_next

# The title of the error page, by status; a refused form has its own.
TITLES = {
    403: "Not allowed",
    404: "Not found",
    429: "Too many attempts",
    503: "Temporarily unavailable",
}


def shown(exc: errors.TwofoldError) -> str:
    """The sentence a person reads for this error, wherever it is shown."""
    message = exc.message
    if isinstance(exc, errors.ValidationFailed) and exc.fields:
        message += " " + "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
    return message


def retry_headers(exc: errors.TwofoldError) -> dict[str, str] | None:
    return {"Retry-After": str(exc.retry_after)} if exc.retry_after else None


def verify_url(back: str, purpose: str) -> str:
    """The verification page, told where to come back to and what for."""
    return "/verify?" + urlencode({"next": back, "for": purpose}, safe="/")


async def console_error(request: Request, exc: errors.TwofoldError) -> Response:
    """Every failure of a console page becomes a page (or a redirect), never JSON or a 500."""
    if isinstance(exc, errors.Unauthenticated):
        back = page_of(request) if request.method == "GET" else "/"
        response: Response = redirect(with_next("/login", back))
        sec.clear_cookie(request, response, sec.SESSION)
        return response
    if isinstance(exc, errors.MFASetupRequired):
        return redirect("/mfa/setup")
    if isinstance(exc, VerifyFirst):
        return redirect(verify_url(exc.back, exc.purpose))
    if isinstance(exc, errors.VerificationRequired):
        # A service's own freshness check (the page was not guarded): verify, then the page
        # the form was on.
        return redirect(verify_url(_form_page(request), ""))
    title = "Request refused" if isinstance(exc, sec.CsrfRefused) else None
    return render(
        request,
        "error.html",
        exc.status,
        headers=retry_headers(exc),
        title=title or TITLES.get(exc.status, "Something went wrong"),
        message=shown(exc),
    )


def _form_page(request: Request) -> str:
    if request.method == "GET":
        return page_of(request)
    referer = request.headers.get("referer", "")
    own = f"{request.url.scheme}://{request.url.netloc}"
    return referer[len(own):] if referer.startswith(own + "/") else "/"
