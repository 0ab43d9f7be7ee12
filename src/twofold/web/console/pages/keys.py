"""Security keys and passkeys in the console: adding one (options for console.js, then the
browser's answer), renaming and removing one's own, and a primary removing a sub-user's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, Response

from twofold.domain import errors
from twofold.services.accounts import Users
from twofold.services.security_keys import SecurityKeys
from twofold.services.sessions import Auth
from twofold.web.console.auth import Csrf, Ctx, Page, fresh_page
from twofold.web.console.errors import shown
from twofold.web.console.pages.mfa import first_factor_view, security_view
from twofold.web.console.render import form_homes, redirect
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

NOTICES = {
    "key-removed": "The security key is removed.",
    "key-renamed": "The security key is renamed.",
    "user-key-removed": "The user's security key is removed.",
}
PURPOSES = {
    "keys.add": "add a security key",
    "keys.remove": "remove a security key",
    "user.key_remove": "remove a user's security key",
}

# Like Set on /security: a setup-only session adds its first factor without a step-up.
AddPage = Annotated[
    Auth,
    Depends(
        fresh_page(
            "keys.add", api_path="/me/security-keys/options", back="/security", first_factor=True
        )
    ),
]
RemovePage = Annotated[Auth, Depends(fresh_page("keys.remove", back="/security"))]
UserRemovePage = Annotated[
    Auth, Depends(fresh_page("user.key_remove", primary=True, back="/users/{name}"))
]


@router.post("/security/keys/options", dependencies=[Csrf])
def key_options(auth: AddPage, ctx: Ctx) -> Response:
    """Options for navigator.credentials.create() (fetched by console.js)."""
    return JSONResponse({"public_key": SecurityKeys(ctx).registration_options(auth)})


@router.post("/security/keys", dependencies=[Csrf])
def key_add(
    request: Request,
    auth: AddPage,
    ctx: Ctx,
    key_name: Annotated[str, Form(max_length=200)] = "",
    credential: Annotated[str, Form(max_length=16384)] = "",
) -> Response:
    """Keep the key the browser made; the first factor shows its recovery codes once."""
    if not credential:
        return security_view(
            request,
            auth,
            ctx,
            error="Adding a security key needs JavaScript and a browser that supports "
            "security keys or passkeys.",
        )
    try:
        added = SecurityKeys(ctx).register(auth, credential, key_name)
    except (errors.ValidationFailed, errors.ChallengeExpired, errors.AlreadyExists) as exc:
        return security_view(request, auth, ctx, error=shown(exc), status=exc.status)
    return first_factor_view(
        request, auth, ctx, added.recovery_codes,
        f"The security key {added.security_key.name!r} is added.",
    )


@router.post("/security/keys/{key_id}/rename", dependencies=[Csrf])
def key_rename(
    request: Request,
    key_id: str,
    auth: Page,
    ctx: Ctx,
    key_name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Give one of one's keys a new name."""
    try:
        SecurityKeys(ctx).rename(auth, key_id, key_name)
    except errors.ValidationFailed as exc:
        return security_view(request, auth, ctx, error=shown(exc), status=exc.status)
    return redirect("/security?done=key-renamed")


@router.post("/security/keys/{key_id}/delete", dependencies=[Csrf])
def key_remove(request: Request, key_id: str, auth: RemovePage, ctx: Ctx) -> Response:
    """Remove one of one's keys (not the last factor while MFA is required)."""
    try:
        SecurityKeys(ctx).remove(auth, auth.principal, key_id)
    except errors.Forbidden as exc:
        return security_view(request, auth, ctx, error=shown(exc), status=exc.status)
    return redirect("/security?done=key-removed")


@router.post("/users/{name}/security-keys/{key_id}/delete", dependencies=[Csrf])
def user_key_remove(name: str, key_id: str, auth: UserRemovePage, ctx: Ctx) -> Response:
    """A primary removes a sub-user's key."""
    SecurityKeys(ctx).remove(auth, Users(ctx).find(auth, name), key_id)
    return redirect(f"/users/{name}?done=user-key-removed")


form_homes(
    router,
    {
        "/security/keys": "/security",
        "/security/keys/options": "/security",
        "/security/keys/{key_id}/rename": "/security",
        "/security/keys/{key_id}/delete": "/security",
        "/users/{name}/security-keys/{key_id}/delete": "/users/{name}",
    },
)
