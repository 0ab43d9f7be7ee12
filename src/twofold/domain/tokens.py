"""Random bearer tokens, one-time codes and their stored digests."""

from __future__ import annotations

import base64
import hashlib
import secrets

RECOVERY_CODE_COUNT = 10
# The longest bearer token, challenge or remembered-browser token looked up at all: ours are
# 43 characters; anything much longer is refused before it is hashed or queried.
MAX_TOKEN_LENGTH = 200


def new_token() -> str:
    """A bearer token with 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored for a token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_email_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def new_recovery_code() -> str:
    """80 random bits as 16 base32 characters, grouped in fours for reading."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode("ascii")
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def normalize_recovery_code(raw: str) -> str | None:
    """Upper-case without separators, or None when it cannot be a recovery code."""
    cleaned = raw.replace("-", "").replace(" ", "").upper()
    if len(cleaned) != 16 or not cleaned.isascii() or not cleaned.isalnum():
        return None
    return cleaned
