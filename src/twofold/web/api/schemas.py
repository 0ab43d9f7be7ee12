"""Request and response bodies of the v1 API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
)

from twofold.domain.emails import valid_email

# Any syntactically valid address, reserved domains too (pydantic's EmailStr refuses them).
EmailStr = Annotated[str, Field(max_length=320), AfterValidator(valid_email)]


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


class AccountOut(BaseModel):
    name: str
    email: str


class LoginIn(Body):
    login: str = Field(max_length=200)
    password: str = Field(max_length=1024)
    remember_token: str | None = Field(None, max_length=200)


class LoginOut(BaseModel):
    state: Literal["authenticated", "mfa_required", "mfa_setup_required"]
    token: str | None = None
    challenge: str | None = None


class LoginMfaIn(Body):
    # No length limit here: a malformed challenge is ChallengeExpired (401), not a 400.
    challenge: str
    code: str | None = Field(None, max_length=64)
    recovery_code: str | None = Field(None, max_length=64)
    remember_browser: bool = False


class LoginMfaOut(BaseModel):
    state: Literal["authenticated"]
    token: str
    remember_token: str | None = None
    recovery_codes_left: int | None = None


class MfaStatus(BaseModel):
    enabled: bool
    serial: str | None
    bound_at: str | None
    recovery_codes_left: int | None = None


class MeOut(BaseModel):
    login: str
    kind: Literal["primary", "user"]
    account: str
    email: str | None
    mfa: MfaStatus
    mfa_required: bool
    restricted: bool
    verified_until: str | None


class VerifyIn(Body):
    method: Literal["password", "mfa", "email"]
    password: str | None = Field(None, max_length=1024)
    code: str | None = Field(None, max_length=64)


class VerifyOut(BaseModel):
    verified_until: str


class DeviceOut(BaseModel):
    serial: str
    secret: str
    otpauth_uri: str
    qr_svg: str
    qr_png: str


class BindIn(Body):
    serial: str = Field(max_length=64)
    code1: str = Field(max_length=64)
    code2: str = Field(max_length=64)


class BindOut(BaseModel):
    serial: str
    enabled: Literal[True]
    recovery_codes: list[str]


class ResyncIn(Body):
    code1: str = Field(max_length=64)
    code2: str = Field(max_length=64)


class ResyncOut(BaseModel):
    serial: str
    drift_steps: int


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class PasswordIn(Body):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class UserIn(Body):
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    email: EmailStr | None = None
    mfa_required: bool = False


class UserPatch(Body):
    mfa_required: bool | None = None
    email: EmailStr | None = None


class UserOut(BaseModel):
    name: str
    login: str
    email: str | None
    mfa: MfaStatus
    mfa_required: bool
    created_at: str | None = None


class UsersOut(BaseModel):
    users: list[UserOut]


class AuditEventOut(BaseModel):
    id: int
    time: str
    actor: str | None
    action: str
    target: str | None
    result: str
    client_addr: str | None
    detail: dict[str, Any] | None


class AuditPageOut(BaseModel):
    events: list[AuditEventOut]
    next_before: int | None


class SessionOut(BaseModel):
    id: str
    client_addr: str | None
    user_agent: str | None
    created_at: str
    last_seen_at: str
    expires_at: str
    current: bool
    restricted: bool


class SessionsOut(BaseModel):
    sessions: list[SessionOut]


class SecurityPreferencesOut(BaseModel):
    mfa_for_login: Literal["per_user", "all_users"]
    allow_users_to_manage_mfa: bool
    remember_mfa_days: int
    session_hours: int
    login_networks: list[str]
    password_min_length: int


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


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: dict[str, str] | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail
