"""An account's security preferences: their names, defaults and the range each may take.

The same check serves the API, the console and the CLI. Pure: no SQL, no HTTP.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from twofold.domain import errors

MFA_FOR_LOGIN = ("per_user", "all_users")
REMEMBER_MFA_DAYS = (0, 30)
SESSION_HOURS = (1, 24)
PASSWORD_MIN_LENGTH = (12, 128)
PASSWORD_MAX_AGE_DAYS = (0, 1095)  # 0: passwords never expire
PASSWORD_REUSE_PREVENTION = (0, 24)  # how many of the last passwords may not come back
MAX_LOGIN_NETWORKS = 40

# The order people read them in, and the defaults of a new account.
DEFAULTS: dict[str, Any] = {
    "mfa_for_login": "per_user",
    "allow_users_to_manage_mfa": True,
    "remember_mfa_days": 0,
    "session_hours": 12,
    "login_networks": [],
    "password_min_length": 12,
    "password_max_age_days": 0,
    "password_reuse_prevention": 0,
}


def _int_in(value: object, bounds: tuple[int, int]) -> int | None:
    # bool is an int in Python; `true` is not a number of days.
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    low, high = bounds
    return value if low <= value <= high else None


def _networks(value: object, problems: dict[str, str]) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems["login_networks"] = "must be a list of CIDR ranges"
        return None
    if len(value) > MAX_LOGIN_NETWORKS:
        problems["login_networks"] = errors.Problem(
            "at most {count} ranges", count=MAX_LOGIN_NETWORKS
        )
        return None
    normalized: list[str] = []
    for i, raw in enumerate(value):
        try:
            # strict=False: "10.1.2.3/8" means 10.0.0.0/8; a bare address is a /32 or /128.
            net = str(ipaddress.ip_network(raw.strip(), strict=False))
        except ValueError:
            problems[f"login_networks.{i}"] = errors.Problem(
                "{value!r} is not an IPv4 or IPv6 CIDR range", value=raw[:60]
            )
            continue
        if net not in normalized:
            normalized.append(net)
    return normalized


def validate_changes(changes: dict[str, object]) -> dict[str, Any]:
    """The changes normalized, or ValidationFailed naming every field that is wrong."""
    problems: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in DEFAULTS:
            problems[name] = "not a security preference"
        elif name == "mfa_for_login":
            if value in MFA_FOR_LOGIN:
                clean[name] = value
            else:
                problems[name] = "per_user or all_users"
        elif name == "allow_users_to_manage_mfa":
            if isinstance(value, bool):
                clean[name] = value
            else:
                problems[name] = "true or false"
        elif name == "login_networks":
            nets = _networks(value, problems)
            if nets is not None:
                clean[name] = nets
        else:
            bounds = {
                "remember_mfa_days": REMEMBER_MFA_DAYS,
                "session_hours": SESSION_HOURS,
                "password_min_length": PASSWORD_MIN_LENGTH,
                "password_max_age_days": PASSWORD_MAX_AGE_DAYS,
                "password_reuse_prevention": PASSWORD_REUSE_PREVENTION,
            }[name]
            number = _int_in(value, bounds)
            if number is None:
                problems[name] = errors.Problem(
                    "a whole number from {low} to {high}", low=bounds[0], high=bounds[1]
                )
            else:
                clean[name] = number
    if problems:
        raise errors.ValidationFailed(
            "Some security preferences are not valid.", fields=problems
        )
    return clean
