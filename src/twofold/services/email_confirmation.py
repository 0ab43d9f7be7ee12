"""Confirming an email address by mail (issue 13): a single-use link, stored hashed, valid a
day, void once used or when a newer one is sent, and only for the address it was sent to.

A principal's address starts unconfirmed (sign-up, a sub-user made with one, a changed
address); password reset links go to a confirmed address only (`password_reset.py`). The
link's page asks for a button press (a POST): mail scanners that fetch every link in a mail
confirm nothing."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update

from twofold.domain import errors, policy
from twofold.domain.tokens import MAX_TOKEN_LENGTH, new_token, token_digest
from twofold.services.audit import Audit
from twofold.services.context import Context
from twofold.services.counters import Counters
from twofold.services.mail import notify
from twofold.services.sessions import Auth
from twofold.storage.db import affected
from twofold.storage.models import EmailConfirmation, Principal

CONFIRM_PATH = "/email/confirm"


@dataclass(frozen=True)
class ConfirmationMail:
    """A confirmation mail to send once the transaction that stored its link committed."""

    to: str
    subject: str
    body: str

    def send(self, ctx: Context) -> None:
        notify(ctx.mailer, self.to, self.subject, self.body)


@dataclass(frozen=True)
class ConfirmedAddress:
    login: str
    email: str


def _invalid() -> errors.ValidationFailed:
    return errors.ValidationFailed(
        "The confirmation link is not valid: it was used, replaced by a newer one, has "
        "expired, or the address changed since. Ask for a new one from your overview.",
        fields={"token": "invalid, used or expired"},
    )


def _over_limit(ctx: Context, principal: Principal, to: str) -> int | None:
    """Count one confirmation mail per principal and per destination address; the seconds
    to wait when either had CONFIRM_MAILS_PER_HOUR this hour already, else None."""
    counters = Counters(ctx)
    now = ctx.clock.now()
    for key in (
        counters.key("confirm-principal", str(principal.id)),
        counters.key("confirm-to", to.strip().lower()),
    ):
        row = counters.bump(key, policy.SEND_WINDOW)
        if row.count > policy.CONFIRM_MAILS_PER_HOUR:
            return policy.retry_after_seconds(row.started_at + policy.SEND_WINDOW, now)
    return None


def forget_confirmation(ctx: Context, principal: Principal) -> None:
    """The address changed or went: it is unconfirmed, and no link sent before confirms it
    (in the caller's transaction)."""
    principal.email_verified_at = None
    ctx.db.execute(delete(EmailConfirmation).where(EmailConfirmation.principal_id == principal.id))


def issue_confirmation(
    ctx: Context, principal: Principal, *, strict: bool = False
) -> ConfirmationMail | None:
    """In the caller's transaction: void the principal's older links, store a new one and
    answer the mail to send after the commit. Over the hourly limit the mail is dropped
    (None), or with `strict` refused (TooManyAttempts: the caller's transaction rolls back,
    so a refused send does not count)."""
    to = principal.email
    if not to:
        return None
    wait = _over_limit(ctx, principal, to)
    if wait is not None:
        if strict:
            raise errors.TooManyAttempts.after("Too many confirmation mails were sent", wait)
        Audit(ctx).record(
            "email.confirmation_sent",
            result="throttled",
            target=principal,
            account_id=principal.account_id,
        )
        return None
    now = ctx.clock.now()
    token = new_token()
    ctx.db.execute(delete(EmailConfirmation).where(EmailConfirmation.principal_id == principal.id))
    ctx.db.add(
        EmailConfirmation(
            token_hash=token_digest(token),
            principal_id=principal.id,
            email=to,
            created_at=now,
            expires_at=now + policy.EMAIL_CONFIRM_LIFETIME,
        )
    )
    Audit(ctx).record("email.confirmation_sent", target=principal, account_id=principal.account_id)
    link = f"{ctx.settings.public_url.rstrip('/')}{CONFIRM_PATH}?token={token}"
    return ConfirmationMail(
        to=to,
        subject="Confirm your email address",
        body=(
            f"This address was given for the Twofold login {principal.login}.\n\n"
            "To confirm it, open this link within 24 hours (it works once):\n"
            f"{link}\n\n"
            "Until the address is confirmed, password reset links are not mailed to it. "
            "If you did not expect this mail, ignore it."
        ),
    )


class EmailConfirmations:
    """Resending a confirmation link, and confirming an address with one."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.audit = Audit(ctx)

    def resend(self, auth: Auth) -> None:
        """Mail a new link to the signed-in principal's own address (the older one stops
        working); at most CONFIRM_MAILS_PER_HOUR an hour, then TooManyAttempts."""
        principal = auth.principal
        if not principal.email:
            raise errors.ValidationFailed(
                "There is no email address to confirm.", fields={"email": "none on file"}
            )
        if principal.email_verified_at is not None:
            raise errors.EmailAlreadyVerified()
        mail = issue_confirmation(self.ctx, principal, strict=True)
        self.ctx.db.commit()
        if mail is not None:
            mail.send(self.ctx)

    def check(self, token: object) -> ConfirmedAddress:
        """The login and address a link is for (the page shows them), or the invalid-link
        error."""
        with self.ctx.reading():
            link, principal = self._find(token)
            return ConfirmedAddress(login=principal.login, email=link.email)

    def _find(self, token: object) -> tuple[EmailConfirmation, Principal]:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise _invalid()
        row = self.ctx.db.execute(
            select(EmailConfirmation, Principal)
            .join(Principal, Principal.id == EmailConfirmation.principal_id)
            .where(EmailConfirmation.token_hash == token_digest(token))
        ).first()
        now = self.ctx.clock.now()
        if row is None or row[0].used_at is not None or row[0].expires_at <= now:
            raise _invalid()
        link, principal = row[0], row[1]
        if principal.disabled or principal.email != link.email:
            raise _invalid()
        return link, principal

    def confirm(self, token: object) -> ConfirmedAddress:
        """Mark the address the link was sent to confirmed: once, within its time, and only
        while it is still the principal's address. Two racing confirms: one wins."""
        link, principal = self._find(token)
        now = self.ctx.clock.now()
        used = affected(
            self.ctx.db.execute(
                update(EmailConfirmation)
                .where(
                    EmailConfirmation.id == link.id,
                    EmailConfirmation.used_at.is_(None),
                    EmailConfirmation.expires_at > now,
                )
                .values(used_at=now)
            )
        )
        marked = used and affected(
            self.ctx.db.execute(
                update(Principal)
                .where(
                    Principal.id == principal.id,
                    Principal.email == link.email,
                    Principal.disabled.is_(False),
                )
                .values(email_verified_at=now)
            )
        )
        if not marked:
            self.ctx.db.rollback()
            raise _invalid()
        self.audit.record("email.confirmed", actor=principal, target=principal)
        confirmed = ConfirmedAddress(login=principal.login, email=link.email)
        self.ctx.db.commit()
        return confirmed
