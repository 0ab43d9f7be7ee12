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


def _key(secret: str) -> bytes:
    """The secret's bytes, decoded as pyotp decodes it (unpadded base32, any case)."""
    return base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)


def _code(key: bytes, step: int) -> str:
    """RFC 4226 5.3 (HOTP, SHA-1, dynamic truncation) for one step, on the decoded key:
    `code_at_step`'s value at a fifth of its cost, for the searches below, which compute
    up to 21 codes a check (pyotp decodes the secret again for every code)."""
    digest = hmac.digest(key, step.to_bytes(8, "big"), "sha1")
    offset = digest[-1] & 0x0F
    value = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 10**DIGITS:0{DIGITS}d}"


def _matching(key: bytes, code: str, first: int, last: int) -> list[int]:
    # Every candidate is computed and compared in constant time, whatever matches.
    return [step for step in range(first, last + 1) if hmac.compare_digest(_code(key, step), code)]


def matching_steps(secret: str, code: str, centre: int, window: int) -> list[int]:
    """Every step in [centre - window, centre + window] whose code equals `code`, in order."""
    return _matching(_key(secret), code, centre - window, centre + window)


def match_step(secret: str, code: str, centre: int, window: int) -> int | None:
    """The first step in [centre - window, centre + window] whose code equals `code`, or
    None (`matching_steps`)."""
    found = matching_steps(secret, code, centre, window)
    return found[0] if found else None


def search(secret: str, code: str, centre: int, window: int, wider: int) -> tuple[int | None, bool]:
    """The first step within `window` of `centre` whose code equals `code`; else None, and
    whether one within `wider` does (a device whose clock is off: reported, not accepted).
    The wider search runs only when the narrow one found nothing."""
    key = _key(secret)
    near = _matching(key, code, centre - window, centre + window)
    if near:
        return near[0], False
    return None, bool(_matching(key, code, centre - wider, centre + wider))


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
