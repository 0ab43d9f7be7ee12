"""Accounts (primary principals) and their sub-users."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from twofold import i18n
from twofold.domain import errors, policy
from twofold.domain.passwords import check_new_password
from twofold.domain.phones import masked_phone
from twofold.services.audit import Audit
from twofold.services.codes import SecondFactor
from twofold.services.context import Context
from twofold.services.email_confirmation import (
    ConfirmationMail,
    forget_confirmation,
    issue_confirmation,
)
from twofold.services.emails import checked_email
from twofold.services.lifecycle import Lifecycle, check_password_for
from twofold.services.sessions import Auth, Sessions, SignedIn
from twofold.services.views import AccountView, MeView, MfaStatus, PrincipalStatus, UserView
from twofold.storage.db import run, table_of
from twofold.storage.hot import HotDatabase, read_by_key
from twofold.storage.models import (
    Account,
    AuthSession,
    MfaDevice,
    Principal,
    RecoveryCode,
    SecurityKey,
)
from twofold.storage.prebuilt import Reads

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

    def create(self, name: str, email: str, password: str, *, via: str = "api") -> AccountView:
        """Sign up a new account with its primary principal."""
        _check_name(name)
        email = checked_email(email)
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
                "The account name {name!r} is taken.",
                params={"name": name},
                fields={"name": "taken"},
            ) from exc
        self.audit.record("account.created", actor=primary, target=primary, detail={"via": via})
        mail = issue_confirmation(self.ctx, primary)
        view = AccountView(name=account.name, email=account.email)
        self.ctx.db.commit()
        if mail is not None:
            mail.send(self.ctx)
        return view


def email_verified(principal: Principal) -> bool:
    """Whether the principal's address on file was confirmed by its holder."""
    return policy.address_confirmed(principal.email, principal.email_verified_at)


def account_of(ctx: Context, principal: Principal) -> Account:
    """The principal's account row; NotFound when it is gone (deleted meanwhile)."""
    account = ctx.db.get(Account, principal.account_id)
    if account is None:
        raise errors.NotFound("No such account.")
    return account


def mfa_status(
    device: MfaDevice | None, recovery_left: int | None = None, keys: int = 0
) -> MfaStatus:
    """The one MFA status shape, for every face."""
    return MfaStatus(
        enabled=device is not None or keys > 0,
        serial=device.serial if device else None,
        bound_at=device.bound_at if device else None,
        recovery_codes_left=recovery_left,
        totp=device is not None,
        security_keys=keys,
    )


_DEVICES, _KEYS, _CODES = table_of(MfaDevice), table_of(SecurityKey), table_of(RecoveryCode)
_ACTIVE = (_DEVICES.c.principal_id == bindparam("pid")) & (_DEVICES.c.state == "active")
_OWN_MFA = select(
    select(_DEVICES.c.serial).where(_ACTIVE).scalar_subquery(),
    select(_DEVICES.c.bound_at).where(_ACTIVE).scalar_subquery(),
    select(func.count())
    .select_from(_KEYS)
    .where(_KEYS.c.principal_id == bindparam("pid"))
    .scalar_subquery(),
    select(func.count())
    .select_from(_CODES)
    .where(_CODES.c.principal_id == bindparam("pid"), _CODES.c.used_at.is_(None))
    .scalar_subquery(),
)


def _own_mfa(row: Any) -> MfaStatus:
    serial, bound_at, keys, left = row
    enabled = serial is not None or keys > 0
    return MfaStatus(
        enabled=enabled,
        serial=serial,
        bound_at=bound_at,
        recovery_codes_left=left if enabled else 0,
        totp=serial is not None,
        security_keys=keys,
    )


