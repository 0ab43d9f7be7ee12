"""Step-up: proving identity again before a sensitive operation, and changing the password."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update

from twofold.domain import errors, policy
from twofold.domain.errors import N_
from twofold.domain.passwords import MIN_LENGTH, check_new_password
from twofold.domain.tokens import new_email_code
from twofold.services.accounts import account_of
from twofold.services.audit import Audit
from twofold.services.codes import SecondFactor
from twofold.services.context import Context
from twofold.services.counters import Counters
from twofold.services.lifecycle import Lifecycle, refuse_reuse, remember_former, reuse_hashes
from twofold.services.login import forget_browsers
from twofold.services.mail import compose, notify
from twofold.services.phones import Phones
from twofold.services.security_keys import SecurityKeys
from twofold.services.sessions import Auth, Sessions
from twofold.services.throttle import CODES, PASSWORDS, Throttle
from twofold.storage.models import EmailCode, Principal


class Verification:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.audit = Audit(ctx)
        self.factor = SecondFactor(ctx)
        self.sessions = Sessions(ctx)

    def verify(
        self,
        auth: Auth,
        method: str,
        *,
        password: object = None,
        code: object = None,
        credential: object = None,
    ) -> datetime:
        """Mark the session freshly verified; returns until when."""
        principal = auth.principal
        if method == "mfa":
            self.factor.check_totp(principal, code, purpose="verify")
        elif method == "webauthn":
            SecurityKeys(self.ctx).check_assertion(
                principal, credential, "verify", fail_purpose="verify", session_id=auth.session.id
            )
        else:
            self.factor.refuse_weaker_step_up(principal.id)
            if method == "password":
                self._check_password(principal, password)
            elif method == "email":
                self.factor.check_email_code(principal, code)
            elif method == "sms":
                Phones(self.ctx).check_verify_code(principal, code)
            else:
                raise errors.ValidationFailed(
                    fields={"method": "password, mfa, webauthn, email or sms"}
                )
        until = self.sessions.mark_verified(auth.session)
        # RFC 8176 has no value for an email code: it alone is not recorded.
        recorded = {"mfa": "otp", "webauthn": "hwk", "password": "pwd", "sms": "sms"}.get(method)
        if recorded:
            self.sessions.record_methods(auth.session, recorded)
        self.audit.record(
            "verify.succeeded", actor=principal, target=principal, detail={"method": method}
        )
        self.ctx.db.commit()
        return until

    def key_options(self, auth: Auth) -> dict[str, object]:
        """Options for a step-up with a security key, bound to this session."""
        return SecurityKeys(self.ctx).request_options(
            auth.principal, "verify", session_id=auth.session.id
        )

    def _check_password(self, principal: Principal, password: object) -> None:
        throttle = Throttle(self.ctx, PASSWORDS)
        throttle.ensure_open(principal)
        self.ctx.db.commit()  # no write lock held while hashing
        if not isinstance(password, str) or not self.ctx.passwords.verify(
            principal.password_hash, password
        ):
            throttle.record_failure(principal.id)
            self.audit.record(
                "verify.failed",
                result="wrong_password",
                actor=principal,
                target=principal,
                detail={"method": "password"},
            )
            self.ctx.db.commit()
            raise errors.InvalidCredentials("The password is wrong.")
        throttle.record_success(principal.id)

    def send_email_code(self, auth: Auth) -> None:
        principal = auth.principal
        if not principal.email:
            raise errors.ValidationFailed(
                "There is no email address to send a code to.",
                fields={"email": "none on file"},
            )
        Throttle(self.ctx, CODES).ensure_open(principal)
        Counters(self.ctx).limit_sends(
            "mail", principal.id, principal.email, policy.EMAIL_SENDS_PER_HOUR
        )
        now = self.ctx.clock.now()
        code = new_email_code()
        # Only the newest code is valid.
        self.ctx.db.execute(delete(EmailCode).where(EmailCode.principal_id == principal.id))
        self.ctx.db.add(
            EmailCode(
                principal_id=principal.id,
                code_hash=self.ctx.keys.keyed_hash(f"email:{principal.id}:{code}"),
                expires_at=now + policy.EMAIL_CODE_LIFETIME,
            )
        )
        self.audit.record("verify.email_sent", actor=principal, target=principal)
        self.ctx.db.commit()
        subject, body = compose(
            N_("Your Twofold verification code"),
            N_(
                "Your verification code is {code}. It works once, within 10 minutes.\n"
                "If you did not ask for it, someone may know your password."
            ),
            {"code": code},
            principal.locale,
        )
        self.ctx.mailer.send(principal.email, subject, body)

    def change_password(self, auth: Auth, current: str | None, new: str) -> None:
        """Change one's own password: freshly verified and with the current one; or, in
        the forced change at sign-in, with neither (Lifecycle.forced_change)."""
        if auth.must_change_password:
            Lifecycle(self.ctx).forced_change(auth, new)
            return
        if not self.sessions.is_fresh(auth.session):
            raise errors.VerificationRequired()
        if current is None:
            raise errors.ValidationFailed(
                "Give the current password.", fields={"current_password": "required"}
            )
        principal = auth.principal
        account = account_of(self.ctx, principal)
        check_new_password(
            new,
            context=[principal.name, principal.login, account.name, principal.email or ""],
            min_length=(account.password_min_length if principal.kind == "user" else MIN_LENGTH),
            field="new_password",
        )
        former = reuse_hashes(self.ctx, principal)
        old_hash = principal.password_hash
        self._check_password(principal, current)
        self.ctx.db.commit()
        refuse_reuse(self.ctx, former, new, field="new_password")
        new_hash = self.ctx.passwords.hash(new)
        self.ctx.db.execute(
            update(Principal)
            .where(Principal.id == principal.id)
            .values(password_hash=new_hash, password_changed_at=self.ctx.clock.now())
        )
        remember_former(self.ctx, principal.id, old_hash)
        self.sessions.revoke_all(principal.id, except_id=auth.session.id)
        forget_browsers(self.ctx, principal.id)
        self.audit.record("password.changed", actor=principal, target=principal)
        self.ctx.db.commit()
        notify(
            self.ctx.mailer,
            principal.email,
            N_("Your password was changed"),
            N_("The password of {login} was changed; other sessions were ended."),
            params={"login": principal.login},
            locale=principal.locale,
        )
