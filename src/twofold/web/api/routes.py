"""The v1 JSON API: parse, call one service, shape the answer. No rules live here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from twofold.domain import errors
from twofold.services.accounts import Accounts, Principals, Users
from twofold.services.audit import Audit
from twofold.services.login import Login
from twofold.services.mfa import Devices
from twofold.services.security import AccountSecurity, SessionManagement
from twofold.services.sessions import Auth
from twofold.services.verification import Verification
from twofold.web.api import schemas as s
from twofold.web.api.deps import Ctx, CurrentAuth, FirstFactorAuth, FreshAuth, current_auth
from twofold.web.flood import flood_limited, hash_bounded
from twofold.web.routing import EndingRoute

_ERR = {"model": s.ErrorOut}
router = APIRouter(
    route_class=EndingRoute,
    responses={code: _ERR for code in (400, 401, 403, 404, 409, 413, 429, 503)},
)


def _primary(auth: CurrentAuth) -> Auth:
    Users.require_primary(auth)
    return auth


PrimaryAuth = Annotated[Auth, Depends(_primary)]

# _HOT: the hot routes (GET /me, POST /verify) authenticate inside their own sync call, so a
# request crosses into the thread pool once; as a sync dependency the lookup is a crossing
# of its own, which costs more than the SQL. Measured against an async dependency with the
# lookup inline on the event loop (slower: bench/README.md, "Issue 16").


@router.post(
    "/accounts",
    status_code=201,
    response_model=s.AccountOut,
    tags=["accounts"],
    dependencies=[flood_limited("signup"), hash_bounded],
)
def create_account(body: s.AccountIn, ctx: Ctx) -> s.AccountOut:
    """Sign up: a new account and its primary principal (while sign-up is open)."""
    if not ctx.settings.signup_open:
        raise errors.Forbidden("Sign-up is closed on this server.")
    account = Accounts(ctx).create(body.name, str(body.email), body.password)
    return s.AccountOut.model_validate(account)


@router.post(
    "/login",
    response_model=s.LoginOut,
    response_model_exclude_none=True,
    tags=["login"],
    dependencies=[flood_limited("login"), hash_bounded],
)
def login(body: s.LoginIn, ctx: Ctx) -> s.LoginOut:
    """Password step. Answers a session, an MFA challenge, or a setup-only session."""
    result = Login(ctx).password_step(body.login, body.password, remember_token=body.remember_token)
    return s.LoginOut.model_validate(result)


@router.post(
    "/login/mfa",
    response_model=s.LoginMfaOut,
    response_model_exclude_none=True,
    tags=["login"],
    dependencies=[flood_limited("login_mfa")],
)
def login_mfa(body: s.LoginMfaIn, ctx: Ctx) -> s.LoginMfaOut:
    """Second step: a TOTP code, a recovery code or a security key's answer (`webauthn`,
    to the options of `POST /login/webauthn/options`) for the challenge of the password step."""
    given = [x for x in (body.code, body.recovery_code, body.webauthn) if x is not None]
    if len(given) != 1:
        raise errors.ValidationFailed(
            "Send one of code, recovery_code and webauthn.",
            fields={"code": "exactly one of code, recovery_code and webauthn"},
        )
    result = Login(ctx).code_step(
        body.challenge,
        code=body.code,
        recovery_code=body.recovery_code,
        webauthn=body.webauthn,
        remember=body.remember_browser,
    )
    return s.LoginMfaOut.model_validate(result)


@router.post("/logout", status_code=204, tags=["login"])
def logout(auth: CurrentAuth, ctx: Ctx) -> Response:
    """End this session at once."""
    Login(ctx).logout(auth.session.id, auth.principal)
    return Response(status_code=204)


@router.get("/me", response_model=s.MeOut, tags=["me"])
def me(request: Request, ctx: Ctx) -> s.MeOut:
    """Who is signed in, and the state of its MFA."""
    auth = current_auth(request, ctx)  # here, not a dependency: see _HOT above
    return s.MeOut.model_validate(Principals(ctx).me(auth))


@router.post("/verify", response_model=s.VerifyOut, tags=["verification"])
def verify(body: s.VerifyIn, request: Request, ctx: Ctx) -> s.VerifyOut:
    """Step-up: mark this session freshly verified (mfa while a device is bound, webauthn
    with a security key; else the password, an email code or an SMS code). For webauthn,
    `credential` answers the options of `POST /verify/webauthn/options`."""
    auth = current_auth(request, ctx)  # here, not a dependency: see _HOT above
    until = Verification(ctx).verify(
        auth, body.method, password=body.password, code=body.code, credential=body.credential
    )
    return s.VerifyOut(verified_until=until.isoformat())


@router.post(
    "/verify/email",
    status_code=202,
    response_class=Response,
    tags=["verification"],
    dependencies=[flood_limited("email")],
)
def verify_email(auth: CurrentAuth, ctx: Ctx) -> Response:
    """Mail a 6-digit code (10 minutes, single use) for `POST /verify` with method email."""
    Verification(ctx).send_email_code(auth)
    return Response(status_code=202)


@router.post("/me/mfa-device", status_code=201, response_model=s.DeviceOut, tags=["mfa"])
def create_my_device(auth: FirstFactorAuth, ctx: Ctx) -> s.DeviceOut:
    """A pending device with its secret and QR code, shown this once."""
    return s.DeviceOut.model_validate(Devices(ctx).create_pending(auth, auth.principal))


@router.post("/me/mfa-device/bind", response_model=s.BindOut, tags=["mfa"])
def bind_my_device(body: s.BindIn, auth: CurrentAuth, ctx: Ctx) -> s.BindOut:
    """Prove the pending device with two consecutive codes; returns 10 recovery codes."""
    bound = Devices(ctx).bind(auth, auth.principal, body.serial, body.code1, body.code2)
    return s.BindOut.model_validate(bound)


@router.delete("/me/mfa-device", status_code=204, tags=["mfa"])
def disable_my_device(auth: FreshAuth, ctx: Ctx) -> Response:
    """Disable MFA: the device's codes stop working and other sessions end."""
    Devices(ctx).disable(auth, auth.principal)
    return Response(status_code=204)


