"""The account's applications (single sign-on clients; primary only): list, register, edit
redirect URIs, rotate the secret, delete. Every page that changes something is guarded: a
stale session verifies first and comes back; a new secret is shown once, on the answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from twofold import i18n
from twofold.domain import errors
from twofold.domain.errors import field_problem
from twofold.i18n import N_
from twofold.services.applications import Applications
from twofold.services.sessions import Auth
from twofold.services.views import ApplicationSecret, ApplicationView
from twofold.web.console.auth import Csrf, Ctx, PrimaryPage, fresh_page
from twofold.web.console.render import localized, redirect, render
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

NOTICES = {
    "app-saved": "The application was saved.",
    "app-deleted": "The application was deleted. Its sign-ins stop at once.",
    "app-disabled": "The application is disabled: its sign-ins, tokens and forward-auth are "
    "refused until you enable it again.",
    "app-enabled": "The application is enabled again.",
}
PURPOSES = {"app.manage": "manage the account's applications"}
# The two kinds, as the console names them (`{{ _(app.type) }}`): marked for the catalogue.
KINDS = (N_("confidential"), N_("public"))

NewPage = Annotated[
    Auth, Depends(fresh_page("app.manage", primary=True, back="/applications/new"))
]
AppPage = Annotated[
    Auth, Depends(fresh_page("app.manage", primary=True, back="/applications/{client_id}"))
]
MAX_URIS_TEXT = 20 * 410


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@router.get("/applications")
def applications_page(request: Request, auth: PrimaryPage, ctx: Ctx) -> Response:
    """The account's applications."""
    apps = Applications(ctx).list(auth.principal)
    return render(request, "applications/list.html", apps=apps)


def _new_page(
    request: Request, status: int = 200, *, error: str | None = None, form: dict[str, str]
) -> HTMLResponse:
    return render(request, "applications/new.html", status, error=error, form=form)


@router.get("/applications/new")
def new_application_page(request: Request, auth: NewPage) -> Response:
    """The form to register an application."""
    return _new_page(request, form={})


@router.post("/applications", dependencies=[Csrf])
def register_application(
    request: Request,
    auth: NewPage,
    ctx: Ctx,
    name: Annotated[str, Form(max_length=100)] = "",
    redirect_uris: Annotated[str, Form(max_length=MAX_URIS_TEXT)] = "",
    post_logout_redirect_uris: Annotated[str, Form(max_length=MAX_URIS_TEXT)] = "",
    type: Annotated[str, Form(max_length=16)] = "confidential",  # noqa: A002
    require_mfa: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    """Register; a confidential application's secret is shown on this answer, once."""
    try:
        made = Applications(ctx).create(
            auth.principal,
            name=name,
            redirect_uris=_lines(redirect_uris),
            post_logout_redirect_uris=_lines(post_logout_redirect_uris),
            type=type,
            require_mfa=require_mfa is not None,
            via="console",
        )
    except errors.ValidationFailed as exc:
        form = {"name": name, "redirect_uris": redirect_uris, "type": type,
                "post_logout_redirect_uris": post_logout_redirect_uris,
                "require_mfa": "on" if require_mfa else ""}
        return _new_page(request, exc.status, error=_problem(exc), form=form)
    return _secret_page(request, made, created=True)


def _problem(exc: errors.TwofoldError) -> str:
    if exc.fields:
        return (
            localized(exc)
            + " "
            + "; ".join(
                f"{k}: {field_problem(v, i18n.translator())}" for k, v in exc.fields.items()
            )
        )
    return localized(exc)


def _secret_page(request: Request, made: ApplicationSecret, *, created: bool) -> HTMLResponse:
    return render(
        request,
        "applications/secret.html",
        app=made.application,
        client_secret=made.client_secret,
        created=created,
        headers={"Cache-Control": "no-store"},
    )


def _detail_page(
    request: Request,
    app: ApplicationView,
    status: int = 200,
    *,
    error: str | None = None,
) -> HTMLResponse:
    return render(request, "applications/detail.html", status, app=app, error=error)


@router.get("/applications/{client_id}")
def application_page(request: Request, client_id: str, auth: AppPage, ctx: Ctx) -> Response:
    """One application: edit its redirect URIs, rotate its secret, delete it."""
    return _detail_page(request, Applications(ctx).show(auth.principal, client_id))


@router.post("/applications/{client_id}", dependencies=[Csrf])
def update_application(
    request: Request,
    client_id: str,
    auth: AppPage,
    ctx: Ctx,
    name: Annotated[str, Form(max_length=100)] = "",
    redirect_uris: Annotated[str, Form(max_length=MAX_URIS_TEXT)] = "",
    post_logout_redirect_uris: Annotated[str, Form(max_length=MAX_URIS_TEXT)] = "",
    require_mfa: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    """Save the name, redirect URIs and require_mfa."""
    service = Applications(ctx)
    try:
        service.update(
            auth.principal,
            client_id,
            {
                "name": name,
                "redirect_uris": _lines(redirect_uris),
                "post_logout_redirect_uris": _lines(post_logout_redirect_uris),
                "require_mfa": require_mfa is not None,
            },
            via="console",
        )
    except errors.ValidationFailed as exc:
        ctx.db.rollback()
        current = service.show(auth.principal, client_id)
        return _detail_page(request, current, exc.status, error=_problem(exc))
    return redirect(f"/applications/{client_id}?done=app-saved")


@router.post("/applications/{client_id}/secret", dependencies=[Csrf])
def rotate_secret(request: Request, client_id: str, auth: AppPage, ctx: Ctx) -> Response:
    """A new client secret, shown once; the old one stops working at once."""
    made = Applications(ctx).rotate_secret(auth.principal, client_id, via="console")
    return _secret_page(request, made, created=False)


@router.post("/applications/{client_id}/disabled", dependencies=[Csrf])
def set_application_disabled(
    request: Request,
    client_id: str,
    auth: AppPage,
    ctx: Ctx,
    disabled: Annotated[str, Form(max_length=8)] = "true",
) -> Response:
    """Disable the application (kept, refused everywhere), or enable it again."""
    off = disabled != "false"
    Applications(ctx).update(auth.principal, client_id, {"disabled": off}, via="console")
    done = "app-disabled" if off else "app-enabled"
    return redirect(f"/applications/{client_id}?done={done}")


@router.post("/applications/{client_id}/delete", dependencies=[Csrf])
def delete_application(request: Request, client_id: str, auth: AppPage, ctx: Ctx) -> Response:
    """Delete the application."""
    Applications(ctx).delete(auth.principal, client_id, via="console")
    return redirect("/applications?done=app-deleted")
