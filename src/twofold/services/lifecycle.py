"""Account life-cycle (issue 13): disabling a sub-user, a password set by its primary or an
operator, and the forced change at the next sign-in.

Every way a password is replaced by someone else ends every session of the principal and
forgets its remembered browsers; disabling does the same and keeps its data, devices and
audit trail."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from twofold.domain import errors
from twofold.domain.errors import N_
from twofold.domain.passwords import MIN_LENGTH, check_new_password
from twofold.services.audit import Audit
from twofold.services.context import Context
from twofold.services.login import forget_browsers
from twofold.services.mail import notify
from twofold.services.sessions import Auth, Sessions
from twofold.storage.db import affected
from twofold.storage.models import (
    AccessToken,
    Account,
    AuthorizationCode,
    LoginChallenge,
    PasswordHistory,
    PasswordResetToken,
    Principal,
    RefreshToken,
)

HISTORY_KEPT = 24  # former password hashes kept per principal (the policy's upper bound)


def check_password_for(
    ctx: Context, principal: Principal, password: str, *, field: str = "password"
) -> None:
    """The account's policy for a new password of `principal` (ValidationFailed)."""
    account = ctx.db.get(Account, principal.account_id)
    if account is None:
        raise errors.NotFound("No such account.")
    check_new_password(
        password,
        context=[principal.name, principal.login, account.name, principal.email or ""],
        min_length=account.password_min_length if principal.kind == "user" else MIN_LENGTH,
        field=field,
    )


def reuse_hashes(ctx: Context, principal: Principal) -> list[str]:
    """The hashes a new password of `principal` must not match: its current one and the
    former ones, the last N in all (N: the account's password_reuse_prevention; sub-users)."""
    account = ctx.db.get(Account, principal.account_id)
    n = account.password_reuse_prevention if account and principal.kind == "user" else 0
    if n <= 0:
        return []
    former = ctx.db.scalars(
        select(PasswordHistory.password_hash)
        .where(PasswordHistory.principal_id == principal.id)
        .order_by(PasswordHistory.id.desc())
        .limit(n - 1)
    ).all() if n > 1 else []
    return [principal.password_hash, *former]


def refuse_reuse(ctx: Context, hashes: list[str], new: str, *, field: str) -> None:
    """ValidationFailed when `new` is one of those passwords (hash with no transaction open:
    each check costs one argon2 hash)."""
    if any(ctx.passwords.verify(h, new) for h in hashes):
        raise errors.ValidationFailed(
            "The new password must not be one of your last {count} passwords.",
            params={"count": len(hashes)},
            fields={field: errors.Problem("one of the last {count} passwords", count=len(hashes))},
        )


def remember_former(ctx: Context, principal_id: int, old_hash: str) -> None:
    """Keep the replaced password's hash for reuse prevention (the newest HISTORY_KEPT)."""
    ctx.db.add(
        PasswordHistory(
            principal_id=principal_id, password_hash=old_hash, created_at=ctx.clock.now()
        )
    )
    ctx.db.flush()
    newest = (
        select(PasswordHistory.id)
        .where(PasswordHistory.principal_id == principal_id)
        .order_by(PasswordHistory.id.desc())
        .limit(HISTORY_KEPT)
    )
    ctx.db.execute(
        delete(PasswordHistory).where(
            PasswordHistory.principal_id == principal_id,
            PasswordHistory.id.not_in(newest.scalar_subquery()),
        )
    )


def end_everything(ctx: Context, principal_id: int, *, except_id: int | None = None) -> int:
    """End the principal's sessions (but `except_id`), sign-ins half done, remembered
    browsers, mailed reset links, and its applications' authorization codes, access and
    refresh tokens. Returns how many sessions ended."""
    ended = Sessions(ctx).revoke_all(principal_id, except_id=except_id)
    forget_browsers(ctx, principal_id)
    ctx.db.execute(delete(LoginChallenge).where(LoginChallenge.principal_id == principal_id))
    ctx.db.execute(
        delete(PasswordResetToken).where(PasswordResetToken.principal_id == principal_id)
    )
    ctx.db.execute(delete(AuthorizationCode).where(AuthorizationCode.principal_id == principal_id))
    ctx.db.execute(delete(AccessToken).where(AccessToken.principal_id == principal_id))
    ctx.db.execute(delete(RefreshToken).where(RefreshToken.principal_id == principal_id))
    return ended