class Principals:
    """Looking principals up and describing them: for the signed-in principal itself, and
    for the operator (CLI), who names a principal by its login."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.factor = SecondFactor(ctx)

    def by_login(self, login: str) -> Principal:
        principal = self.ctx.db.scalar(select(Principal).where(Principal.login == login))
        if principal is None:
            raise errors.NotFound("No principal logs in as {login!r}.", params={"login": login})
        return principal

    def own_mfa(self, principal_id: int) -> MfaStatus:
        """The principal's MFA status as it may see it: with its recovery codes left. One
        prebuilt statement, in the caller's transaction (`GET /me` asks it every time)."""
        return _own_mfa(run(self.ctx.db, _OWN_MFA, {"pid": principal_id}).one())

    def me(self, auth: Auth) -> MeView:
        """Who is signed in, and the state of its MFA."""
        return self.me_of(auth.signed_in())

    def me_of(self, who: SignedIn) -> MeView:
        """`me` for a session found by `Sessions.identify` (no ORM object)."""
        with self.ctx.reading():
            mfa = self.own_mfa(who.principal_id)
        return self._me(who, mfa)

    async def me_hot(
        self, db: HotDatabase, token: str | None, reach: Callable[[SignedIn], None]
    ) -> MeView:
        """`GET /me` on the hot paths' connections (storage/hot.py): `Sessions.identify`
        with nothing written (WriteNeeded for a session due its touch), `reach` (raises for
        a session that may not), and the MFA status: two reads by key, as `me_of` reads
        them through the engine."""
        return await read_by_key(db, self._me_reads(token, reach))

    def _me_reads(self, token: str | None, reach: Callable[[SignedIn], None]) -> Reads[MeView]:
        who = yield from Sessions(self.ctx).identify_reads(token)
        reach(who)
        mfa = _own_mfa((yield _OWN_MFA, {"pid": who.principal_id}))
        return self._me(who, mfa)

    def _me(self, who: SignedIn, mfa: MfaStatus) -> MeView:
        verified = who.verified_at
        return MeView(
            login=who.login,
            kind=who.kind,
            account=who.login.rpartition("@")[2],
            email=who.email,
            email_verified=who.email_verified,
            mfa=mfa,
            mfa_required=who.mfa_required,
            restricted=who.restricted,
            password_change_required=who.must_change_password,
            verified_until=verified + self.ctx.settings.fresh_window if verified else None,
            phone=masked_phone(who.phone) if who.phone else None,
        )

    def set_locale(self, auth: Auth, locale: str | None) -> None:
        """The console language `auth`'s principal chose; None: follow the browser's."""
        if locale is not None and i18n.known(locale) is None:
            raise errors.ValidationFailed(
                "That language is not offered.", fields={"lang": ", ".join(i18n.LANGUAGES)}
            )
        self.ctx.db.execute(
            update(Principal).where(Principal.id == auth.principal.id).values(locale=locale)
        )
        self.ctx.db.commit()

    def status(self, login: str) -> PrincipalStatus:
        """Operator view (CLI) of the principal that logs in as `login`."""
        with self.ctx.reading():
            principal = self.by_login(login)
            device = self.factor.active_device(principal.id)
            mfa = mfa_status(
                device,
                self.factor.recovery_codes_left(principal.id),
                self.factor.security_key_count(principal.id),
            )
        return PrincipalStatus(
            login=principal.login, kind=principal.kind, mfa=mfa,
            mfa_required=principal.mfa_required,
            phone=masked_phone(principal.phone) if principal.phone else None,
        )


def _without_device() -> Any:
    """The principal (in a query over principals) has no second factor: no active MFA
    device and no security key."""
    return (
        ~(
            select(MfaDevice.id)
            .where(MfaDevice.principal_id == Principal.id, MfaDevice.state == "active")
            .exists()
        )
        & ~select(SecurityKey.id).where(SecurityKey.principal_id == Principal.id).exists()
    )


