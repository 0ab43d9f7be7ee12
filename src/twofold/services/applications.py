"""Applications: the single sign-on clients of an account, managed by its primary.

Client ids are opaque; client secrets are 256 random bits, stored as their SHA-256 (a secret
of that entropy needs no slow hash) and shown once. Every change is audited."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from twofold.domain import apps, errors
from twofold.domain.tokens import new_token, token_digest
from twofold.services.audit import Audit
from twofold.services.context import Context
from twofold.services.views import ApplicationSecret, ApplicationView
from twofold.storage.db import run
from twofold.storage.models import Account, Application, Principal
from twofold.storage.prebuilt import Reads

MAX_APPS = 200
_BY_CLIENT_ID = select(Application).where(Application.client_id == bindparam("client_id"))
_CLIENT_COLUMNS = select(
    Application.id,
    Application.client_id,
    Application.account_id,
    Application.name,
    Application.type,
    Application.secret_hash,
    Application.redirect_uris,
    Application.post_logout_redirect_uris,
    Application.require_mfa,
    Application.disabled,
).where(Application.client_id == bindparam("client_id"))


def new_client_id() -> str:
    return "app-" + secrets.token_hex(12)


@dataclass(frozen=True)
class Client:
    """What sign-in needs of an application (forward-auth, the OpenID Connect provider)."""

    id: int
    client_id: str
    account_id: int
    name: str
    type: str
    secret_hash: str | None
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    require_mfa: bool
    disabled: bool = False

    def check_secret(self, secret: str | None) -> bool:
        """Constant-time comparison of the secret's digest with the stored one."""
        if self.secret_hash is None or not secret or len(secret) > 200:
            return False
        return hmac.compare_digest(token_digest(secret), self.secret_hash)


def client_of(row: Application) -> Client:
    return Client(
        id=row.id,
        client_id=row.client_id,
        account_id=row.account_id,
        name=row.name,
        type=row.type,
        secret_hash=row.secret_hash,
        redirect_uris=tuple(row.redirect_uris or ()),
        post_logout_redirect_uris=tuple(row.post_logout_redirect_uris or ()),
        require_mfa=row.require_mfa,
        disabled=row.disabled,
    )


