"""Forgot password by mail (issue 13): a single-use link, stored hashed, valid 30 minutes,
mailed only to the principal's own address and only once that address is confirmed
(`email_confirmation.py`); the answer never tells whether a login exists.

A reset ends every session and never touches MFA: the next sign-in still asks for the code."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from twofold.domain import errors, policy
from twofold.domain.tokens import MAX_TOKEN_LENGTH, new_token, token_digest
from twofold.services.audit import Audit
from twofold.services.context import Context
from twofold.services.counters import Counters
from twofold.services.lifecycle import (
    check_password_for,
    end_everything,
    refuse_reuse,
    remember_former,
    reuse_hashes,
)
from twofold.services.mail import notify, notify_later
from twofold.storage.db import affected
from twofold.storage.models import PasswordResetToken, Principal

RESET_PATH = "/password-reset/confirm"


def _invalid() -> errors.ValidationFailed:
    return errors.ValidationFailed(
        "The reset link is not valid: it was used, replaced by a newer one, or has expired. "
        "Ask for a new one.",
        fields={"token": "invalid, used or expired"},
    )


def _why_not_sent(principal: Principal | None, allowed: bool) -> str | None:
    """Why no link is mailed to this principal (for the audit log), or None: send it."""
    if principal is None:
        return "unknown"
    if not allowed:
        return "throttled"
    if principal.disabled:
        return "disabled"
    if not principal.email:
        return "no_email"
    if principal.email_verified_at is None:
        return "email_not_confirmed"
    return None


class PasswordReset:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.audit = Audit(ctx)

    def request(self, login: str) -> None:
        """Mail a reset link to the principal that logs in as `login`, if there is one with
        a confirmed address, it is not disabled, and neither the login nor the client asked
        too often. Returns the same (nothing) in every case; the mail goes out on a thread of
        its own, so the answer takes the same time too."""
        login = login.strip()[:200]
        counters = Counters(self.ctx)
        by_client = counters.bump(
            counters.key("reset-client", self.ctx.client_addr or ""), policy.SEND_WINDOW
        )
        by_login = counters.bump(counters.key("reset-login", login.lower()), policy.SEND_WINDOW)
        principal = (
            self.ctx.db.scalar(select(Principal).where(Principal.login == login))
            if len(login) <= 80
            else None
        )
        allowed = (
            by_client.count <= policy.RESET_REQUESTS_PER_CLIENT
            and by_login.count <= policy.RESET_MAILS_PER_LOGIN
        )
        # A link goes to a confirmed address only: an address nobody proved may be a typo,
        # or someone else's.
        unsent = _why_not_sent(principal, allowed)
        if principal is None or unsent is not None:
            if principal is not None:
                self.audit.record(
                    "password.reset_requested",
                    result="throttled" if not allowed else "not_sent",
                    target=principal,
                    account_id=principal.account_id,
                    detail=None if not allowed else {"reason": unsent},
                )
            self.ctx.db.commit()
            return
        now = self.ctx.clock.now()
        token = new_token()
        # Only the newest link works.
        self.ctx.db.execute(
            delete(PasswordResetToken).where(PasswordResetToken.principal_id == principal.id)
        )
        self.ctx.db.add(
            PasswordResetToken(
                token_hash=token_digest(token),
                principal_id=principal.id,
                created_at=now,
                expires_at=now + policy.RESET_LINK_LIFETIME,
            )
        )
        self.audit.record(
            "password.reset_requested", target=principal, account_id=principal.account_id
        )
        email, who = principal.email or "", principal.login
        self.ctx.db.commit()
        link = f"{self.ctx.settings.public_url.rstrip('/')}{RESET_PATH}?token={token}"
        notify_later(
            self.ctx.mailer,
            email,
            "Reset your Twofold password",
            f"Someone asked to reset the password of {who}.\n\n"
            f"To choose a new password, open this link within 30 minutes (it works once):\n"
            f"{link}\n\n"
            "If you did not ask for it, ignore this mail: your password stays as it is. "
            "Your virtual MFA device stays bound either way.",
        )

    def check(self, token: object) -> str:
        """The login a reset link is for (the console shows it), or the invalid-link error."""
        with self.ctx.reading():
            _, principal = self._find(token)
            return principal.login

    def _find(self, token: object) -> tuple[PasswordResetToken, Principal]:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise _invalid()
        row = self.ctx.db.execute(
            select(PasswordResetToken, Principal)
            .join(Principal, Principal.id == PasswordResetToken.principal_id)
            .where(PasswordResetToken.token_hash == token_digest(token))
        ).first()
        now = self.ctx.clock.now()
        if row is None or row[0].used_at is not None or row[0].expires_at <= now:
            raise _invalid()
        if row[1].disabled:
            raise _invalid()
        return row[0], row[1]

    def confirm(self, token: object, new_password: str) -> None:
        """Set the new password with a mailed link: once, within its time; every session of
        the principal ends; MFA stays bound."""
        reset, principal = self._find(token)
        check_password_for(self.ctx, principal, new_password, field="new_password")
        reset_id, principal_id, old_hash = reset.id, principal.id, principal.password_hash
        former = reuse_hashes(self.ctx, principal)
        self.ctx.db.commit()  # no write lock held while hashing
        refuse_reuse(self.ctx, former, new_password, field="new_password")
        new_hash = self.ctx.passwords.hash(new_password)
        now = self.ctx.clock.now()
        consumed = affected(
            self.ctx.db.execute(
                update(PasswordResetToken)
                .where(
                    PasswordResetToken.id == reset_id,
                    PasswordResetToken.used_at.is_(None),
                    PasswordResetToken.expires_at > now,
                )
                .values(used_at=now)
            )
        )
        if consumed != 1:  # used by a racing request meanwhile
            self.ctx.db.rollback()
            raise _invalid()
        self.ctx.db.execute(
            update(Principal)
            .where(Principal.id == principal_id, Principal.disabled.is_(False))
            .values(
                password_hash=new_hash,
                password_changed_at=now,
                password_reset_required=False,
                password_failures=0,
                password_locked_until=None,
            )
        )
        remember_former(self.ctx, principal_id, old_hash)
        ended = end_everything(self.ctx, principal_id)
        principal = self.ctx.db.get(Principal, principal_id) or principal
        self.audit.record(
            "password.reset", actor=principal, target=principal,
            detail={"via": "mail", "sessions_ended": ended},
        )
        email, who = principal.email, principal.login
        self.ctx.db.commit()
        notify(
            self.ctx.mailer,
            email,
            "Your password was reset",
            f"The password of {who} was reset with a mailed link; every session was ended.",
        )
