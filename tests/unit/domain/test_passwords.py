"""Password rules (NIST SP 800-63B) and argon2id hashing."""

from __future__ import annotations

import pytest

from twofold.domain.errors import ValidationFailed
from twofold.domain.passwords import HashParams, Passwords, check_new_password, common_passwords

CTX = ["alice", "alice@acme", "acme", "alice.smith@mail.example"]
FAST = HashParams(memory_kib=1024, time_cost=1, parallelism=1)


def refused(password: str, **kw: object) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as exc:
        check_new_password(password, context=CTX, **kw)  # type: ignore[arg-type]
    assert exc.value.fields is not None
    return exc.value.fields


def test_length_counts_code_points_from_12_to_256() -> None:
    assert refused("x7#kq9!mz2v") == {"password": "at least 12 characters"}  # 11
    check_new_password("x7#kq9!mz2vb", context=CTX)  # 12
    check_new_password("q" * 255 + "z", context=CTX)  # 256
    assert refused("q" * 256 + "z") == {"password": "at most 256 characters"}


def test_unicode_code_points_each_count() -> None:
    # Twelve emoji: 12 code points, 48 UTF-8 bytes.
    check_new_password("🔐🗝️🦊🌍🎲🧩🚲🌵🍋🎻⛵"[:12], context=CTX)
    check_new_password("🔐" * 12, context=CTX)
    assert "password" in refused("🔐" * 11)
    # e + combining acute, six times: 12 code points though it shows as 6 letters.
    check_new_password("e\u0301" * 6, context=CTX)
    # Precomposed: 11 code points is too short.
    assert "password" in refused("é" * 11)
    # A 256-code-point password of 4-byte characters is 1024 bytes and still fine.
    check_new_password("𝔸" * 256, context=CTX)
    assert "password" in refused("𝔸" * 257)


def test_no_composition_rules() -> None:
    check_new_password("all lower case words", context=CTX)
    check_new_password("qqqqqqqqqqqqz", context=CTX)


def test_common_passwords_are_refused_in_any_case() -> None:
    listed = sorted(p for p in common_passwords() if len(p) >= 12)
    assert listed, "the shipped list has entries of twelve characters or more"
    for p in listed[:20]:
        assert refused(p) == {"password": "too common"}
        assert refused(p.upper()) == {"password": "too common"}


@pytest.mark.parametrize(
    "password", ["alice@acme", "ALICE@ACME", "alice.smith@mail.example"]
)
def test_equal_to_login_name_or_email_is_refused(password: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        check_new_password(password, context=CTX, min_length=8)
    assert exc.value.fields == {"password": "equal to the login, name or email"}


def test_equal_to_login_name_when_long_enough() -> None:
    ctx = ["averylongname", "averylongname@acmecorporation", "acmecorporation"]
    for p in ("averylongname", "AveryLongName", "acmecorporation"):
        with pytest.raises(ValidationFailed):
            check_new_password(p, context=ctx)
    check_new_password("averylongname!", context=ctx)


def test_field_name_and_minimum_are_configurable() -> None:
    with pytest.raises(ValidationFailed) as exc:
        check_new_password("short", context=[], field="new_password")
    assert exc.value.fields == {"new_password": "at least 12 characters"}
    with pytest.raises(ValidationFailed):
        check_new_password("fourteen chars", context=[], min_length=16)


def test_hash_and_verify() -> None:
    pw = Passwords(FAST)
    stored = pw.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse battery" not in stored
    assert pw.verify(stored, "correct horse battery")
    assert not pw.verify(stored, "correct horse batterY")
    assert not pw.verify(None, "correct horse battery")  # unknown login: a dummy hash
    assert not pw.verify("not a hash", "correct horse battery")
    assert pw.hash("same") != pw.hash("same")  # salted


def test_default_parameters_are_owasp() -> None:
    params = HashParams()
    assert (params.memory_kib, params.time_cost, params.parallelism) == (19 * 1024, 2, 1)


def test_needs_rehash_when_parameters_change() -> None:
    old = Passwords(FAST)
    new = Passwords(HashParams(memory_kib=2048, time_cost=2, parallelism=1))
    stored = old.hash("a long passphrase")
    assert not old.needs_rehash(stored)
    assert new.needs_rehash(stored)
    assert new.verify(stored, "a long passphrase")  # still checks with the old parameters


def test_a_full_hash_queue_sheds_load_at_once() -> None:
    import threading
    import time

    from twofold.domain.errors import Overloaded, TooManyAttempts
    from twofold.domain.passwords import HashParams, Passwords

    pw = Passwords(HashParams(memory_kib=1024, time_cost=1), max_queue=0, max_wait=5.0)
    stored = pw.hash("a long passphrase here")
    held = []
    while pw._slots.acquire(blocking=False):  # every core busy
        held.append(1)
    try:
        started = time.monotonic()
        try:
            pw.verify(stored, "a long passphrase here")
            raise AssertionError("not shed")
        except Overloaded as exc:
            assert isinstance(exc, TooManyAttempts) and exc.status == 429 and exc.retry_after
        assert time.monotonic() - started < 1  # the queue is full: refused at once
        # With room in the queue, a waiter gives up after the bounded wait.
        pw._max_queue, pw._max_wait = 1, 0.05
        done = threading.Event()
        try:
            pw.hash("another passphrase")
        except Overloaded:
            done.set()
        assert done.is_set()
    finally:
        for _ in held:
            pw._slots.release()
    assert pw.verify(stored, "a long passphrase here")