def view_of(row: Application) -> ApplicationView:
    return ApplicationView(
        client_id=row.client_id,
        name=row.name,
        type=row.type,
        redirect_uris=list(row.redirect_uris or []),
        post_logout_redirect_uris=list(row.post_logout_redirect_uris or []),
        require_mfa=row.require_mfa,
        has_secret=row.secret_hash is not None,
        disabled=row.disabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def find_client(ctx: Context, client_id: str | None) -> Client | None:
    """The application with this client id, in the caller's transaction; None if unknown.
    On forward-auth's hot path: plain columns, no ORM object."""
    if not client_id or len(client_id) > 48:
        return None
    return client_of_row(run(ctx.db, _CLIENT_COLUMNS, {"client_id": client_id}).first())


def client_reads(client_id: str | None) -> Reads[Client | None]:
    """`find_client` as reads by key, for the hot paths' connections (storage/hot.py)."""
    if not client_id or len(client_id) > 48:
        return None
    return client_of_row((yield _CLIENT_COLUMNS, {"client_id": client_id}))


def client_of_row(row: Any) -> Client | None:
    """The Client of a `_CLIENT_COLUMNS` row (None: no such application)."""
    if row is None:
        return None
    id_, client, account_id, name, type_, secret_hash = row[:6]
    return Client(
        id_,
        client,
        account_id,
        name,
        type_,
        secret_hash,
        tuple(row[6] or ()),
        tuple(row[7] or ()),
        row[8],
        bool(row[9]),
    )


class Applications:
    """Register, change, rotate and delete an account's applications (its primary only)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.audit = Audit(ctx)

    # -- checks --------------------------------------------------------------------------

    def _uris(self, values: Sequence[str], field: str) -> list[str]:
        if len(values) > apps.MAX_URIS:
            raise errors.ValidationFailed(
                fields={field: errors.Problem("at most {count}", count=apps.MAX_URIS)}
            )
        out: list[str] = []
        for uri in values:
            problem = apps.redirect_uri_problem(
                uri, allow_http=self.ctx.settings.allow_http_redirects
            )
            if problem:
                raise errors.ValidationFailed(
                    "{uri!r} {problem}.",
                    params={"uri": uri[:100], "problem": problem},
                    fields={field: problem},
                )
            if uri not in out:
                out.append(uri)
        return out

    @staticmethod
    def _name(name: str) -> str:
        name = name.strip()
        if not 1 <= len(name) <= 100 or any(ord(c) < 32 for c in name):
            raise errors.ValidationFailed(fields={"name": "1 to 100 printable characters"})
        return name

    @staticmethod
    def _require_primary(actor: Principal) -> None:
        if actor.kind != "primary":
            raise errors.Forbidden("Only the primary account manages applications.")

    def _find(self, actor: Principal, client_id: str) -> Application:
        self._require_primary(actor)
        row = self.ctx.db.execute(_BY_CLIENT_ID, {"client_id": client_id}).scalar_one_or_none()
        # Another account's application is answered as an unknown one.
        if row is None or row.account_id != actor.account_id:
            raise errors.NotFound("No such application.")
        return row

    # -- reads ---------------------------------------------------------------------------

    def list(self, actor: Principal) -> list[ApplicationView]:
        self._require_primary(actor)
        with self.ctx.reading() as db:
            rows = db.scalars(
                select(Application)
                .where(Application.account_id == actor.account_id)
                .order_by(Application.id)
            )
            return [view_of(r) for r in rows]

    def show(self, actor: Principal, client_id: str) -> ApplicationView:
        with self.ctx.reading():
            return view_of(self._find(actor, client_id))

    # -- changes -------------------------------------------------------------------------

    def create(
        self,
        actor: Principal,
        *,
        name: str,
        redirect_uris: Sequence[str],
        post_logout_redirect_uris: Sequence[str] = (),
        type: str = "confidential",  # noqa: A002
        require_mfa: bool = False,
        via: str = "api",
    ) -> ApplicationSecret:
        """Register an application; a confidential one gets its secret, shown this once."""
        self._require_primary(actor)
        if type not in apps.APP_TYPES:
            raise errors.ValidationFailed(fields={"type": "confidential or public"})
        fields = {
            "name": self._name(name),
            "redirect_uris": self._uris(redirect_uris, "redirect_uris"),
            "post_logout_redirect_uris": self._uris(
                post_logout_redirect_uris, "post_logout_redirect_uris"
            ),
        }
        secret = new_token() if type == "confidential" else None
        now = self.ctx.clock.now()
        count = len(
            self.ctx.db.scalars(
                select(Application.id).where(Application.account_id == actor.account_id)
            ).all()
        )
        if count >= MAX_APPS:
            raise errors.ValidationFailed(
                "An account has at most {count} applications.", params={"count": MAX_APPS}
            )
        row = Application(
            client_id=new_client_id(),
            account_id=actor.account_id,
            type=type,
            secret_hash=token_digest(secret) if secret else None,
            require_mfa=require_mfa,
            created_at=now,
            updated_at=now,
            **fields,
        )
        self.ctx.db.add(row)
        self.ctx.db.flush()
        self.audit.record(
            "application.created",
            actor=actor,
            account_id=actor.account_id,
            target_name=row.client_id,
            detail={"via": via, "name": row.name, "type": type, "require_mfa": require_mfa},
        )
        view = view_of(row)
        self.ctx.db.commit()
        return ApplicationSecret(view, secret)

    def update(
        self, actor: Principal, client_id: str, changes: dict[str, Any], *, via: str = "api"
    ) -> ApplicationView:
        """Change name, redirect URIs, post-logout URIs, require_mfa or disabled (not the
        type). A disabled application refuses sign-ins, tokens and forward-auth until it is
        enabled again; its registration, secret and grants are kept."""
        row = self._find(actor, client_id)
        done: dict[str, Any] = {}
        if changes.get("name") is not None:
            row.name = done["name"] = self._name(changes["name"])
        for field in ("redirect_uris", "post_logout_redirect_uris"):
            if changes.get(field) is not None:
                uris = self._uris(changes[field], field)
                setattr(row, field, uris)
                done[field] = uris
        if changes.get("require_mfa") is not None:
            row.require_mfa = done["require_mfa"] = bool(changes["require_mfa"])
        if changes.get("disabled") is not None:
            row.disabled = done["disabled"] = bool(changes["disabled"])
        row.updated_at = self.ctx.clock.now()
        self.audit.record(
            "application.updated",
            actor=actor,
            account_id=row.account_id,
            target_name=row.client_id,
            detail={"via": via, **done},
        )
        view = view_of(row)
        self.ctx.db.commit()
        return view

    def rotate_secret(
        self, actor: Principal, client_id: str, *, via: str = "api"
    ) -> ApplicationSecret:
        """A new client secret, shown once; the old one stops working at once."""
        row = self._find(actor, client_id)
        if row.type != "confidential":
            raise errors.ValidationFailed("A public application has no secret.")
        secret = new_token()
        row.secret_hash = token_digest(secret)
        row.updated_at = self.ctx.clock.now()
        self.audit.record(
            "application.secret_rotated",
            actor=actor,
            account_id=row.account_id,
            target_name=row.client_id,
            detail={"via": via},
        )
        view = view_of(row)
        self.ctx.db.commit()
        return ApplicationSecret(view, secret)

    def delete(self, actor: Principal, client_id: str, *, via: str = "api") -> None:
        row = self._find(actor, client_id)
        self.audit.record(
            "application.deleted",
            actor=actor,
            account_id=row.account_id,
            target_name=row.client_id,
            detail={"via": via, "name": row.name},
        )
        self.ctx.db.delete(row)
        self.ctx.db.commit()


def primary_of(ctx: Context, account_name: str) -> Principal:
    """The account's primary, for an operator acting in its name (CLI): the same service
    methods and the same audit apply."""
    with ctx.reading() as db:
        primary = db.scalar(
            select(Principal)
            .join(Account, Account.id == Principal.account_id)
            .where(Account.name == account_name, Principal.kind == "primary")
        )
        if primary is None:
            raise errors.NotFound("No account named {name!r}.", params={"name": account_name})
        return primary
