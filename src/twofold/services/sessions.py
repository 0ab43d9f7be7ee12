"""Server-side sessions: the bearer token and the console cookie are both one of these."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, delete, select, update
from sqlalchemy.orm.attributes import set_committed_value

from twofold.domain import amr, errors, policy
from twofold.domain.tokens import MAX_TOKEN_LENGTH, new_token, token_digest
from twofold.services.context import Context
from twofold.storage.db import affected, begin_read_only, run, table_of
from twofold.storage.models import (
    AccessToken,
    Account,
    AuthorizationCode,
    AuthSession,
    Principal,
    RefreshToken,
)
from twofold.storage.prebuilt import Reads

# The hot path's statements, built once (building them per request costs more than running
# them on SQLite).
_BY_TOKEN = (
    select(AuthSession, Principal, Account.login_networks, Account.password_max_age_days)
    .join(Principal, Principal.id == AuthSession.principal_id)
    .join(Account, Account.id == Principal.account_id)
    .where(AuthSession.token_hash == bindparam("token_hash"))
)
_SESSIONS = table_of(AuthSession)
_PRINCIPALS = table_of(Principal)
_ACCOUNTS = table_of(Account)
# A session with its principal and account, for the Core lookups by token hash.
SIGNED_IN = _SESSIONS.join(_PRINCIPALS, _PRINCIPALS.c.id == _SESSIONS.c.principal_id).join(
    _ACCOUNTS, _ACCOUNTS.c.id == _PRINCIPALS.c.account_id
)
# The same lookup as plain columns, for forward-auth and GET /me (they need no ORM object:
# loading two costs more than the query on SQLite).
_IDENTIFY = (
    select(
        _SESSIONS.c.last_seen_at,
        _SESSIONS.c.expires_at,
        _SESSIONS.c.restricted,
        _SESSIONS.c.id,
        _SESSIONS.c.verified_at,
        _PRINCIPALS.c.id,
        _PRINCIPALS.c.account_id,
        _PRINCIPALS.c.login,
        _PRINCIPALS.c.email,
        _PRINCIPALS.c.name,
        _PRINCIPALS.c.kind,
        _PRINCIPALS.c.disabled,
        _PRINCIPALS.c.password_reset_required,
        _PRINCIPALS.c.password_changed_at,
        _PRINCIPALS.c.email_verified_at,
        _PRINCIPALS.c.mfa_required,
        _PRINCIPALS.c.phone,
        _ACCOUNTS.c.login_networks,
        _ACCOUNTS.c.password_max_age_days,
    )
    .select_from(SIGNED_IN)
    .where(_SESSIONS.c.token_hash == bindparam("token_hash"))
)
_SET_AMR = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("session_id"))
    .values(amr=bindparam("methods", type_=_SESSIONS.c.amr.type))
)
_MARK_VERIFIED = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("session_id"))
    .values(verified_at=bindparam("now"))
)


class WriteNeeded(Exception):
    """A read-only lookup (`Sessions.identify(writes=False)`) found a session that needs a
    write first: its last-seen touch is due, or it expired and is to be removed. Ask again
    where writing is allowed; nothing was written."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who a live session belongs to, as sign-in checks need it: plain values."""

    principal_id: int
    account_id: int
    login: str
    email: str | None
    name: str
    restricted: bool  # the session reaches only the MFA setup
    must_change_password: bool  # see Auth.must_change_password
    kind: str = "user"
    email_verified: bool = False  # the address on file was confirmed by its holder
    mfa_required: bool = False
    phone: str | None = None  # the principal's number (only a verified one is kept)
    verified_at: datetime | None = None  # the session's last fresh verification


@dataclass
class Auth:
    """A signed-in session and its principal, loaded with one query."""

    session: AuthSession
    principal: Principal
    token: str
    password_expired: bool = False  # older than the account's password_max_age_days

    @property
    def is_primary(self) -> bool:
        return self.principal.kind == "primary"

    @property
    def must_change_password(self) -> bool:
        """The primary set a password for it, or the password expired: it reaches only the
        forced change (API.md, login states), before any MFA setup that is also due."""
        return bool(self.principal.password_reset_required) or self.password_expired

    def signed_in(self) -> SignedIn:
        p = self.principal
        return SignedIn(
            p.id,
            p.account_id,
            p.login,
            p.email,
            p.name,
            bool(self.session.restricted),
            self.must_change_password,
            kind=p.kind,
            email_verified=policy.address_confirmed(p.email, p.email_verified_at),
            mfa_required=bool(p.mfa_required),
            phone=p.phone,
            verified_at=self.session.verified_at,
        )