@router.post("/me/mfa-device/resync", response_model=s.ResyncOut, tags=["mfa"])
def resync_my_device(body: s.ResyncIn, auth: CurrentAuth, ctx: Ctx) -> s.ResyncOut:
    """Record the device's clock drift from two consecutive codes."""
    return s.ResyncOut.model_validate(Devices(ctx).resync(auth, body.code1, body.code2))


@router.post("/me/recovery-codes", status_code=201, response_model=s.RecoveryCodesOut, tags=["mfa"])
def new_recovery_codes(auth: FreshAuth, ctx: Ctx) -> s.RecoveryCodesOut:
    """A new set of 10 recovery codes; the old set stops working."""
    return s.RecoveryCodesOut(recovery_codes=Devices(ctx).regenerate_recovery_codes(auth))


@router.post("/me/password", status_code=204, tags=["me"])
def change_password(body: s.PasswordIn, auth: CurrentAuth, ctx: Ctx) -> Response:
    """Change the password (freshly verified, with the current one); every other session
    ends. In the forced change at sign-in (state password_change_required) only
    `new_password` is needed, and it must differ from the current one."""
    Verification(ctx).change_password(auth, body.current_password, body.new_password)
    return Response(status_code=204)


@router.get("/me/sessions", response_model=s.SessionsOut, tags=["me"])
def my_sessions(auth: CurrentAuth, ctx: Ctx) -> s.SessionsOut:
    """The principal's live sessions, newest first."""
    return s.SessionsOut.model_validate({"sessions": SessionManagement(ctx).views(auth)})


@router.delete("/me/sessions/{session_id}", status_code=204, tags=["me"])
def end_session(session_id: str, auth: CurrentAuth, ctx: Ctx) -> Response:
    """End one of the principal's sessions; its remembered browsers are forgotten."""
    SessionManagement(ctx).revoke(auth, session_id)
    return Response(status_code=204)


@router.delete("/me/sessions", status_code=204, tags=["me"])
def end_other_sessions(auth: FreshAuth, ctx: Ctx) -> Response:
    """End every session of the principal but this one (freshly verified: a stale session
    must not shut the owner out); remembered browsers are forgotten."""
    SessionManagement(ctx).revoke_others(auth)
    return Response(status_code=204)


@router.get("/account/security", response_model=s.SecurityPreferencesOut, tags=["accounts"])
def get_security_preferences(auth: PrimaryAuth, ctx: Ctx) -> s.SecurityPreferencesOut:
    """The account's security preferences (primary only)."""
    return s.SecurityPreferencesOut.model_validate(AccountSecurity(ctx).preferences(auth))


@router.patch("/account/security", response_model=s.SecurityPreferencesOut, tags=["accounts"])
def set_security_preferences(
    body: s.SecurityPreferencesPatch, auth: FreshAuth, ctx: Ctx
) -> s.SecurityPreferencesOut:
    """Change some of the account's security preferences (primary, freshly verified)."""
    view = AccountSecurity(ctx).change(auth, body.model_dump(exclude_unset=True))
    return s.SecurityPreferencesOut.model_validate(view)


