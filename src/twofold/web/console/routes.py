"""The server-rendered console (pages under /): parse a form, call a service, render a page.

The console calls the same services as the API, so no rule lives here. What is console-only:
the cookie session, CSRF, and sending a person through identity verification and back to
the operation they asked for (their input is carried, sealed, through the verification page).
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from twofold.domain import errors, policy
from twofold.domain.sealing import SealingError
from twofold.services.accounts import Users
from twofold.services.audit import Audit
from twofold.services.codes import SecondFactor
from twofold.services.context import Context
from twofold.services.login import Login
from twofold.services.mfa import BoundDevice, Devices, PendingDevice
from twofold.services.sessions import Auth, Sessions
from twofold.services.verification import Verification
from twofold.storage.models import Principal
from twofold.web.console import security as sec
from twofold.web.console.security import PRE_SESSION, SESSION, check_csrf
from twofold.web.flood import flood_limited, hash_bounded
from twofold.web.routing import EndingRoute
from twofold.web.runtime import request_context

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False, route_class=EndingRoute)

Ctx = Annotated[Context, Depends(request_context)]
Csrf = Depends(check_csrf)
AUDIT_PAGE = 20

# Fixed messages for the page a person lands on after a redirect (?done=...).
NOTICES = {
    "signed-out": "You are signed out.",
    "challenge-expired": "The sign-in attempt has expired; sign in again.",
    "mfa-disabled": "Virtual MFA is disabled. The device's codes no longer work.",
    "password-changed": "Your password was changed. Your other sessions were ended.",
    "user-created": "The user was created.",
    "user-deleted": "The user was deleted.",
    "user-mfa-disabled": "The user's virtual MFA device is disabled.",
}


# ----------------------------------------------------------------------------- rendering


def _when(value: object) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return ""


def _when_exact(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


templates.env.filters["when"] = _when
templates.env.filters["when_exact"] = _when_exact


def render(
    request: Request,
    template: str,
    status: int = 200,
    *,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    auth: Auth | None = getattr(request.state, "auth", None)
    context.setdefault("csrf", sec.csrf_token(request))
    context.setdefault("notice", NOTICES.get(request.query_params.get("done", "")))
    me = None
    if auth is not None and not auth.session.restricted and not auth.must_change_password:
        me = {
            "login": auth.principal.login,
            "account": auth.principal.login.rpartition("@")[2],
            "is_primary": auth.is_primary,
        }
    elif auth is not None:
        me = {"login": auth.principal.login, "restricted": True}
    response = templates.TemplateResponse(
        request, template, {"me": me, **context}, status_code=status, headers=headers
    )
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(value: str | None) -> str:
    """Only a path on this server: never another host (open redirect)."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or len(value) > 300
        or any(ord(c) < 33 for c in value)
    ):
        return "/"
    return value


def with_next(path: str, target: str) -> str:
    """`path?next=target`, the target encoded as one query value (`&`, `#`, `?` stay in it)."""
    return path if target == "/" else f"{path}?next={quote(target, safe='/')}"


# ----------------------------------------------------------------------------- auth


def console_auth(api_path: str | None) -> Callable[..., Auth]:
    """The cookie session. `api_path` is the API path this page mirrors: a setup-only session
    reaches the page only where the API's rule lets it reach that path."""

    def dependency(request: Request, ctx: Ctx) -> Auth:
        auth = Sessions(ctx).authenticate(sec.read_cookie(request, SESSION))
        request.state.auth = auth
        if auth.must_change_password:  # before any MFA setup (API.md, login states)
            if api_path is None or not policy.password_change_may_reach(api_path):
                raise errors.PasswordChangeRequired()
        elif auth.session.restricted and (
            api_path is None or not policy.restricted_may_reach(api_path)
        ):
            raise errors.MFASetupRequired()
        return auth

    return dependency


