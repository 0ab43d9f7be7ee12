"""RFC 6238 time-based one-time passwords on top of pyotp: the arithmetic, not the policy.

The policy around it (which step is acceptable, replay, throttling) lives in the services,
which hand in `now` from an injected clock.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from datetime import datetime
from urllib.parse import quote, urlencode

import pyotp

PERIOD = 30
DIGITS = 6
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommended length
_CODE = re.compile(r"[0-9]{6}", re.ASCII)


def new_secret() -> str:
    """A fresh 160-bit secret as unpadded base32 (32 characters)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def time_step(now: datetime) -> int:
    return int(now.timestamp()) // PERIOD


def parse_code(raw: object) -> str | None:
    """The code if `raw` is exactly six ASCII digits, else None (a wrong code, not an error)."""
    if isinstance(raw, str) and _CODE.fullmatch(raw):
        return raw
    return None


def code_at_step(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).generate_otp(step)


def match_step(secret: str, code: str, centre: int, window: int) -> int | None:
    """The step in [centre - window, centre + window] whose code equals `code`, or None.

    Every candidate is computed and compared in constant time, whatever matches first.
    """
    found: int | None = None
    for step in range(centre - window, centre + window + 1):
        if hmac.compare_digest(code_at_step(secret, step), code) and found is None:
            found = step
    return found


def otpauth_uri(secret: str, issuer: str, login: str) -> str:
    """The Key Uri Format URI an authenticator app scans."""
    label = f"{quote(issuer, safe='')}:{quote(login, safe='')}"
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": PERIOD,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def group_secret(secret: str) -> str:
    """The key for manual entry, in groups of four characters."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
