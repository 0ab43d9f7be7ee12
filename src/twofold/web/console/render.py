"""Rendering for every console page: the templates and their filters, redirects, a safe `next`,
and the fixed notices a page shows after a redirect (`?done=...`).

The notices are declared by each page module (its `NOTICES`) and gathered once by `install()`
into `app.state`; nothing here is changed at import time by another module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from twofold.domain import policy
from twofold.services.sessions import Auth
from twofold.web.console import security as sec

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


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


def notice_for(request: Request) -> str | None:
    notices: Mapping[str, str] = getattr(request.app.state, "console_notices", {})
    return notices.get(request.query_params.get("done", ""))


def signed_in_as(request: Request, auth: Auth) -> None:
    """Note who is signed in, for the page header, while the session row is at hand: an error
    page may be rendered after its transaction ended."""
    if auth.session.restricted or auth.must_change_password:
        me: dict[str, Any] = {"login": auth.principal.login, "restricted": True}
    else:
        me = {
            "login": auth.principal.login,
            "account": auth.principal.login.rpartition("@")[2],
            "is_primary": auth.is_primary,
        }
    request.state.me = me


def render(
    request: Request,
    template: str,
    status: int = 200,
    *,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    context.setdefault("csrf", sec.csrf_token(request))
    context.setdefault("notice", notice_for(request))
    me = getattr(request.state, "me", None)
    return templates.TemplateResponse(
        request, template, {"me": me, **context}, status_code=status, headers=headers
    )


def anonymous_page(
    request: Request, template: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """A page with a form that needs no sign-in: its CSRF token is bound to the pre-session,
    or to the session cookie when the browser has one (the check reads that first: a signed-in
    person may open a mailed link too)."""
    pre = sec.read_cookie(request, sec.PRE_SESSION) or sec.new_pre_session()
    basis = sec.read_cookie(request, sec.SESSION) or pre
    response = render(request, template, status, csrf=sec.csrf_token(request, basis), **context)
    sec.set_cookie(request, response, sec.PRE_SESSION, pre)
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


def page_of(request: Request) -> str:
    """This request's path and query: where to come back to."""
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return target


def _home_of(home: str) -> Callable[[Request], Response]:
    def go(request: Request) -> Response:
        if "{name}" not in home:
            return redirect(home)
        name = request.path_params.get("name", "")
        return redirect(home.replace("{name}", name) if policy.valid_name(name) else "/users")

    return go


def form_homes(router: APIRouter, homes: Mapping[str, str]) -> None:
    """These paths only take a POST; a GET (a bookmark, a reload) is sent to the page they
    belong to instead of a bare 405."""
    for path, home in homes.items():
        router.add_api_route(path, _home_of(home), methods=["GET"], include_in_schema=False)
