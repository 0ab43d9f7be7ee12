"""Security keys and passkeys (WebAuthn): the options and verify steps of each ceremony."""

from __future__ import annotations

from fastapi import APIRouter, Response

from twofold.services.accounts import Users
from twofold.services.login import Login
from twofold.services.security_keys import SecurityKeys
from twofold.services.verification import Verification
from twofold.web.api import schemas as s
from twofold.web.api.deps import Ctx, CurrentAuth, FirstFactorAuth, FreshAuth
from twofold.web.api.routes import PrimaryAuth
from twofold.web.flood import flood_limited
from twofold.web.routing import EndingRoute

_ERR = {"model": s.ErrorOut}
router = APIRouter(
    route_class=EndingRoute,
    responses={code: _ERR for code in (400, 401, 403, 404, 409, 413, 429, 503)},
)


@router.get("/me/security-keys", response_model=s.SecurityKeysOut, tags=["security keys"])
def my_keys(auth: CurrentAuth, ctx: Ctx) -> s.SecurityKeysOut:
    """The principal's security keys and passkeys."""
    keys = SecurityKeys(ctx).views_of(auth.principal.id)
    return s.SecurityKeysOut.model_validate({"security_keys": keys})


@router.post(
    "/me/security-keys/options", response_model=s.PublicKeyOptionsOut, tags=["security keys"]
)
def key_creation_options(auth: FirstFactorAuth, ctx: Ctx) -> s.PublicKeyOptionsOut:
    """Step 1 of adding a key (freshly verified, or the first factor of a setup-only
    session): options for `navigator.credentials.create()`, valid 5 minutes, for this
    session only."""
    return s.PublicKeyOptionsOut(public_key=SecurityKeys(ctx).registration_options(auth))


@router.post(
    "/me/security-keys/verify",
    status_code=201,
    response_model=s.RegisteredKeyOut,
    response_model_exclude_none=True,
    tags=["security keys"],
)
def add_key(body: s.SecurityKeyIn, auth: FirstFactorAuth, ctx: Ctx) -> s.RegisteredKeyOut:
    """Step 2: the browser's new credential and a name. Returns the key, and 10 recovery
    codes when it is the principal's first second factor."""
    added = SecurityKeys(ctx).register(auth, body.credential, body.name)
    return s.RegisteredKeyOut.model_validate(added)


@router.patch("/me/security-keys/{key_id}", response_model=s.SecurityKeyOut, tags=["security keys"])
def rename_key(
    key_id: str, body: s.SecurityKeyPatch, auth: CurrentAuth, ctx: Ctx
) -> s.SecurityKeyOut:
    """Rename one of the principal's keys."""
    return s.SecurityKeyOut.model_validate(SecurityKeys(ctx).rename(auth, key_id, body.name))


@router.delete("/me/security-keys/{key_id}", status_code=204, tags=["security keys"])
def remove_key(key_id: str, auth: FreshAuth, ctx: Ctx) -> Response:
    """Remove one of the principal's keys (not the last factor while MFA is required)."""
    SecurityKeys(ctx).remove(auth, auth.principal, key_id)
    return Response(status_code=204)


@router.get("/users/{name}/security-keys", response_model=s.SecurityKeysOut, tags=["users"])
def user_keys(name: str, auth: PrimaryAuth, ctx: Ctx) -> s.SecurityKeysOut:
    """A sub-user's security keys."""
    with ctx.reading():
        user = Users(ctx).find(auth, name)
    keys = SecurityKeys(ctx).views_of(user.id)
    return s.SecurityKeysOut.model_validate({"security_keys": keys})


@router.delete("/users/{name}/security-keys/{key_id}", status_code=204, tags=["users"])
def remove_user_key(name: str, key_id: str, auth: FreshAuth, ctx: Ctx) -> Response:
    """Remove a sub-user's key (primary, freshly verified)."""
    SecurityKeys(ctx).remove(auth, Users(ctx).find(auth, name), key_id)
    return Response(status_code=204)


@router.post(
    "/login/webauthn/options",
    response_model=s.PublicKeyOptionsOut,
    tags=["login"],
    dependencies=[flood_limited("login_mfa")],
)
def login_key_options(body: s.ChallengeIn, ctx: Ctx) -> s.PublicKeyOptionsOut:
    """Options for `navigator.credentials.get()` to answer a login challenge with a key;
    they expire with the challenge. Send the answer to `POST /login/mfa` as `webauthn`."""
    return s.PublicKeyOptionsOut(public_key=Login(ctx).key_options(body.challenge))


@router.post(
    "/login/passkey/options",
    response_model=s.PublicKeyOptionsOut,
    tags=["login"],
    dependencies=[flood_limited("login")],
)
def passkey_options(ctx: Ctx) -> s.PublicKeyOptionsOut:
    """Options for signing in with a passkey alone (user verification required)."""
    return s.PublicKeyOptionsOut(public_key=Login(ctx).passkey_options())


@router.post(
    "/login/passkey",
    response_model=s.LoginMfaOut,
    response_model_exclude_none=True,
    tags=["login"],
    dependencies=[flood_limited("login")],
)
def passkey_login(body: s.PasskeyLoginIn, ctx: Ctx) -> s.LoginMfaOut:
    """Sign in with a passkey's answer and no password."""
    return s.LoginMfaOut.model_validate(Login(ctx).passkey_step(body.credential))


@router.post(
    "/verify/webauthn/options", response_model=s.PublicKeyOptionsOut, tags=["verification"]
)
def verify_key_options(auth: CurrentAuth, ctx: Ctx) -> s.PublicKeyOptionsOut:
    """Options for a step-up with a key: send the answer to `POST /verify` with method
    webauthn, from this session."""
    return s.PublicKeyOptionsOut(public_key=Verification(ctx).key_options(auth))
