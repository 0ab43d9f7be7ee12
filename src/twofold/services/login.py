"""Signing in: the password step, the code step, and the setup-only session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, insert, select, update

from twofold.domain import errors, policy
from twofold.domain.errors import N_
from twofold.domain.policy import network_allowed
from twofold.domain.tokens import MAX_TOKEN_LENGTH, new_token, token_digest
from twofold.services.audit import Audit
from twofold.services.codes import ResultTable, SecondFactor, result_of
from twofold.services.context import Context
from twofold.services.mail import notify, notify_later
from twofold.services.password_guard import PasswordGuard
from twofold.services.security_keys import SecurityKeys
from twofold.services.sessions import Sessions
from twofold.storage.db import affected, run, table_of
from twofold.storage.models import (
    Account,
    LoginChallenge,
    Principal,
    RememberedBrowser,
)

# The password step's write, built once: a Core INSERT on the connection.
_NEW_CHALLENGE = insert(table_of(LoginChallenge))


@dataclass
class LoginResult:
    # "authenticated", "mfa_required", "password_change_required" or "mfa_setup_required"
    state: str
    token: str | None = None
    challenge: str | None = None
    remember_token: str | None = None  # set when the browser asked to be remembered
    recovery_codes_left: int | None = None
    methods: list[str] | None = None  # the second factors on offer: "totp", "webauthn"

    def session_token(self) -> str:
        """The new session's token; a result without one signs nobody in (fail closed)."""
        if not self.token:
            raise errors.Unauthenticated()
        return self.token

    def challenge_token(self) -> str:
        """The second step's challenge; a result without one has no second step."""
        if not self.challenge:
            raise errors.ChallengeExpired()
        return self.challenge


def network_allowed_for(found: tuple[Principal, Account], client_addr: str | None) -> bool:
    """The account's network list binds its sub-users; the primary is never locked out."""
    principal, account = found
    return principal.kind != "user" or network_allowed(client_addr, account.login_networks or [])


# The metrics' result label of a sign-in step that failed (first match wins).
LOGIN_RESULTS: ResultTable = (
    (errors.InvalidCredentials, "invalid"),
    (errors.InvalidMFACode, "invalid_code"),
    (errors.Overloaded, "shed"),
    (errors.RateLimited, "shed"),
    (errors.TooManyAttempts, "locked"),
    (errors.AccountDisabled, "disabled"),
    (errors.NetworkNotAllowed, "network_not_allowed"),
    (errors.ChallengeExpired, "challenge_expired"),
)


