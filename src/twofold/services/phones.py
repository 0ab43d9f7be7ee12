"""A principal's phone number and the codes sent to it by SMS (API.md "Phone").

A new number becomes the principal's only after the code sent to it comes back (`confirm`);
a verified number then receives identity-verification codes (`verify`). Codes follow the
email codes' rules: 6 digits, single use, 10 minutes, stored hashed, the principal's code
throttle, send limits per principal and per number; the newest code voids the older ones.

A send is three steps, so that no database lock is held while the gateway is waited for
and nothing is half-written when it fails: (1) count the send and store the code, not yet
usable, and commit; (2) hand the message to the gateway; (3) make the code usable and void
the older ones, or, on failure, take the code and the count back, audit it, and answer
SMSUnavailable."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from twofold import i18n
from twofold.domain import errors, policy, totp
from twofold.domain.errors import N_
from twofold.domain.phones import masked_phone, normalized_phone
from twofold.domain.ports import SmsDeliveryFailed
from twofold.domain.tokens import new_email_code
from twofold.services.audit import Audit
from twofold.services.codes import SecondFactor, consume_single_use
from twofold.services.context import Context
from twofold.services.counters import Counters
from twofold.services.mail import notify
from twofold.services.sessions import Auth
from twofold.services.views import PhoneView
from twofold.storage.models import Principal, SmsCode

CONFIRM, VERIFY = "confirm", "verify"


class Phones:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.audit = Audit(ctx)
        self.factor = SecondFactor(ctx)

    def view(self, principal: Principal) -> PhoneView:
        """The principal's phone, masked, and a number waiting for its code."""
        now = self.ctx.clock.now()
        with self.ctx.reading():
            pending = self.ctx.db.scalar(
                select(SmsCode.phone)
                .where(
                    SmsCode.principal_id == principal.id,
                    SmsCode.purpose == CONFIRM,
                    SmsCode.sent_at.is_not(None),
                    SmsCode.used_at.is_(None),
                    SmsCode.expires_at > now,
                )
                .order_by(SmsCode.id.desc())
                .limit(1)
            )
        return PhoneView(
            phone=masked_phone(principal.phone) if principal.phone else None,
            verified=principal.phone is not None,
            pending=masked_phone(pending) if pending else None,
        )

    def start_change(self, auth: Auth, raw_phone: object) -> str:
        """Send a code to a new number (the route is freshly verified); returns it masked.
        The current number, if any, stays until the new one is confirmed."""
        principal = auth.principal
        phone = normalized_phone(raw_phone)
        if phone == principal.phone:
            raise errors.ValidationFailed(
                "That number is verified already.", fields={"phone": "already verified"}
            )
        self._send_code(principal, CONFIRM, phone)
        return masked_phone(phone)

    def confirm(self, auth: Auth, raw_code: object) -> PhoneView:
        """The code sent to the new number came back: it is the principal's verified phone."""
        principal = auth.principal
        row_id = self._consume(principal, CONFIRM, raw_code)
        phone = self.ctx.db.scalar(select(SmsCode.phone).where(SmsCode.id == row_id))
        if phone is None:  # removed by a parallel request since: the code went with it
            self.ctx.db.rollback()
            raise errors.InvalidMFACode("The SMS code is wrong, expired or already used.")
        had = principal.phone
        self.ctx.db.execute(
            update(Principal)
            .where(Principal.id == principal.id)
            .values(phone=phone, phone_verified_at=self.ctx.clock.now())
        )
        # Codes of the former number (and other pending ones) die with the change.
        self.ctx.db.execute(delete(SmsCode).where(SmsCode.principal_id == principal.id))
        self.audit.record(
            "phone.changed" if had else "phone.added",
            actor=principal,
            target=principal,
            detail={"phone": masked_phone(phone)},
        )
        self.ctx.db.commit()
        notify(
            self.ctx.mailer,
            principal.email,
            N_("A phone number was verified for your account"),
            N_(
                "{phone} is now the verified phone of {login}. If this was not you, someone "
                "is signed in as you: change your password."
            ),
            params={"phone": masked_phone(phone), "login": principal.login},
            locale=principal.locale,
        )
        return PhoneView(phone=masked_phone(phone), verified=True)

    def remove(self, auth: Auth) -> None:
        """Forget the phone and any code waiting for one (the route is freshly verified)."""
        principal = auth.principal
        pending = self.ctx.db.scalar(
            select(SmsCode.id).where(SmsCode.principal_id == principal.id).limit(1)
        )
        had = principal.phone
        if had is None and pending is None:
            raise errors.NotFound("There is no phone number to remove.")
        self.ctx.db.execute(
            update(Principal)
            .where(Principal.id == principal.id)
            .values(phone=None, phone_verified_at=None)
        )
        self.ctx.db.execute(delete(SmsCode).where(SmsCode.principal_id == principal.id))
        self.audit.record(
            "phone.removed",
            actor=principal,
            target=principal,
            detail={"phone": masked_phone(had)} if had else None,
        )
        self.ctx.db.commit()
        if had:
            notify(
                self.ctx.mailer,
                principal.email,
                N_("The phone number was removed from your account"),
                N_("{phone} is no longer the phone of {login}."),
                params={"phone": masked_phone(had), "login": principal.login},
                locale=principal.locale,
            )

    def send_verify_code(self, auth: Auth) -> None:
        """An identity-verification code to the verified phone."""
        principal = auth.principal
        if principal.phone is None:
            raise errors.ValidationFailed(
                "There is no verified phone number to send a code to.",
                fields={"phone": "none verified"},
            )
        self.factor.refuse_weaker_step_up(principal.id)  # before a text is paid for
        self._send_code(principal, VERIFY, principal.phone)

    def check_verify_code(self, principal: Principal, raw_code: object) -> None:
        """Use up an identity-verification code, or raise (counted by the code throttle)."""
        if principal.phone is None:
            raise errors.ValidationFailed(
                "There is no verified phone number.", fields={"method": "no verified phone"}
            )
        with self.factor.reported("sms"):
            self._consume(principal, VERIFY, raw_code, SmsCode.phone == principal.phone)

    def _consume(self, principal: Principal, purpose: str, raw_code: object, *where: object) -> int:
        self.factor.throttle.ensure_open(principal)
        code = totp.parse_code(raw_code)
        if code is not None:
            digest = self._digest(principal.id, purpose, code)
            row_id = consume_single_use(
                self.ctx,
                SmsCode,
                digest,
                principal.id,
                SmsCode.purpose == purpose,
                SmsCode.sent_at.is_not(None),
                *where,
            )
            if row_id is not None:
                self.factor.throttle.record_success(principal.id)
                return row_id
        raise self.factor.fail(
            principal,
            errors.InvalidMFACode("The SMS code is wrong, expired or already used."),
            purpose="verify" if purpose == VERIFY else "phone",
            method="sms",
        )

    def _digest(self, principal_id: int, purpose: str, code: str) -> str:
        return self.ctx.keys.keyed_hash(f"sms:{principal_id}:{purpose}:{code}")

    def _send_code(self, principal: Principal, purpose: str, phone: str) -> None:
        sender = self.ctx.sms
        if sender is None:
            raise errors.SMSUnavailable("No SMS gateway is configured on this server.")
        self.factor.throttle.ensure_open(principal)
        counters = Counters(self.ctx)
        counted = counters.limit_sends("sms", principal.id, phone, policy.SMS_SENDS_PER_HOUR)
        now = self.ctx.clock.now()
        code = new_email_code()
        row = SmsCode(
            principal_id=principal.id,
            purpose=purpose,
            phone=phone,
            code_hash=self._digest(principal.id, purpose, code),
            created_at=now,
            expires_at=now + policy.SMS_CODE_LIFETIME,
        )
        self.ctx.db.add(row)
        self.ctx.db.flush()
        row_id = row.id
        self.ctx.db.commit()  # no lock held while the gateway is waited for
        try:
            sender.send(phone, _message(self.ctx.settings.issuer, code, principal.locale))
        except SmsDeliveryFailed as exc:
            self.ctx.db.execute(delete(SmsCode).where(SmsCode.id == row_id))
            counters.take_back(counted)
            self.audit.record(
                "sms.failed",
                result="provider_error",
                actor=principal,
                target=principal,
                detail={"purpose": purpose, "to": masked_phone(phone), "reason": str(exc)},
            )
            self.ctx.db.commit()
            raise errors.SMSUnavailable() from exc
        # Usable from now on; every older code of the same purpose is void. "Older" by id:
        # of two sends in parallel the later one wins, whichever gateway answered first.
        self.ctx.db.execute(
            update(SmsCode).where(SmsCode.id == row_id).values(sent_at=self.ctx.clock.now())
        )
        self.ctx.db.execute(
            delete(SmsCode).where(
                SmsCode.principal_id == principal.id,
                SmsCode.purpose == purpose,
                SmsCode.id < row_id,
            )
        )
        self.audit.record(
            "phone.code_sent",
            actor=principal,
            target=principal,
            detail={"purpose": purpose, "to": masked_phone(phone)},
        )
        self.ctx.db.commit()


def _message(issuer: str, code: str, locale: str | None) -> str:
    """The text message, in the principal's language (else the request's)."""
    text = i18n.translator(locale).gettext(
        N_(
            "{issuer} verification code: {code}. It works once, within 10 minutes. "
            "Do not share it with anyone."
        )
    )
    return text.format(issuer=issuer, code=code)
