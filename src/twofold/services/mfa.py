"""Virtual MFA devices: create (pending), bind (two consecutive codes), resync, disable."""

from __future__ import annotations

import base64
import io
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update

from twofold.domain import errors, policy, totp
from twofold.domain.errors import N_
from twofold.services.accounts import Principals
from twofold.services.audit import Audit
from twofold.services.codes import SecondFactor, device_context
from twofold.services.context import Context
from twofold.services.login import forget_browsers
from twofold.services.mail import notify
from twofold.services.sessions import Auth, Sessions
from twofold.services.throttle import CODES, Throttle
from twofold.services.views import Resynced
from twofold.storage.db import affected
from twofold.storage.models import Account, MfaDevice, Principal, SecurityKey


@dataclass(frozen=True)
class DeviceStatus:
    """A principal's virtual MFA, as a console page shows it (with whether the signed-in
    principal may manage it)."""

    enabled: bool
    serial: str | None
    bound_at: datetime | None
    recovery_left: int
    may_manage: bool
    security_keys: int = 0

    @property
    def protected(self) -> bool:
        """Whether the principal has a second factor of either kind."""
        return self.enabled or self.security_keys > 0


@dataclass
class PendingDevice:
    serial: str
    secret: str
    otpauth_uri: str
    qr_svg: str
    qr_png: str  # base64, no data: prefix

    @property
    def grouped_secret(self) -> str:
        return totp.group_secret(self.secret)


@dataclass
class BoundDevice:
    serial: str
    recovery_codes: list[str]
    replaced: bool


def render_qr(uri: str) -> tuple[str, str]:
    # Imported here: a QR code is drawn at enrolment only, and segno (with its PNG writer)
    # would otherwise stay resident in every worker (README, "Memory").
    import segno

    qr = segno.make(uri, error="m")
    svg = io.BytesIO()
    qr.save(svg, kind="svg", scale=5, xmldecl=False, svgns=True, title="MFA QR code")
    png = io.BytesIO()
    qr.save(png, kind="png", scale=6, border=4)
    return svg.getvalue().decode(), base64.b64encode(png.getvalue()).decode("ascii")


