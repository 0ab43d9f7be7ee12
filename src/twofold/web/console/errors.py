"""How every failure of a console page is shown: the one exception-to-page table.

The human wording lives with the errors themselves (`domain/errors.py`); this module only
presents it. A form that shows its own failure in place (a wrong code, a taken name) takes the
message from `shown()`, so it reads the same on every page. Everything else becomes a redirect
or the error page here, registered once by `install()`.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from twofold import i18n
from twofold.domain import errors
from twofold.domain.errors import field_problem
from twofold.i18n import N_
from twofold.web.console import security as sec
from twofold.web.console.auth import VerifyFirst
from twofold.web.console.render import came_from, page_of, redirect, render, with_next

# The title of the error page, by status; a refused form has its own.
TITLES = {
    403: N_("Not allowed"),
    404: N_("Not found"),
    429: N_("Too many attempts"),
    503: N_("Temporarily unavailable"),
}


def shown(exc: errors.TwofoldError) -> str:
    """The sentence a person reads for this error, wherever it is shown."""
    tr = i18n.translator()
    message = exc.localized(tr)
    if isinstance(exc, errors.ValidationFailed) and exc.fields:
        message += " " + "; ".join(f"{k}: {field_problem(v, tr)}" for k, v in exc.fields.items())
    return message


def retry_headers(exc: errors.TwofoldError) -> dict[str, str] | None:
    return {"Retry-After": str(exc.retry_after)} if exc.retry_after else None


def verify_url(back: str, purpose: str) -> str:
    """The verification page, told where to come back to and what for."""
    return "/verify?" + urlencode({"next": back, "for": purpose}, safe="/")


def _to_login(request: Request, exc: errors.TwofoldError) -> Response:
    # After signing in, back to the page asked for (a GET); a form's POST cannot be replayed.
    back = page_of(request) if request.method == "GET" else "/"
    response = redirect(with_next("/login", back))
    sec.clear_cookie(request, response, sec.SESSION)
    return response


def _to_setup(request: Request, exc: errors.TwofoldError) -> Response:
    return redirect("/mfa/setup")


def _to_password_change(request: Request, exc: errors.TwofoldError) -> Response:
    return redirect("/password/change")


def _to_verify(request: Request, exc: errors.TwofoldError) -> Response:
    if isinstance(exc, VerifyFirst):
        return redirect(verify_url(exc.back, exc.purpose))
    # A service's own freshness check on a page that was not guarded: verify, then back to
    # the page the form was on.
    return redirect(verify_url(_form_page(request), ""))


def _form_page(request: Request) -> str:
    if request.method == "GET":
        return page_of(request)
    return came_from(request)


# The one table: an error (or any subclass) that is not shown as a page but sends the person
# somewhere. The first match wins; everything else is the error page below.
REDIRECTS: tuple[tuple[type[errors.TwofoldError], Callable[..., Response]], ...] = (
    (errors.Unauthenticated, _to_login),
    (errors.MFASetupRequired, _to_setup),
    (errors.PasswordChangeRequired, _to_password_change),
    (errors.VerificationRequired, _to_verify),
)


async def console_error(request: Request, exc: errors.TwofoldError) -> Response:
    """Every failure of a console page becomes a page (or a redirect), never JSON or a 500."""
    for kind, send in REDIRECTS:
        if isinstance(exc, kind):
            return send(request, exc)
    title = N_("Request refused") if isinstance(exc, sec.CsrfRefused) else None
    return render(
        request,
        "error.html",
        exc.status,
        headers=retry_headers(exc),
        title=i18n.gettext(title or TITLES.get(exc.status, N_("Something went wrong"))),
        message=shown(exc),
    )
