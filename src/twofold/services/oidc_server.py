"""The OpenID Connect provider's protocol engine: Authlib's framework-agnostic
AuthorizationServer with the authorization code grant, the OpenID Connect code flow and PKCE
(S256; required of public clients), and the refresh token grant (with rotation, for
`offline_access`), over the state in services/oidc.py.

A request arrives as `OAuthRequest` (method, URL, query and form fields, headers): no web
framework here. Each use case is one transaction, ended here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import (
    InsecureTransportError,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Error,
)
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants

from twofold.domain import errors
from twofold.domain.amr import amr_claim
from twofold.domain.tokens import new_token
from twofold.services.applications import Client, find_client
from twofold.services.audit import Audit
from twofold.services.context import Context
from twofold.services.forward_auth import allowed_into
from twofold.services.oidc import (
    ACCESS_TOKEN_LIFETIME,
    OFFLINE,
    SCOPES,
    EndUser,
    Grants,
    IssuedCode,
    IssuedRefresh,
    SigningKeys,
    claims_for,
    end_user,
)
from twofold.services.sessions import Auth, Sessions

ID_TOKEN_LIFETIME = 3600


@dataclass
class OAuthRequest:
    """An HTTP request as the provider needs it."""

    method: str
    url: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OAuthResponse:
    status: int
    body: Any
    headers: list[tuple[str, str]]


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    @property
    def data(self) -> dict[str, str]:
        return dict(self._pairs)

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        values: defaultdict[str, list[str]] = defaultdict(list)
        for k, v in self._pairs:
            values[k].append(v)
        return values


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, req: OAuthRequest) -> None:
        super().__init__(method=req.method, uri=req.url, headers=req.headers)
        self._query = dict(req.query)
        self._form = dict(req.form)
        self.payload = _Payload(req.query + req.form)

    @property
    def args(self) -> dict[str, str]:
        return self._query

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _ClientModel:
    """An application as Authlib's ClientMixin."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.client.redirect_uris[0] if self.client.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        return " ".join(s for s in scope.split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.client.redirect_uris  # exact strings

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client.check_secret(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.client.type == "public":
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


class _OfflineOnly:
    """A refresh token only for a grant whose scope holds `offline_access`."""

    def generate_token(
        self, user: Any = None, scope: str | None = None, grant_type: str | None = None,
        expires_in: int | None = None, include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        include = include_refresh_token and OFFLINE in (scope or "").split()
        token: dict[str, Any] = super().generate_token(  # type: ignore[misc]
            user=user, scope=scope, grant_type=grant_type, expires_in=expires_in,
            include_refresh_token=include,
        )
        return token


class _CodeGrant(_OfflineOnly, grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    ctx: Context

    def save_authorization_code(self, code: str, request: Any) -> None:
        user: _SignedIn = request.user
        data = request.payload.data
        Grants(self.ctx).save_code(
            code,
            application_id=request.client.client.id,
            principal_id=user.end_user.principal_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            auth_time=user.auth.session.created_at,
            amr=user.amr,
            session_id=user.auth.session.id,
        )

    def query_authorization_code(self, code: str, client: _ClientModel) -> IssuedCode | None:
        return Grants(self.ctx).take_code(code, client.client.id)

    def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
        pass  # taken (marked used) when it was queried: single use

    def authenticate_user(self, authorization_code: IssuedCode) -> EndUser | None:
        principal = Grants(self.ctx).principal(authorization_code.principal_id)
        return end_user(self.ctx, principal) if principal is not None else None


class _RefreshGrant(_OfflineOnly, grants.RefreshTokenGrant):  # type: ignore[misc]
    """Rotation: every use answers a new refresh token and retires the one presented; a
    retired one presented again revokes the family (services/oidc.py)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True
    ctx: Context

    def authenticate_refresh_token(self, refresh_token: str) -> IssuedRefresh | None:
        return Grants(self.ctx).find_refresh_token(refresh_token, self.request.client.client.id)

    def authenticate_user(self, refresh_token: IssuedRefresh) -> EndUser | None:
        principal = Grants(self.ctx).principal(refresh_token.principal_id)
        if principal is None or principal.disabled:
            return None
        return end_user(self.ctx, principal)

    def revoke_old_credential(self, refresh_token: IssuedRefresh) -> None:
        if not Grants(self.ctx).rotate_refresh_token(refresh_token):
            raise InvalidGrantError("The refresh token was used already.")


class _S256Only(CodeChallenge):  # type: ignore[misc]
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        # A public client proves itself with PKCE alone: its request must carry a challenge.
        data = grant.request.payload.data
        if grant.request.client.client.type == "public" and not data.get("code_challenge"):
            raise InvalidRequestError("PKCE (code_challenge, S256) is required.")
        super().validate_code_challenge(grant, redirect_uri)


class _OpenIDCode(oidc_grants.OpenIDCode):  # type: ignore[misc]
    def __init__(self, server: _Server) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False  # a nonce is the relying party's to check in the ID token

    def resolve_client_private_key(self, client: _ClientModel) -> dict[str, Any]:
        return self.server.signing_key()[1]

    def get_client_algorithm(self, client: _ClientModel) -> str:
        return "RS256"

    def get_encode_header(self, client: _ClientModel) -> dict[str, str]:
        return {"alg": "RS256", "kid": self.server.signing_key()[0], "typ": "JWT"}

    def get_client_claims(self, client: _ClientModel) -> dict[str, Any]:
        return {"iss": self.server.ctx.settings.public_url, "aud": [client.get_client_id()]}

    def generate_user_info(self, user: EndUser, scope: str) -> dict[str, Any]:
        return claims_for(user, scope)


@dataclass
class _SignedIn:
    auth: Auth
    end_user: EndUser
    amr: list[str]

    def get_user_id(self) -> str:
        return self.end_user.sub


class _Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, ctx: Context) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.ctx = ctx
        self._key: tuple[str, dict[str, Any]] | None = None
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: new_token(),
                refresh_token_generator=lambda **_: new_token(),
                expires_generator=lambda *_: int(ACCESS_TOKEN_LIFETIME.total_seconds()),
            ),
        )
        grant = type("CodeGrant", (_CodeGrant,), {"ctx": ctx})
        self.register_grant(grant, [_S256Only(required=True), _OpenIDCode(self)])
        self.register_grant(type("RefreshGrant", (_RefreshGrant,), {"ctx": ctx}))

    def signing_key(self) -> tuple[str, dict[str, Any]]:
        if self._key is None:
            self._key = SigningKeys(self.ctx).current()
        return self._key

    def query_client(self, client_id: str) -> _ClientModel | None:
        client = find_client(self.ctx, client_id)
        if client is not None and client.disabled:
            raise InvalidClientError(description="The application is disabled.")
        return _ClientModel(client) if client is not None else None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        # The grant's family: the code it came from, directly or through refresh tokens.
        source: IssuedCode | IssuedRefresh | None = getattr(
            request, "authorization_code", None
        ) or getattr(request, "refresh_token", None)
        if source is None:
            raise InvalidGrantError()
        code_id = source.id if isinstance(source, IssuedCode) else source.code_id
        Grants(self.ctx).save_tokens(
            token,
            application_id=request.client.client.id,
            principal_id=request.user.principal_id,
            code_id=code_id,
            session_id=source.session_id,
        )

    def create_oauth2_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> OAuthResponse:
        return OAuthResponse(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass(frozen=True)
class AuthorizeOutcome:
    """What the authorization endpoint answers: a redirect to the application (with a code
    or an OAuth error), or the sign-in first."""

    redirect: str | None = None
    sign_in: bool = False
    session_ended: bool = False


class Provider:
    """The provider's use cases: authorize, token, revoke, end session."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _request(self, req: OAuthRequest) -> _Request:
        """Authlib's request; it refuses plain http off loopback (RFC 6749 §3.1)."""
        try:
            return _Request(req)
        except InsecureTransportError as exc:
            if self.ctx.settings.allow_http_redirects:  # development only
                return _Request(replace(req, url="https://" + req.url.partition("://")[2]))
            raise errors.ValidationFailed(
                "The OpenID Connect provider needs https: set TWOFOLD_PUBLIC_URL to an https "
                "URL (TWOFOLD_ALLOW_HTTP_REDIRECTS=true allows http, for development)."
            ) from exc

    def _client_and_redirect(self, req: OAuthRequest) -> Client:
        """The application and a registered redirect URI, or an error page (never a
        redirect to an address that is not registered)."""
        params = dict(req.query)
        client = find_client(self.ctx, params.get("client_id"))
        if client is None:
            raise errors.NotFound("Unknown application (client_id).")
        if client.disabled:  # a page, not the redirect: the person must learn why
            raise errors.ApplicationDisabled()
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None and len(client.redirect_uris) == 1:
            return client
        if redirect_uri not in client.redirect_uris:
            raise errors.ValidationFailed(
                "This redirect_uri is not registered for the application.",
                fields={"redirect_uri": "not registered"},
            )
        return client

    def _sign_in_again(self, params: dict[str, str], auth: Auth) -> bool:
        """`prompt=login`, or a sign-in older than `max_age` seconds: sign in again."""
        if "login" in params.get("prompt", "").split():
            return True
        max_age = params.get("max_age", "")
        if max_age.isdigit() and len(max_age) <= 9:
            age = self.ctx.clock.now() - auth.session.created_at
            return int(age.total_seconds()) > int(max_age)  # whole seconds, as auth_time
        return False

    def authorize(self, req: OAuthRequest, auth: Auth | None) -> AuthorizeOutcome:
        """Validate the request; with a signed-in principal of the application's account,
        issue a code. Unknown client or redirect URI: an error (a page, not a redirect).
        `prompt=login` and `max_age` end the session and ask for a new sign-in (password and
        second factor); `prompt=none` without a usable session answers `login_required`."""
        db = self.ctx.db
        try:
            client = self._client_and_redirect(req)
            again = auth is not None and self._sign_in_again(dict(req.query), auth)
            user = None
            if auth is not None and not again:
                try:
                    allowed_into(self.ctx, auth.signed_in(), client)
                except (errors.MFASetupRequired, errors.PasswordChangeRequired):
                    if "none" in dict(req.query).get("prompt", "").split():
                        # Pages are due first, and prompt=none forbids showing any.
                        due = _error_to(client, req, "interaction_required")
                        return AuthorizeOutcome(redirect=due)
                    raise
                principal = auth.principal
                # `amr`: what this session's sign-in (and its step-ups) actually used.
                user = _SignedIn(auth, end_user(self.ctx, principal), amr_claim(auth.session.amr))
            server = _Server(self.ctx)
            request = self._request(req)
            try:
                grant = server.get_consent_grant(request, end_user=user)
            except OAuth2Error as exc:
                if not exc.redirect_uri:
                    raise errors.ValidationFailed(f"{exc.error}: {exc.description}") from exc
                answer = server.handle_error_response(request, exc)
                return AuthorizeOutcome(redirect=_location(answer))
            if user is None:
                if auth is not None:  # a fresh sign-in is asked for: this session ends
                    # A re-authentication, not a sign-out: the grants it made stay.
                    Sessions(self.ctx).revoke(auth.session.id, end_grants=False)
                    db.commit()
                return AuthorizeOutcome(sign_in=True, session_ended=auth is not None)
            response = server.create_authorization_response(
                request, grant_user=user, grant=grant
            )
            db.commit()
            return AuthorizeOutcome(redirect=_location(response))
        finally:
            if db.in_transaction():
                db.rollback()

    def end_session(
        self, id_token_hint: str | None, post_logout_redirect_uri: str | None,
        auth: Auth | None,
    ) -> str | None:
        """RP-initiated logout: the ID token the provider issued names the application and
        the person; that person's session here ends. Returns the registered post-logout
        redirect URI to go to (None: the console's signed-out page). An unknown or forged
        hint, or an unregistered URI, is an error (a page, never a redirect)."""
        db = self.ctx.db
        try:
            claims = SigningKeys(self.ctx).verified_claims(id_token_hint or "")
            if claims is None:
                raise errors.ValidationFailed("The id_token_hint is not an ID token of ours.")
            audience = claims.get("aud")
            client_id = audience[0] if isinstance(audience, list) and audience else audience
            client = find_client(self.ctx, client_id if isinstance(client_id, str) else None)
            if client is None:
                raise errors.NotFound("Unknown application.")
            if post_logout_redirect_uri and (
                post_logout_redirect_uri not in client.post_logout_redirect_uris
            ):
                raise errors.ValidationFailed(
                    "This post_logout_redirect_uri is not registered for the application.",
                    fields={"post_logout_redirect_uri": "not registered"},
                )
            if auth is not None and end_user(self.ctx, auth.principal).sub == claims.get("sub"):
                Sessions(self.ctx).revoke(auth.session.id)
                Audit(self.ctx).record(
                    "oidc.logout", actor=auth.principal, detail={"client_id": client.client_id}
                )
            db.commit()
            return post_logout_redirect_uri or None
        finally:
            if db.in_transaction():
                db.rollback()

    def revoke(self, req: OAuthRequest) -> None:
        """RFC 7009: revoke an access token of the authenticated client, or a refresh token
        with its whole grant. Answers the same whether or not the token existed; a bad client
        is InvalidClient."""
        db = self.ctx.db
        try:
            request = self._request(req)
            server = _Server(self.ctx)
            try:
                model = server.authenticate_client(
                    request, ["client_secret_basic", "client_secret_post", "none"], "revoke"
                )
            except OAuth2Error as exc:
                raise errors.Unauthenticated("invalid_client") from exc
            token = request.form.get("token", "")
            grants_ = Grants(self.ctx)
            if not grants_.revoke_access_token(token, model.client.id):
                grants_.revoke_refresh_token(token, model.client.id)
            db.commit()
        finally:
            if db.in_transaction():
                db.rollback()

    def token(self, req: OAuthRequest) -> OAuthResponse:
        """The token endpoint. What it wrote stays written even when it answers an error:
        a code it took is used up, and the tokens of a replayed code are revoked."""
        db = self.ctx.db
        try:
            response: OAuthResponse = _Server(self.ctx).create_token_response(
                self._request(req)
            )
            db.commit()
            return response
        finally:
            if db.in_transaction():
                db.rollback()


def _error_to(client: Client, req: OAuthRequest, error: str) -> str:
    """An OAuth error at the request's (registered, already checked) redirect URI."""
    params = dict(req.query)
    uri = params.get("redirect_uri") or client.redirect_uris[0]
    answer = {"error": error, **({"state": params["state"]} if "state" in params else {})}
    return uri + ("&" if "?" in uri else "?") + urlencode(answer)


def _location(response: OAuthResponse) -> str:
    for name, value in response.headers:
        if name.lower() == "location":
            return value
    raise errors.ValidationFailed("The authorization request could not be answered.")


__all__ = ["AuthorizeOutcome", "InvalidGrantError", "OAuthRequest", "OAuthResponse", "Provider"]
