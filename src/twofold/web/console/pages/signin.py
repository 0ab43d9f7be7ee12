"""Sign-in in two steps (password, then the code), and signing out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response

from twofold.domain import errors
from twofold.services.login import Login
from twofold.services.sessions import Sessions
from twofold.web.console import security as sec
from twofold.web.console.auth import Csrf, Ctx, LogoutPage
from twofold.web.console.errors import retry_headers, shown
from twofold.web.console.render import redirect, render, safe_next, with_next
from twofold.web.console.security import PRE_SESSION, SESSION
from twofold.web.flood import flood_limited, hash_bounded
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

NOTICES = {
    "signed-out": "You are signed out.",
    "challenge-expired": "The sign-in attempt has expired; sign in again.",
}


@router.get("/login")
def login_page(request: Request, ctx: Ctx, next: str | None = None) -> Response:  # noqa: A002
    """Sign-in: login and password."""
    token = sec.read_cookie(request, SESSION)
    if token:
        try:
            Sessions(ctx).authenticate(token)
            return redirect(safe_next(next))
        except errors.Unauthenticated:
            pass
    pre = sec.read_cookie(request, PRE_SESSION) or sec.new_pre_session()
    response = render(
        request, "login.html", csrf=sec.csrf_token(request, pre), next=safe_next(next), login="",
        signup_open=ctx.settings.signup_open,
    )
    sec.set_cookie(request, response, PRE_SESSION, pre)
    if token:
        sec.clear_cookie(request, response, SESSION)
    return response


def _signed_in(request: Request, response: Response, token: str) -> Response:
    """A new session: new cookie, and a new pre-session id so every CSRF token rotates."""
    sec.set_cookie(request, response, SESSION, token)
    sec.set_cookie(request, response, PRE_SESSION, sec.new_pre_session())
    sec.clear_cookie(request, response, sec.CHALLENGE)
    return response


@router.post("/login", dependencies=[flood_limited("login"), hash_bounded, Csrf])
def login_submit(
    request: Request,
    ctx: Ctx,
    login: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=400)] = "/",  # noqa: A002
) -> Response:
    """The password step."""
    target = safe_next(next)
    try:
        result = Login(ctx).password_step(
            login.strip(), password, remember_token=sec.read_cookie(request, sec.REMEMBER)
        )
    except (
        errors.InvalidCredentials,
        errors.AccountDisabled,
        errors.NetworkNotAllowed,
        errors.TooManyAttempts,
    ) as exc:
        return render(
            request, "login.html", exc.status, headers=retry_headers(exc), error=shown(exc),
            login=login, next=target,
        )
    if result.state == "mfa_required":
        response = redirect(with_next("/login/mfa", target))
        sec.set_challenge(request, response, result.challenge_token())
        # A new pre-session id between the steps: the code form gets a new CSRF token.
        sec.set_cookie(request, response, PRE_SESSION, sec.new_pre_session())
        sec.clear_cookie(request, response, SESSION)
        return response
    if result.state == "password_change_required":  # before any MFA setup
        return _signed_in(request, redirect("/password/change"), result.session_token())
    if result.state == "mfa_setup_required":
        return _signed_in(request, redirect("/mfa/setup"), result.session_token())
    return _signed_in(request, redirect(target), result.session_token())


@router.get("/login/mfa")
def login_mfa_page(request: Request, ctx: Ctx, next: str | None = None) -> Response:  # noqa: A002
    """The dynamic code step."""
    challenge = sec.read_cookie(request, sec.CHALLENGE)
    if not challenge:
        return redirect("/login?done=challenge-expired")
    try:
        methods = Login(ctx).challenge_methods(challenge)
    except errors.ChallengeExpired:
        return redirect("/login?done=challenge-expired")
    return render(request, "login_mfa.html", next=safe_next(next), methods=methods)


@router.post("/login/mfa", dependencies=[flood_limited("login_mfa"), Csrf])
def login_mfa_submit(
    request: Request,
    ctx: Ctx,
    code: Annotated[str | None, Form(max_length=64)] = None,
    recovery_code: Annotated[str | None, Form(max_length=64)] = None,
    credential: Annotated[str | None, Form(max_length=16384)] = None,
    remember_browser: Annotated[str | None, Form(max_length=8)] = None,
    next: Annotated[str, Form(max_length=400)] = "/",  # noqa: A002
) -> Response:
    """Finish signing in with a code from the device (a recovery code, a security key)."""
    target = safe_next(next)
    challenge = sec.read_cookie(request, sec.CHALLENGE)
    use_recovery = recovery_code is not None and code is None
    use_key = credential is not None and code is None and recovery_code is None
    try:
        result = Login(ctx).code_step(
            challenge,
            code=None if use_recovery or use_key else (code or "").strip(),
            recovery_code=(recovery_code or "").strip() if use_recovery else None,
            webauthn=(credential or "") if use_key else None,
            remember=bool(remember_browser),
        )
    except errors.ChallengeExpired as exc:
        response = render(request, "login.html", exc.status, error=shown(exc), next=target)
        sec.clear_cookie(request, response, sec.CHALLENGE)
        return response
    except (errors.InvalidMFACode, errors.TooManyAttempts, errors.ValidationFailed) as exc:
        return render(
            request, "login_mfa.html", exc.status, headers=retry_headers(exc),
            error=shown(exc), next=target,
            out_of_sync=isinstance(exc, errors.OutOfSyncMFACode),
            methods=_methods_or_none(ctx, challenge),
        )
    if result.state == "password_change_required":
        target = "/password/change"
    done = _signed_in(request, redirect(target), result.session_token())
    if result.remember_token:
        # The server decides how long it stays valid (remember_mfa_days, at most 30).
        sec.set_cookie(request, done, sec.REMEMBER, result.remember_token, 30 * 86400)
    return done


def _methods_or_none(ctx: Ctx, challenge: str | None) -> list[str]:
    try:
        return Login(ctx).challenge_methods(challenge)
    except errors.ChallengeExpired:
        return []


@router.post("/login/mfa/key-options", dependencies=[flood_limited("login_mfa"), Csrf])
def login_key_options(request: Request, ctx: Ctx) -> Response:
    """Options for answering the login challenge with a security key (for console.js)."""
    challenge = sec.read_cookie(request, sec.CHALLENGE)
    return JSONResponse({"public_key": Login(ctx).key_options(challenge)})


@router.post("/login/passkey/options", dependencies=[flood_limited("login"), Csrf])
def passkey_options(ctx: Ctx) -> Response:
    """Options for signing in with a passkey alone (for console.js)."""
    return JSONResponse({"public_key": Login(ctx).passkey_options()})


@router.post("/login/passkey", dependencies=[flood_limited("login"), Csrf])
def passkey_submit(
    request: Request,
    ctx: Ctx,
    credential: Annotated[str, Form(max_length=16384)] = "",
    next: Annotated[str, Form(max_length=400)] = "/",  # noqa: A002
) -> Response:
    """Sign in with a passkey's answer: no password, the authenticator verified its user."""
    target = safe_next(next)
    try:
        result = Login(ctx).passkey_step(credential)
    except (
        errors.InvalidCredentials,
        errors.InvalidMFACode,
        errors.ChallengeExpired,
        errors.AccountDisabled,
        errors.NetworkNotAllowed,
        errors.TooManyAttempts,
        errors.ValidationFailed,
    ) as exc:
        return render(
            request, "login.html", exc.status, headers=retry_headers(exc), error=shown(exc),
            login="", next=target, signup_open=ctx.settings.signup_open,
        )
    if result.state == "password_change_required":
        target = "/password/change"
    return _signed_in(request, redirect(target), result.session_token())


@router.get("/logout")
def logout_page(request: Request, auth: LogoutPage) -> Response:
    """Confirm signing out (signing out is a POST, never a GET)."""
    return render(request, "logout.html")


@router.post("/logout", dependencies=[Csrf])
def logout(request: Request, ctx: Ctx, auth: LogoutPage) -> Response:
    """Sign out: the session ends on the server at once."""
    Login(ctx).logout(auth.session.id, auth.principal)
    response = redirect("/login?done=signed-out")
    sec.clear_cookie(request, response, SESSION)
    sec.set_cookie(request, response, PRE_SESSION, sec.new_pre_session())
    return response