Page = Annotated[Auth, Depends(console_auth(None))]
SetupPage = Annotated[Auth, Depends(console_auth("/me/mfa-device"))]
LogoutPage = Annotated[Auth, Depends(console_auth("/logout"))]


def _primary_page(auth: Page) -> Auth:
    Users.require_primary(auth)
    return auth


PrimaryPage = Annotated[Auth, Depends(_primary_page)]


# ----------------------------------------------------------------------------- operations
# A sensitive operation runs only on a freshly verified session (the same rule as the API's
# require_fresh_verification). Otherwise the person verifies first; the operation and its
# input travel sealed through the verification page and the operation then runs.

Operation = Callable[[Request, Auth, Context, dict[str, str]], Response]


class Op:
    def __init__(self, api_path: str, run: Operation, first_factor: bool = False) -> None:
        self.api_path, self.run, self.first_factor = api_path, run, first_factor


OPS: dict[str, Op] = {}


def operation(
    name: str, api_path: str, *, first_factor: bool = False
) -> Callable[[Operation], Operation]:
    def register(run: Operation) -> Operation:
        OPS[name] = Op(api_path, run, first_factor)
        return run

    return register


def _carry_context(auth: Auth) -> str:
    return f"console-carry:{auth.session.id}"


def seal_carry(request: Request, auth: Auth, name: str, fields: dict[str, str]) -> str:
    keys = request.app.state.runtime.keys
    return str(keys.seal(json.dumps({"op": name, "fields": fields}), _carry_context(auth)))


def open_carry(request: Request, auth: Auth, carry: str) -> tuple[str, dict[str, str]]:
    keys = request.app.state.runtime.keys
    try:
        data = json.loads(keys.unseal(carry, _carry_context(auth)))
    except (SealingError, ValueError, binascii.Error, IndexError) as exc:
        raise sec.CsrfRefused("The operation to continue was not recognised; start again.") from exc
    name, fields = data.get("op"), data.get("fields")
    if name not in OPS or not isinstance(fields, dict):
        raise sec.CsrfRefused("The operation to continue was not recognised; start again.")
    return name, {str(k): str(v) for k, v in fields.items()}


def run_op(
    request: Request, auth: Auth, ctx: Context, name: str, fields: dict[str, str]
) -> Response:
    op = OPS[name]
    if auth.session.restricted and not policy.restricted_may_reach(op.api_path):
        raise errors.MFASetupRequired()
    if not Sessions(ctx).may_step_up(auth.session, first_factor=op.first_factor):
        ctx.db.commit()
        return verify_page(request, auth, ctx, seal_carry(request, auth, name, fields))
    return op.run(request, auth, ctx, fields)


VERIFY_PURPOSES = {
    "mfa.create_self": "bind a virtual MFA device",
    "mfa.create_user": "bind a virtual MFA device for a user",
    "user.delete": "delete a user",
    "user.mfa_disable": "disable a user's virtual MFA device",
    "password.change": "change your password",
    "recovery.regenerate": "create new recovery codes",
}


def verify_page(
    request: Request,
    auth: Auth,
    ctx: Context,
    carry: str,
    *,
    error: str | None = None,
    status: int = 200,
    email_sent: bool = False,
) -> HTMLResponse:
    name, fields = open_carry(request, auth, carry)
    has_device = SecondFactor(ctx).active_device(auth.principal.id) is not None
    ctx.db.commit()
    return render(
        request,
        "verify.html",
        status,
        carry=carry,
        purpose=VERIFY_PURPOSES.get(name, "continue"),
        target=fields.get("name"),
        has_device=has_device,
        email=_masked(auth.principal.email),
        error=error,
        email_sent=email_sent,
    )


def _masked(email: str | None) -> str | None:
    if not email:
        return None
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


# ----------------------------------------------------------------------------- sign-in