class Lifecycle:
    """The life-cycle use cases. The `apply_*` methods write into the caller's transaction
    (Users.update commits it); the `operator_*` and `forced_change` ones are whole use cases."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.audit = Audit(ctx)

    # --- parts of a PATCH /users/{name} (the caller holds the transaction) ---------------

    def apply_disabled(self, actor: Principal | None, user: Principal, disabled: bool) -> bool:
        """Disable or enable `user`; True when that changed anything."""
        if user.kind != "user":  # a whole account: operator_set_account_disabled
            raise errors.Forbidden("Only a sub-user can be disabled here.")
        if bool(user.disabled) == disabled:
            return False
        self.ctx.db.execute(
            update(Principal).where(Principal.id == user.id).values(disabled=disabled)
        )
        ended = end_everything(self.ctx, user.id) if disabled else 0
        self.audit.record(
            "user.disabled" if disabled else "user.enabled",
            actor=actor,
            target=user,
            account_id=user.account_id,
            detail={"sessions_ended": ended} if disabled else None,
        )
        self.ctx.db.refresh(user)
        return True

    def apply_password(
        self, actor: Principal | None, user: Principal, password_hash: str, must_change: bool
    ) -> None:
        """A password chosen by someone else (hashed already): every session ends."""
        remember_former(self.ctx, user.id, user.password_hash)
        self.ctx.db.execute(
            update(Principal)
            .where(Principal.id == user.id)
            .values(
                password_hash=password_hash,
                password_changed_at=self.ctx.clock.now(),
                password_reset_required=must_change,
                password_failures=0,
                password_locked_until=None,
            )
        )
        ended = end_everything(self.ctx, user.id)
        self.audit.record(
            "password.set",
            actor=actor,
            target=user,
            account_id=user.account_id,
            detail={"must_change": must_change, "sessions_ended": ended},
        )
        self.ctx.db.refresh(user)

    def apply_reset_required(self, actor: Principal | None, user: Principal, value: bool) -> None:
        if bool(user.password_reset_required) == value:
            return
        self.ctx.db.execute(
            update(Principal).where(Principal.id == user.id).values(password_reset_required=value)
        )
        self.audit.record(
            "user.updated",
            actor=actor,
            target=user,
            account_id=user.account_id,
            detail={"password_reset_required": value},
        )
        self.ctx.db.refresh(user)

    # --- whole use cases ------------------------------------------------------------------

    def forced_change(self, auth: Auth, new: str) -> None:
        """The forced change at sign-in: no current password and no step-up (the sign-in
        proved it), a password that differs from the current one and passes the policy.
        The other sessions end; this one goes on (to the MFA setup if that is due)."""
        principal = auth.principal
        check_password_for(self.ctx, principal, new, field="new_password")
        old_hash = principal.password_hash
        former = reuse_hashes(self.ctx, principal)
        self.ctx.db.commit()  # no write lock held while hashing
        if self.ctx.passwords.verify(old_hash, new):
            raise errors.ValidationFailed(
                "The new password must differ from the current one.",
                fields={"new_password": "same as the current password"},
            )
        refuse_reuse(self.ctx, former, new, field="new_password")
        new_hash = self.ctx.passwords.hash(new)
        done = self.ctx.db.execute(
            update(Principal)
            .where(Principal.id == principal.id, Principal.password_hash == old_hash)
            .values(
                password_hash=new_hash,
                password_changed_at=self.ctx.clock.now(),
                password_reset_required=False,
            )
        )
        if affected(done) != 1:
            self.ctx.db.rollback()
            raise errors.Unauthenticated("The password was changed meanwhile; sign in again.")
        remember_former(self.ctx, principal.id, old_hash)
        end_everything(self.ctx, principal.id, except_id=auth.session.id)
        self.audit.record(
            "password.changed", actor=principal, target=principal, detail={"forced": True}
        )
        self.ctx.db.commit()
        self.ctx.db.refresh(principal)
        notify(
            self.ctx.mailer,
            principal.email,
            N_("Your password was changed"),
            N_("The password of {login} was changed; other sessions were ended."),
            params={"login": principal.login},
            locale=principal.locale,
        )

    def _user_by_login(self, login: str) -> Principal:
        principal = self.ctx.db.scalar(select(Principal).where(Principal.login == login))
        if principal is None:
            raise errors.NotFound("No principal logs in as {login!r}.", params={"login": login})
        return principal

    def operator_set_disabled(self, login: str, disabled: bool) -> bool:
        """CLI: disable or enable the sub-user that logs in as `login`."""
        user = self._user_by_login(login)
        changed = self.apply_disabled(None, user, disabled)
        self.ctx.db.commit()
        return changed

    def operator_set_account_disabled(self, name: str, disabled: bool) -> int:
        """CLI: disable (or enable) a whole account: its primary and every sub-user. Returns
        how many principals changed. Sub-users the primary had disabled stay disabled when
        the account is enabled again only if the operator disables them by name."""
        principals = list(
            self.ctx.db.scalars(
                select(Principal)
                .join(Account, Account.id == Principal.account_id)
                .where(Account.name == name)
                .order_by(Principal.kind, Principal.id)
            )
        )
        if not principals:
            raise errors.NotFound("No account named {name!r}.", params={"name": name})
        changed = 0
        for principal in principals:
            if bool(principal.disabled) == disabled:
                continue
            self.ctx.db.execute(
                update(Principal).where(Principal.id == principal.id).values(disabled=disabled)
            )
            if disabled:
                end_everything(self.ctx, principal.id)
            changed += 1
        primary = next(p for p in principals if p.kind == "primary")
        self.audit.record(
            "account.disabled" if disabled else "account.enabled",
            target=primary,
            account_id=primary.account_id,
            detail={"via": "cli", "principals": changed},
        )
        self.ctx.db.commit()
        return changed

    def operator_set_password(self, login: str, password: str, must_change: bool) -> None:
        """CLI: set the password of the principal that logs in as `login`."""
        principal = self._user_by_login(login)
        check_password_for(self.ctx, principal, password)
        self.ctx.db.commit()
        password_hash = self.ctx.passwords.hash(password)
        principal = self._user_by_login(login)
        self.apply_password(None, principal, password_hash, must_change)
        self.ctx.db.commit()