def _key_count() -> Any:
    """How many security keys the principal (in a query over principals) has."""
    return (
        select(func.count(SecurityKey.id))
        .where(SecurityKey.principal_id == Principal.id)
        .scalar_subquery()
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
            raise errors.NotFound("No user named {name!r} in this account.", params={"name": name})
        return user

    def view(self, auth: Auth, name: str) -> UserView:
        """One sub-user, with its MFA state (primary only)."""
        with self.ctx.reading():
            return self._describe(self.find(auth, name))

    def view_of(self, user: Principal) -> UserView:
        """The view of a sub-user the caller holds already (just created or changed)."""
        with self.ctx.reading():
            return self._describe(user)

    def views(self, auth: Auth) -> list[UserView]:
        """The account's sub-users, by name (primary only)."""
        self.require_primary(auth)
        with self.ctx.reading():
            rows = self.ctx.db.execute(
                select(Principal, MfaDevice, _key_count())
                .outerjoin(
                    MfaDevice,
                    (MfaDevice.principal_id == Principal.id) & (MfaDevice.state == "active"),
                )
                .where(
                    Principal.account_id == auth.principal.account_id, Principal.kind == "user"
                )
                .order_by(Principal.name)
                .limit(MAX_USERS_PAGE)
            ).all()
            return [self._view(user, device, keys) for user, device, keys in rows]

    def look_up(self, auth: Auth, name: str) -> Principal:
        """find() for a page that only shows: a read-only transaction (no write lock) unless
        one is open already."""
        with self.ctx.reading():
            return self.find(auth, name)

    def details(self, auth: Auth, name: str) -> tuple[UserView, list[AuthSession]]:
        """A sub-user and its live sessions, for its details page (one read)."""
        with self.ctx.reading():
            user = self.find(auth, name)
            return self._describe(user), Sessions(self.ctx).list_for(user.id)

    def _describe(self, user: Principal) -> UserView:
        factor = SecondFactor(self.ctx)
        return self._view(user, factor.active_device(user.id), factor.security_key_count(user.id))

    @staticmethod
    def _view(user: Principal, device: MfaDevice | None, keys: int = 0) -> UserView:
        return UserView(
            name=user.name,
            login=user.login,
            email=user.email,
            mfa=mfa_status(device, keys=keys),
            mfa_required=user.mfa_required,
            created_at=user.created_at,
            password_reset_required=bool(user.password_reset_required),
            disabled=bool(user.disabled),
            email_verified=email_verified(user),
            phone_verified=user.phone is not None,
        )

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
        email = checked_email(email) if email else None
        account = account_of(self.ctx, auth.principal)
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
                "A user named {name!r} exists already.",
                params={"name": name},
                fields={"name": "taken"},
            ) from exc
        self.audit.record(
            "user.created", actor=auth.principal, target=user, detail={"mfa_required": mfa_required}
        )
        mail = issue_confirmation(self.ctx, user)
        self.ctx.db.commit()
        if mail is not None:
            mail.send(self.ctx)
        return user

    def update(self, auth: Auth, name: str, changes: dict[str, Any]) -> Principal:
        """Change a sub-user's email, its "MFA must be enabled" flag, its password (which
        ends its sessions), whether it must change its password at the next sign-in, or
        whether it is disabled.

        Weakening changes (turning the flag off, a new email, which opens email step-up and
        password reset to whoever holds that mailbox), a new password and disabling or
        enabling need a freshly verified session.
        Turning the flag on restricts the user's open sessions at once, as its next login
        would be (unless it has a device already)."""
        user = self.find(auth, name)
        if isinstance(changes.get("email"), str):
            changes = {**changes, "email": checked_email(changes["email"])}
        required = changes.get("mfa_required")
        turn_off = required is not None and not required and user.mfa_required
        turn_on = required is not None and bool(required) and not user.mfa_required
        new_email = "email" in changes and changes["email"] != user.email
        password = changes.get("password")
        disabled = changes.get("disabled")
        fresh_needed = turn_off or new_email or password is not None or disabled is not None
        if fresh_needed and not Sessions(self.ctx).is_fresh(auth.session):
            self.ctx.db.rollback()
            raise errors.VerificationRequired()
        life = Lifecycle(self.ctx)
        if password is not None:
            check_password_for(self.ctx, user, password)
            self.ctx.db.commit()  # hash with no write lock held
            password_hash = self.ctx.passwords.hash(password)
            user = self.find(auth, name)
            must_change = changes.get("password_reset_required")
            if must_change is None:
                must_change = user.password_reset_required
            life.apply_password(auth.principal, user, password_hash, bool(must_change))
        elif changes.get("password_reset_required") is not None:
            life.apply_reset_required(
                auth.principal, user, bool(changes["password_reset_required"])
            )
        if disabled is not None:
            life.apply_disabled(auth.principal, user, bool(disabled))
        applied: dict[str, Any] = {}
        mail: ConfirmationMail | None = None
        if required is not None:
            user.mfa_required = bool(required)
            applied["mfa_required"] = user.mfa_required
        if new_email:
            # A new address is unconfirmed until its holder follows the link mailed to it.
            user.email = changes["email"]
            forget_confirmation(self.ctx, user)
            mail = issue_confirmation(self.ctx, user)
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
        if mail is not None:
            mail.send(self.ctx)
        return user

    def delete(self, auth: Auth, name: str) -> None:
        user = self.find(auth, name)
        self.audit.record("user.deleted", actor=auth.principal, target=user)
        self.ctx.db.delete(user)
        self.ctx.db.commit()

    def count(self, account_id: int) -> int:
        with self.ctx.reading():
            found = self.ctx.db.scalar(
                select(func.count())
                .select_from(Principal)
                .where(Principal.account_id == account_id, Principal.kind == "user")
            )
        return int(found or 0)