class Sessions:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create(
        self,
        principal: Principal,
        account: Account,
        *,
        restricted: bool = False,
        verified: bool = True,
        methods: Sequence[str] = (),
    ) -> tuple[str, AuthSession]:
        """A new session; `methods` are the RFC 8176 methods its sign-in used (`pwd`,
        `otp`, `hwk`, ...: domain/amr.py), for the `amr` claim of its ID tokens."""
        now = self.ctx.clock.now()
        token = new_token()
        lifetime = min(self.ctx.settings.session_absolute, timedelta(hours=account.session_hours))
        row = AuthSession(
            public_id=secrets.token_hex(8),
            token_hash=token_digest(token),
            principal_id=principal.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            # The login itself counts as a fresh verification, unless a remembered browser
            # stood in for the code: that skips the code step, never a step-up.
            verified_at=now if verified else None,
            restricted=restricted,
            client_addr=self.ctx.client_addr,
            user_agent=(self.ctx.user_agent or "")[:256] or None,
            amr=amr.merged((), *methods),
        )
        self.ctx.db.add(row)
        self.ctx.observer.session_created()
        return token, row

    def authenticate(self, token: str | None, *, writes: bool = True) -> Auth:
        """The live session for `token`, or Unauthenticated.

        The lookup is a read-only transaction of its own, ended here, so the use case that
        follows holds the write lock (on SQLite) only for its own statements. Last-seen is
        touched at most once a minute, so most requests write nothing here; with
        `writes=False` never: a session due a write raises WriteNeeded."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise errors.Unauthenticated()
        if not self.ctx.db.in_transaction():
            begin_read_only(self.ctx.db)
        found = self.ctx.db.execute(_BY_TOKEN, {"token_hash": token_digest(token)}).first()
        self.ctx.db.commit()
        if found is None:
            raise errors.Unauthenticated()
        session, principal, networks, max_age = found
        now, touched = self._admit(
            session.id,
            session.last_seen_at,
            session.expires_at,
            principal.disabled,
            principal.kind,
            networks,
            writes=writes,
        )
        if touched:
            set_committed_value(session, "last_seen_at", now)  # written: not dirty
        expired = policy.password_expired(
            principal.kind, principal.password_changed_at, max_age or 0, now
        )
        return Auth(session, principal, token, password_expired=expired)

    def identify(self, token: str | None, *, writes: bool = True) -> SignedIn:
        """`authenticate` for forward-auth and `GET /me`: the same rules, plain values, no ORM
        object. With `writes=False` it never writes (a session due a write raises
        WriteNeeded) and reads in the caller's transaction when one is open, leaving it
        open for the caller's next reads."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise errors.Unauthenticated()
        db = self.ctx.db
        began = not db.in_transaction()
        if began:
            begin_read_only(db)
        row: Any = run(db, _IDENTIFY, {"token_hash": token_digest(token)}).first()
        if began or writes:  # a caller's read-only transaction goes on when nothing writes
            db.commit()
        return self._signed_in(row, writes=writes)

    def identify_reads(self, token: str | None) -> Reads[SignedIn]:
        """`identify(token, writes=False)` as reads by key, for the hot paths' connections
        (storage/hot.py): the same statement, the same rules."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise errors.Unauthenticated()
        row = yield _IDENTIFY, {"token_hash": token_digest(token)}
        return self._signed_in(row, writes=False)

    def _signed_in(self, row: Any, *, writes: bool) -> SignedIn:
        if row is None:
            raise errors.Unauthenticated()
        (last_seen, expires, restricted, session_id, verified_at, principal_id, account_id,
         login, email, name, kind, disabled, reset_required, changed_at, email_verified_at,
         mfa_required, phone, networks, max_age) = row  # fmt: skip
        now, _ = self._admit(
            session_id, last_seen, expires, disabled, kind, networks, writes=writes
        )
        expired = policy.password_expired(kind, changed_at, max_age or 0, now)
        return SignedIn(
            principal_id,
            account_id,
            login,
            email,
            name,
            bool(restricted),
            bool(reset_required) or expired,
            kind=kind,
            email_verified=policy.address_confirmed(email, email_verified_at),
            mfa_required=bool(mfa_required),
            phone=phone,
            verified_at=verified_at,
        )

    def admission(
        self,
        last_seen_at: datetime,
        expires_at: datetime,
        disabled: bool,
        kind: str,
        networks: list[str] | None,
    ) -> tuple[datetime, str | None]:
        """The rules every request's session passes, with nothing written: now, and the
        write the session is due, if any: "expired" (it is to be removed, and refused) or
        "touch" (last-seen, at most once a minute, so most requests write nothing). Raises
        for a disabled principal, or a network the account does not allow."""
        if disabled:  # its sessions ended when it was disabled; never one more
            raise errors.Unauthenticated()
        now = self.ctx.clock.now()
        if not policy.session_alive(
            last_seen_at=last_seen_at,
            expires_at=expires_at,
            now=now,
            idle=self.ctx.settings.session_idle,
        ):
            return now, "expired"
        # login_networks holds for open sessions too, on every request: a session that
        # signed in from an allowed network is not usable from elsewhere (tightening the
        # list takes effect at once). The networks come with the lookup: no query.
        if kind == "user" and not policy.network_allowed(self.ctx.client_addr, networks or []):
            raise errors.NetworkNotAllowed()
        return now, (None if now - last_seen_at < policy.SESSION_TOUCH_INTERVAL else "touch")

    def _admit(
        self,
        session_id: int,
        last_seen_at: datetime,
        expires_at: datetime,
        disabled: bool,
        kind: str,
        networks: list[str] | None,
        *,
        writes: bool,
    ) -> tuple[datetime, bool]:
        """`admission`, and the write it asks for (`authenticate`, `identify`): now, and
        whether last-seen was touched."""
        now, due = self.admission(last_seen_at, expires_at, disabled, kind, networks)
        if due is None:
            return now, False
        if not writes:
            raise WriteNeeded()
        if due == "expired":
            self.ctx.db.execute(delete(AuthSession).where(AuthSession.id == session_id))
            self.ctx.db.commit()
            raise errors.Unauthenticated("The session has expired; sign in again.")
        self.ctx.db.execute(
            update(AuthSession).where(AuthSession.id == session_id).values(last_seen_at=now)
        )
        self.ctx.db.commit()
        return now, True

    def mark_verified(self, session: AuthSession) -> datetime:
        now = self.ctx.clock.now()
        run(self.ctx.db, _MARK_VERIFIED, {"session_id": session.id, "now": now})
        set_committed_value(session, "verified_at", now)  # written above: not dirty
        return now + self.ctx.settings.fresh_window

    def record_methods(self, session: AuthSession, *methods: str) -> None:
        """Record that this session proved itself with more RFC 8176 methods (a code at
        step-up, a binding, a security key, an SMS code...), in the caller's transaction.
        Every factor records its method here: ID tokens report what was actually used."""
        recorded = list(session.amr or [])
        now_used = amr.merged(recorded, *methods)
        if now_used == recorded:
            return
        run(self.ctx.db, _SET_AMR, {"session_id": session.id, "methods": now_used})
        set_committed_value(session, "amr", now_used)  # written above: not dirty

    def is_fresh(self, session: AuthSession) -> bool:
        return policy.is_fresh(
            session.verified_at, self.ctx.clock.now(), self.ctx.settings.fresh_window
        )

    def may_step_up(self, session: AuthSession, *, first_factor: bool = False) -> bool:
        """Whether a guarded operation may run on this session (see policy.step_up_ok)."""
        return policy.step_up_ok(
            verified_at=session.verified_at,
            restricted=session.restricted,
            first_factor=first_factor,
            now=self.ctx.clock.now(),
            window=self.ctx.settings.fresh_window,
        )

    def revoke(self, session_id: int, *, end_grants: bool = True) -> None:
        """End the session, and (unless told otherwise) the applications' grants it signed
        in to."""
        if end_grants:
            self._end_grants([session_id])
        self.ctx.db.execute(delete(AuthSession).where(AuthSession.id == session_id))

    def revoke_all(self, principal_id: int, *, except_id: int | None = None) -> int:
        """End the principal's sessions (but `except_id`) and their applications' grants."""
        ids = select(AuthSession.id).where(AuthSession.principal_id == principal_id)
        stmt = delete(AuthSession).where(AuthSession.principal_id == principal_id)
        if except_id is not None:
            ids = ids.where(AuthSession.id != except_id)
            stmt = stmt.where(AuthSession.id != except_id)
        self._end_grants(ids)
        return int(affected(self.ctx.db.execute(stmt)))

    def _end_grants(self, session_ids: Select[Any] | list[int]) -> None:
        """A signed-out session's application grants end with it: the refresh tokens issued
        through it and the access tokens of its codes (those of their rotations too). A
        session that merely expired leaves them be: `offline_access` outlives it."""
        now = self.ctx.clock.now()
        codes = select(AuthorizationCode.id).where(AuthorizationCode.session_id.in_(session_ids))
        for stmt in (
            update(RefreshToken).where(RefreshToken.session_id.in_(session_ids)),
            update(RefreshToken).where(RefreshToken.code_id.in_(codes)),
            update(AccessToken).where(AccessToken.code_id.in_(codes)),
        ):
            self.ctx.db.execute(
                stmt.where(stmt.table.c.revoked_at.is_(None))
                .values(revoked_at=now)
                .execution_options(synchronize_session=False)
            )

    def lift_restriction(self, session: AuthSession) -> None:
        """Lift the setup-only restriction from this one session (the one that bound)."""
        self.ctx.db.execute(
            update(AuthSession).where(AuthSession.id == session.id).values(restricted=False)
        )
        set_committed_value(session, "restricted", False)  # written above: not dirty

    def restrict(self, session: AuthSession) -> None:
        """Make this one session setup-only (its principal must bind a factor first)."""
        self.ctx.db.execute(
            update(AuthSession).where(AuthSession.id == session.id).values(restricted=True)
        )
        set_committed_value(session, "restricted", True)  # written above: not dirty

    def end_setup_only(self, principal_id: int, *, except_id: int | None = None) -> int:
        """End the principal's setup-only sessions (but `except_id`): each proved only a
        password, so a binding made elsewhere must not promote it."""
        stmt = delete(AuthSession).where(
            AuthSession.principal_id == principal_id, AuthSession.restricted.is_(True)
        )
        if except_id is not None:
            stmt = stmt.where(AuthSession.id != except_id)
        return int(affected(self.ctx.db.execute(stmt)))

    def restrict_all(self, principal_ids: Select[Any]) -> int:
        """Make the open sessions of these principals setup-only (MFA became required)."""
        return int(
            affected(
                self.ctx.db.execute(
                    update(AuthSession)
                    .where(
                        AuthSession.principal_id.in_(principal_ids),
                        AuthSession.restricted.is_(False),
                    )
                    .values(restricted=True)
                    .execution_options(synchronize_session=False)
                )
            )
        )

    def list_for(self, principal_id: int) -> list[AuthSession]:
        now = self.ctx.clock.now()
        rows = self.ctx.db.scalars(
            select(AuthSession)
            .where(AuthSession.principal_id == principal_id)
            .order_by(AuthSession.created_at.desc())
        )
        idle = self.ctx.settings.session_idle
        return [
            s
            for s in rows
            if policy.session_alive(
                last_seen_at=s.last_seen_at, expires_at=s.expires_at, now=now, idle=idle
            )
        ]

    def find_public(self, principal_id: int, public_id: str) -> AuthSession:
        row = self.ctx.db.scalar(
            select(AuthSession).where(
                AuthSession.principal_id == principal_id, AuthSession.public_id == public_id
            )
        )
        if row is None:
            raise errors.NotFound("No such session.")
        return row
