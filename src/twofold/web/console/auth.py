"""The console's page dependencies: the cookie session, the primary-only pages, and step-up.

The rules are the API's, from the same places: what a setup-only session may reach is
`policy.restricted_may_reach` (by the API path the page mirrors), primary-only is
`Users.require_primary`, and freshness is `policy.step_up_ok` (through `Sessions`), exactly as
`web/api/deps.py` applies them. Only the answer differs: the console sends a person to sign
in, to bind a device, or to verify and come back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from twofold.domain import errors, policy
from twofold.services.accounts import Users
from twofold.services.context import Context
from twofold.services.sessions import Auth, Sessions
from twofold.web.console import security as sec
from twofold.web.console.render import page_of, signed_in_as
from twofold.web.runtime import request_context

Ctx = Annotated[Context, Depends(request_context)]
Csrf = Depends(sec.check_csrf)


def console_auth(api_path: str | None) -> Callable[..., Auth]:
    """The cookie session. `api_path` is the API path this page mirrors: a setup-only session
    reaches the page only where the API's rule lets it reach that path."""

    def dependency(request: Request, ctx: Ctx) -> Auth:
        auth = Sessions(ctx).authenticate(sec.read_cookie(request, sec.SESSION))
        signed_in_as(request, auth)
        if auth.session.restricted and (
            api_path is None or not policy.restricted_may_reach(api_path)
        ):
            raise errors.MFASetupRequired()
        return auth

    return dependency


Page = Annotated[Auth, Depends(console_auth(None))]
SetupPage = Annotated[Auth, Depends(console_auth("/me/mfa-device"))]
LogoutPage = Annotated[Auth, Depends(console_auth("/logout"))]
VerifyPage = Annotated[Auth, Depends(console_auth("/verify"))]


def _primary_page(auth: Page) -> Auth:
    Users.require_primary(auth)
    return auth


PrimaryPage = Annotated[Auth, Depends(_primary_page)]


class VerifyFirst(errors.VerificationRequired):
    """A guarded page on a stale session: verify, then come back to `back`."""

    def __init__(self, back: str, purpose: str) -> None:
        super().__init__()
        self.back, self.purpose = back, purpose


def fresh_page(
    purpose: str,
    *,
    api_path: str | None = None,
    back: str | None = None,
    primary: bool = False,
    first_factor: bool = False,
) -> Callable[..., Auth]:
    """Declare on a page that it needs a freshly verified session (the API's
    `require_fresh_verification`). A stale session is sent to `/verify` before anything is
    shown or done, and comes back to the page (a GET) or to `back` (the page that holds a
    POST-only button; `{name}` is the path's). `purpose` is a key of some page module's
    `PURPOSES`. `first_factor`: a setup-only session may create its first device without
    further verification (policy.step_up_ok)."""

    base = console_auth(api_path)

    # A default, not Annotated: the annotation is a string, and `base` is a closure variable.
    def dependency(request: Request, ctx: Ctx, auth: Auth = Depends(base)) -> Auth:  # noqa: B008
        if primary:
            Users.require_primary(auth)
        if request.method == "GET":
            target = page_of(request)
        else:
            target = (back or request.url.path).format(**request.path_params)
        ensure_fresh(ctx, auth, target, purpose, first_factor=first_factor)
        return auth

    return dependency


def ensure_fresh(
    ctx: Context, auth: Auth, back: str, purpose: str, *, first_factor: bool = False
) -> None:
    """The guard itself, for the one form whose step-up depends on its input (turning a
    switch off weakens, turning it on does not)."""
    if not Sessions(ctx).may_step_up(auth.session, first_factor=first_factor):
        raise VerifyFirst(back, purpose)
