"""Console pages of issue 7: the account's security preferences (primary), the signed-in
principal's sessions, and its recovery codes. Forms in, the same services as the API out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from twofold.domain import errors
from twofold.services.codes import SecondFactor
from twofold.services.context import Context
from twofold.services.security import AccountSecurity, SessionManagement
from twofold.services.sessions import Auth
from twofold.web.console import routes as console
from twofold.web.console import security as sec
from twofold.web.console.routes import Csrf, Ctx, Page, PrimaryPage, render
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

RECOVERY_WARNING_AT = 3  # the console warns when this many recovery codes or fewer remain

console.VERIFY_PURPOSES["account.security"] = "change the account's security preferences"
console.VERIFY_PURPOSES["sessions.end_others"] = "end your other sessions"
console.NOTICES.update(
    {
        "preferences-saved": "The security preferences were saved.",
        "session-ended": "The session was ended. Remembered browsers must enter a code again.",
        "sessions-ended": "Every other session was ended. Remembered browsers must enter a "
        "code again.",
    }
)
PREFERENCE_FIELDS = (
    "mfa_for_login",
    "allow_users_to_manage_mfa",
    "remember_mfa_days",
    "session_hours",
    "login_networks",
    "password_min_length",
)


# ----------------------------------------------------------------------------- preferences


def _preferences_page(
    request: Request,
    prefs: dict[str, Any],
    *,
    status: int = 200,
    error: str | None = None,
    field_errors: dict[str, str] | None = None,
) -> HTMLResponse:
    networks = prefs.get("login_networks")
    text = "\n".join(networks) if isinstance(networks, list) else str(networks or "")
    return render(
        request,
        "preferences/account_security.html",
        status,
        prefs=prefs,
        networks_text=text,
        error=error,
        field_errors=field_errors or {},
    )


@router.get("/account/security")
def preferences_page(request: Request, auth: PrimaryPage, ctx: Ctx) -> Response:
    """The account's security preferences (primary only)."""
    return _preferences_page(request, AccountSecurity(ctx).show(auth))


@router.post("/account/security", dependencies=[Csrf])
def preferences_submit(
    request: Request,
    auth: PrimaryPage,
    ctx: Ctx,
    mfa_for_login: Annotated[str, Form(max_length=32)] = "",
    allow_users_to_manage_mfa: Annotated[str | None, Form(max_length=8)] = None,
    remember_mfa_days: Annotated[str, Form(max_length=16)] = "",
    session_hours: Annotated[str, Form(max_length=16)] = "",
    login_networks: Annotated[str, Form(max_length=4000)] = "",
    password_min_length: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Save the preferences; a stale session verifies first, then this continues."""
    fields = {
        "mfa_for_login": mfa_for_login,
        "allow_users_to_manage_mfa": "on" if allow_users_to_manage_mfa else "",
        "remember_mfa_days": remember_mfa_days,
        "session_hours": session_hours,
        "login_networks": login_networks,
        "password_min_length": password_min_length,
    }
    return console.run_op(request, auth, ctx, "account.security", fields)


def _number(raw: str) -> object:
    # Anything that is not a plain whole number goes to the service as it is, to be refused.
    text = raw.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 6 else text


def changes_from_form(fields: dict[str, str]) -> dict[str, object]:
    networks = [
        n.strip()
        for line in fields.get("login_networks", "").splitlines()
        for n in line.split(",")
        if n.strip()
    ]
    return {
        "mfa_for_login": fields.get("mfa_for_login", ""),
        "allow_users_to_manage_mfa": fields.get("allow_users_to_manage_mfa") == "on",
        "remember_mfa_days": _number(fields.get("remember_mfa_days", "")),
        "session_hours": _number(fields.get("session_hours", "")),
        "login_networks": networks,
        "password_min_length": _number(fields.get("password_min_length", "")),
    }


@console.operation("account.security", "/account/security")
def _save_preferences(
    request: Request, auth: Auth, ctx: Context, fields: dict[str, str]
) -> Response:
    changes = changes_from_form(fields)
    try:
        AccountSecurity(ctx).update(auth, changes)
    except errors.ValidationFailed as exc:
        ctx.db.rollback()
        shown = {**changes, "login_networks": fields.get("login_networks", "")}
        problems = {k.split(".")[0]: v for k, v in (exc.fields or {}).items()}
        return _preferences_page(
            request, shown, status=400, error=exc.message, field_errors=problems
        )
    return console.redirect("/account/security?done=preferences-saved")


# ----------------------------------------------------------------------------- sessions


@router.get("/sessions")
def sessions_page(request: Request, auth: Page, ctx: Ctx) -> Response:
    """The signed-in principal's sessions, newest first."""
    rows = SessionManagement(ctx).list(auth.principal)
    sessions = [
        {
            "id": r.public_id,
            "client_addr": r.client_addr,
            "user_agent": r.user_agent,
            "created_at": r.created_at,
            "last_seen_at": r.last_seen_at,
            "expires_at": r.expires_at,
            "current": r.id == auth.session.id,
        }
        for r in rows
    ]
    return render(request, "preferences/sessions.html", sessions=sessions)


@router.post("/sessions/{session_id}/end", dependencies=[Csrf])
def session_end(request: Request, session_id: str, auth: Page, ctx: Ctx) -> Response:
    """End one session; ending this one signs out."""
    SessionManagement(ctx).revoke(auth, session_id[:64])
    if session_id == auth.session.public_id:
        response = console.redirect("/login?done=signed-out")
        sec.clear_cookie(request, response, sec.SESSION)
        return response
    return console.redirect("/sessions?done=session-ended")


@router.post("/sessions/end-others", dependencies=[Csrf])
def sessions_end_others(request: Request, auth: Page, ctx: Ctx) -> Response:
    """End every session but this one (after identity verification)."""
    return console.run_op(request, auth, ctx, "sessions.end_others", {})


@console.operation("sessions.end_others", "/me/sessions")
def _end_others(request: Request, auth: Auth, ctx: Context, fields: dict[str, str]) -> Response:
    SessionManagement(ctx).revoke_others(auth)
    return console.redirect("/sessions?done=sessions-ended")


# ----------------------------------------------------------------------------- recovery codes


@router.get("/security/recovery-codes")
def recovery_page(request: Request, auth: Page, ctx: Ctx) -> Response:
    """How many recovery codes remain, a warning when few do, and a new set."""
    factor = SecondFactor(ctx)
    enabled = factor.active_device(auth.principal.id) is not None
    left = factor.recovery_codes_left(auth.principal.id) if enabled else 0
    ctx.db.commit()
    return render(
        request,
        "preferences/recovery_codes.html",
        mfa={"enabled": enabled, "recovery_left": left},
        warn_at=RECOVERY_WARNING_AT,
    )
