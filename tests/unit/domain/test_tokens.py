"""Bearer tokens, one-time codes and stored digests."""

from __future__ import annotations

import base64
import hashlib
import re

from twofold.domain import tokens


def test_tokens_are_long_random_and_url_safe() -> None:
    seen = {tokens.new_token() for _ in range(200)}
    assert len(seen) == 200
    for t in seen:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", t)
        assert len(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))) * 8 >= 128


def test_token_digest_is_sha256_and_not_the_token() -> None:
    t = tokens.new_token()
    assert tokens.token_digest(t) == hashlib.sha256(t.encode()).hexdigest()
    assert t not in tokens.token_digest(t)
    # Any string a client sends can be digested (lone surrogates included).
    assert len(tokens.token_digest("\ud800")) == 64


def test_email_codes_are_six_digits() -> None:
    codes = [tokens.new_email_code() for _ in range(200)]
    assert all(re.fullmatch(r"[0-9]{6}", c) for c in codes)
    assert len(set(codes)) > 150


def test_recovery_codes_format_and_normalisation() -> None:
    code = tokens.new_recovery_code()
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", code)
    flat = code.replace("-", "")
    assert tokens.normalize_recovery_code(code) == flat
    assert tokens.normalize_recovery_code(code.lower()) == flat
    assert tokens.normalize_recovery_code(" ".join(code.split("-"))) == flat
    for bad in ("", flat[:-1], flat + "A", "ÄÄÄÄ-ÄÄÄÄ-ÄÄÄÄ-ÄÄÄÄ", "!!!!-!!!!-!!!!-!!!!"):
        assert tokens.normalize_recovery_code(bad) is None