@router.get("/login")
def login_page(request: Request, ctx: Ctx, next: str | None = None) -> Response:  # noqa: A002
    """Sign-in: login and password."""
    token = sec.read_cookie(request, SESSION)
    if token:
        try:
            Sessions(ctx).authenticate(token)
            ctx.db.commit()
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
        wait = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return render(request, "login.html", exc.status, error=exc.message, login=login,
                      next=target, headers=wait)
    if result.state == "mfa_required":
        assert result.challenge
        response = redirect(with_next("/login/mfa", target))
        sec.set_challenge(request, response, result.challenge)
        # A new pre-session id between the steps: the code form gets a new CSRF token.
        sec.set_cookie(request, response, PRE_SESSION, sec.new_pre_session())
        sec.clear_cookie(request, response, SESSION)
        return response
    assert result.token
    if result.state == "password_change_required":
        return _signed_in(request, redirect("/password/change"), result.token)
    if result.state == "mfa_setup_required":
        return _signed_in(request, redirect("/mfa/setup"), result.token)
    return _signed_in(request, redirect(target), result.token)


@router.get("/login/mfa")
def login_mfa_page(request: Request, next: str | None = None) -> Response:  # noqa: A002
    """The dynamic code step."""
    if not sec.read_cookie(request, sec.CHALLENGE):
        return redirect("/login?done=challenge-expired")
    return render(request, "login_mfa.html", next=safe_next(next))


@router.post("/login/mfa", dependencies=[flood_limited("login_mfa"), Csrf])
def login_mfa_submit(
    request: Request,
    ctx: Ctx,
    code: Annotated[str | None, Form(max_length=64)] = None,
    recovery_code: Annotated[str | None, Form(max_length=64)] = None,
    remember_browser: Annotated[str | None, Form(max_length=8)] = None,
    next: Annotated[str, Form(max_length=400)] = "/",  # noqa: A002
) -> Response:
    """Finish signing in with a code from the device (or a recovery code)."""
    target = safe_next(next)
    challenge = sec.read_cookie(request, sec.CHALLENGE)
    use_recovery = recovery_code is not None and code is None
    try:
        result = Login(ctx).code_step(
            challenge,
            code=None if use_recovery else (code or "").strip(),
            recovery_code=(recovery_code or "").strip() if use_recovery else None,
            remember=bool(remember_browser),
        )
    except errors.ChallengeExpired as exc:
        response = render(request, "login.html", exc.status, error=exc.message, next=target)
        sec.clear_cookie(request, response, sec.CHALLENGE)
        return response
    except errors.OutOfSyncMFACode as exc:
        return render(
            request, "login_mfa.html", exc.status, error=exc.message, next=target, out_of_sync=True
        )
    except errors.InvalidMFACode as exc:
        message = (
            "The recovery code is wrong or was already used."
            if use_recovery
            else "The code is wrong or was already used. Enter the code your app shows now."
        )
        return render(request, "login_mfa.html", exc.status, error=message, next=target)
    except errors.TooManyAttempts as exc:
        message = (
            f"Too many wrong codes: code checks for this login are locked. "
            f"Try again in {_duration(exc.retry_after)}."
        )
        return render(
            request,
            "login_mfa.html",
            exc.status,
            error=message,
            next=target,
            headers={"Retry-After": str(exc.retry_after or 60)},
        )
    assert result.token
    if result.state == "password_change_required":
        target = "/password/change"
    done = _signed_in(request, redirect(target), result.token)
    if result.remember_token:
        # The server decides how long it stays valid (remember_mfa_days, at most 30).
        sec.set_cookie(request, done, sec.REMEMBER, result.remember_token, 30 * 86400)
    return done


def _duration(seconds: int | None) -> str:
    s = seconds or 60
    if s < 90:
        return f"{s} seconds"
    return f"{(s + 59) // 60} minutes"


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


# ----------------------------------------------------------------------------- overview


def _my_mfa(ctx: Context, principal: Principal) -> dict[str, Any]:
    factor = SecondFactor(ctx)
    device = factor.active_device(principal.id)
    return {
        "enabled": device is not None,
        "serial": device.serial if device else None,
        "bound_at": device.bound_at if device else None,
        "recovery_left": factor.recovery_codes_left(principal.id) if device else 0,
    }


