"""The rules that decide: step acceptance, lockout back-off, session life, freshness, and what
a setup-only session may reach. Pure functions of their inputs and `now`."""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import datetime, timedelta

CODE_WINDOW = 1  # login and verification accept the current step and one either way
SYNC_SEARCH_WINDOW = 10  # a match this far off is reported as a clock problem, not accepted
CODE_FAILURE_LIMIT = 5
PASSWORD_FAILURE_LIMIT = 10  # per (login, client address): this one locks, with back-off
# Per login across every address (NIST SP 800-63B 5.2.2 allows up to 100): it slows rather
# than locks (short doubling pauses, capped low), and the owner's usual address or a
# remembered browser passes it.
LOGIN_FAILURE_CEILING = 100
LOGIN_CEILING_CAP = timedelta(minutes=15)
RECOVERY_FAILURE_LIMIT = 5  # recovery codes keep their own count: the way out of a code lock
FAILURE_MEMORY = timedelta(hours=24)  # a run of password failures older than this starts over
EMAIL_SENDS_PER_HOUR = 5  # per principal and per destination address
SEND_WINDOW = timedelta(hours=1)
UNKNOWN_LOGIN_AUDIT_WINDOW = timedelta(minutes=10)  # one audit row per client per window
RECENT_CLIENTS = 5  # client addresses of the last sign-ins kept per principal
BACKOFF_START = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
CHALLENGE_LIFETIME = timedelta(minutes=5)
PENDING_DEVICE_LIFETIME = timedelta(minutes=10)
EMAIL_CODE_LIFETIME = timedelta(minutes=10)
SMS_CODE_LIFETIME = timedelta(minutes=10)
SMS_SENDS_PER_HOUR = 5  # per principal and per destination number
RESET_LINK_LIFETIME = timedelta(minutes=30)
RESET_MAILS_PER_LOGIN = 3  # "forgot password" mails per login and hour (more are dropped)
RESET_REQUESTS_PER_CLIENT = 10  # reset requests per client address and hour
EMAIL_CONFIRM_LIFETIME = timedelta(hours=24)  # a mailed "confirm your address" link
CONFIRM_MAILS_PER_HOUR = 5  # confirmation mails per principal and per destination address
SESSION_TOUCH_INTERVAL = timedelta(seconds=60)

NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{2,31}", re.ASCII)

# A setup-only session reaches these API paths (relative to /api/v1) and nothing else.
_RESTRICTED_ALLOWED = re.compile(
    r"/(me|me/mfa-device(/.*)?|me/security-keys/(options|verify)|verify(/.*)?|logout)", re.ASCII
)


# A session whose principal must choose a new password reaches these and nothing else.
_PASSWORD_CHANGE_ALLOWED = re.compile(r"/(me|me/password|verify(/.*)?|logout)", re.ASCII)


def password_change_may_reach(api_path: str) -> bool:
    """Whether a session that must change its password may call this API path."""
    return _PASSWORD_CHANGE_ALLOWED.fullmatch(api_path) is not None


def password_expired(
    kind: str, changed_at: datetime | None, max_age_days: int, now: datetime
) -> bool:
    """Whether a sub-user's password is older than its account's policy allows (0: never)."""
    if kind != "user" or max_age_days <= 0 or changed_at is None:
        return False
    return now - changed_at >= timedelta(days=max_age_days)


def valid_name(name: str) -> bool:
    return NAME_PATTERN.fullmatch(name) is not None


def lockout_for(failures: int, limit: int, cap: timedelta = BACKOFF_CAP) -> timedelta | None:
    """How long checks stay locked after `failures` consecutive failures, or None.

    The limit-th failure locks for one minute; each further failure doubles it, up to `cap`
    (an hour unless told).
    """
    if failures < limit:
        return None
    return min(backoff(failures - limit), cap)


def backoff(doublings: int) -> timedelta:
    """The lock after the limit was reached and passed `doublings` more times: one minute,
    doubling each time, up to an hour."""
    if doublings >= 6:  # 2**6 minutes already exceeds the hour
        return BACKOFF_CAP
    lock: timedelta = min(BACKOFF_START * (2 ** max(doublings, 0)), BACKOFF_CAP)
    return lock


def retry_after_seconds(locked_until: datetime, now: datetime) -> int:
    return max(1, math.ceil((locked_until - now).total_seconds()))


def bind_steps_ok(step1: int | None, step2: int | None, current: int) -> bool:
    """Binding: two consecutive steps, the later within one step of now either way."""
    if step1 is None or step2 is None:
        return False
    return step2 == step1 + 1 and abs(step2 - current) <= CODE_WINDOW


def is_fresh(verified_at: datetime | None, now: datetime, window: timedelta) -> bool:
    return verified_at is not None and now - verified_at <= window and verified_at <= now


def session_alive(
    *,
    last_seen_at: datetime,
    expires_at: datetime,
    now: datetime,
    idle: timedelta,
) -> bool:
    return now < expires_at and now - last_seen_at < idle


def restricted_may_reach(api_path: str) -> bool:
    """Whether a setup-only session may call this API path (relative to /api/v1)."""
    return _RESTRICTED_ALLOWED.fullmatch(api_path) is not None


def step_up_ok(
    *,
    verified_at: datetime | None,
    restricted: bool,
    first_factor: bool,
    now: datetime,
    window: timedelta,
) -> bool:
    """Whether a step-up-guarded operation may run.

    A freshly verified session may. A setup-only session is not fresh (it proved only a
    password), yet it may create its first factor: the password it just gave is enough for
    that one step, which is the only way out of the restriction."""
    if is_fresh(verified_at, now, window):
        return True
    return first_factor and restricted


def mfa_setup_due(kind: str, mfa_required: bool, mfa_for_login: str) -> bool:
    """Whether a principal with no factor must set one up before anything else: required of
    it by name, or of every sub-user by its account."""
    return mfa_required or (kind == "user" and mfa_for_login == "all_users")


def address_confirmed(email: str | None, confirmed_at: datetime | None) -> bool:
    """Whether the address on file was confirmed by its holder."""
    return bool(email) and confirmed_at is not None


def network_allowed(client_addr: str | None, networks: list[str]) -> bool:
    """Whether `client_addr` lies in one of `networks` (CIDR); an empty list allows all."""
    if not networks:
        return True
    if not client_addr:
        return False
    try:
        addr = ipaddress.ip_address(client_addr)
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(net, strict=False) for net in networks)
