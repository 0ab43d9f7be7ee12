"""Checking a second factor: TOTP codes, email codes and recovery codes.

Every check goes through the principal's code throttle. A TOTP step is accepted at most once
per device by one conditional UPDATE of `last_step`; single-use codes are consumed by a
conditional UPDATE of `used_at`. The row count decides, never a prior read.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update

from twofold import i18n
from twofold.domain import errors, policy, totp
from twofold.domain.errors import N_
from twofold.domain.sealing import SealingError
from twofold.domain.tokens import RECOVERY_CODE_COUNT, new_recovery_code, normalize_recovery_code
from twofold.services.audit import Audit
from twofold.services.context import Context
from twofold.services.mail import notify_later
from twofold.services.throttle import CODES, RECOVERY, Throttle
from twofold.storage.db import affected, run, table_of
from twofold.storage.models import (
    Account,
    EmailCode,
    MfaDevice,
    Principal,
    RecoveryCode,
    SecurityKey,
)

_ACTIVE_DEVICE = select(MfaDevice).where(
    MfaDevice.principal_id == bindparam("principal_id"), MfaDevice.state == "active"
)
_DEVICES = table_of(MfaDevice)
# Replay protection: the step is accepted only if it is later than the last accepted one.
# A Core statement on the table, run on the connection: the write lock is held for it alone.
ACCEPT_STEP = (
    update(_DEVICES)
    .where(
        _DEVICES.c.id == bindparam("device_id"),
        _DEVICES.c.state == "active",
        _DEVICES.c.last_step < bindparam("step"),
    )
    .values(last_step=bindparam("step"))
)


def consume_single_use(
    ctx: Context, model: Any, digest: str, principal_id: int, *where: Any
) -> int | None:
    """Use up the principal's live code (a row of EmailCode or SmsCode) whose hash is
    `digest`, compared in constant time; its id, or None. The conditional UPDATE of
    `used_at` decides, so a code is accepted once also under parallel requests."""
    now = ctx.clock.now()
    rows = ctx.db.execute(
        select(model.id, model.code_hash).where(
            model.principal_id == principal_id,
            model.used_at.is_(None),
            model.expires_at > now,
            *where,
        )
    ).all()
    for row_id, stored in rows:
        if hmac.compare_digest(stored, digest):
            used = affected(
                ctx.db.execute(
                    update(model)
                    .where(model.id == row_id, model.used_at.is_(None))
                    .values(used_at=now)
                )
            )
            if used == 1:
                return int(row_id)
    return None


def device_context(serial: str) -> str:
    return f"mfa-device:{serial}"


ResultTable = tuple[tuple[type[errors.TwofoldError], str], ...]

# The metrics' result label of a failed code check (first match wins: subclasses first).
CHECK_RESULTS: ResultTable = (
    (errors.ReplayedMFACode, "replay"),
    (errors.OutOfSyncMFACode, "out_of_sync"),
    (errors.InvalidMFACode, "invalid"),
    (errors.TooManyAttempts, "locked"),
    (errors.MFANotEnabled, "no_device"),
)


def failure_reason(failure: errors.TwofoldError) -> str:
    """The audit result of a failed code check: replay, out_of_sync or wrong_code."""
    if isinstance(failure, errors.ReplayedMFACode):
        return "replay"
    return "out_of_sync" if isinstance(failure, errors.OutOfSyncMFACode) else "wrong_code"


def result_of(exc: errors.TwofoldError, table: ResultTable) -> str:
    """The label `table` gives the error `exc`; `error` for any other."""
    return next((label for kind, label in table if isinstance(exc, kind)), "error")


# Whether the principal (`pid`) has a bound device, and a security key: two indexed EXISTS.
FACTOR_KINDS = select(
    select(MfaDevice.id)
    .where(MfaDevice.principal_id == bindparam("pid"), MfaDevice.state == "active")
    .exists(),
    select(SecurityKey.id).where(SecurityKey.principal_id == bindparam("pid")).exists(),
)


def kinds_of(row: Any) -> list[str]:
    """The kinds of second factor a `FACTOR_KINDS` row says the principal has."""
    return [kind for kind, has in zip(("totp", "webauthn"), row, strict=True) if has]


class SecondFactor:
    """Checks one principal's second factor and keeps its throttle."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.throttle = Throttle(ctx, CODES)
        self.recovery = Throttle(ctx, RECOVERY)
        self.audit = Audit(ctx)

    @contextmanager
    def reported(self, method: str) -> Iterator[None]:
        """Tell the observer how the check inside ended."""
        try:
            yield
        except errors.TwofoldError as exc:
            self.ctx.observer.mfa_check(method, result_of(exc, CHECK_RESULTS))
            raise
        self.ctx.observer.mfa_check(method, "accepted")

    def active_device(self, principal_id: int) -> MfaDevice | None:
        return self.ctx.db.scalar(_ACTIVE_DEVICE, {"principal_id": principal_id})

    def may_manage(self, actor: Principal, target: Principal) -> bool:
        """Whether `actor` may add, replace or remove `target`'s second factors: a sub-user
        its own only while its account allows it (`allow_users_to_manage_mfa`, Alibaba RAM
        AllowUserToManageMFADevices); a primary those of its users."""
        if actor.id != target.id or target.kind != "user":
            return True
        account = self.ctx.db.get(Account, target.account_id)
        # Fail closed: with no account row to say so, a sub-user manages nothing.
        return account is not None and bool(account.allow_users_to_manage_mfa)

    def security_key_count(self, principal_id: int) -> int:
        return int(
            self.ctx.db.scalar(
                select(func.count())
                .select_from(SecurityKey)
                .where(SecurityKey.principal_id == principal_id)
            )
            or 0
        )

    def factor_kinds(self, principal_id: int) -> list[str]:
        """The kinds of second factor the principal has, "totp" and "webauthn", in one
        statement (two indexed EXISTS): the password step's hot path."""
        return kinds_of(run(self.ctx.db, FACTOR_KINDS, {"pid": principal_id}).one())

    def has_factor(self, principal_id: int) -> bool:
        """Whether the principal has a second factor: a bound device or a security key."""
        return bool(self.factor_kinds(principal_id))

    def refuse_weaker_step_up(self, principal_id: int) -> None:
        """API.md: a principal with MFA enabled verifies with `mfa` (or a security key); the
        password, an email code or an SMS code serve one without. A lost factor is the
        operator's `twofold mfa reset` or the primary's, never a weaker factor's."""
        if self.has_factor(principal_id):
            raise errors.ValidationFailed(
                'MFA is enabled: verify with a code from the device (method "mfa") '
                'or a security key (method "webauthn").',
                fields={"method": "must be mfa or webauthn while a factor is bound"},
            )

    def secret_of(self, device: MfaDevice) -> str:
        try:
            return self.ctx.keys.unseal(device.sealed_secret, device_context(device.serial))
        except SealingError as exc:
            # Not "try again": the key file lacks the key (or the value was tampered with).
            raise errors.SecretUnavailable() from exc

    def check_totp(self, principal: Principal, raw_code: object, *, purpose: str) -> MfaDevice:
        """Accept `raw_code` from the principal's active device once, or raise.

        The device is read and the code computed before any write: with no transaction
        open, the read is a read-only one (SQLite: no write lock), and the write
        transaction that follows holds only the conditional UPDATEs and the audit INSERT.
        The row count of `last_step < step` decides, so a read that is stale by then
        cannot let a code through twice."""
        with self.reported("totp"):
            return self._check_totp(principal, raw_code, purpose)

    def _check_totp(self, principal: Principal, raw_code: object, purpose: str) -> MfaDevice:
        self.throttle.ensure_open(principal)
        with self.ctx.reading():
            device = self.active_device(principal.id)
        if device is None:
            raise errors.MFANotEnabled()
        code = totp.parse_code(raw_code)
        now = self.ctx.clock.now()
        current = totp.time_step(now) + device.drift
        failure: errors.InvalidMFACode
        if code is None:
            failure = errors.InvalidMFACode()
        else:
            secret = self.secret_of(device)
            step, out_of_sync = totp.search(
                secret, code, current, policy.CODE_WINDOW, policy.SYNC_SEARCH_WINDOW
            )
            if step is not None:
                accepted = affected(
                    run(self.ctx.db, ACCEPT_STEP, {"device_id": device.id, "step": step})
                )
                if accepted == 1:
                    self.throttle.record_success(principal.id)
                    return device
                failure = errors.ReplayedMFACode()
            elif out_of_sync:
                failure = errors.OutOfSyncMFACode()
            else:
                failure = errors.InvalidMFACode()
        raise self.fail(principal, failure, purpose=purpose, method="mfa")

    def check_email_code(self, principal: Principal, raw_code: object) -> None:
        with self.reported("email"):
            self._check_email_code(principal, raw_code)

    def _check_email_code(self, principal: Principal, raw_code: object) -> None:
        self.throttle.ensure_open(principal)
        code = totp.parse_code(raw_code)
        if code is not None:
            digest = self.ctx.keys.keyed_hash(f"email:{principal.id}:{code}")
            if consume_single_use(self.ctx, EmailCode, digest, principal.id) is not None:
                self.throttle.record_success(principal.id)
                return
        raise self.fail(
            principal,
            errors.InvalidMFACode("The email code is wrong, expired or already used."),
            purpose="verify",
            method="email",
        )

    def check_recovery_code(self, principal: Principal, raw_code: object) -> int:
        """Consume one recovery code; returns how many remain.

        Its own throttle: a lock of the code checks must not stop the way out."""
        with self.reported("recovery_code"):
            return self._check_recovery_code(principal, raw_code)

    def _check_recovery_code(self, principal: Principal, raw_code: object) -> int:
        self.recovery.ensure_open(principal)
        code = normalize_recovery_code(raw_code) if isinstance(raw_code, str) else None
        if code is not None:
            digest = self.ctx.keys.keyed_hash(f"recovery:{principal.id}:{code}")
            used = affected(
                self.ctx.db.execute(
                    update(RecoveryCode)
                    .where(
                        RecoveryCode.principal_id == principal.id,
                        RecoveryCode.code_hash == digest,
                        RecoveryCode.used_at.is_(None),
                    )
                    .values(used_at=self.ctx.clock.now())
                )
            )
            if used == 1:
                self.recovery.record_success(principal.id)
                return self.recovery_codes_left(principal.id)
        raise self.fail(
            principal,
            errors.InvalidMFACode("The recovery code is wrong or was already used."),
            purpose="login",
            method="recovery_code",
            throttle=self.recovery,
        )

    def recovery_codes_left(self, principal_id: int) -> int:
        return int(
            self.ctx.db.scalar(
                select(func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.principal_id == principal_id, RecoveryCode.used_at.is_(None))
            )
            or 0
        )

    def clear_recovery_codes(self, principal_id: int) -> None:
        self.ctx.db.execute(delete(RecoveryCode).where(RecoveryCode.principal_id == principal_id))

    def issue_recovery_codes(self, principal: Principal) -> list[str]:
        """A new set of recovery codes; the old set is void."""
        self.clear_recovery_codes(principal.id)
        codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        for code in codes:
            normalized = normalize_recovery_code(code)
            if normalized is None:  # new_recovery_code and normalize_recovery_code disagree
                raise RuntimeError("a new recovery code does not normalise")
            self.ctx.db.add(
                RecoveryCode(
                    principal_id=principal.id,
                    code_hash=self.ctx.keys.keyed_hash(f"recovery:{principal.id}:{normalized}"),
                )
            )
        return codes

    def fail(
        self,
        principal: Principal,
        failure: errors.TwofoldError,
        *,
        purpose: str,
        method: str,
        throttle: Throttle | None = None,
    ) -> errors.TwofoldError:
        """Count a failed check, audit it, commit, and return the error to raise."""
        throttle = throttle or self.throttle
        limit = throttle.c.limit
        try:
            count = throttle.record_failure(principal.id)
        except errors.TooManyAttempts as locked:
            self.ctx.db.rollback()
            return locked
        self.audit.record(
            f"mfa.{purpose}.failed",
            result=failure_reason(failure),
            actor=principal,
            target=principal,
            detail={"method": method, "consecutive_failures": count},
        )
        if count >= limit:
            self.ctx.observer.lockout("recovery_code" if throttle is self.recovery else "mfa")
            self.audit.record(
                "mfa.locked",
                result="locked",
                actor=principal,
                target=principal,
                detail={"counter": throttle.c.what},
            )
        self.ctx.db.commit()
        if count == limit:  # the first lock of a run, not each doubling
            notify_later(
                self.ctx.mailer,
                principal.email,
                N_("Checks of your {what} were locked"),
                N_(
                    "{count} wrong {what} in a row were tried for {login}; further checks are "
                    "locked for a while. If this was not you, someone knows your password: "
                    "change it."
                ),
                params={
                    "what": i18n.translator(principal.locale).gettext(throttle.c.what),
                    "count": count,
                    "login": principal.login,
                },
                locale=principal.locale,
            )
        return failure