@router.get("/")
def overview(request: Request, auth: Page, ctx: Ctx) -> Response:
    """Overview: who is signed in, MFA state, users (primary)."""
    mfa = _my_mfa(ctx, auth.principal)
    users = Users(ctx).count(auth.principal.account_id) if auth.is_primary else None
    ctx.db.commit()
    return render(request, "overview.html", mfa=mfa, user_count=users, principal=auth.principal)


# ----------------------------------------------------------------------------- security


@router.get("/security")
def security_page(request: Request, auth: Page, ctx: Ctx) -> Response:
    """Security settings: virtual MFA (Set / Replace / Disable), password, recovery codes."""
    return _security(request, auth, ctx)


def _security(
    request: Request,
    auth: Auth,
    ctx: Context,
    *,
    recovery_codes: list[str] | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    mfa = _my_mfa(ctx, auth.principal)
    ctx.db.commit()
    extra: dict[str, Any] = {"notice": notice} if notice else {}
    return render(
        request,
        "security.html",
        mfa=mfa,
        principal=auth.principal,
        recovery_codes=recovery_codes,
        **extra,
    )


@router.get("/mfa/setup")
def mfa_setup_page(request: Request, auth: SetupPage, ctx: Ctx) -> Response:
    """Where the "MFA verification" entries lead; the only page of a setup-only session."""
    mfa = _my_mfa(ctx, auth.principal)
    may_manage = Devices(ctx).may_manage(auth, auth.principal)
    ctx.db.commit()
    return render(
        request, "mfa_setup.html", mfa=mfa, restricted=auth.session.restricted,
        may_manage=may_manage,
        principal=auth.principal,
    )


@router.post("/mfa/device", dependencies=[Csrf])
def mfa_create(request: Request, auth: SetupPage, ctx: Ctx) -> Response:
    """Set or Replace: a new key and QR code (after identity verification)."""
    return run_op(request, auth, ctx, "mfa.create_self", {})


@operation("mfa.create_self", "/me/mfa-device", first_factor=True)
def _create_self(request: Request, auth: Auth, ctx: Context, fields: dict[str, str]) -> Response:
    replacing = SecondFactor(ctx).active_device(auth.principal.id) is not None
    pending = Devices(ctx).create_pending(auth, auth.principal)
    return _bind_page(request, pending, action="/mfa/bind", target=None, replacing=replacing)


def _bind_page(
    request: Request,
    pending: PendingDevice | None,
    *,
    action: str,
    target: str | None,
    replacing: bool = False,
    serial: str | None = None,
    error: str | None = None,
    status: int = 200,
    restart: str = "/mfa/device",
) -> HTMLResponse:
    return render(
        request,
        "bind.html",
        status,
        qr=Markup(pending.qr_svg) if pending else None,  # noqa: S704 (segno's own SVG)
        secret=pending.grouped_secret if pending else None,
        serial=pending.serial if pending else serial,
        action=action,
        target=target,
        replacing=replacing,
        error=error,
        restart=restart,
    )


_BIND_ERRORS = (
    errors.InvalidBindCode,
    errors.NoPendingDevice,
    errors.MFAAlreadyEnabled,
    errors.TooManyAttempts,
)


def _bind_error(exc: errors.TwofoldError) -> str:
    if isinstance(exc, errors.InvalidBindCode):
        return (
            "The codes were not accepted: enter two consecutive codes from the app, the "
            "earlier one first, each as soon as it appears."
        )
    if isinstance(exc, errors.NoPendingDevice):
        return "This key has expired or was replaced. Get a new key and scan it again."
    if isinstance(exc, errors.TooManyAttempts):
        return f"Too many wrong codes. Try again in {_duration(exc.retry_after)}."
    return exc.message


@router.post(
    "/mfa/bind",
    dependencies=[Csrf],
)
def mfa_bind(
    request: Request,
    ctx: Ctx,
    auth: Annotated[Auth, Depends(console_auth("/me/mfa-device/bind"))],
    serial: Annotated[str, Form(max_length=64)] = "",
    code1: Annotated[str, Form(max_length=32)] = "",
    code2: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Bind the new device with two consecutive codes; shows the recovery codes once."""
    try:
        bound = Devices(ctx).bind(auth, auth.principal, serial, code1.strip(), code2.strip())
    except _BIND_ERRORS as exc:
        return _bind_page(
            request, None, action="/mfa/bind", target=None, serial=serial,
            error=_bind_error(exc), status=exc.status,
        )
    return _security(
        request, auth, ctx, recovery_codes=bound.recovery_codes, notice=_bound_notice(bound)
    )


def _bound_notice(bound: BoundDevice) -> str:
    if bound.replaced:
        return "The new virtual MFA device is bound. The old device's codes no longer work."
    return "Virtual MFA is enabled."


@router.get("/mfa/disable")
def mfa_disable_page(request: Request, auth: Page, ctx: Ctx) -> Response:
    """Disable: a warning and the current code as the safety verification."""
    mfa = _my_mfa(ctx, auth.principal)
    ctx.db.commit()
    if not mfa["enabled"]:
        return redirect("/security")
    return render(request, "disable.html", mfa=mfa)


@router.post("/mfa/disable", dependencies=[Csrf])
def mfa_disable(
    request: Request, auth: Page, ctx: Ctx, code: Annotated[str, Form(max_length=32)] = ""
) -> Response:
    """Check the current code, then disable the device."""
    try:
        Verification(ctx).verify(auth, "mfa", code=code.strip())
        Devices(ctx).disable(auth, auth.principal)
    except (errors.InvalidMFACode, errors.TooManyAttempts, errors.MFANotEnabled) as exc:
        mfa = _my_mfa(ctx, auth.principal)
        ctx.db.commit()
        if not mfa["enabled"]:
            return redirect("/security")
        message = exc.message
        if isinstance(exc, errors.TooManyAttempts):
            message = f"Too many wrong codes. Try again in {_duration(exc.retry_after)}."
        elif not isinstance(exc, errors.OutOfSyncMFACode):
            message = "The code is wrong or was already used. Enter the code your app shows now."
        return render(request, "disable.html", exc.status, mfa=mfa, error=message)
    return redirect("/security?done=mfa-disabled")


@router.post("/security/recovery-codes", dependencies=[Csrf])
def recovery_regenerate(request: Request, auth: Page, ctx: Ctx) -> Response:
    """A new set of recovery codes (the old set stops working)."""
    return run_op(request, auth, ctx, "recovery.regenerate", {})


@operation("recovery.regenerate", "/me/recovery-codes")
def _regenerate(request: Request, auth: Auth, ctx: Context, fields: dict[str, str]) -> Response:
    try:
        codes = Devices(ctx).regenerate_recovery_codes(auth)
    except errors.MFANotEnabled:
        return redirect("/security")
    return _security(
        request, auth, ctx, recovery_codes=codes,
        notice="New recovery codes were made; the old ones no longer work.",
    )


@router.get("/security/password")
def password_page(request: Request, auth: Page) -> Response:
    """Change password."""
    return render(request, "password.html")


@router.post("/security/password", dependencies=[Csrf])
def password_submit(
    request: Request,
    auth: Page,
    ctx: Ctx,
    current_password: Annotated[str, Form(max_length=1024)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
    new_password2: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    fields = {
        "current_password": current_password,
        "new_password": new_password,
        "new_password2": new_password2,
    }
    return run_op(request, auth, ctx, "password.change", fields)


@operation("password.change", "/me/password")
def _change_password(
    request: Request, auth: Auth, ctx: Context, fields: dict[str, str]
) -> Response:
    if fields.get("new_password") != fields.get("new_password2"):
        return render(
            request, "password.html", 400,
            error="The two new passwords differ.", field_errors={"new_password2": "differs"},
        )
    try:
        Verification(ctx).change_password(
            auth, fields.get("current_password", ""), fields.get("new_password", "")
        )
    except (errors.ValidationFailed, errors.InvalidCredentials, errors.TooManyAttempts) as exc:
        return render(
            request, "password.html", exc.status, error=exc.message, field_errors=exc.fields or {}
        )
    return redirect("/security?done=password-changed")


# ----------------------------------------------------------------------------- verification


@router.post("/verify", dependencies=[Csrf])
def verify_submit(
    request: Request,
    ctx: Ctx,
    auth: Annotated[Auth, Depends(console_auth("/verify"))],
    carry: Annotated[str, Form(max_length=8000)] = "",
    method: Annotated[str, Form(max_length=16)] = "",
    password: Annotated[str | None, Form(max_length=1024)] = None,
    code: Annotated[str | None, Form(max_length=32)] = None,
) -> Response:
    """Identity verification; on success the operation the person asked for continues."""
    name, fields = open_carry(request, auth, carry)
    try:
        Verification(ctx).verify(
            auth, method, password=password, code=(code or "").strip() or None
        )
    except (
        errors.InvalidCredentials,
        errors.InvalidMFACode,
        errors.TooManyAttempts,
        errors.ValidationFailed,
        errors.MFANotEnabled,
    ) as exc:
        ctx.db.rollback()
        message = exc.message
        if isinstance(exc, errors.TooManyAttempts):
            message = f"Too many failed attempts. Try again in {_duration(exc.retry_after)}."
        elif isinstance(exc, errors.InvalidMFACode) and not isinstance(
            exc, errors.OutOfSyncMFACode
        ):
            message = "The code is wrong or was already used."
        return verify_page(request, auth, ctx, carry, error=message, status=exc.status)
    return run_op(request, auth, ctx, name, fields)


@router.post("/verify/email", dependencies=[flood_limited("email"), Csrf])
def verify_email(
    request: Request,
    ctx: Ctx,
    auth: Annotated[Auth, Depends(console_auth("/verify/email"))],
    carry: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    """Mail a verification code, then ask for it (the operation stays carried)."""
    open_carry(request, auth, carry)
    try:
        Verification(ctx).send_email_code(auth)
    except (errors.ValidationFailed, errors.TooManyAttempts) as exc:
        ctx.db.rollback()
        return verify_page(request, auth, ctx, carry, error=exc.message, status=exc.status)
    return verify_page(request, auth, ctx, carry, email_sent=True)


# ----------------------------------------------------------------------------- users


@router.get("/users")
def users_page(request: Request, auth: PrimaryPage, ctx: Ctx) -> Response:
    """The account's sub-users, and a form to create one."""
    return _users(request, auth, ctx)


def _users(
    request: Request,
    auth: Auth,
    ctx: Context,
    *,
    status: int = 200,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    field_errors: dict[str, str] | None = None,
) -> HTMLResponse:
    users = Users(ctx).list(auth)
    ctx.db.commit()
    return render(
        request,
        "users.html",
        status,
        users=users,
        form=form or {},
        error=error,
        field_errors=field_errors or {},
        account=auth.principal.login,
    )


@router.post("/users", dependencies=[Csrf])
def users_create(
    request: Request,
    auth: PrimaryPage,
    ctx: Ctx,
    name: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    mfa_required: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    """Create a sub-user."""
    form = {"name": name, "email": email, "mfa_required": mfa_required is not None}
    try:
        email_value = _valid_email(email.strip()) if email.strip() else None
        user = Users(ctx).create(
            auth,
            name=name.strip(),
            password=password,
            email=email_value,
            mfa_required=mfa_required is not None,
        )
    except (errors.ValidationFailed, errors.AlreadyExists) as exc:
        ctx.db.rollback()
        return _users(
            request, auth, ctx, status=exc.status, form=form, error=exc.message,
            field_errors=exc.fields,
        )
    return redirect(f"/users/{user.name}?done=user-created")


def _valid_email(value: str) -> str:
    from twofold.services.emails import checked_email  # the one rule, for every face

    return checked_email(value)


@router.get("/users/{name}")
def user_page(request: Request, name: str, auth: PrimaryPage, ctx: Ctx) -> Response:
    """User details with its Security credentials."""
    return _user(request, auth, ctx, name)


def _user(
    request: Request,
    auth: Auth,
    ctx: Context,
    name: str,
    *,
    recovery_codes: list[str] | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    users = Users(ctx)
    found = users.find(auth, name)
    user, sessions = users.describe(found), Sessions(ctx).list_for(found.id)
    ctx.db.commit()
    extra: dict[str, Any] = {"notice": notice} if notice else {}
    return render(request, "user.html", user=user, recovery_codes=recovery_codes,
                  sessions=sessions, **extra)


@router.post("/users/{name}/delete", dependencies=[Csrf])
def user_delete(request: Request, name: str, auth: PrimaryPage, ctx: Ctx) -> Response:
    """Delete a sub-user (after identity verification)."""
    Users(ctx).find(auth, name)
    return run_op(request, auth, ctx, "user.delete", {"name": name})


@operation("user.delete", "/users/{name}")
def _delete_user(request: Request, auth: Auth, ctx: Context, fields: dict[str, str]) -> Response:
    Users(ctx).delete(auth, fields["name"])
    return redirect("/users?done=user-deleted")


@router.post("/users/{name}/mfa/device", dependencies=[Csrf])
def user_mfa_create(request: Request, name: str, auth: PrimaryPage, ctx: Ctx) -> Response:
    """Enable MFA for a sub-user: a key and QR code for its phone."""
    Users(ctx).find(auth, name)
    return run_op(request, auth, ctx, "mfa.create_user", {"name": name})


@operation("mfa.create_user", "/users/{name}/mfa-device")
def _create_user_device(
    request: Request, auth: Auth, ctx: Context, fields: dict[str, str]
) -> Response:
    user = Users(ctx).find(auth, fields["name"])
    replacing = SecondFactor(ctx).active_device(user.id) is not None
    pending = Devices(ctx).create_pending(auth, user)
    return _bind_page(
        request, pending, action=f"/users/{user.name}/mfa/bind", target=user.login,
        replacing=replacing, restart=f"/users/{user.name}/mfa/device",
    )


@router.post("/users/{name}/mfa/bind", dependencies=[Csrf])
def user_mfa_bind(
    request: Request,
    name: str,
    auth: PrimaryPage,
    ctx: Ctx,
    serial: Annotated[str, Form(max_length=64)] = "",
    code1: Annotated[str, Form(max_length=32)] = "",
    code2: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Bind the sub-user's device with two consecutive codes."""
    user = Users(ctx).find(auth, name)
    try:
        bound = Devices(ctx).bind(auth, user, serial, code1.strip(), code2.strip())
    except _BIND_ERRORS as exc:
        return _bind_page(
            request, None, action=f"/users/{user.name}/mfa/bind", target=user.login,
            serial=serial, error=_bind_error(exc), status=exc.status,
            restart=f"/users/{user.name}/mfa/device",
        )
    return _user(
        request, auth, ctx, user.name, recovery_codes=bound.recovery_codes,
        notice=f"Virtual MFA is enabled for {user.login}.",
    )


@router.get("/users/{name}/mfa/disable")
def user_mfa_disable_page(request: Request, name: str, auth: PrimaryPage, ctx: Ctx) -> Response:
    """Disable a sub-user's device: the warning and a confirmation."""
    users = Users(ctx)
    user = users.describe(users.find(auth, name))
    ctx.db.commit()
    if not user["mfa"]["enabled"]:
        return redirect(f"/users/{name}")
    return render(request, "user_disable.html", user=user)


@router.post("/users/{name}/mfa/disable", dependencies=[Csrf])
def user_mfa_disable(request: Request, name: str, auth: PrimaryPage, ctx: Ctx) -> Response:
    Users(ctx).find(auth, name)
    return run_op(request, auth, ctx, "user.mfa_disable", {"name": name})


@operation("user.mfa_disable", "/users/{name}/mfa-device")
def _disable_user_device(
    request: Request, auth: Auth, ctx: Context, fields: dict[str, str]
) -> Response:
    user = Users(ctx).find(auth, fields["name"])
    try:
        Devices(ctx).disable(auth, user)
    except errors.MFANotEnabled:
        ctx.db.rollback()
    return redirect(f"/users/{user.name}?done=user-mfa-disabled")


# ----------------------------------------------------------------------------- audit


@router.get("/audit")
def audit_page(request: Request, auth: Page, ctx: Ctx, before: str | None = None) -> Response:
    """Security events, newest first, paged."""
    cursor = int(before) if before and before.isdigit() and len(before) < 19 else None
    page = Audit(ctx).page(auth.principal, limit=AUDIT_PAGE, before=cursor)
    ctx.db.commit()
    return render(request, "audit.html", events=page.events, next_before=page.next_before,
                  paged=cursor is not None)


# ----------------------------------------------------------------------------- GET on forms
# These paths only take a POST; a GET (a bookmark, a reload) is sent to the page they belong
# to instead of a bare 405.

_FORM_HOMES = {
    "/mfa/device": "/mfa/setup",
    "/mfa/bind": "/mfa/setup",
    "/verify": "/",
    "/verify/email": "/",
    "/users/{name}/delete": "/users/{name}",
    "/users/{name}/mfa/device": "/users/{name}",
    "/users/{name}/mfa/bind": "/users/{name}",
    "/users/{name}/mfa-required": "/users/{name}",
}


def _home_of(home: str) -> Callable[[Request], Response]:
    def go(request: Request) -> Response:
        if "{name}" not in home:
            return redirect(home)
        name = request.path_params.get("name", "")
        return redirect(home.replace("{name}", name) if policy.valid_name(name) else "/users")

    return go


for _path, _home in _FORM_HOMES.items():
    router.add_api_route(_path, _home_of(_home), methods=["GET"], include_in_schema=False)


# ----------------------------------------------------------------------------- errors


async def console_error(request: Request, exc: errors.TwofoldError) -> Response:
    """Every failure of a console page becomes a page (or a redirect), never JSON or a 500."""
    if isinstance(exc, errors.Unauthenticated):
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        back = target if request.method == "GET" else "/"
        response: Response = redirect(with_next("/login", back))
        sec.clear_cookie(request, response, SESSION)
        return response
    if isinstance(exc, errors.MFASetupRequired):
        return redirect("/mfa/setup")
    if isinstance(exc, errors.PasswordChangeRequired):
        return redirect("/password/change")
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    titles = {
        403: "Request refused" if isinstance(exc, sec.CsrfRefused) else "Not allowed",
        404: "Not found",
        429: "Too many attempts",
        503: "Temporarily unavailable",
    }
    message = exc.message
    if isinstance(exc, errors.ValidationFailed) and exc.fields:
        message += " " + "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
    return render(
        request,
        "error.html",
        exc.status,
        headers=headers,
        title=titles.get(exc.status, "Something went wrong"),
        message=message,
    )


def install(app: FastAPI) -> None:
    app.include_router(router)
    from twofold.web.console.lifecycle import router as lifecycle  # issue 13; this one too
    from twofold.web.console.preferences import router as preferences  # imports this module
    from twofold.web.console.recovery import router as recovery  # issue 13; this one too
    from twofold.web.console.user_sessions import router as user_sessions  # this one too

    app.include_router(lifecycle)
    app.include_router(recovery)

    app.include_router(preferences)
    app.include_router(user_sessions)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.state.console_error = console_error
    app.add_middleware(sec.ConsoleHeaders)
