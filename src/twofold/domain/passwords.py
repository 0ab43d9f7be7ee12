"""Password hashing (argon2id) and the rules for choosing one (NIST SP 800-63B 5.1.1)."""

from __future__ import annotations

import os
import secrets
import threading
import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from twofold.domain.errors import Overloaded, ValidationFailed

MIN_LENGTH = 12
MAX_LENGTH = 256
# Fewer estimated guesses than this is refused: zxcvbn's scores 0 and 1 ("too guessable",
# "very guessable"): its 30,000 most common passwords, keyboard walks, repeats, sequences,
# dictionary words with digits, and the account's own names.
MIN_GUESSES = 10**6
# zxcvbn refuses longer input (its matching grows quickly with length); past it, the first
# part is what gets estimated.
_ESTIMATE_LENGTH = 72


def normalize(password: str) -> str:
    """NFKC, as NIST SP 800-63B 5.1.1.2 asks, so every way of typing a password is one."""
    return unicodedata.normalize("NFKC", password)


def _visible(char: str) -> bool:
    # Separators (Z*), controls and invisible format characters (C*), combining marks (M*).
    return unicodedata.category(char)[0] not in "ZCM"


@dataclass(frozen=True)
class HashParams:
    """OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane."""

    memory_kib: int = 19 * 1024
    time_cost: int = 2
    parallelism: int = 1


class Passwords:
    """Hashes and checks passwords with one set of argon2id parameters."""

    def __init__(
        self, params: HashParams = HashParams(), *, max_queue: int = 8, max_wait: float = 2.0
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            type=Type.ID,
        )
        # An unknown login is checked against this, so it costs the same as a known one.
        self._dummy = self._hasher.hash("twofold-dummy-password-for-timing")
        # argon2 is CPU- and memory-bound: hashing more at once than there are cores only adds
        # memory (19 MiB each) and makes every login finish late. Extra callers queue here.
        # The queue is bounded in length and in time: under a flood, callers past it are
        # refused at once (429 Overloaded, Retry-After) instead of making every login late.
        self._slots = threading.BoundedSemaphore(os.cpu_count() or 1)
        self._max_queue, self._max_wait = max_queue, max_wait
        self._waiting = 0
        self._count_lock = threading.Lock()

    def _acquire(self) -> None:
        if self._slots.acquire(blocking=False):
            return
        with self._count_lock:
            if self._waiting >= self._max_queue:
                raise Overloaded(retry_after=1)
            self._waiting += 1
        try:
            if not self._slots.acquire(timeout=self._max_wait):
                raise Overloaded(retry_after=max(1, round(self._max_wait)))
        finally:
            with self._count_lock:
                self._waiting -= 1

    def hash(self, password: str) -> str:
        self._acquire()
        try:
            return self._hasher.hash(normalize(password))
        finally:
            self._slots.release()

    def verify(self, stored: str | None, password: str) -> bool:
        """Check the normalised password; a hash made before normalisation (of the text as
        typed) still matches the same text as typed, so no one is locked out by the change."""
        normal = normalize(password)
        if self._matches(stored, normal):
            return True
        return normal != password and stored is not None and self._matches(stored, password)

    def _matches(self, stored: str | None, password: str) -> bool:
        self._acquire()
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        finally:
            self._slots.release()

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)


def check_new_password(
    password: str, *, context: list[str], min_length: int = MIN_LENGTH, field: str = "password"
) -> None:
    """Refuse a password that is too short or long, blank, one repeated character, common or
    easy to guess, or derived from the account.

    The password is NFKC-normalised first (as it is hashed); length counts its Unicode code
    points; there are no composition rules.
    """
    password = normalize(password)
    if len(password) < min_length:
        raise ValidationFailed(
            f"The password must have at least {min_length} characters.",
            fields={field: f"at least {min_length} characters"},
        )
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(
            f"The password must have at most {MAX_LENGTH} characters.",
            fields={field: f"at most {MAX_LENGTH} characters"},
        )
    visible = {c for c in password if _visible(c)}
    if not visible:
        raise ValidationFailed(
            "The password must contain visible characters, not only spaces or invisible ones.",
            fields={field: "only spaces or invisible characters"},
        )
    if len({c.casefold() for c in visible}) == 1:
        raise ValidationFailed(
            "The password must not be one character repeated.",
            fields={field: "one character repeated"},
        )
    lowered = password.casefold()
    derived = {normalize(c).casefold() for c in context if c}
    derived |= {c.split("@")[0] for c in derived if "@" in c}
    if lowered in derived:
        raise ValidationFailed(
            "The password must not be your login, name or email.",
            fields={field: "equal to the login, name or email"},
        )
    # Imported here: its dictionaries hold some 12 MiB, resident in every worker from the
    # first new password on, not from start-up (sign-in and code checks never need them).
    from zxcvbn import zxcvbn

    estimate = zxcvbn(password[:_ESTIMATE_LENGTH], user_inputs=sorted(derived))
    if estimate["guesses"] < MIN_GUESSES:
        raise ValidationFailed(
            "That password is too common or too easy to guess (a common password, a keyboard "
            "pattern, a repetition or your own names); choose another.",
            fields={field: "too common"},
        )


def generate_password() -> str:
    """A strong random password to hand to a person once (about 120 bits), in groups."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    groups = ["".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4)]
    return "-".join(groups)
