"""Account security preferences and the management of a principal's sessions.

Each public method is one use case and one transaction, and every change is audited. The API
and the console act as a signed-in principal (`Auth`); the CLI acts as the operator.
"""

from __future__ import annotations

import builtins

from sqlalchemy import delete, select

from twofold.domain import errors, preferences
from twofold.services.accounts import (
    Principals,
    Users,
    principals_needing_setup,
    restrict_sessions,
)
from twofold.services.audit import Audit
from twofold.services.context import Context
from twofold.services.login import forget_browsers
from twofold.services.sessions import Auth, Sessions
from twofold.services.views import SecurityPreferences, SessionView
from twofold.storage.models import (
    Account,
    Application,
    AuthorizationCode,
    AuthSession,
    Principal,
    RememberedBrowser,
)


def preferences_of(account: Account) -> SecurityPreferences:
    return SecurityPreferences(
        mfa_for_login=account.mfa_for_login,
        allow_users_to_manage_mfa=bool(account.allow_users_to_manage_mfa),
        remember_mfa_days=account.remember_mfa_days,
        session_hours=account.session_hours,
        login_networks=list(account.login_networks or []),
        password_min_length=account.password_min_length,
        password_max_age_days=account.password_max_age_days,
        password_reuse_prevention=account.password_reuse_prevention,
    )


def session_view(
    row: AuthSession, current_id: int | None, apps: dict[int, list[str]] | None = None
) -> SessionView:
    return SessionView(
        applications=tuple((apps or {}).get(row.id, ())),
        id=row.public_id,
        client_addr=row.client_addr,
        user_agent=row.user_agent,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        current=row.id == current_id,
        restricted=row.restricted,
    )


class AccountSecurity:
    """The account-wide preferences (Alibaba RAM SetSecurityPreference, AWS MFA conditions)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.audit = Audit(ctx)

    @staticmethod
    def _require_primary(auth: Auth) -> None:
        if not auth.is_primary:
            raise errors.Forbidden("Only the primary account sets security preferences.")

    def _account(self, account_id: int) -> Account:
        account = self.ctx.db.get(Account, account_id)
        if account is None:
            raise errors.NotFound("No such account.")
        return account

    def _by_name(self, name: str) -> tuple[Account, Principal]:
        row = self.ctx.db.execute(
            select(Account, Principal)
            .join(Principal, Principal.account_id == Account.id)
            .where(Account.name == name, Principal.kind == "primary")
        ).first()
        if row is None:
            raise errors.NotFound("No account named {name!r}.", params={"name": name})
        return row[0], row[1]

    def preferences(self, auth: Auth) -> SecurityPreferences:
        """The account's preferences (primary only)."""
        self._require_primary(auth)
        with self.ctx.reading():
            return preferences_of(self._account(auth.principal.account_id))

    def change(self, auth: Auth, changes: dict[str, object]) -> SecurityPreferences:
        """Apply the given preferences (others stay); one audit event per changed one."""
        self._require_primary(auth)
        account = self._account(auth.principal.account_id)
        return self._apply(
            account, changes, actor=auth.principal, via="api", subject=auth.principal
        )

    def show_account(self, name: str) -> SecurityPreferences:
        """Operator view (CLI) of the account called `name`."""
        with self.ctx.reading():
            account, _ = self._by_name(name)
            return preferences_of(account)

    def update_account(self, name: str, changes: dict[str, object]) -> SecurityPreferences:
        """Operator change (CLI); audited with no actor, `via: cli`."""
        account, primary = self._by_name(name)
        return self._apply(account, changes, actor=None, via="cli", subject=primary)

    def _apply(
        self,
        account: Account,
        changes: dict[str, object],
        *,
        actor: Principal | None,
        via: str,
        subject: Principal | None = None,
    ) -> SecurityPreferences:
        clean = preferences.validate_changes(changes)
        before = preferences_of(account).as_dict()
        for name, value in clean.items():
            if before[name] == value:
                continue
            setattr(account, name, value)
            self.audit.record(
                "account.security_changed",
                actor=actor,
                target=subject,
                account_id=account.id,
                detail={"setting": name, "old": before[name], "new": value, "via": via},
            )
        if clean.get("mfa_for_login") == "all_users" and before["mfa_for_login"] != "all_users":
            restrict_sessions(
                self.ctx,
                principals_needing_setup(account.id),
                actor=actor,
                target=subject,
                account_id=account.id,
                reason="mfa_for_login",
            )
        if clean.get("remember_mfa_days") == 0 and before["remember_mfa_days"] != 0:
            # Turning the feature off forgets every browser, so turning it on again later
            # does not bring old tokens back to life.
            members = select(Principal.id).where(Principal.account_id == account.id)
            self.ctx.db.execute(
                delete(RememberedBrowser).where(RememberedBrowser.principal_id.in_(members))
            )
        self.ctx.db.commit()
        return preferences_of(account)


