"""Security keys and passkeys (WebAuthn): registration, and checking a key's answer.

py_webauthn does the ceremonies' cryptography (origin, RP id, challenge, signature,
attestation); we own the policy around it. Every challenge is stored hashed, bound to what it
serves (a session, a login challenge) and consumed once by a conditional UPDATE. The sign
count moves forward by a conditional UPDATE too: a count that does not grow betrays a cloned
key, is refused and audited."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update

from twofold.config import Settings
from twofold.domain import errors, policy
from twofold.domain.errors import N_
from twofold.services.audit import Audit
from twofold.services.codes import SecondFactor
from twofold.services.context import Context
from twofold.services.mail import notify
from twofold.services.sessions import Auth, Sessions
from twofold.storage.db import affected
from twofold.storage.models import Account, Principal, SecurityKey, WebAuthnChallenge

CEREMONY_LIFETIME = timedelta(minutes=5)
MAX_KEY_NAME = 64
MAX_CREDENTIAL_JSON = 16_384
# py_webauthn (with pyOpenSSL, asn1crypto and cbor2: about 12 MiB resident) is imported by
# the functions that use it, on the first key ceremony: most processes never hold a key.
# The transports a key may declare (py_webauthn's AuthenticatorTransport values).
_TRANSPORTS = frozenset({"ble", "hybrid", "internal", "nfc", "smart-card", "usb", "cable"})


@dataclass(frozen=True)
class SecurityKeyView:
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    discoverable: bool | None
    user_verifying: bool
    transports: list[str]
    aaguid: str


@dataclass(frozen=True)
class RegisteredKey:
    security_key: SecurityKeyView
    recovery_codes: list[str] | None  # issued with the principal's first factor only


def relying_party(settings: Settings) -> tuple[str, str]:
    """The RP id (the host of TWOFOLD_PUBLIC_URL) and the one origin accepted."""
    parts = urlsplit(settings.public_url)
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


def _view(key: SecurityKey) -> SecurityKeyView:
    return SecurityKeyView(
        id=key.public_id,
        name=key.name,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        discoverable=key.discoverable,
        user_verifying=key.user_verifying,
        transports=list(key.transports or []),
        aaguid=key.aaguid,
    )


def _challenge_digest(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def _credential_dict(raw: object) -> dict[str, Any] | None:
    """The browser's PublicKeyCredential as JSON (an object, or its text), or None."""
    if isinstance(raw, str) and len(raw) <= MAX_CREDENTIAL_JSON:
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    return raw if isinstance(raw, dict) else None


def _challenge_of(credential: dict[str, Any]) -> bytes | None:
    """The challenge the authenticator signed over, read from clientDataJSON."""
    from webauthn.helpers import base64url_to_bytes, parse_client_data_json

    try:
        response = credential["response"]
        client_data = parse_client_data_json(base64url_to_bytes(response["clientDataJSON"]))
        return bytes(client_data.challenge)
    except Exception:  # any malformed input: the caller answers with its own failure
        return None


def _member(data: object, *path: str) -> object:
    """data[path[0]][path[1]]..., or None where a step is missing or not an object."""
    for name in path:
        if not isinstance(data, dict):
            return None
        data = data.get(name)
    return data


