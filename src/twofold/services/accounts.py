"""Accounts (primary principals) and their sub-users."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError

from twofold.domain import errors, policy
from twofold.domain.passwords import check_new_password
from twofold.services.audit import Audit, iso
from twofold.services.context import Context
from twofold.services.sessions import Auth, Sessions
from twofold.storage.models import Account, AuthSession, MfaDevice, Principal

MAX_USERS_PAGE = 1000


def _check_name(name: str, field: str = "name") -> None:
    if not policy.valid_name(name):
        raise errors.ValidationFailed(
            "Names are 3 to 32 characters: a lower-case letter, then letters, digits or '-'.",
            fields={field: "must match [a-z][a-z0-9-]{2,31}"},
        )


class Accounts:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.audit = Audit(ctx)

    def create(self, name: str, email: str, password: str, *, via: str = "api") -> Account:
        """Sign up a new account with its primary principal."""
        _check_name(name)
        check_new_password(password, context=[name, email])
        password_hash = self.ctx.passwords.hash(password)
        now = self.ctx.clock.now()
        account = Account(name=name, email=email, created_at=now, login_networks=[])
        self.ctx.db.add(account)
        try:
            self.ctx.db.flush()
            primary = Principal(
                account_id=account.id,
                kind="primary",
                name=name,
                login=name,
                email=email,
                password_hash=password_hash,
                mfa_required=False,
                created_at=now,
                password_changed_at=now,
            )
            self.ctx.db.add(primary)
            self.ctx.db.flush()
        except IntegrityError as exc:
            self.ctx.db.rollback()
            raise errors.AlreadyExists(
                f"The account name {name!r} is taken.", fields={"name": "taken"}
            ) from exc
        self.audit.record("account.created", actor=primary, target=primary, detail={"via": via})
        self.ctx.db.commit()
        return account

    def get(self, account_id: int) -> Account:
        account = self.ctx.db.get(Account, account_id)
        if account is None:
            raise errors.NotFound()
        return account


def mfa_view(device: MfaDevice | None, recovery_left: int | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "enabled": device is not None,
        "serial": device.serial if device else None,
        "bound_at": iso(device.bound_at) if device else None,
    }
    if recovery_left is not None:
        view["recovery_codes_left"] = recovery_left
    return view


def _without_device() -> Any:
    """The principal (in a query over principals) has no active MFA device."""
    return ~(
        select(MfaDevice.id)
        .where(MfaDevice.principal_id == Principal.id, MfaDevice.state == "active")
        .exists()
    )


def restrict_sessions(
    ctx: Context,
    principal_ids: Select[Any],
    *,
    actor: Principal | None,
    target: Principal | None,
    reason: str,
    account_id: int | None = None,
) -> int:
    """MFA became required of these principals: their open sessions become setup-only at
    once (API.md, login states), and the change is audited."""
    count = Sessions(ctx).restrict_all(principal_ids)
    if count:
        Audit(ctx).record(
            "session.restricted",
            actor=actor,
            target=target,
            account_id=account_id,
            detail={"count": count, "reason": reason},
        )
    return count


def principals_needing_setup(account_id: int) -> Select[Any]:
    """The account's sub-users with no active device (for mfa_for_login = all_users)."""
    return select(Principal.id).where(
        Principal.account_id == account_id, Principal.kind == "user", _without_device()
    )


