"""The OpenID Connect provider's state: signing keys, authorization codes, access and refresh
tokens, and the claims of a principal. Codes and tokens are stored as SHA-256 digests; a code
is taken, and a refresh token rotated, with one conditional UPDATE, so each is accepted at most
once, also across processes."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from twofold.domain import errors
from twofold.domain.sealing import KeyRing, SealingError
from twofold.domain.tokens import MAX_TOKEN_LENGTH, token_digest
from twofold.services.audit import Audit
from twofold.services.context import Context
from twofold.storage.db import affected
from twofold.storage.models import (
    AccessToken,
    Account,
    Application,
    AuthorizationCode,
    Principal,
    RefreshToken,
    SigningKey,
)

CODE_LIFETIME = timedelta(seconds=60)
ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
REFRESH_TOKEN_LIFETIME = timedelta(days=30)  # from its issue; every rotation starts anew
OFFLINE = "offline_access"  # the scope that asks for a refresh token
SCOPES = ("openid", "profile", "email", OFFLINE)


def signing_context(kid: str) -> str:
    return f"oidc-signing-key:{kid}"


@dataclass(frozen=True)
class EndUser:
    """A principal as the provider speaks of it."""

    principal_id: int
    account_id: int
    sub: str
    login: str
    name: str
    email: str | None
    email_verified: bool = False

    def get_user_id(self) -> str:  # Authlib's user protocol
        return self.sub


@dataclass(frozen=True)
class IssuedCode:
    """An authorization code that was just taken (Authlib's AuthorizationCodeMixin)."""

    id: int
    principal_id: int
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: datetime
    amr: tuple[str, ...]
    session_id: int | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.auth_time.timestamp())

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str]:
        return list(self.amr)


@dataclass(frozen=True)
class IssuedRefresh:
    """A live refresh token that was presented (Authlib's token object for the grant)."""

    id: int
    application_id: int
    principal_id: int
    code_id: int
    session_id: int | None
    scope: str

    def check_client(self, client: Any) -> bool:
        return bool(client.client.id == self.application_id)

    def get_scope(self) -> str:
        return self.scope


def subject_of(ctx: Context, principal_id: int) -> str:
    """A stable, opaque subject: a keyed hash of the principal's id (no login in it)."""
    return ctx.keys.keyed_hash(f"oidc-sub:{principal_id}")[:32]


def end_user(ctx: Context, principal: Principal) -> EndUser:
    return EndUser(
        principal_id=principal.id,
        account_id=principal.account_id,
        sub=subject_of(ctx, principal.id),
        login=principal.login,
        name=principal.name,
        email=principal.email,
        email_verified=bool(principal.email) and principal.email_verified_at is not None,
    )


class SigningKeys:
    """RS256 keys: made on first use, the private half sealed with the key ring."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _live(self) -> list[SigningKey]:
        return list(
            self.ctx.db.scalars(
                select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.id)
            )
        )

    def _make(self, ring: KeyRing | None = None) -> SigningKey:
        from joserfc.jwk import RSAKey  # first use (see `verified_claims`)

        kid = secrets.token_urlsafe(12)
        key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
        row = SigningKey(
            kid=kid,
            sealed_private=(ring or self.ctx.keys).seal(
                json.dumps(key.as_dict(private=True)), signing_context(kid)
            ),
            public_jwk=key.as_dict(private=False),
            created_at=self.ctx.clock.now(),
        )
        self.ctx.db.add(row)
        self.ctx.db.flush()
        Audit(self.ctx).record("oidc.signing_key_created", detail={"kid": kid})
        return row

    def current(self) -> tuple[str, dict[str, Any]]:
        """The kid and private JWK that sign now (the oldest live key, so that processes that
        raced to make the first one agree). Runs in the caller's transaction."""
        for row in self._live():
            try:
                private = json.loads(
                    self.ctx.keys.unseal(row.sealed_private, signing_context(row.kid))
                )
            except SealingError:
                # Sealed under a key the key file no longer has: publish it still, sign
                # with a new one.
                row.retired_at = self.ctx.clock.now()
                continue
            return row.kid, dict(private)
        row = self._make()
        private = json.loads(self.ctx.keys.unseal(row.sealed_private, signing_context(row.kid)))
        return row.kid, dict(private)

    def rotate(self, old: KeyRing, new: KeyRing) -> int:
        """With a sealing-key rotation (`twofold keys rotate`), in its transaction: every
        private half re-sealed from `old` to `new` (one that no longer opens is dropped from
        signing), the live keys retired (their public halves stay published), and a new
        signing key made. Returns how many were re-sealed."""
        now = self.ctx.clock.now()
        count = 0
        for row in self.ctx.db.scalars(select(SigningKey)):
            try:
                private = old.unseal(row.sealed_private, signing_context(row.kid))
            except SealingError:
                row.retired_at = row.retired_at or now
                continue
            row.sealed_private = new.seal(private, signing_context(row.kid))
            row.retired_at = row.retired_at or now
            count += 1
        self._make(new)
        return count

    def ensure(self) -> None:
        """Make the first key if there is none (the first use after start-up). The look
        runs read-only (JWKS is a GET: no write lock); only a missing key takes the write
        transaction, which looks again, since another process may have made it meanwhile."""
        with self.ctx.reading():
            if self._live():
                return
        if not self._live():
            self._make()
        self.ctx.db.commit()

    def verified_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of an ID token signed by one of the provider's keys (expired or not:
        a logout hint may be old), issued here; None for anything else."""
        if not token or len(token) > 8000:
            return None
        # joserfc (with Authlib, which uses it) loads on first use: a worker that never
        # serves OpenID Connect does not hold it (tests/scale/test_first_use_imports.py).
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        with self.ctx.reading() as db:
            rows = db.scalars(select(SigningKey.public_jwk)).all()
        try:
            keys = KeySet.import_key_set({"keys": [dict(k) for k in rows]})
            claims = dict(jwt.decode(token, keys, algorithms=["RS256"]).claims)
        except (JoseError, ValueError, TypeError):
            return None
        return claims if claims.get("iss") == self.ctx.settings.public_url else None

    def jwks(self) -> dict[str, Any]:
        """Every key's public half (retired ones too: their ID tokens may still be held)."""
        self.ensure()
        with self.ctx.reading() as db:
            rows = db.scalars(select(SigningKey.public_jwk).order_by(SigningKey.id))
            return {"keys": [dict(jwk) for jwk in rows]}