@router.get("/users", response_model=s.UsersOut, tags=["users"])
def list_users(auth: PrimaryAuth, ctx: Ctx) -> s.UsersOut:
    """The account's sub-users."""
    return s.UsersOut.model_validate({"users": Users(ctx).views(auth)})


@router.post("/users", status_code=201, response_model=s.UserOut, tags=["users"])
def create_user(body: s.UserIn, auth: PrimaryAuth, ctx: Ctx) -> s.UserOut:
    """Create a sub-user with a password (it logs in as name@account)."""
    users = Users(ctx)
    user = users.create(
        auth,
        name=body.name,
        password=body.password,
        email=str(body.email) if body.email else None,
        mfa_required=body.mfa_required,
    )
    return s.UserOut.model_validate(users.view_of(user))


@router.get("/users/{name}", response_model=s.UserOut, tags=["users"])
def get_user(name: str, auth: PrimaryAuth, ctx: Ctx) -> s.UserOut:
    """One sub-user, with its MFA state."""
    return s.UserOut.model_validate(Users(ctx).view(auth, name))


@router.patch("/users/{name}", response_model=s.UserOut, tags=["users"])
def update_user(name: str, body: s.UserPatch, auth: PrimaryAuth, ctx: Ctx) -> s.UserOut:
    """Change a sub-user's email or its "MFA must be enabled" flag (turning it off or a
    new email: freshly verified). A new address is unconfirmed until its holder follows the
    link mailed to it."""
    users = Users(ctx)
    changes = body.model_dump(exclude_unset=True)
    if "email" in changes and changes["email"] is not None:
        changes["email"] = str(changes["email"])
    return s.UserOut.model_validate(users.view_of(users.update(auth, name, changes)))


@router.get("/users/{name}/sessions", response_model=s.SessionsOut, tags=["users"])
def user_sessions(name: str, auth: PrimaryAuth, ctx: Ctx) -> s.SessionsOut:
    """A sub-user's live sessions, newest first."""
    return s.SessionsOut.model_validate({"sessions": SessionManagement(ctx).list_user(auth, name)})


@router.delete("/users/{name}/sessions/{session_id}", status_code=204, tags=["users"])
def end_user_session(name: str, session_id: str, auth: PrimaryAuth, ctx: Ctx) -> Response:
    """End one of a sub-user's sessions; its remembered browsers are forgotten."""
    SessionManagement(ctx).revoke_user(auth, name, session_id)
    return Response(status_code=204)


@router.delete("/users/{name}/sessions", status_code=204, tags=["users"])
def end_user_sessions(name: str, auth: PrimaryAuth, ctx: Ctx) -> Response:
    """End every session of a sub-user; its remembered browsers are forgotten."""
    SessionManagement(ctx).revoke_user_all(auth, name)
    return Response(status_code=204)


@router.delete("/users/{name}", status_code=204, tags=["users"])
def delete_user(name: str, auth: FreshAuth, ctx: Ctx) -> Response:
    """Delete a sub-user, its device and its sessions."""
    Users(ctx).delete(auth, name)
    return Response(status_code=204)


@router.post(
    "/users/{name}/mfa-device", status_code=201, response_model=s.DeviceOut, tags=["users"]
)
def create_user_device(name: str, auth: FreshAuth, ctx: Ctx) -> s.DeviceOut:
    """A pending device for a sub-user's phone."""
    user = Users(ctx).find(auth, name)
    return s.DeviceOut.model_validate(Devices(ctx).create_pending(auth, user))


@router.post("/users/{name}/mfa-device/bind", response_model=s.BindOut, tags=["users"])
def bind_user_device(name: str, body: s.BindIn, auth: PrimaryAuth, ctx: Ctx) -> s.BindOut:
    """Bind the sub-user's pending device with two consecutive codes."""
    user = Users(ctx).find(auth, name)
    bound = Devices(ctx).bind(auth, user, body.serial, body.code1, body.code2)
    return s.BindOut.model_validate(bound)


@router.delete("/users/{name}/mfa-device", status_code=204, tags=["users"])
def disable_user_device(name: str, auth: FreshAuth, ctx: Ctx) -> Response:
    """Disable a sub-user's MFA; its sessions end."""
    user = Users(ctx).find(auth, name)
    Devices(ctx).disable(auth, user)
    return Response(status_code=204)


@router.get("/audit-events", response_model=s.AuditPageOut, tags=["audit"])
def audit_events(
    auth: CurrentAuth,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,  # the id column
) -> s.AuditPageOut:
    """Security events, newest first; `next_before` pages on."""
    return s.AuditPageOut.model_validate(
        Audit(ctx).page(auth.principal, limit=limit, before=before)
    )
