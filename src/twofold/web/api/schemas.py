"""Request and response bodies of the v1 API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
)

from twofold.domain.tokens import MAX_TOKEN_LENGTH
from twofold.services.emails import valid_email

# Any syntactically valid address, reserved domains too (pydantic's EmailStr refuses them).
EmailStr = Annotated[str, Field(max_length=320), AfterValidator(valid_email)]


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


# A time of a read model, answered as its ISO 8601 text (as datetime.isoformat() writes it).
IsoTime = Annotated[str, BeforeValidator(_iso)]


class Out(BaseModel):
    """A response body, built from a service's read model (`model_validate(view)`)."""

    model_config = ConfigDict(from_attributes=True)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class AccountIn(Body):
    name: str = Field(max_length=64)
    email: EmailStr
    password: str = Field(max_length=1024)


class AccountOut(Out):
    name: str
    email: str


class LoginIn(Body):
    login: str = Field(max_length=200)
    password: str = Field(max_length=1024)
    remember_token: str | None = Field(None, max_length=MAX_TOKEN_LENGTH)


class LoginOut(Out):
    state: Literal[
        "authenticated", "mfa_required", "mfa_setup_required", "password_change_required"
    ]
    token: str | None = None
    challenge: str | None = None
    methods: list[Literal["totp", "webauthn"]] | None = None  # with mfa_required


# A browser's PublicKeyCredential in its JSON form (PublicKeyCredential.toJSON()): checked by
# the service (py_webauthn), never trusted here.
Credential = dict[str, Any]


class LoginMfaIn(Body):
    # No length limit here: a malformed challenge is ChallengeExpired (401), not a 400.
    challenge: str
    code: str | None = Field(None, max_length=64)
    recovery_code: str | None = Field(None, max_length=64)
    webauthn: Credential | None = None
    remember_browser: bool = False


class ChallengeIn(Body):
    challenge: str


class PublicKeyOptionsOut(BaseModel):
    """Options for navigator.credentials.create() or .get(), in their JSON form (binary
    values base64url): `PublicKeyCredential.parseCreationOptionsFromJSON` and
    `parseRequestOptionsFromJSON` take them as they are."""

    public_key: dict[str, Any]


class PasskeyLoginIn(Body):
    credential: Credential


class SecurityKeyOut(Out):
    id: str
    name: str
    created_at: IsoTime
    last_used_at: IsoTime | None
    discoverable: bool | None
    user_verifying: bool
    transports: list[str]
    aaguid: str


class SecurityKeysOut(Out):
    security_keys: list[SecurityKeyOut]


class SecurityKeyIn(Body):
    name: str = Field(max_length=200)
    credential: Credential


class SecurityKeyPatch(Body):
    name: str = Field(max_length=200)


class RegisteredKeyOut(Out):
    security_key: SecurityKeyOut
    recovery_codes: list[str] | None = None


class LoginMfaOut(Out):
    state: Literal["authenticated", "password_change_required"]
    token: str
    remember_token: str | None = None
    recovery_codes_left: int | None = None


class MfaStatus(Out):
    enabled: bool
    serial: str | None
    bound_at: IsoTime | None
    recovery_codes_left: int | None = None
    totp: bool = False  # a virtual MFA device is bound
    security_keys: int = 0  # how many security keys and passkeys


class MeOut(Out):
    login: str
    kind: Literal["primary", "user"]
    account: str
    email: str | None
    mfa: MfaStatus
    mfa_required: bool
    restricted: bool
    verified_until: IsoTime | None
    password_change_required: bool = False
    email_verified: bool = False
    phone: str | None = None


class VerifyIn(Body):
    method: Literal["password", "mfa", "email", "sms", "webauthn"]
    password: str | None = Field(None, max_length=1024)
    code: str | None = Field(None, max_length=64)
    credential: Credential | None = None  # method webauthn


class VerifyOut(Out):
    verified_until: str


