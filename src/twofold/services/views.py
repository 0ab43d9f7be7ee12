"""Typed read models: what the services answer, and what every face renders.

Built here once (the MFA status shape above all), so the API's response models, the
console's pages and the CLI's lines all show the same facts."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class MfaStatus:
    """A principal's second factors: `enabled` when it has any, `totp` for the virtual MFA
    device (bound or not, and when), `security_keys` how many keys. `recovery_codes_left`
    is told to the principal itself only (None for a primary's view of a sub-user)."""

    enabled: bool
    serial: str | None
    bound_at: datetime | None
    recovery_codes_left: int | None = None
    totp: bool = False
    security_keys: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready shape (times as ISO text), without an unknown recovery count."""
        view: dict[str, Any] = {
            "enabled": self.enabled,
            "serial": self.serial,
            "bound_at": iso(self.bound_at),
            "totp": self.totp,
            "security_keys": self.security_keys,
        }
        if self.recovery_codes_left is not None:
            view["recovery_codes_left"] = self.recovery_codes_left
        return view


@dataclass(frozen=True)
class PhoneView:
    """A principal's phone as it is shown: masked (`+86 138****8000`), never in full.
    `pending` is a new number waiting for its code."""

    phone: str | None
    verified: bool
    pending: str | None = None


@dataclass(frozen=True)
class AccountView:
    name: str
    email: str


@dataclass(frozen=True)
class MeView:
    login: str
    kind: str
    account: str
    email: str | None
    mfa: MfaStatus
    mfa_required: bool
    restricted: bool
    verified_until: datetime | None
    password_change_required: bool = False
    email_verified: bool = False
    phone: str | None = None  # masked; only a verified number


@dataclass(frozen=True)
class PrincipalStatus:
    """An operator's view of one principal (CLI)."""

    login: str
    kind: str
    mfa: MfaStatus
    mfa_required: bool
    phone: str | None = None  # masked; a verified number only


@dataclass(frozen=True)
class UserView:
    name: str
    login: str
    email: str | None
    mfa: MfaStatus
    mfa_required: bool
    created_at: datetime | None
    password_reset_required: bool = False
    disabled: bool = False
    email_verified: bool = False
    phone_verified: bool = False

    def as_dict(self) -> dict[str, Any]:
        view = asdict(self)
        view["mfa"] = self.mfa.as_dict()
        view["created_at"] = iso(self.created_at)
        return view


@dataclass(frozen=True)
class SessionView:
    id: str
    client_addr: str | None
    user_agent: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool
    restricted: bool
    # The applications this session signed in to (OpenID Connect), by name.
    applications: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditEventView:
    id: int
    created_at: datetime
    actor: str | None
    action: str
    target: str | None
    result: str
    client_addr: str | None
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEventView]
    next_before: int | None


@dataclass(frozen=True)
class SecurityPreferences:
    mfa_for_login: str
    allow_users_to_manage_mfa: bool
    remember_mfa_days: int
    session_hours: int
    login_networks: list[str]
    password_min_length: int
    password_max_age_days: int = 0
    password_reuse_prevention: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Resynced:
    serial: str
    drift_steps: int


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class ApplicationView:
    """An application as its owner sees it (never its secret)."""

    client_id: str
    name: str
    type: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    require_mfa: bool
    has_secret: bool
    created_at: datetime
    updated_at: datetime
    disabled: bool = False


@dataclass(frozen=True)
class ApplicationSecret:
    """An application and its new client secret: shown once, when made."""

    application: ApplicationView
    client_secret: str | None


@dataclass(frozen=True)
class Identity:
    """Who a forward-auth check let through: the headers a reverse proxy passes on."""

    login: str
    email: str | None
    name: str
    account: str