class SessionManagement:
    """Listing and ending a principal's sessions. Ending sessions also forgets the
    principal's remembered browsers: a browser is not tied to one session, and whoever ends
    sessions because a device went missing wants that device to face the code step again."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.audit = Audit(ctx)
        self.sessions = Sessions(ctx)

    def views(self, auth: Auth) -> builtins.list[SessionView]:
        """The signed-in principal's live sessions, newest first; this one marked current;
        each with the applications it signed in to."""
        with self.ctx.reading():
            rows = self.sessions.list_for(auth.principal.id)
            apps = self._applications([r.id for r in rows])
        return [session_view(r, auth.session.id, apps) for r in rows]

    def _applications(self, session_ids: builtins.list[int]) -> dict[int, builtins.list[str]]:
        """The names of the applications each session signed in to (it was issued a code)."""
        found: dict[int, builtins.list[str]] = {}
        if not session_ids:
            return found
        rows = self.ctx.db.execute(
            select(AuthorizationCode.session_id, Application.name)
            .join(Application, Application.id == AuthorizationCode.application_id)
            .where(AuthorizationCode.session_id.in_(session_ids))
            .distinct()
            .order_by(Application.name)
        )
        for session_id, name in rows:
            if session_id is not None:
                found.setdefault(session_id, []).append(name)
        return found

    def revoke(self, auth: Auth, public_id: str) -> None:
        """End one of the signed-in principal's sessions (it may be this one)."""
        row = self.sessions.find_public(auth.principal.id, public_id)
        self._end_one(row, actor=auth.principal, target=auth.principal, via="api")

    def revoke_others(self, auth: Auth) -> int:
        """End every session of the signed-in principal but this one."""
        return self._end_all(
            auth.principal, actor=auth.principal, except_id=auth.session.id, via="api"
        )

    # The primary and its sub-users' sessions. Ending them tightens: no step-up needed.

    def list_user(self, auth: Auth, name: str) -> builtins.list[SessionView]:
        """A sub-user's live sessions, newest first (primary only)."""
        with self.ctx.reading():
            user = Users(self.ctx).find(auth, name)
            rows = self.sessions.list_for(user.id)
            apps = self._applications([r.id for r in rows])
        return [session_view(r, auth.session.id, apps) for r in rows]

    def revoke_user(self, auth: Auth, name: str, public_id: str, *, via: str = "api") -> None:
        """End one of a sub-user's sessions (primary only)."""
        user = Users(self.ctx).find(auth, name)
        row = self.sessions.find_public(user.id, public_id)
        self._end_one(row, actor=auth.principal, target=user, via=via)

    def revoke_user_all(self, auth: Auth, name: str, *, via: str = "api") -> int:
        """End every session of a sub-user (primary only)."""
        user = Users(self.ctx).find(auth, name)
        return self._end_all(user, actor=auth.principal, except_id=None, via=via)

    # Operator (CLI) use cases.

    def operator_list(self, login: str) -> builtins.list[SessionView]:
        """The live sessions of the principal that logs in as `login`, newest first."""
        with self.ctx.reading():
            principal = Principals(self.ctx).by_login(login)
            rows = self.sessions.list_for(principal.id)
        return [session_view(r, None) for r in rows]

    def operator_revoke(self, login: str, public_id: str) -> None:
        principal = Principals(self.ctx).by_login(login)
        row = self.sessions.find_public(principal.id, public_id)
        self._end_one(row, actor=None, target=principal, via="cli")

    def operator_revoke_all(self, login: str) -> int:
        principal = Principals(self.ctx).by_login(login)
        return self._end_all(principal, actor=None, except_id=None, via="cli")

    def _end_one(
        self, row: AuthSession, *, actor: Principal | None, target: Principal, via: str
    ) -> None:
        self.sessions.revoke(row.id)
        forget_browsers(self.ctx, target.id)
        self.audit.record(
            "session.revoked",
            actor=actor,
            target=target,
            detail={"session": row.public_id, "via": via},
        )
        self.ctx.db.commit()

    def _end_all(
        self, target: Principal, *, actor: Principal | None, except_id: int | None, via: str
    ) -> int:
        count = self.sessions.revoke_all(target.id, except_id=except_id)
        forget_browsers(self.ctx, target.id)
        self.audit.record(
            "session.revoked_others" if except_id is not None else "session.revoked_all",
            actor=actor,
            target=target,
            detail={"count": count, "via": via},
        )
        self.ctx.db.commit()
        return count