class Devices:
    """Device life cycle for the signed-in principal or, by its primary, for a sub-user."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.audit = Audit(ctx)
        self.factor = SecondFactor(ctx)
        self.sessions = Sessions(ctx)
        self.throttle = Throttle(ctx, CODES)

    def ensure_may_manage(self, auth: Auth, target: Principal) -> None:
        """A sub-user manages its own device only while its account allows it
        (`allow_users_to_manage_mfa`, Alibaba RAM AllowUserToManageMFADevices).

        When it does not, the primary binds, replaces and disables sub-users' devices. That
        holds also for a sub-user whose login requires MFA but who has none yet: its
        setup-only session cannot bind one itself, and it waits for the primary to bind a
        device for it (`POST /users/{name}/mfa-device`). The other choice, letting such a
        user enrol once, would let whoever holds only its password pick the device."""
        if not self.may_manage(auth, target):
            raise errors.Forbidden(
                "This account does not let users manage their own MFA device; "
                "ask the account's owner to bind, replace or disable it."
            )

    def may_manage(self, auth: Auth, target: Principal) -> bool:
        return self.factor.may_manage(auth.principal, target)

    def status(self, auth: Auth, target: Principal) -> DeviceStatus:
        """The target's device and recovery codes left (a read of its own)."""
        with self.ctx.reading():
            device = self.factor.active_device(target.id)
            keys = self.factor.security_key_count(target.id)
            left = self.factor.recovery_codes_left(target.id) if device or keys else 0
            may_manage = self.may_manage(auth, target)
        return DeviceStatus(
            enabled=device is not None,
            serial=device.serial if device else None,
            bound_at=device.bound_at if device else None,
            recovery_left=left,
            may_manage=may_manage,
            security_keys=keys,
        )

    def create_pending(self, auth: Auth, target: Principal) -> PendingDevice:
        """A new secret for `target`; replaces its earlier pending device, if any."""
        self.ensure_may_manage(auth, target)
        now = self.ctx.clock.now()
        # Parallel creations for one principal take turns on its row (PostgreSQL; SQLite
        # already serialises writers), so the delete below sees the other's pending row
        # instead of both inserting one and the second failing on the unique index.
        self.ctx.db.execute(select(Principal.id).where(Principal.id == target.id).with_for_update())
        self.ctx.db.execute(
            delete(MfaDevice).where(
                MfaDevice.principal_id == target.id, MfaDevice.state == "pending"
            )
        )
        secret = totp.new_secret()
        serial = f"vmfa-{secrets.token_hex(10)}"
        self.ctx.db.add(
            MfaDevice(
                serial=serial,
                principal_id=target.id,
                state="pending",
                sealed_secret=self.ctx.keys.seal(secret, device_context(serial)),
                last_step=0,
                drift=0,
                created_at=now,
                expires_at=now + policy.PENDING_DEVICE_LIFETIME,
            )
        )
        self.audit.record(
            "mfa.device_created", actor=auth.principal, target=target, detail={"serial": serial}
        )
        self.ctx.db.commit()
        uri = totp.otpauth_uri(secret, self.ctx.settings.issuer, target.login)
        svg, png = render_qr(uri)
        return PendingDevice(serial, secret, uri, svg, png)

    def bind(
        self, auth: Auth, target: Principal, serial: object, code1: object, code2: object
    ) -> BoundDevice:
        """Activate the pending device once two consecutive codes prove the app has it."""
        self.ensure_may_manage(auth, target)
        self.throttle.ensure_open(target)
        now = self.ctx.clock.now()
        device = (
            self.ctx.db.scalar(
                select(MfaDevice).where(
                    MfaDevice.serial == serial, MfaDevice.principal_id == target.id
                )
            )
            if isinstance(serial, str) and len(serial) <= 64
            else None
        )
        if device is not None and device.state == "active":
            raise errors.MFAAlreadyEnabled()
        if device is None or device.expires_at is None or device.expires_at <= now:
            raise errors.NoPendingDevice()
        secret = self.factor.secret_of(device)
        current = totp.time_step(now)
        first, second = totp.parse_code(code1), totp.parse_code(code2)
        step2 = totp.match_step(secret, second, current, policy.CODE_WINDOW) if second else None
        step1 = (
            totp.match_step(secret, first, step2 - 1, 0) if first and step2 is not None else None
        )
        if step2 is None or not policy.bind_steps_ok(step1, step2, current):
            raise self.factor.fail(target, errors.InvalidBindCode(), purpose="bind", method="mfa")
        self.throttle.record_success(target.id)
        old = self.factor.active_device(target.id)
        if old is not None:
            self.ctx.db.execute(delete(MfaDevice).where(MfaDevice.id == old.id))
        activated = affected(
            self.ctx.db.execute(
                update(MfaDevice)
                .where(MfaDevice.id == device.id, MfaDevice.state == "pending")
                .values(state="active", last_step=step2, bound_at=now, expires_at=None)
            )
        )
        if activated != 1:  # a parallel bind won
            self.ctx.db.rollback()
            raise errors.NoPendingDevice()
        codes = self.factor.issue_recovery_codes(target)
        forget_browsers(self.ctx, target.id)
        own = auth.principal.id == target.id
        keep = auth.session.id if own else None
        # Only the binding session is promoted. Every other setup-only session of the
        # target proved only a password and ends (all of them when the primary binds).
        ended = self.sessions.end_setup_only(target.id, except_id=keep)
        if old is not None:
            # The old device's holder may have other sessions: they end with it.
            self.sessions.revoke_all(target.id, except_id=keep)
        if own:
            if auth.session.restricted:
                self.sessions.lift_restriction(auth.session)
            self.sessions.mark_verified(auth.session)
            self.sessions.record_methods(auth.session, "otp")  # two codes proved the device
        if ended:
            self.audit.record(
                "session.setup_only_ended",
                actor=auth.principal,
                target=target,
                detail={"count": ended, "reason": "mfa_bound"},
            )
        self.audit.record(
            "mfa.device_replaced" if old else "mfa.device_bound",
            actor=auth.principal,
            target=target,
            detail={"serial": device.serial, **({"old_serial": old.serial} if old else {})},
        )
        self.ctx.db.commit()
        notify(
            self.ctx.mailer,
            target.email,
            N_("Virtual MFA device replaced") if old else N_("Virtual MFA enabled"),
            N_(
                "A virtual MFA device was replaced for {login} by {actor}. From now on, "
                "sign-in needs its codes."
            )
            if old
            else N_(
                "A virtual MFA device was bound for {login} by {actor}. From now on, sign-in "
                "needs its codes."
            ),
            params={"login": target.login, "actor": auth.principal.login},
            locale=target.locale,
        )
        return BoundDevice(device.serial, codes, old is not None)

    def disable(self, auth: Auth, target: Principal) -> None:
        self.ensure_may_manage(auth, target)
        device = self.factor.active_device(target.id)
        if device is None:
            raise errors.MFANotEnabled()
        keys = self.factor.security_key_count(target.id)
        self._remove_devices(target, keep_recovery_codes=keys > 0)
        keep = auth.session.id if auth.principal.id == target.id else None
        self.sessions.revoke_all(target.id, except_id=keep)
        account = self.ctx.db.get(Account, target.account_id)
        if (keep is not None and not keys) and (
            account is None
            or policy.mfa_setup_due(target.kind, target.mfa_required, account.mfa_for_login)
        ):
            # MFA is still required of it: the session that disabled becomes setup-only.
            self.sessions.restrict(auth.session)
        self.audit.record(
            "mfa.device_disabled",
            actor=auth.principal,
            target=target,
            detail={"serial": device.serial},
        )
        self.ctx.db.commit()
        notify(
            self.ctx.mailer,
            target.email,
            N_("Virtual MFA disabled"),
            N_(
                "The virtual MFA device of {login} was disabled by {actor}. Its codes no "
                "longer work; enabling MFA again needs a new binding."
            ),
            params={"login": target.login, "actor": auth.principal.login},
            locale=target.locale,
        )

    def operator_reset(self, login: str) -> bool:
        """Operator recovery for a lost device (CLI): remove it and end every session of
        the principal that logs in as `login`. Returns whether it had a device."""
        target = Principals(self.ctx).by_login(login)
        device = self.factor.active_device(target.id)
        keys = self.factor.security_key_count(target.id)
        self._remove_devices(target)
        self.ctx.db.execute(delete(SecurityKey).where(SecurityKey.principal_id == target.id))
        self.sessions.revoke_all(target.id)
        self.ctx.db.execute(
            update(Principal)
            .where(Principal.id == target.id)
            .values(
                code_failures=0,
                code_locked_until=None,
                recovery_failures=0,
                recovery_locked_until=None,
            )
        )
        self.audit.record(
            "mfa.operator_reset",
            actor=None,
            target=target,
            detail={
                "serial": device.serial if device else None,
                "security_keys": keys,
                "via": "cli",
            },
        )
        self.ctx.db.commit()
        notify(
            self.ctx.mailer,
            target.email,
            N_("Virtual MFA reset by an operator"),
            N_("An operator removed the virtual MFA device and the security keys of {login}."),
            params={"login": target.login},
            locale=target.locale,
        )
        return device is not None or keys > 0

    def _remove_devices(self, target: Principal, *, keep_recovery_codes: bool = False) -> None:
        """Every device of `target` (a pending one too), its recovery codes (unless a
        security key still needs them) and remembered browsers: nothing of the old binding
        is left to use."""
        self.ctx.db.execute(delete(MfaDevice).where(MfaDevice.principal_id == target.id))
        if not keep_recovery_codes:
            self.factor.clear_recovery_codes(target.id)
        forget_browsers(self.ctx, target.id)

    def resync(self, auth: Auth, code1: object, code2: object) -> Resynced:
        """Record the device's clock drift from two consecutive codes (AWS ResyncMFADevice)."""
        principal = auth.principal
        self.ensure_may_manage(auth, principal)
        self.throttle.ensure_open(principal)
        device = self.factor.active_device(principal.id)
        if device is None:
            raise errors.MFANotEnabled()
        secret = self.factor.secret_of(device)
        current = totp.time_step(self.ctx.clock.now())
        first, second = totp.parse_code(code1), totp.parse_code(code2)
        step2 = (
            totp.match_step(secret, second, current, policy.SYNC_SEARCH_WINDOW) if second else None
        )
        step1 = (
            totp.match_step(secret, first, step2 - 1, 0) if first and step2 is not None else None
        )
        if step1 is None or step2 is None or step2 != step1 + 1 or step1 <= device.last_step:
            raise self.factor.fail(
                principal, errors.InvalidBindCode(), purpose="resync", method="mfa"
            )
        drift = step2 - current
        moved = affected(
            self.ctx.db.execute(
                update(MfaDevice)
                .where(MfaDevice.id == device.id, MfaDevice.last_step < step2)
                .values(last_step=step2, drift=drift)
            )
        )
        if moved != 1:
            raise self.factor.fail(
                principal, errors.ReplayedMFACode(), purpose="resync", method="mfa"
            )
        self.throttle.record_success(principal.id)
        self.audit.record(
            "mfa.device_resynced",
            actor=principal,
            target=principal,
            detail={"serial": device.serial, "drift_steps": drift},
        )
        self.ctx.db.commit()
        return Resynced(device.serial, drift)

    def regenerate_recovery_codes(self, auth: Auth) -> list[str]:
        self.ensure_may_manage(auth, auth.principal)
        if not self.factor.has_factor(auth.principal.id):
            raise errors.MFANotEnabled()
        codes = self.factor.issue_recovery_codes(auth.principal)
        self.audit.record(
            "mfa.recovery_codes_regenerated", actor=auth.principal, target=auth.principal
        )
        self.ctx.db.commit()
        return codes