class Grants:
    """Authorization codes and access tokens, in the caller's transaction."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def save_code(
        self,
        code: str,
        *,
        application_id: int,
        principal_id: int,
        redirect_uri: str,
        scope: str,
        nonce: str | None,
        code_challenge: str | None,
        code_challenge_method: str | None,
        auth_time: datetime,
        amr: list[str],
        session_id: int | None = None,
    ) -> None:
        now = self.ctx.clock.now()
        self.ctx.db.add(
            AuthorizationCode(
                code_hash=token_digest(code),
                application_id=application_id,
                principal_id=principal_id,
                redirect_uri=redirect_uri,
                scope=scope,
                nonce=nonce,
                code_challenge=code_challenge,
                code_challenge_method=code_challenge_method,
                auth_time=auth_time,
                amr=amr,
                expires_at=now + CODE_LIFETIME,
                session_id=session_id,
            )
        )

    def take_code(self, code: str, application_id: int) -> IssuedCode | None:
        """The code, marked used by this call, or None. A code used before (a replay) also
        revokes every token it issued (RFC 6749 §4.1.2)."""
        if not code or len(code) > MAX_TOKEN_LENGTH:
            return None
        now = self.ctx.clock.now()
        digest = token_digest(code)
        taken = affected(
            self.ctx.db.execute(
                update(AuthorizationCode)
                .where(
                    AuthorizationCode.code_hash == digest,
                    AuthorizationCode.application_id == application_id,
                    AuthorizationCode.used_at.is_(None),
                    AuthorizationCode.expires_at > now,
                )
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
        )
        row = self.ctx.db.scalar(
            select(AuthorizationCode).where(
                AuthorizationCode.code_hash == digest,
                AuthorizationCode.application_id == application_id,
            )
        )
        if row is None:
            return None
        if not taken:
            if row.used_at is not None:
                revoked = self.revoke_from_code(row.id)
                Audit(self.ctx).record(
                    "oidc.code_replayed",
                    result="refused",
                    account_id=None,
                    detail={"application_id": application_id, "tokens_revoked": revoked},
                )
            return None
        return IssuedCode(
            id=row.id,
            principal_id=row.principal_id,
            redirect_uri=row.redirect_uri,
            scope=row.scope,
            nonce=row.nonce,
            code_challenge=row.code_challenge,
            code_challenge_method=row.code_challenge_method,
            auth_time=row.auth_time,
            amr=tuple(row.amr or ()),
            session_id=row.session_id,
        )

    def revoke_from_code(self, code_id: int) -> int:
        """Revoke every token of the family of this code: its access tokens, its refresh
        tokens and all they were rotated into. Returns how many."""
        now = self.ctx.clock.now()
        count = 0
        for model in (AccessToken, RefreshToken):
            count += affected(
                self.ctx.db.execute(
                    update(model)
                    .where(model.code_id == code_id, model.revoked_at.is_(None))
                    .values(revoked_at=now)
                    .execution_options(synchronize_session=False)
                )
            )
        return count

    def find_refresh_token(self, token: str, application_id: int) -> IssuedRefresh | None:
        """The live refresh token of this application, or None. One that was rotated already
        (a second use: a stolen copy, or the client's) revokes its whole family."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        row = self.ctx.db.scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == token_digest(token),
                RefreshToken.application_id == application_id,
            )
        )
        if row is None or row.revoked_at is not None:
            return None
        if row.used_at is not None:
            self.refresh_reused(row.code_id, application_id)
            return None
        if row.expires_at <= self.ctx.clock.now():
            return None
        return IssuedRefresh(
            row.id, row.application_id, row.principal_id, row.code_id, row.session_id, row.scope
        )

    def rotate_refresh_token(self, issued: IssuedRefresh) -> bool:
        """Mark the presented token used (one conditional UPDATE). False when a parallel
        request rotated it first: then it counts as reused and its family is revoked."""
        taken = affected(
            self.ctx.db.execute(
                update(RefreshToken)
                .where(
                    RefreshToken.id == issued.id,
                    RefreshToken.used_at.is_(None),
                    RefreshToken.revoked_at.is_(None),
                )
                .values(used_at=self.ctx.clock.now())
                .execution_options(synchronize_session=False)
            )
        )
        if not taken:
            self.refresh_reused(issued.code_id, issued.application_id)
        return bool(taken)

    def refresh_reused(self, code_id: int, application_id: int) -> None:
        revoked = self.revoke_from_code(code_id)
        Audit(self.ctx).record(
            "oidc.refresh_token_reused",
            result="refused",
            account_id=None,
            detail={"application_id": application_id, "tokens_revoked": revoked},
        )

    def revoke_refresh_token(self, token: str, application_id: int) -> bool:
        """RFC 7009 for a refresh token: it and its family (the access tokens of the same
        grant too) are revoked."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return False
        code_id = self.ctx.db.scalar(
            select(RefreshToken.code_id).where(
                RefreshToken.token_hash == token_digest(token),
                RefreshToken.application_id == application_id,
            )
        )
        return code_id is not None and self.revoke_from_code(code_id) > 0

    def save_tokens(
        self, token: dict[str, Any], *, application_id: int, principal_id: int, code_id: int,
        session_id: int | None,
    ) -> None:
        """The access token of a token response, and its refresh token when it has one."""
        now = self.ctx.clock.now()
        kinds: list[tuple[type[AccessToken] | type[RefreshToken], str, timedelta]] = [
            (AccessToken, token["access_token"], ACCESS_TOKEN_LIFETIME)
        ]
        if token.get("refresh_token"):
            kinds.append((RefreshToken, token["refresh_token"], REFRESH_TOKEN_LIFETIME))
        for model, value, lifetime in kinds:
            row = model(
                token_hash=token_digest(value),
                application_id=application_id,
                principal_id=principal_id,
                code_id=code_id,
                scope=token.get("scope", ""),
                created_at=now,
                expires_at=now + lifetime,
            )
            if isinstance(row, RefreshToken):
                row.session_id = session_id
            self.ctx.db.add(row)

    def revoke_access_token(self, token: str, application_id: int) -> bool:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return False
        return bool(
            affected(
                self.ctx.db.execute(
                    update(AccessToken)
                    .where(
                        AccessToken.token_hash == token_digest(token),
                        AccessToken.application_id == application_id,
                        AccessToken.revoked_at.is_(None),
                    )
                    .values(revoked_at=self.ctx.clock.now())
                    .execution_options(synchronize_session=False)
                )
            )
        )

    def principal(self, principal_id: int) -> Principal | None:
        return self.ctx.db.get(Principal, principal_id)


def userinfo(ctx: Context, access_token: str | None) -> dict[str, Any]:
    """The claims an access token may read, or Unauthenticated (RFC 6750 invalid_token)."""
    if not access_token or len(access_token) > MAX_TOKEN_LENGTH:
        raise errors.Unauthenticated("Invalid access token.")
    with ctx.reading() as db:
        found = db.execute(
            select(AccessToken, Principal)
            .join(Principal, Principal.id == AccessToken.principal_id)
            .join(Account, Account.id == Principal.account_id)
            .join(Application, Application.id == AccessToken.application_id)
            .where(AccessToken.token_hash == token_digest(access_token))
            .add_columns(Application.disabled)
        ).first()
        now = ctx.clock.now()
        if found is None or found[0].revoked_at is not None or found[0].expires_at <= now:
            raise errors.Unauthenticated("Invalid access token.")
        token, principal, app_disabled = found
        if app_disabled:
            raise errors.Unauthenticated("The application is disabled.")
        return claims_for(end_user(ctx, principal), token.scope)


def claims_for(user: EndUser, scope: str) -> dict[str, Any]:
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": user.sub}
    if "profile" in scopes:
        claims["preferred_username"] = user.login
        claims["name"] = user.name
    if "email" in scopes and user.email:
        claims["email"] = user.email
        claims["email_verified"] = user.email_verified
    return claims
