"""Applications (single sign-on clients): `/applications`, managed by the account's primary."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import Field

from twofold.services.applications import Applications
from twofold.services.views import ApplicationSecret
from twofold.web.api import schemas as s
from twofold.web.api.deps import Ctx, CurrentAuth, FreshAuth
from twofold.web.routing import EndingRoute

_ERR = {"model": s.ErrorOut}
router = APIRouter(
    route_class=EndingRoute,
    tags=["applications"],
    responses={code: _ERR for code in (400, 401, 403, 404, 409, 413, 429, 503)},
)
Uri = str


class ApplicationIn(s.Body):
    name: str = Field(max_length=100)
    redirect_uris: list[Uri] = Field(default_factory=list, max_length=20)
    post_logout_redirect_uris: list[Uri] = Field(default_factory=list, max_length=20)
    type: Literal["confidential", "public"] = "confidential"
    require_mfa: bool = False


class ApplicationPatch(s.Body):
    name: str | None = Field(None, max_length=100)
    redirect_uris: list[Uri] | None = Field(None, max_length=20)
    post_logout_redirect_uris: list[Uri] | None = Field(None, max_length=20)
    require_mfa: bool | None = None
    disabled: bool | None = Field(
        None, description="Turn sign-ins, tokens and forward-auth off (true) or on again."
    )


class ApplicationOut(s.Out):
    client_id: str
    name: str
    type: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    require_mfa: bool
    disabled: bool
    created_at: s.IsoTime
    updated_at: s.IsoTime


class ApplicationSecretOut(ApplicationOut):
    client_secret: str | None = Field(
        description="Shown once (confidential applications); null for a public one."
    )


class ApplicationsOut(s.Out):
    applications: list[ApplicationOut]


def _with_secret(made: ApplicationSecret) -> ApplicationSecretOut:
    out = ApplicationOut.model_validate(made.application).model_dump()
    return ApplicationSecretOut(**out, client_secret=made.client_secret)


@router.get("/applications", response_model=ApplicationsOut)
def list_applications(auth: CurrentAuth, ctx: Ctx) -> ApplicationsOut:
    """The account's applications (primary only)."""
    views = Applications(ctx).list(auth.principal)
    return ApplicationsOut(applications=[ApplicationOut.model_validate(v) for v in views])


@router.post("/applications", status_code=201, response_model=ApplicationSecretOut)
def create_application(body: ApplicationIn, auth: FreshAuth, ctx: Ctx) -> ApplicationSecretOut:
    """Register an application. A confidential one's `client_secret` is shown this once."""
    made = Applications(ctx).create(
        auth.principal,
        name=body.name,
        redirect_uris=body.redirect_uris,
        post_logout_redirect_uris=body.post_logout_redirect_uris,
        type=body.type,
        require_mfa=body.require_mfa,
    )
    return _with_secret(made)


@router.get("/applications/{client_id}", response_model=ApplicationOut)
def show_application(client_id: str, auth: CurrentAuth, ctx: Ctx) -> ApplicationOut:
    """One application of the account."""
    return ApplicationOut.model_validate(Applications(ctx).show(auth.principal, client_id))


@router.patch("/applications/{client_id}", response_model=ApplicationOut)
def update_application(
    client_id: str, body: ApplicationPatch, auth: FreshAuth, ctx: Ctx
) -> ApplicationOut:
    """Change the name, redirect URIs, post-logout redirect URIs, `require_mfa`, or
    `disabled` (sign-ins, tokens and forward-auth refused until it is enabled again)."""
    view = Applications(ctx).update(
        auth.principal, client_id, body.model_dump(exclude_unset=True)
    )
    return ApplicationOut.model_validate(view)


@router.delete("/applications/{client_id}", status_code=204)
def delete_application(client_id: str, auth: FreshAuth, ctx: Ctx) -> Response:
    """Delete the application; its codes and tokens stop working at once."""
    Applications(ctx).delete(auth.principal, client_id)
    return Response(status_code=204)


@router.post("/applications/{client_id}/secret", response_model=ApplicationSecretOut)
def rotate_application_secret(
    client_id: str, auth: FreshAuth, ctx: Ctx
) -> ApplicationSecretOut:
    """A new client secret, shown once; the old one stops working at once."""
    return _with_secret(Applications(ctx).rotate_secret(auth.principal, client_id))
