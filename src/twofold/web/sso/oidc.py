"""The OpenID Connect provider's HTTP face: discovery, JWKS, authorize, token, userinfo.

A thin adapter: a Starlette request becomes an `OAuthRequest`, the provider's answer becomes
a response. The authorization endpoint signs people in with the console's own pages."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from twofold.domain import errors
from twofold.services.context import Context
from twofold.services.oidc import SCOPES, SigningKeys, userinfo
from twofold.services.sessions import Auth, Sessions
from twofold.web.api.deps import Ctx
from twofold.web.console import security as sec
from twofold.web.routing import EndingRoute
from twofold.web.runtime import runtime_of
from twofold.web.sso.bridge import bind_first, continue_page

if TYPE_CHECKING:
    from twofold.services.oidc_server import OAuthRequest, Provider

router = APIRouter(route_class=EndingRoute, include_in_schema=False)
PENDING = sec.AUTHORIZE  # the authorization request waiting for the sign-in
RESUME = sec.AUTHORIZE_RESUME
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _base(request: Request) -> str:
    return runtime_of(request).settings.public_url


@router.get("/.well-known/openid-configuration")
def discovery(request: Request) -> JSONResponse:
    base = _base(request)
    return JSONResponse(
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "userinfo_endpoint": f"{base}/oauth/userinfo",
            "jwks_uri": f"{base}/oauth/jwks",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "end_session_endpoint": f"{base}/oauth/logout",
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post", "none",
            ],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": list(SCOPES),
            "claims_supported": [
                "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr",
                "preferred_username", "name", "email", "email_verified",
            ],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post", "none",
            ],
        }
    )


@router.get("/oauth/jwks")
def jwks(ctx: Ctx) -> JSONResponse:
    return JSONResponse(SigningKeys(ctx).jwks())


def _provider(ctx: Context) -> Provider:
    """The OAuth 2 machinery (Authlib, and joserfc with it), loaded on the first OpenID
    Connect request: about 3.5 MiB that a worker serving only the API and the console does
    not hold (tests/scale/test_first_use_imports.py)."""
    from twofold.services.oidc_server import Provider

    return Provider(ctx)


def _oauth_request(request: Request, form: list[tuple[str, str]] | None = None) -> OAuthRequest:
    from twofold.services.oidc_server import OAuthRequest

    url = _base(request) + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return OAuthRequest(
        method=request.method,
        url=url,
        query=list(request.query_params.multi_items()),
        form=form or [],
        headers=request.headers,  # case-insensitive, as Authlib reads "Authorization"
    )


def _signed_in(ctx: Context, request: Request) -> Auth | None:
    try:
        return Sessions(ctx).authenticate(sec.read_cookie(request, sec.SESSION))
    except errors.Unauthenticated:
        return None


@router.get("/oauth/authorize")
def authorize(request: Request, ctx: Ctx) -> Response:
    """Sign the person in (the console's pages), then back to the application with a code.
    An unknown client or redirect URI gets an error page, never a redirect. A principal
    that must bind a device first (the application's `require_mfa`, or its own) goes to the
    MFA setup, whose last page leads back here."""
    try:
        outcome = _provider(ctx).authorize(_oauth_request(request), _signed_in(ctx, request))
    except (errors.MFASetupRequired, errors.PasswordChangeRequired) as exc:
        # What is due first (a new password, a device), then back here.
        if isinstance(exc, errors.PasswordChangeRequired):
            response = bind_first(request, RESUME, "/password/change")
        else:
            response = bind_first(request, RESUME)
        sec.set_cookie(request, response, PENDING, _after_sign_in(request)[:3000], 15 * 60)
        return response
    if outcome.sign_in:
        # The request waits in a short-lived cookie: the sign-in's `next` holds paths only.
        # Without `prompt=login` and `max_age`, or it would ask again after the sign-in it
        # asked for (a slow sign-in may take longer than `max_age` itself).
        response = RedirectResponse(f"/login?next={quote(RESUME, safe='/')}", status_code=303)
        sec.set_cookie(request, response, PENDING, _after_sign_in(request)[:3000], 15 * 60)
        # Should the sign-in lead to an MFA setup, its binding comes back here too.
        sec.set_cookie(request, response, sec.AFTER_MFA, RESUME, sec.AFTER_MFA_SECONDS)
        if outcome.session_ended:
            sec.clear_cookie(request, response, sec.SESSION)
        return response
    response = RedirectResponse(outcome.redirect or "/", status_code=302)
    sec.clear_cookie(request, response, PENDING)
    sec.clear_cookie(request, response, sec.AFTER_MFA)
    return response


def _after_sign_in(request: Request) -> str:
    pairs = []
    for key, value in request.query_params.multi_items():
        if key == "max_age":
            continue
        if key == "prompt":
            value = " ".join(p for p in value.split() if p != "login")
            if not value:
                continue
        pairs.append((key, value))
    return urlencode(pairs)


@router.get(RESUME)
def authorize_resume(request: Request) -> Response:
    """After the sign-in: the waiting authorization request, once more, through a page of
    its own (the sign-in form's redirects may not end at the application: bridge.py)."""
    pending = request.cookies.get(sec.cookie_name(request, PENDING))
    if not pending or any(ord(c) < 33 for c in pending):
        return RedirectResponse("/", status_code=303)
    response = continue_page(f"/oauth/authorize?{pending}")
    sec.clear_cookie(request, response, PENDING)
    return response


@router.post("/oauth/token")
async def token(request: Request, ctx: Ctx) -> Response:
    """The token endpoint (client_secret_basic, client_secret_post; PKCE for public)."""
    form = await request.form()
    pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    # On a pool thread, with the first use's imports: the event loop never waits for them.
    answer = await run_in_threadpool(lambda: _provider(ctx).token(_oauth_request(request, pairs)))
    body: Any = answer.body
    headers = {k: v for k, v in answer.headers}
    headers.update(NO_STORE)
    return Response(
        json.dumps(body) if not isinstance(body, str) else body,
        status_code=answer.status,
        headers=headers,
        media_type="application/json",
    )


@router.get("/oauth/logout")
def end_session(
    request: Request,
    ctx: Ctx,
    id_token_hint: str = Query("", max_length=8000),
    post_logout_redirect_uri: str = Query("", max_length=400),
    state: str = Query("", max_length=400),
) -> Response:
    """RP-initiated logout (`end_session_endpoint`): ends this browser's session here, then
    back to a registered post-logout redirect URI (with `state`), or the signed-out page."""
    target = _provider(ctx).end_session(
        id_token_hint, post_logout_redirect_uri or None, _signed_in(ctx, request)
    )
    if target is None:
        response = RedirectResponse("/login?done=signed-out", status_code=303)
    else:
        if state:
            target += ("&" if "?" in target else "?") + urlencode({"state": state})
        response = RedirectResponse(target, status_code=303)
    sec.clear_cookie(request, response, sec.SESSION)
    return response


@router.post("/oauth/revoke")
async def revoke(request: Request, ctx: Ctx) -> Response:
    """RFC 7009 token revocation (access and refresh tokens), with the client's
    authentication."""
    form = await request.form()
    pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    try:
        await run_in_threadpool(lambda: _provider(ctx).revoke(_oauth_request(request, pairs)))
    except errors.Unauthenticated:
        return JSONResponse({"error": "invalid_client"}, status_code=401, headers=NO_STORE)
    return Response(status_code=200, headers=NO_STORE)


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


@router.api_route("/oauth/userinfo", methods=["GET", "POST"])
def userinfo_endpoint(request: Request, ctx: Ctx) -> Response:
    try:
        claims = userinfo(ctx, _bearer(request))
    except errors.Unauthenticated:
        return JSONResponse(
            {"error": "invalid_token"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"', **NO_STORE},
        )
    return JSONResponse(claims, headers=NO_STORE)

