"""The console's browser-facing protections: cookies, CSRF, same-origin and response headers."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twofold.domain import errors
from twofold.domain.policy import CHALLENGE_LIFETIME
from twofold.web.runtime import runtime_of

SESSION = "twofold_session"
PRE_SESSION = "twofold_pre"  # anonymous browser id: binds the CSRF token of the login forms
CHALLENGE = "twofold_challenge"  # the MFA challenge between the password and the code step
# An OpenID Connect authorization request waiting while the person signs in (or binds the
# device an application requires), and where it resumes.
AUTHORIZE = "twofold_authorize"
AUTHORIZE_RESUME = "/oauth/authorize/resume"
# Where the MFA binding an application asked for goes on to (a path here): the waiting
# authorization request, or forward-auth's way back to the application.
AFTER_MFA = "twofold_after_mfa"
AFTER_MFA_SECONDS = 15 * 60
REMEMBER = "twofold_remember"  # "remember this browser" (remember_mfa_days): skips the code step

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_NOT_CONSOLE = ("/api/", "/healthz", "/readyz")


class CsrfRefused(errors.Forbidden):
    """A form that did not come from this console: wrong token or another origin."""

    code = "CsrfRefused"
    default_message = (
        "This form could not be accepted: it did not come from this page, or the page was "
        "open too long. Go back, reload the page and try again."
    )


def is_secure(request: Request) -> bool:
    configured = runtime_of(request).settings.secure_cookies
    return configured if configured is not None else request.url.scheme == "https"


def cookie_domain(request: Request, base: str) -> str | None:
    """TWOFOLD_COOKIE_DOMAIN, for the session cookie only: one sign-in covers the
    applications on its sub-domains (forward-auth)."""
    return runtime_of(request).settings.cookie_domain if base == SESSION else None


def cookie_name(request: Request, base: str) -> str:
    # The __Host- prefix makes the browser refuse the cookie unless Secure, Path=/, no Domain;
    # a cookie with a Domain can only be __Secure-.
    if not is_secure(request):
        return base
    return f"__Secure-{base}" if cookie_domain(request, base) else f"__Host-{base}"


def read_cookie(request: Request, base: str) -> str | None:
    value = request.cookies.get(cookie_name(request, base))
    return value if value and len(value) <= 200 else None


def set_cookie(
    request: Request, response: Response, base: str, value: str, max_age: int | None = None
) -> None:
    response.set_cookie(
        cookie_name(request, base),
        value,
        max_age=max_age,
        path="/",
        domain=cookie_domain(request, base),
        secure=is_secure(request),
        httponly=True,
        samesite="lax",
    )


def clear_cookie(request: Request, response: Response, base: str) -> None:
    response.delete_cookie(
        cookie_name(request, base), path="/", domain=cookie_domain(request, base),
        secure=is_secure(request), httponly=True, samesite="lax",
    )


def set_challenge(request: Request, response: Response, challenge: str) -> None:
    set_cookie(request, response, CHALLENGE, challenge, int(CHALLENGE_LIFETIME.total_seconds()))


def new_pre_session() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(request: Request, basis: str | None = None) -> str:
    """The token for forms on this page: a keyed hash of the session cookie, or of the
    pre-session cookie before sign-in. A new cookie means a new token (rotation)."""
    basis = basis or read_cookie(request, SESSION) or read_cookie(request, PRE_SESSION)
    if not basis:
        return ""
    return runtime_of(request).keys.keyed_hash(f"console-csrf:{basis}")


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request) -> bool:
    """The form was posted from a page of this server (Origin, else Referer, must match)."""
    own = f"{request.url.scheme}://{request.url.netloc}".lower()
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return origin.lower() == own
    referer = request.headers.get("referer")
    if referer:
        return _origin_of(referer) == own
    return False


async def check_csrf(request: Request) -> None:
    """Dependency on every console POST: same origin and the form's token."""
    if not same_origin(request):
        raise CsrfRefused()
    form = await request.form()
    sent = form.get("csrf")
    expected = csrf_token(request)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise CsrfRefused()


class ConsoleHeaders:
    """Security headers on every console response (pages, redirects and static files)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(_NOT_CONSOLE):
            await self.app(scope, receive, send)
            return
        static = path.startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                if not static:
                    # Pages show secrets (keys, recovery codes) and account data: never cache.
                    extra.append((b"cache-control", b"no-store"))
                    extra.append((b"pragma", b"no-cache"))
                headers += [(k, v) for k, v in extra if k not in names]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