class Users:
    """Sub-user management; every method is for the account's primary only."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.audit = Audit(ctx)

    @staticmethod
    def require_primary(auth: Auth) -> None:
        if not auth.is_primary:
            raise errors.Forbidden("Only the primary account manages users.")

    def find(self, auth: Auth, name: str) -> Principal:
        self.require_primary(auth)
        user = self.ctx.db.scalar(
            select(Principal).where(
                Principal.account_id == auth.principal.account_id,
                Principal.name == name,
                Principal.kind == "user",
            )
        )
        if user is None:
            raise errors.NotFound(f"No user named {name!r} in this account.")
        return user

    def describe(self, user: Principal) -> dict[str, Any]:
        device = self.ctx.db.scalar(
            select(MfaDevice).where(MfaDevice.principal_id == user.id, MfaDevice.state == "active")
        )
        return self._view(user, device)

    def _view(self, user: Principal, device: MfaDevice | None) -> dict[str, Any]:
        return {
            "name": user.name,
            "login": user.login,
            "email": user.email,
            "mfa": mfa_view(device),
            "mfa_required": user.mfa_required,
            "created_at": iso(user.created_at),
        }

    def details(self, auth: Auth, name: str) -> tuple[dict[str, Any], list[AuthSession]]:
        """A sub-user and its live sessions, for its details page (a read; it ends here)."""
        user = self.find(auth, name)
        view, sessions = self.describe(user), Sessions(self.ctx).list_for(user.id)
        self.ctx.db.commit()
        return view, sessions

    def view(self, auth: Auth, name: str) -> dict[str, Any]:
        """A sub-user as `describe` shows it (a read; it ends here)."""
        view = self.describe(self.find(auth, name))
        self.ctx.db.commit()
        return view

    def list(self, auth: Auth) -> list[dict[str, Any]]:
        self.require_primary(auth)
        rows = self.ctx.db.execute(
            select(Principal, MfaDevice)
            .outerjoin(
                MfaDevice,
                (MfaDevice.principal_id == Principal.id) & (MfaDevice.state == "active"),
            )
            .where(Principal.account_id == auth.principal.account_id, Principal.kind == "user")
            .order_by(Principal.name)
            .limit(MAX_USERS_PAGE)
        ).all()
        views = [self._view(user, device) for user, device in rows]
        self.ctx.db.commit()  # a read: end it before the page is rendered
        return views

    def create(
        self,
        auth: Auth,
        *,
        name: str,
        password: str,
        email: str | None = None,
        mfa_required: bool = False,
    ) -> Principal:
        self.require_primary(auth)
        _check_name(name)
        account = self.ctx.db.get(Account, auth.principal.account_id)
        assert account is not None
        login = f"{name}@{account.name}"
        check_new_password(
            password,
            context=[name, login, account.name, email or ""],
            min_length=account.password_min_length,
        )
        # Hash outside the write transaction: end the one the request opened.
        self.ctx.db.commit()
        password_hash = self.ctx.passwords.hash(password)
        now = self.ctx.clock.now()
        user = Principal(
            account_id=account.id,
            kind="user",
            name=name,
            login=login,
            email=email,
            password_hash=password_hash,
            mfa_required=mfa_required,
            created_at=now,
            password_changed_at=now,
        )
        self.ctx.db.add(user)
        try:
            self.ctx.db.flush()
        except IntegrityError as exc:
            self.ctx.db.rollback()
            raise errors.AlreadyExists(
                f"A user named {name!r} exists already.", fields={"name": "taken"}
            ) from exc
        self.audit.record(
            "user.created", actor=auth.principal, target=user, detail={"mfa_required": mfa_required}
        )
        self.ctx.db.commit()
        return user

    def update(self, auth: Auth, name: str, changes: dict[str, Any]) -> Principal:
        """Change a sub-user's email or its "MFA must be enabled" flag.

        Weakening changes (turning the flag off, a new email, which opens email step-up and
        password reset to whoever holds that mailbox) need a freshly verified session.
        Turning the flag on restricts the user's open sessions at once, as its next login
        would be (unless it has a device already)."""
        user = self.find(auth, name)
        required = changes.get("mfa_required")
        turn_off = required is not None and not required and user.mfa_required
        turn_on = required is not None and bool(required) and not user.mfa_required
        new_email = "email" in changes and changes["email"] != user.email
        if (turn_off or new_email) and not Sessions(self.ctx).is_fresh(auth.session):
            self.ctx.db.rollback()
            raise errors.VerificationRequired()
        applied: dict[str, Any] = {}
        if required is not None:
            user.mfa_required = bool(required)
            applied["mfa_required"] = user.mfa_required
        if "email" in changes:
            user.email = changes["email"]
            applied["email"] = "changed"
        if applied:
            self.audit.record("user.updated", actor=auth.principal, target=user, detail=applied)
        if turn_on:
            restrict_sessions(
                self.ctx,
                select(Principal.id).where(Principal.id == user.id, _without_device()),
                actor=auth.principal,
                target=user,
                reason="mfa_required",
            )
        self.ctx.db.commit()
        return user

    def delete(self, auth: Auth, name: str) -> None:
        user = self.find(auth, name)
        self.audit.record("user.deleted", actor=auth.principal, target=user)
        self.ctx.db.delete(user)
        self.ctx.db.commit()

    def count(self, account_id: int) -> int:
        found = self.ctx.db.scalar(
            select(func.count())
            .select_from(Principal)
            .where(Principal.account_id == account_id, Principal.kind == "user")
        )
        self.ctx.db.commit()  # a read: end it before the page is rendered
        return int(found or 0)
