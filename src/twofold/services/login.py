"""Signing in: the password step, the code step, and the setup-only session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update

from twofold.domain import errors, policy
from twofold.domain.policy import network_allowed
from twofold.domain.tokens import new_token, token_digest
from twofold.services.audit import Audit
from twofold.services.codes import SecondFactor
from twofold.services.context import Context
from twofold.services.mail import notify
from twofold.services.sessions import Sessions
from twofold.services.throttle import PASSWORDS, Throttle
from twofold.storage.db import affected
from twofold.storage.models import (
    Account,
    LoginChallenge,
    Principal,
    RememberedBrowser,
)


@dataclass
class LoginResult:
    state: str  # "authenticated", "mfa_required" or "mfa_setup_required"
    token: str | None = None
    challenge: str | None = None
    remember_token: str | None = None  # set when the browser asked to be remembered
    recovery_codes_left: int | None = None


class Login:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.audit = Audit(ctx)
        self.sessions = Sessions(ctx)
        self.factor = SecondFactor(ctx)
        self.throttle = Throttle(ctx, PASSWORDS)

    def _load(self, login: str) -> tuple[Principal, Account] | None:
        row = self.ctx.db.execute(
            select(Principal, Account)
            .join(Account, Account.id == Principal.account_id)
            .where(Principal.login == login)
        ).first()
        return (row[0], row[1]) if row else None

    def password_step(
        self, login: str, password: str, *, remember_token: str | None = None
    ) -> LoginResult:
        """Check the password; answer with a session, a challenge, or a setup-only session."""
        found = self._load(login) if len(login) <= 80 else None
        if found is not None:
            self.throttle.ensure_open(found[0])
        # Hash with no transaction open: other processes keep writing meanwhile.
        self.ctx.db.commit()
        ok = self.ctx.passwords.verify(found[0].password_hash if found else None, password)
        if found is None:
            # The typed login is not kept: people type their password there by mistake
            # (AWS CloudTrail hides unknown user names for the same reason).
            self.audit.record("login.failed", result="unknown_login")
            self.ctx.db.commit()
            raise errors.InvalidCredentials()
        principal, account = found
        if not ok:
            self.throttle.record_failure(principal.id)
            self.audit.record(
                "login.failed", result="wrong_password", actor=principal, target=principal
            )
            self.ctx.db.commit()
            raise errors.InvalidCredentials()
        if principal.kind == "user" and not network_allowed(
            self.ctx.client_addr, account.login_networks or []
        ):
            self.audit.record(
                "login.failed", result="network_not_allowed", actor=principal, target=principal
            )
            self.ctx.db.commit()
            raise errors.NetworkNotAllowed()
        self.throttle.record_success(principal.id)
        if self.ctx.passwords.needs_rehash(principal.password_hash):
            self.ctx.db.commit()
            new_hash = self.ctx.passwords.hash(password)
            self.ctx.db.execute(
                update(Principal).where(Principal.id == principal.id).values(password_hash=new_hash)
            )
        device = self.factor.active_device(principal.id)
        if device is not None:
            if remember_token and self._remembered(principal, account, remember_token):
                token, _ = self.sessions.create(principal, account, verified=False)
                self.audit.record(
                    "login.succeeded",
                    actor=principal,
                    target=principal,
                    detail={"second_factor": "remembered_browser"},
                )
                self.ctx.db.commit()
                return LoginResult("authenticated", token=token)
            challenge = new_token()
            self.ctx.db.add(
                LoginChallenge(
                    token_hash=token_digest(challenge),
                    principal_id=principal.id,
                    expires_at=self.ctx.clock.now() + policy.CHALLENGE_LIFETIME,
                    client_addr=self.ctx.client_addr,
                )
            )
            self.audit.record("login.password_ok", actor=principal, target=principal)
            self.ctx.db.commit()
            return LoginResult("mfa_required", challenge=challenge)
        setup_required = policy.mfa_setup_due(
            principal.kind, principal.mfa_required, account.mfa_for_login
        )
        # A setup-only session proved only the password: it is not freshly verified.
        token, _ = self.sessions.create(
            principal, account, restricted=setup_required, verified=not setup_required
        )
        self.audit.record(
            "login.succeeded",
            actor=principal,
            target=principal,
            detail={"mfa_setup_required": True} if setup_required else None,
        )
        self.ctx.db.commit()
        return LoginResult("mfa_setup_required" if setup_required else "authenticated", token=token)

    def code_step(
        self,
        challenge: object,
        *,
        code: object = None,
        recovery_code: object = None,
        remember: bool = False,
    ) -> LoginResult:
        """Finish a login with a code (or a recovery code) and the challenge it answers."""
        if not isinstance(challenge, str) or not challenge or len(challenge) > 200:
            raise errors.ChallengeExpired()
        now = self.ctx.clock.now()
        row = self.ctx.db.execute(
            select(LoginChallenge, Principal, Account)
            .join(Principal, Principal.id == LoginChallenge.principal_id)
            .join(Account, Account.id == Principal.account_id)
            .where(LoginChallenge.token_hash == token_digest(challenge))
        ).first()
        if row is None or row[0].used_at is not None or row[0].expires_at <= now:
            raise errors.ChallengeExpired()
        ch, principal, account = row
        left: int | None = None
        method = "mfa"
        if recovery_code is not None and code is None:
            left = self.factor.check_recovery_code(principal, recovery_code)
            method = "recovery_code"
        else:
            self.factor.check_totp(principal, code, purpose="login")
        consumed = affected(
            self.ctx.db.execute(
                update(LoginChallenge)
                .where(LoginChallenge.id == ch.id, LoginChallenge.used_at.is_(None))
                .values(used_at=now)
            )
        )
        if consumed != 1:
            self.ctx.db.rollback()
            raise errors.ChallengeExpired()
        token, _ = self.sessions.create(principal, account)
        result = LoginResult("authenticated", token=token, recovery_codes_left=left)
        if remember and account.remember_mfa_days > 0:
            result.remember_token = new_token()
            self.ctx.db.add(
                RememberedBrowser(
                    token_hash=token_digest(result.remember_token),
                    principal_id=principal.id,
                    created_at=now,
                    expires_at=now + timedelta(days=account.remember_mfa_days),
                )
            )
        self.audit.record(
            "login.succeeded", actor=principal, target=principal, detail={"second_factor": method}
        )
        self.ctx.db.commit()
        if method == "recovery_code":
            notify(
                self.ctx.mailer,
                principal.email,
                "A recovery code was used",
                f"A recovery code was used to sign in as {principal.login}. "
                f"{left} recovery codes remain. If this was not you, change your password "
                "and bind a new MFA device at once.",
            )
        return result

    def _remembered(self, principal: Principal, account: Account, token: str) -> bool:
        if account.remember_mfa_days <= 0 or len(token) > 200:
            return False
        row = self.ctx.db.scalar(
            select(RememberedBrowser).where(
                RememberedBrowser.token_hash == token_digest(token),
                RememberedBrowser.principal_id == principal.id,
            )
        )
        if row is None:
            return False
        now = self.ctx.clock.now()
        limit = row.created_at + timedelta(days=account.remember_mfa_days)
        return now < row.expires_at and now < limit

    def logout(self, session_id: int, principal: Principal) -> None:
        self.sessions.revoke(session_id)
        self.audit.record("logout", actor=principal, target=principal)
        self.ctx.db.commit()


def forget_browsers(ctx: Context, principal_id: int) -> None:
    """Remembered browsers die with a device change, a password change or revocation."""
    ctx.db.execute(delete(RememberedBrowser).where(RememberedBrowser.principal_id == principal_id))
