"""Authentication method references (RFC 8176): the methods a sign-in used, as a session
records them, and the `amr` claim an ID token carries.

Sessions record plain method values (`pwd`, `otp`, `hwk`, `sms`, `user`, ...) as each factor
succeeds; `mfa` is never recorded, it is derived: present when the methods span two or more
kinds of factor (something known, something held, something one is). Pure."""

from __future__ import annotations

from collections.abc import Iterable

KNOWLEDGE = frozenset({"pwd", "pin", "kba"})
POSSESSION = frozenset({"otp", "hwk", "swk", "sms", "tel", "sc"})
INHERENCE = frozenset({"fpt", "face", "iris", "retina", "vbm"})
# Not factors of their own: user presence, multiple channels, location, risk, Windows.
OTHER = frozenset({"user", "mca", "geo", "rba", "wia"})
METHODS = KNOWLEDGE | POSSESSION | INHERENCE | OTHER
MFA = "mfa"


def merged(recorded: Iterable[str], *added: str) -> list[str]:
    """`recorded` with `added` appended (each once, in order of first use). An unknown value,
    or `mfa` (derived, never recorded), is a programming error: ValueError."""
    bad = [m for m in added if m not in METHODS]
    if bad:
        raise ValueError(f"not an RFC 8176 method to record: {bad}")
    out = [m for m in recorded if m in METHODS]
    for method in added:
        if method not in out:
            out.append(method)
    return out


def factor_kinds(methods: Iterable[str]) -> int:
    """How many kinds of factor (knowledge, possession, inherence) the methods span."""
    used = set(methods)
    return sum(1 for kind in (KNOWLEDGE, POSSESSION, INHERENCE) if kind & used)


def amr_claim(recorded: Iterable[str]) -> list[str]:
    """The `amr` claim for a session's recorded methods: those methods, plus `mfa` when they
    span two kinds of factor. Empty when nothing was recorded (the claim is then left out:
    better none than a guess)."""
    methods = merged(recorded)
    return [*methods, MFA] if factor_kinds(methods) >= 2 else methods
