"""The account's security preferences (primary only): a guarded page, so a stale session
verifies before the form is shown, and its input never travels through the verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from twofold.domain import errors
from twofold.services.security import AccountSecurity
from twofold.services.sessions import Auth
from twofold.web.console.auth import Csrf, Ctx, fresh_page
from twofold.web.console.render import localized, redirect, render
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

NOTICES = {"preferences-saved": "The security preferences were saved."}
PURPOSES = {"account.security": "change the account's security preferences"}

PreferencesPage = Annotated[
    Auth, Depends(fresh_page("account.security", api_path="/account/security", primary=True))
]


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
def preferences_page(request: Request, auth: PreferencesPage, ctx: Ctx) -> Response:
    """The account's security preferences (primary only)."""
    return _preferences_page(request, AccountSecurity(ctx).preferences(auth).as_dict())


@router.post("/account/security", dependencies=[Csrf])
def preferences_submit(
    request: Request,
    auth: PreferencesPage,
    ctx: Ctx,
    mfa_for_login: Annotated[str, Form(max_length=32)] = "",
    allow_users_to_manage_mfa: Annotated[str | None, Form(max_length=8)] = None,
    remember_mfa_days: Annotated[str, Form(max_length=16)] = "",
    session_hours: Annotated[str, Form(max_length=16)] = "",
    login_networks: Annotated[str, Form(max_length=4000)] = "",
    password_min_length: Annotated[str, Form(max_length=16)] = "",
    password_max_age_days: Annotated[str, Form(max_length=16)] = "",
    password_reuse_prevention: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Save the preferences."""
    changes = changes_from_form(
        mfa_for_login=mfa_for_login,
        allow_users_to_manage_mfa=allow_users_to_manage_mfa is not None,
        remember_mfa_days=remember_mfa_days,
        session_hours=session_hours,
        login_networks=login_networks,
        password_min_length=password_min_length,
    )
    # The password policy of issue 13: a field left out of the form changes nothing.
    for name, raw in (
        ("password_max_age_days", password_max_age_days),
        ("password_reuse_prevention", password_reuse_prevention),
    ):
        if raw.strip():
            changes[name] = _number(raw)
    try:
        AccountSecurity(ctx).change(auth, changes)
    except errors.ValidationFailed as exc:
        shown = {**changes, "login_networks": login_networks}
        problems = {k.split(".")[0]: v for k, v in (exc.fields or {}).items()}
        return _preferences_page(
            request, shown, status=400, error=localized(exc), field_errors=problems
        )
    return redirect("/account/security?done=preferences-saved")


def _number(raw: str) -> object:
    # Anything that is not a plain whole number goes to the service as it is, to be refused.
    text = raw.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 6 else text


def changes_from_form(
    *,
    mfa_for_login: str,
    allow_users_to_manage_mfa: bool,
    remember_mfa_days: str,
    session_hours: str,
    login_networks: str,
    password_min_length: str,
) -> dict[str, object]:
    networks = [
        n.strip() for line in login_networks.splitlines() for n in line.split(",") if n.strip()
    ]
    return {
        "mfa_for_login": mfa_for_login,
        "allow_users_to_manage_mfa": allow_users_to_manage_mfa,
        "remember_mfa_days": _number(remember_mfa_days),
        "session_hours": _number(session_hours),
        "login_networks": networks,
        "password_min_length": _number(password_min_length),
    }