class Login:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.audit = Audit(ctx)
        self.sessions = Sessions(ctx)
        self.factor = SecondFactor(ctx)
        self.guard = PasswordGuard(ctx)

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
        try:
            result = self._password_step(login, password, remember_token)
        except errors.TwofoldError as exc:
            self.ctx.observer.login(result_of(exc, LOGIN_RESULTS))
            raise
        self.ctx.observer.login(result.state)
        return result

    def _password_step(self, login: str, password: str, remember_token: str | None) -> LoginResult:
        login = login[:200]
        # Everything before the hash only reads: a read-only transaction (SQLite: no write
        # lock), the second factors too, so the write transaction after it holds only the writes.
        with self.ctx.reading():
            found = self._load(login) if len(login) <= 80 else None
            refused = (
                found[0]
                if found is not None and not network_allowed_for(found, self.ctx.client_addr)
                else None
            )
            gate = (
                self.guard.open(
                    login,
                    may_pass_ceiling=lambda: found is not None
                    and self._usual_client(found[0], found[1], remember_token),
                )
                if refused is None
                else None
            )
            methods = self.factor.factor_kinds(found[0].id) if found and gate else []
        if refused is not None or gate is None:
            # Before the password: the same answer whether it was right or wrong.
            self.audit.record(
                "login.failed", result="network_not_allowed", actor=refused, target=refused
            )
            self.ctx.db.commit()
            raise errors.NetworkNotAllowed()
        # Hash with no transaction open: other processes keep writing meanwhile.
        ok = self.ctx.passwords.verify(found[0].password_hash if found else None, password)
        if not ok or found is None:  # an unknown login fails even were the dummy hash to match
            first_locks = self.guard.failed(gate)
            if found is None:
                # The typed login is not kept: people type their password there by mistake
                # (AWS CloudTrail hides unknown user names for the same reason). One row per
                # client address and window, with a count, not one per request.
                self._tally_unknown_login()
            else:
                self.audit.record(
                    "login.failed", result="wrong_password", actor=found[0], target=found[0]
                )
                for lock in first_locks:
                    self.ctx.observer.lockout("password")
                    self.audit.record(
                        "login.locked", result="locked", actor=found[0], target=found[0],
                        detail={"scope": lock},
                    )
            self.ctx.db.commit()
            if found is not None and first_locks:
                self._lock_notice(found[0], first_locks)
            raise errors.InvalidCredentials()
        principal, account = found
        self.guard.succeeded(gate)
        if principal.disabled:
            # Only the right password learns that the user is disabled: a wrong one got
            # InvalidCredentials above, as for anyone (no oracle for strangers).
            self.audit.record(
                "login.failed", result="disabled", actor=principal, target=principal
            )
            self.ctx.db.commit()
            raise errors.AccountDisabled()
        if self.ctx.passwords.needs_rehash(principal.password_hash):
            self.ctx.db.commit()
            new_hash = self.ctx.passwords.hash(password)
            self.ctx.db.execute(
                update(Principal).where(Principal.id == principal.id).values(password_hash=new_hash)
            )
        if methods:
            if remember_token and self._remembered(principal, account, remember_token):
                # The code was not asked for: the sign-in used the password alone.
                token, _ = self.sessions.create(
                    principal, account, verified=False, methods=("pwd",)
                )
                self.audit.record(
                    "login.succeeded",
                    actor=principal,
                    target=principal,
                    detail={"second_factor": "remembered_browser"},
                )
                new_client = self._note_client(principal)
                self.ctx.db.commit()
                self._new_client_notice(principal, new_client)
                return LoginResult(self._signed_in_state(principal, account), token=token)
            challenge = new_token()
            run(
                self.ctx.db,
                _NEW_CHALLENGE,
                {
                    "token_hash": token_digest(challenge),
                    "principal_id": principal.id,
                    "expires_at": self.ctx.clock.now() + policy.CHALLENGE_LIFETIME,
                    "client_addr": self.ctx.client_addr,
                },
            )
            self.audit.record("login.password_ok", actor=principal, target=principal)
            self.ctx.db.commit()
            return LoginResult("mfa_required", challenge=challenge, methods=methods)
        setup_required = policy.mfa_setup_due(
            principal.kind, principal.mfa_required, account.mfa_for_login
        )
        # A setup-only session proved only the password: it is not freshly verified.
        token, _ = self.sessions.create(
            principal,
            account,
            restricted=setup_required,
            verified=not setup_required,
            methods=("pwd",),
        )
        self.audit.record(
            "login.succeeded",
            actor=principal,
            target=principal,
            detail={"mfa_setup_required": True} if setup_required else None,
        )
        new_client = self._note_client(principal)
        self.ctx.db.commit()
        self._new_client_notice(principal, new_client)
        state = "mfa_setup_required" if setup_required else "authenticated"
        if self._change_due(principal, account):  # the forced change comes before the setup
            state = "password_change_required"
        return LoginResult(state, token=token)

    def code_step(
        self,
        challenge: object,
        *,
        code: object = None,
        recovery_code: object = None,
        webauthn: object = None,
        remember: bool = False,
    ) -> LoginResult:
        """Finish a login with a code (a recovery code, a security key's answer) and the
        challenge it answers."""
        try:
            result = self._code_step(challenge, code, recovery_code, webauthn, remember)
        except errors.TwofoldError as exc:
            self.ctx.observer.login(result_of(exc, LOGIN_RESULTS))
            raise
        self.ctx.observer.login(result.state)
        return result

    def _code_step(
        self,
        challenge: object,
        code: object,
        recovery_code: object,
        webauthn: object,
        remember: bool,
    ) -> LoginResult:
        ch, principal, account = self._open_challenge(challenge)
        now = self.ctx.clock.now()
        left: int | None = None
        method = "mfa"
        if webauthn is not None:
            SecurityKeys(self.ctx).check_assertion(
                principal, webauthn, "login", fail_purpose="login", login_challenge_id=ch.id
            )
            method = "webauthn"
        elif recovery_code is not None and code is None:
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
        # RFC 8176: a security key is `hwk`; a recovery code is a one-time password too
        # (RFC 4949), held apart from the device.
        second = "hwk" if method == "webauthn" else "otp"
        token, _ = self.sessions.create(principal, account, methods=("pwd", second))
        result = LoginResult(
            self._signed_in_state(principal, account), token=token, recovery_codes_left=left
        )
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
        new_client = self._note_client(principal)
        self.ctx.db.commit()
        self._new_client_notice(principal, new_client)
        if method == "recovery_code":
            notify(
                self.ctx.mailer,
                principal.email,
                N_("A recovery code was used"),
                N_(
                    "A recovery code was used to sign in as {login}. {left} recovery codes "
                    "remain. If this was not you, change your password and bind a new MFA "
                    "device at once."
                ),
                params={"login": principal.login, "left": left},
                locale=principal.locale,
            )
        return result

    def _open_challenge(self, challenge: object) -> tuple[LoginChallenge, Principal, Account]:
        """The live login challenge `challenge` names, issued to this client address."""
        if not isinstance(challenge, str) or not challenge or len(challenge) > MAX_TOKEN_LENGTH:
            raise errors.ChallengeExpired()
        row = self.ctx.db.execute(
            select(LoginChallenge, Principal, Account)
            .join(Principal, Principal.id == LoginChallenge.principal_id)
            .join(Account, Account.id == Principal.account_id)
            .where(LoginChallenge.token_hash == token_digest(challenge))
        ).first()
        now = self.ctx.clock.now()
        if row is None or row[0].used_at is not None or row[0].expires_at <= now:
            raise errors.ChallengeExpired()
        if row[0].client_addr != self.ctx.client_addr:
            # A challenge answers only from the address it was issued to.
            raise errors.ChallengeExpired()
        return row[0], row[1], row[2]

    def challenge_methods(self, challenge: object) -> list[str]:
        """The second factors a live login challenge may be answered with."""
        with self.ctx.reading():
            _, principal, _ = self._open_challenge(challenge)
            return self.factor.factor_kinds(principal.id)

    def key_options(self, challenge: object) -> dict[str, object]:
        """Options for a security key's answer to this login challenge; they expire with it."""
        ch, principal, _ = self._open_challenge(challenge)
        return SecurityKeys(self.ctx).request_options(
            principal, "login", login_challenge_id=ch.id, expires_at=ch.expires_at
        )

    def passkey_options(self) -> dict[str, object]:
        """Options for signing in with a passkey alone (discoverable, user-verified)."""
        return SecurityKeys(self.ctx).request_options(None, "passkey", user_verification=True)

    def passkey_step(self, credential: object) -> LoginResult:
        """Sign in with a passkey and no password: the authenticator verified its user."""
        key, principal = SecurityKeys(self.ctx).check_assertion(
            None, credential, "passkey", fail_purpose="login", require_user_verification=True
        )
        account = self.ctx.db.get(Account, principal.account_id)
        if account is None:
            raise errors.InvalidCredentials()
        if not network_allowed_for((principal, account), self.ctx.client_addr):
            self.audit.record(
                "login.failed", result="network_not_allowed", actor=principal, target=principal
            )
            self.ctx.db.commit()
            raise errors.NetworkNotAllowed()
        if principal.disabled:
            self.audit.record("login.failed", result="disabled", actor=principal, target=principal)
            self.ctx.db.commit()
            raise errors.AccountDisabled()
        # The key, and its user's presence; which verification (PIN, biometric) the
        # authenticator used is not known here, so no `pin`/`fpt` is claimed.
        token, _ = self.sessions.create(principal, account, methods=("hwk", "user"))
        self.audit.record(
            "login.succeeded",
            actor=principal,
            target=principal,
            detail={"second_factor": "passkey", "key": key.public_id},
        )
        new_client = self._note_client(principal)
        self.ctx.db.commit()
        self._new_client_notice(principal, new_client)
        return LoginResult(self._signed_in_state(principal, account), token=token)

    def _change_due(self, principal: Principal, account: Account) -> bool:
        """The primary set this password, or the account's policy says it expired."""
        return bool(principal.password_reset_required) or policy.password_expired(
            principal.kind,
            principal.password_changed_at,
            account.password_max_age_days,
            self.ctx.clock.now(),
        )

    def _signed_in_state(self, principal: Principal, account: Account) -> str:
        """After the second factor: signed in, or first the forced password change."""
        due = self._change_due(principal, account)
        return "password_change_required" if due else "authenticated"

    def _usual_client(self, principal: Principal, account: Account, remember: str | None) -> bool:
        """The owner's own client: an address of its last sign-ins, or a remembered browser."""
        if self.ctx.client_addr and self.ctx.client_addr in (principal.recent_clients or []):
            return True
        return bool(remember) and self._remembered(principal, account, remember or "")

    def _note_client(self, principal: Principal) -> bool:
        """Keep the client address among the principal's recent ones; True when it is new
        to a principal that has signed in before (the notice goes out after commit)."""
        addr = self.ctx.client_addr
        recent = list(principal.recent_clients or [])
        if not addr or (recent and recent[0] == addr):
            return False  # the usual case writes nothing
        new = addr not in recent
        kept = [addr, *[a for a in recent if a != addr]][: policy.RECENT_CLIENTS]
        self.ctx.db.execute(
            update(Principal).where(Principal.id == principal.id).values(recent_clients=kept)
        )
        return new and bool(recent)

    def _new_client_notice(self, principal: Principal, new_client: bool) -> None:
        if new_client:
            notify(
                self.ctx.mailer,
                principal.email,
                N_("New sign-in to your account"),
                N_(
                    "{login} signed in from an address it had not used recently: {address} "
                    "({client}). If this was not you, change your password and end your other "
                    "sessions."
                ),
                params={
                    "login": principal.login,
                    "address": self.ctx.client_addr,
                    "client": (self.ctx.user_agent or "unknown client")[:120],
                },
                locale=principal.locale,
            )

    def _lock_notice(self, principal: Principal, locks: list[str]) -> None:
        body = (
            N_(
                "Many wrong passwords were tried for {login}; sign-ins from {address} are "
                "paused for a while. If this was not you, nothing is needed: your password was "
                "not accepted."
            )
            if locks == ["client"]
            else N_(
                "Many wrong passwords were tried for {login}; sign-ins are paused for every "
                "address but your usual ones for a while. If this was not you, nothing is "
                "needed: your password was not accepted."
            )
        )
        notify_later(
            self.ctx.mailer,
            principal.email,
            N_("Sign-ins to your account were paused"),
            body,
            params={"login": principal.login, "address": self.ctx.client_addr},
            locale=principal.locale,
        )

    def _tally_unknown_login(self) -> None:
        counters = self.guard.counters
        key = counters.key("unknown-login-audit", self.ctx.client_addr or "")
        row = counters.bump(key, policy.UNKNOWN_LOGIN_AUDIT_WINDOW)
        detail = {
            "count": row.count,
            "window_start": row.started_at.isoformat(),
            "window_seconds": int(policy.UNKNOWN_LOGIN_AUDIT_WINDOW.total_seconds()),
        }
        event_id = self.audit.record_tally(
            "login.failed", result="unknown_login", ref=row.ref, detail=detail
        )
        if row.ref is None:
            counters.set_ref(key, event_id)

    def _remembered(self, principal: Principal, account: Account, token: str) -> bool:
        if account.remember_mfa_days <= 0 or len(token) > MAX_TOKEN_LENGTH:
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