class DeviceOut(Out):
    serial: str
    secret: str
    otpauth_uri: str
    qr_svg: str
    qr_png: str


class BindIn(Body):
    serial: str = Field(max_length=64)
    code1: str = Field(max_length=64)
    code2: str = Field(max_length=64)


class BindOut(Out):
    serial: str
    enabled: Literal[True] = True
    recovery_codes: list[str]


class ResyncIn(Body):
    code1: str = Field(max_length=64)
    code2: str = Field(max_length=64)


class ResyncOut(Out):
    serial: str
    drift_steps: int


class RecoveryCodesOut(Out):
    recovery_codes: list[str]


class PasswordIn(Body):
    # Not asked in the forced change at sign-in (state password_change_required).
    current_password: str | None = Field(None, max_length=1024)
    new_password: str = Field(max_length=1024)


class ResetIn(Body):
    login: str = Field(max_length=200)


class ResetConfirmIn(Body):
    token: str = Field(max_length=MAX_TOKEN_LENGTH)
    new_password: str = Field(max_length=1024)


class EmailConfirmIn(Body):
    token: str = Field(max_length=MAX_TOKEN_LENGTH)


class EmailConfirmedOut(Out):
    login: str
    email: str
    email_verified: Literal[True] = True


class UserIn(Body):
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    email: EmailStr | None = None
    mfa_required: bool = False


class UserPatch(Body):
    mfa_required: bool | None = None
    email: EmailStr | None = None
    password: str | None = Field(None, max_length=1024)
    password_reset_required: StrictBool | None = None
    disabled: StrictBool | None = None


class UserOut(Out):
    name: str
    login: str
    email: str | None
    mfa: MfaStatus
    mfa_required: bool
    created_at: IsoTime | None = None
    password_reset_required: bool = False
    disabled: bool = False
    email_verified: bool = False
    phone_verified: bool = False


class UsersOut(Out):
    users: list[UserOut]


class AuditEventOut(Out):
    id: int
    time: IsoTime = Field(validation_alias="created_at")
    actor: str | None
    action: str
    target: str | None
    result: str
    client_addr: str | None
    detail: dict[str, Any] | None


class AuditPageOut(Out):
    events: list[AuditEventOut]
    next_before: int | None


class SessionOut(Out):
    id: str
    client_addr: str | None
    user_agent: str | None
    created_at: IsoTime
    last_seen_at: IsoTime
    expires_at: IsoTime
    current: bool
    restricted: bool
    applications: list[str] = Field(
        default_factory=list, description="The applications this session signed in to."
    )


class SessionsOut(Out):
    sessions: list[SessionOut]


class SecurityPreferencesOut(Out):
    mfa_for_login: Literal["per_user", "all_users"]
    allow_users_to_manage_mfa: bool
    remember_mfa_days: int
    session_hours: int
    login_networks: list[str]
    password_min_length: int
    password_max_age_days: int = 0
    password_reuse_prevention: int = 0


class SecurityPreferencesPatch(Body):
    """Only the preferences sent change. Ranges are checked by the service, for every face."""

    mfa_for_login: str | None = Field(None, max_length=32)
    allow_users_to_manage_mfa: StrictBool | None = None
    remember_mfa_days: StrictInt | None = None
    session_hours: StrictInt | None = None
    login_networks: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, max_length=1000
    )
    password_min_length: StrictInt | None = None
    password_max_age_days: StrictInt | None = None
    password_reuse_prevention: StrictInt | None = None


class PhoneIn(Body):
    phone: str = Field(max_length=40)


class PhoneCodeIn(Body):
    code: str = Field(max_length=64)


class PhoneOut(Out):
    """A phone as it is shown: masked (`+86 138****8000`)."""

    phone: str | None
    verified: bool
    pending: str | None = None


class PhoneSentOut(Out):
    sent_to: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: dict[str, str] | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail
