"""Route dependencies: the request's Context, the signed-in principal, and step-up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from twofold.domain import errors, policy
from twofold.services.context import Context
from twofold.services.sessions import Auth, Sessions, SignedIn
from twofold.web.runtime import request_context

API_PREFIX = "/api/v1"

Ctx = Annotated[Context, Depends(request_context)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def current_auth(request: Request, ctx: Ctx) -> Auth:
    """The signed-in session. A setup-only session passes only on the routes API.md lists."""
    auth = Sessions(ctx).authenticate(bearer_token(request))
    if auth.must_change_password or auth.session.restricted:
        route = request.scope.get("route")
        path = getattr(route, "path", request.url.path).removeprefix(API_PREFIX)
        may_reach(auth.signed_in(), path)
    return auth


def may_reach(who: SignedIn, path: str) -> None:
    """Raise unless the session may call this API path (relative to API_PREFIX): the forced
    password change comes first, then the MFA setup (API.md, login states)."""
    if who.must_change_password:
        if not policy.password_change_may_reach(path):
            raise errors.PasswordChangeRequired()
    elif who.restricted and not policy.restricted_may_reach(path):
        raise errors.MFASetupRequired()


CurrentAuth = Annotated[Auth, Depends(current_auth)]


def require_fresh_verification(
    max_age: timedelta | None = None, *, first_factor: bool = False
) -> Callable[..., Auth]:
    """Declare on a route that the session must have verified within `max_age`
    (default: the configured window), or the answer is VerificationRequired.
    `first_factor`: the route creates a first factor, which a setup-only session may do
    without a further verification (API.md, login states)."""

    def dependency(auth: CurrentAuth, ctx: Ctx) -> Auth:
        window = max_age or ctx.settings.fresh_window
        if not policy.step_up_ok(
            verified_at=auth.session.verified_at,
            restricted=auth.session.restricted,
            first_factor=first_factor,
            now=ctx.clock.now(),
            window=window,
        ):
            raise errors.VerificationRequired()
        return auth

    return dependency


FreshAuth = Annotated[Auth, Depends(require_fresh_verification())]
FirstFactorAuth = Annotated[Auth, Depends(require_fresh_verification(first_factor=True))]
