"""The code check's common case on a connection of its own: a step-up (`POST /verify`) with
a right code from the bound device, by a live, unrestricted session whose code checks are
open.

One read (session, principal, account and active device in one SELECT, no write lock), then
unsealing and the TOTP arithmetic with no transaction open, then one write transaction that
holds only prebuilt Core statements: the conditional UPDATE of the device's last step
(replay protection), the conditional reset of the code throttle, the session's
verification, and the audit INSERT. The ORM's unit of work and the Session's per-statement
machinery cost more than all of these on SQLite, so none of it runs here.

Everything else is declined (None) with nothing written: no session, a wrong, replayed or
out-of-sync code, a lock, a session due removal, restricted or held at the forced password
change. `Verification.verify`, the full use case, then answers it and counts it, once. Both
decide by the same row counts, so a race between them cannot let a code through twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update

from twofold.domain import amr, errors, policy, totp
from twofold.domain.sealing import SealingError
from twofold.domain.tokens import MAX_TOKEN_LENGTH, token_digest
from twofold.services.audit import INSERT_EVENT, Audit, Party
from twofold.services.codes import ACCEPT_STEP, device_context
from twofold.services.context import Context
from twofold.services.sessions import SIGNED_IN, Sessions
from twofold.services.throttle import CODES, reset_statement
from twofold.storage.db import affected, lone_read, table_of
from twofold.storage.models import Account, AuthSession, MfaDevice, Principal

_SESSIONS = table_of(AuthSession)
_PRINCIPALS = table_of(Principal)
_ACCOUNTS = table_of(Account)
_DEVICES = table_of(MfaDevice)
_READ = (
    select(
        _SESSIONS.c.id.label("session_id"),
        _SESSIONS.c.last_seen_at,
        _SESSIONS.c.expires_at,
        _SESSIONS.c.restricted,
        _SESSIONS.c.amr,
        _PRINCIPALS.c.id.label("principal_id"),
        _PRINCIPALS.c.account_id,
        _PRINCIPALS.c.login,
        _PRINCIPALS.c.kind,
        _PRINCIPALS.c.disabled,
        _PRINCIPALS.c.password_reset_required,
        _PRINCIPALS.c.password_changed_at,
        _PRINCIPALS.c.code_locked_until,
        _ACCOUNTS.c.login_networks,
        _ACCOUNTS.c.password_max_age_days,
        _DEVICES.c.id.label("device_id"),
        _DEVICES.c.serial,
        _DEVICES.c.sealed_secret,
        _DEVICES.c.drift,
    )
    .select_from(
        SIGNED_IN.join(
            _DEVICES,
            (_DEVICES.c.principal_id == _PRINCIPALS.c.id) & (_DEVICES.c.state == "active"),
        )
    )
    .where(_SESSIONS.c.token_hash == bindparam("token_hash"))
)
# The step-up itself: freshly verified, with a code (`otp`), and seen now.
_VERIFIED = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("session_id"))
    .values(
        verified_at=bindparam("now"),
        last_seen_at=bindparam("now"),
        amr=bindparam("methods", type_=_SESSIONS.c.amr.type),
    )
)
_RESET = reset_statement(CODES)


class CodeCheck:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def verify(self, token: str | None, raw_code: object) -> datetime | None:
        """Until when the session is freshly verified, or None: declined, nothing written."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        code = totp.parse_code(raw_code)
        engine = self.ctx.db.get_bind()
        if code is None or not isinstance(engine, Engine):
            return None
        with engine.connect() as conn:
            lone_read(conn, True)
            with conn.begin():
                row: Any = conn.execute(_READ, {"token_hash": token_digest(token)}).first()
            if row is None:
                return None
            accepted = self._accepted(row, code)
            if accepted is None:
                return None
            now, step = accepted
            lone_read(conn, False)
            return self._write(conn, row, now, step)

    def _accepted(self, row: Any, code: str) -> tuple[datetime, int] | None:
        """Now and the step the code matches, when the common case holds; else None."""
        try:
            now, due = Sessions(self.ctx).admission(
                row.last_seen_at, row.expires_at, row.disabled, row.kind, row.login_networks
            )
        except errors.TwofoldError:
            return None
        locked_until = row.code_locked_until
        if (
            due == "expired"
            or row.restricted
            or row.password_reset_required
            or policy.password_expired(
                row.kind, row.password_changed_at, row.password_max_age_days or 0, now
            )
            or (locked_until is not None and locked_until > now)
        ):
            return None
        try:
            secret = self.ctx.keys.unseal(row.sealed_secret, device_context(row.serial))
        except SealingError:
            return None
        centre = totp.time_step(now) + row.drift
        step = totp.match_step(secret, code, centre, policy.CODE_WINDOW)
        return None if step is None else (now, step)

    def _write(self, conn: Connection, row: Any, now: datetime, step: int) -> datetime | None:
        who = Party(row.principal_id, row.login, row.account_id)
        event = Audit(self.ctx).own_event("verify.succeeded", who, {"method": "mfa"})
        methods = amr.merged(row.amr or [], "otp")
        principal = {"principal_id": row.principal_id, "now": now}
        with conn.begin() as tx:  # SQLite: the write lock, for these statements alone
            device = {"device_id": row.device_id, "step": step}
            if (
                affected(conn.execute(ACCEPT_STEP, device)) != 1
                or affected(conn.execute(_RESET, principal)) != 1
            ):
                tx.rollback()  # replayed, or locked meanwhile: the full use case says which
                return None
            conn.execute(_VERIFIED, {"session_id": row.session_id, "now": now, "methods": methods})
            conn.execute(INSERT_EVENT, event)
        self.ctx.observer.audited(event)
        self.ctx.observer.mfa_check("totp", "accepted")
        return now + self.ctx.settings.fresh_window