def _listed(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _key_name(raw: object) -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    if not name or len(name) > MAX_KEY_NAME or any(ord(c) < 32 for c in name):
        raise errors.ValidationFailed(
            "Give the key a name of 1 to 64 characters.",
            fields={"name": "1 to 64 printable characters"},
        )
    return name


def user_handle(ctx: Context, principal_id: int) -> bytes:
    """The WebAuthn user id of a principal: stable, opaque, not its database id."""
    return bytes.fromhex(ctx.keys.keyed_hash(f"webauthn-user:{principal_id}"))[:32]


class SecurityKeys:
    """The ceremonies of one request, for the signed-in principal or for a login."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.audit = Audit(ctx)
        self.factor = SecondFactor(ctx)
        self.sessions = Sessions(ctx)
        self.rp_id, self.origin = relying_party(ctx.settings)

    # -- challenges --------------------------------------------------------------------

    def _new_challenge(
        self,
        purpose: str,
        *,
        principal_id: int | None = None,
        session_id: int | None = None,
        login_challenge_id: int | None = None,
        expires_at: datetime | None = None,
    ) -> bytes:
        now = self.ctx.clock.now()
        # Expired ceremonies go as new ones come (a bounded table without a sweeper).
        self.ctx.db.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at < now))
        challenge = secrets.token_bytes(32)
        self.ctx.db.add(
            WebAuthnChallenge(
                challenge_hash=_challenge_digest(challenge),
                purpose=purpose,
                principal_id=principal_id,
                session_id=session_id,
                login_challenge_id=login_challenge_id,
                expires_at=expires_at or now + CEREMONY_LIFETIME,
            )
        )
        return challenge

    def _consume_challenge(self, credential: dict[str, Any], purpose: str, **bound: int) -> bytes:
        """Consume the challenge the credential answers, if it was issued for this purpose
        and binding and is neither used nor expired; returns it, or raises ChallengeExpired."""
        challenge = _challenge_of(credential)
        if challenge is None:
            raise errors.ChallengeExpired("The security key's answer is malformed.")
        conditions = [
            WebAuthnChallenge.challenge_hash == _challenge_digest(challenge),
            WebAuthnChallenge.purpose == purpose,
            WebAuthnChallenge.used_at.is_(None),
            WebAuthnChallenge.expires_at > self.ctx.clock.now(),
        ]
        for column, value in bound.items():
            conditions.append(getattr(WebAuthnChallenge, column) == value)
        used = affected(
            self.ctx.db.execute(
                update(WebAuthnChallenge).where(*conditions).values(used_at=self.ctx.clock.now())
            )
        )
        if used != 1:
            raise errors.ChallengeExpired(
                "This security key ceremony is unknown, expired or already used: start again."
            )
        return challenge

    # -- registration ------------------------------------------------------------------

    def views_of(self, principal_id: int) -> list[SecurityKeyView]:
        with self.ctx.reading():
            return [_view(k) for k in self._keys(principal_id)]

    def _keys(self, principal_id: int) -> list[SecurityKey]:
        return list(
            self.ctx.db.scalars(
                select(SecurityKey)
                .where(SecurityKey.principal_id == principal_id)
                .order_by(SecurityKey.id)
            )
        )

    def _ensure_may_manage(self, auth: Auth, target: Principal) -> None:
        if not self.factor.may_manage(auth.principal, target):
            raise errors.Forbidden(
                "This account does not let users manage their own second factors; "
                "ask the account's owner."
            )

    def registration_options(self, auth: Auth) -> dict[str, Any]:
        """Options for navigator.credentials.create(): the principal's keys excluded."""
        from webauthn import generate_registration_options
        from webauthn.helpers import base64url_to_bytes, options_to_json_dict
        from webauthn.helpers.structs import (
            AuthenticatorSelectionCriteria,
            PublicKeyCredentialDescriptor,
            ResidentKeyRequirement,
            UserVerificationRequirement,
        )

        principal = auth.principal
        self._ensure_may_manage(auth, principal)
        existing = self._keys(principal.id)
        challenge = self._new_challenge(
            "register", principal_id=principal.id, session_id=auth.session.id
        )
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=self.ctx.settings.issuer,
            user_name=principal.login,
            user_id=user_handle(self.ctx, principal.id),
            user_display_name=principal.login,
            challenge=challenge,
            timeout=int(CEREMONY_LIFETIME.total_seconds() * 1000),
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=base64url_to_bytes(k.credential_id))
                for k in existing
            ],
        )
        self.ctx.db.commit()
        public_key = options_to_json_dict(options)
        public_key["extensions"] = {"credProps": True}  # tells whether it is discoverable
        return public_key

    def register(self, auth: Auth, credential: object, name: object) -> RegisteredKey:
        """Verify the browser's answer to the registration options and keep the key."""
        from webauthn import verify_registration_response
        from webauthn.helpers import bytes_to_base64url

        principal = auth.principal
        self._ensure_may_manage(auth, principal)
        key_name = _key_name(name)
        data = _credential_dict(credential)
        if data is None:
            raise errors.ValidationFailed(
                "Send the credential the browser made.", fields={"credential": "required"}
            )
        challenge = self._consume_challenge(
            data, "register", principal_id=principal.id, session_id=auth.session.id
        )
        try:
            verified = verify_registration_response(
                credential=data,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
            )
        except Exception as exc:  # py_webauthn raises several kinds; all are a bad answer
            self.audit.record(
                "security_key.register_failed",
                result="invalid",
                actor=principal,
                target=principal,
                detail={"reason": str(exc)[:200]},
            )
            self.ctx.db.commit()
            raise errors.ValidationFailed(
                "The security key's answer was not accepted.",
                fields={"credential": "not a valid answer to the registration options"},
            ) from exc
        first = not self.factor.has_factor(principal.id)
        now = self.ctx.clock.now()
        transports = _listed(_member(data, "response", "transports"))
        rk = _member(data, "clientExtensionResults", "credProps", "rk")
        key = SecurityKey(
            public_id=f"sk-{secrets.token_hex(8)}",
            principal_id=principal.id,
            credential_id=bytes_to_base64url(verified.credential_id),
            public_key=bytes_to_base64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            transports=[t for t in transports if isinstance(t, str) and t in _TRANSPORTS],
            aaguid=verified.aaguid,
            discoverable=rk if isinstance(rk, bool) else None,
            user_verifying=verified.user_verified,
            name=key_name,
            created_at=now,
        )
        self.ctx.db.add(key)
        try:
            self.ctx.db.flush()
        except Exception as exc:  # the credential id is already registered (to anyone)
            self.ctx.db.rollback()
            raise errors.AlreadyExists(
                "This security key is registered already.", fields={"credential": "taken"}
            ) from exc
        codes = self.factor.issue_recovery_codes(principal) if first else None
        if auth.session.restricted:
            # The first factor lifts the setup-only restriction of this session; every other
            # setup-only session of the principal proved only a password and ends.
            ended = self.sessions.end_setup_only(principal.id, except_id=auth.session.id)
            self.sessions.lift_restriction(auth.session)
            if ended:
                self.audit.record(
                    "session.setup_only_ended",
                    actor=principal,
                    target=principal,
                    detail={"count": ended, "reason": "security_key_registered"},
                )
        self.sessions.mark_verified(auth.session)
        self.sessions.record_methods(auth.session, "hwk")  # the key answered on this session
        self.audit.record(
            "security_key.registered",
            actor=principal,
            target=principal,
            detail={"key": key.public_id, "name": key_name},
        )
        self.ctx.db.commit()
        notify(
            self.ctx.mailer,
            principal.email,
            N_("A security key was added"),
            N_(
                "The security key {name!r} was added to {login}. If this was not you, sign in, "
                "remove it and change your password."
            ),
            params={"name": key_name, "login": principal.login},
            locale=principal.locale,
        )
        return RegisteredKey(_view(key), codes)

    def _find(self, principal_id: int, public_id: str) -> SecurityKey:
        key = self.ctx.db.scalar(
            select(SecurityKey).where(
                SecurityKey.principal_id == principal_id, SecurityKey.public_id == public_id
            )
        )
        if key is None:
            raise errors.NotFound("No such security key.")
        return key

    def rename(self, auth: Auth, public_id: str, name: object) -> SecurityKeyView:
        key_name = _key_name(name)
        key = self._find(auth.principal.id, public_id)
        key.name = key_name
        self.audit.record(
            "security_key.renamed",
            actor=auth.principal,
            target=auth.principal,
            detail={"key": public_id, "name": key_name},
        )
        self.ctx.db.commit()
        return _view(key)

    def remove(self, auth: Auth, target: Principal, public_id: str) -> None:
        """Remove a key (the caller's own, or a sub-user's by its primary); the last
        factor of a principal that must have MFA stays."""
        self._ensure_may_manage(auth, target)
        key = self._find(target.id, public_id)
        others = self.factor.security_key_count(target.id) - 1
        account = self.ctx.db.get(Account, target.account_id)
        required = account is None or policy.mfa_setup_due(
            target.kind, target.mfa_required, account.mfa_for_login
        )
        if required and others == 0 and self.factor.active_device(target.id) is None:
            raise errors.Forbidden(
                "MFA is required here and this is the last second factor: "
                "add another key or a virtual MFA device first."
            )
        self.ctx.db.execute(delete(SecurityKey).where(SecurityKey.id == key.id))
        if others == 0 and self.factor.active_device(target.id) is None:
            self.factor.clear_recovery_codes(target.id)  # no factor left to recover
        self.audit.record(
            "security_key.removed",
            actor=auth.principal,
            target=target,
            detail={"key": public_id, "name": key.name},
        )
        self.ctx.db.commit()
        notify(
            self.ctx.mailer,
            target.email,
            N_("A security key was removed"),
            N_("The security key {name!r} of {login} was removed by {actor}."),
            params={"name": key.name, "login": target.login, "actor": auth.principal.login},
            locale=target.locale,
        )

    # -- assertions --------------------------------------------------------------------

    def request_options(
        self,
        principal: Principal | None,
        purpose: str,
        *,
        user_verification: bool = False,
        **bound: Any,
    ) -> dict[str, Any]:
        """Options for navigator.credentials.get(): the principal's keys allowed (none
        named for a passkey, which the authenticator finds by itself)."""
        from webauthn import generate_authentication_options
        from webauthn.helpers import base64url_to_bytes, options_to_json_dict
        from webauthn.helpers.structs import (
            AuthenticatorTransport,
            PublicKeyCredentialDescriptor,
            UserVerificationRequirement,
        )

        keys = self._keys(principal.id) if principal is not None else []
        if principal is not None and not keys:
            raise errors.MFANotEnabled("There is no security key to use.")
        challenge = self._new_challenge(
            purpose, principal_id=principal.id if principal else None, **bound
        )
        options = generate_authentication_options(
            rp_id=self.rp_id,
            challenge=challenge,
            timeout=int(CEREMONY_LIFETIME.total_seconds() * 1000),
            allow_credentials=[
                PublicKeyCredentialDescriptor(
                    id=base64url_to_bytes(k.credential_id),
                    transports=[AuthenticatorTransport(t) for t in k.transports or []],
                )
                for k in keys
            ],
            user_verification=(
                UserVerificationRequirement.REQUIRED
                if user_verification
                else UserVerificationRequirement.PREFERRED
            ),
        )
        self.ctx.db.commit()
        return options_to_json_dict(options)

    def check_assertion(
        self,
        principal: Principal | None,
        credential: object,
        purpose: str,
        *,
        fail_purpose: str,
        require_user_verification: bool = False,
        **bound: Any,
    ) -> tuple[SecurityKey, Principal]:
        """Accept one answer of a key of `principal` (of anyone's passkey when None) to a
        challenge issued for `purpose`, or raise. Failures of a known principal count in its
        code throttle; the challenge is spent either way."""
        with self.factor.reported("webauthn"):
            return self._check_assertion(
                principal,
                credential,
                purpose,
                fail_purpose=fail_purpose,
                require_user_verification=require_user_verification,
                **bound,
            )

    def _check_assertion(
        self,
        principal: Principal | None,
        credential: object,
        purpose: str,
        *,
        fail_purpose: str,
        require_user_verification: bool,
        **bound: Any,
    ) -> tuple[SecurityKey, Principal]:
        from webauthn import verify_authentication_response
        from webauthn.helpers import base64url_to_bytes

        if principal is not None:
            self.factor.throttle.ensure_open(principal)
        data = _credential_dict(credential)
        if data is None:
            raise errors.ValidationFailed(
                "Send the credential the browser returned.", fields={"credential": "required"}
            )
        challenge = self._consume_challenge(
            data, purpose, **({"principal_id": principal.id} if principal else {}), **bound
        )
        raw_id = data.get("id")
        key = (
            self.ctx.db.scalar(select(SecurityKey).where(SecurityKey.credential_id == raw_id))
            if isinstance(raw_id, str) and len(raw_id) <= 1400
            else None
        )
        if key is not None and principal is not None and key.principal_id != principal.id:
            key = None  # another principal's credential is no key of this one
        owner = principal or (self.ctx.db.get(Principal, key.principal_id) if key else None)
        if key is None or owner is None:
            self.ctx.db.commit()  # the spent challenge
            if principal is None:
                raise errors.InvalidCredentials("This passkey is not known here.")
            raise self._failed(principal, fail_purpose, "unknown_key")
        if principal is None:
            self.factor.throttle.ensure_open(owner)
        try:
            verified = verify_authentication_response(
                credential=data,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                credential_public_key=base64url_to_bytes(key.public_key),
                credential_current_sign_count=0,  # compared below, atomically
                require_user_verification=require_user_verification,
            )
            handle = _member(data, "response", "userHandle")
            if (
                isinstance(handle, str)
                and handle
                and (base64url_to_bytes(handle) != user_handle(self.ctx, owner.id))
            ):
                raise ValueError("user handle of another principal")
        except Exception:  # py_webauthn raises several kinds; all are a bad answer
            raise self._failed(owner, fail_purpose, "invalid_assertion") from None
        count = verified.new_sign_count
        moved = affected(
            self.ctx.db.execute(
                update(SecurityKey)
                .where(
                    SecurityKey.id == key.id,
                    # Authenticators that keep no count always say 0; any other count must grow.
                    SecurityKey.sign_count < count if count else SecurityKey.sign_count == 0,
                )
                .values(sign_count=count, last_used_at=self.ctx.clock.now())
            )
        )
        if moved != 1:
            self.audit.record(
                "security_key.sign_count_regressed",
                result="possible_clone",
                actor=owner,
                target=owner,
                detail={"key": key.public_id, "stored": key.sign_count, "presented": count},
            )
            raise self._failed(owner, fail_purpose, "sign_count")
        self.factor.throttle.record_success(owner.id)
        return key, owner

    def _failed(self, principal: Principal, purpose: str, reason: str) -> errors.TwofoldError:
        self.audit.record(
            "security_key.rejected",
            result=reason,
            actor=principal,
            target=principal,
            detail={"purpose": purpose},
        )
        return self.factor.fail(
            principal,
            errors.InvalidMFACode("The security key's answer was not accepted."),
            purpose=purpose,
            method="webauthn",
        )
