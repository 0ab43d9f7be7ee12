"""Password rules (NIST SP 800-63B) and argon2id hashing."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from twofold.domain.errors import ValidationFailed
from twofold.domain.passwords import HashParams, Passwords, check_new_password, normalize

CTX = ["alice", "alice@acme", "acme", "alice.smith@mail.example"]
FAST = HashParams(memory_kib=1024, time_cost=1, parallelism=1)


def refused(password: str, **kw: object) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as exc:
        check_new_password(password, context=CTX, **kw)  # type: ignore[arg-type]
    assert exc.value.fields is not None
    return exc.value.fields


def refused_in(context: list[str], password: str) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as exc:
        check_new_password(password, context=context)
    assert exc.value.fields is not None
    return exc.value.fields


def test_length_counts_code_points_from_12_to_256() -> None:
    assert refused("x7#kq9!mz2v") == {"password": "at least 12 characters"}  # 11
    check_new_password("x7#kq9!mz2vb", context=CTX)  # 12
    long = ("x7#kq9!mz2vb" * 22)[:256]
    check_new_password(long, context=CTX)  # 256
    assert refused(long + "z") == {"password": "at most 256 characters"}


def test_unicode_code_points_each_count_after_nfkc() -> None:
    # Twelve different emoji: 12 code points, 48 UTF-8 bytes.
    check_new_password("🔐🗝🦊🌍🎲🧩🚲🌵🍋🎻⛵🔑", context=CTX)
    assert "password" in refused("🔐🗝🦊🌍🎲🧩🚲🌵🍋🎻⛵")
    # e + combining acute is one code point once normalised: six of them are too short.
    assert refused("e\u0301x\u0301" * 3) == {"password": "at least 12 characters"}
    assert "password" in refused("é" * 11)
    # A 256-code-point password of 4-byte characters is 1024 bytes and still fine.
    ideographs = "".join(chr(0x20000 + 7 * i) for i in range(256))
    check_new_password(ideographs, context=CTX)
    assert "password" in refused(ideographs + "x")
    # Letters NFKC maps to plain ones are judged as the plain ones: ABCDEFGH... is a sequence.
    assert refused("𝔸𝔹ℂ𝔻𝔼𝔽𝔾ℍ" * 2) == {"password": "too common"}


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        (" " * 12, "only spaces or invisible characters"),
        ("\u200b" * 12, "only spaces or invisible characters"),
        ("\u3000\u00a0\t\u2028" * 3, "only spaces or invisible characters"),
        ("\u0301" * 12, "only spaces or invisible characters"),
        ("x" + "\u0301" * 11, "one character repeated"),
        ("a" + "\u0300\u0301\u0302\u0303" * 3, "one character repeated"),
        ("q" * 12, "one character repeated"),
        ("qQqQqQqQqQqQ", "one character repeated"),
        ("z \u200b" * 6, "one character repeated"),
        ("ｑ" * 6 + "q" * 6, "one character repeated"),  # fullwidth q is q after NFKC
    ],
)
def test_blank_and_single_character_passwords_are_refused(password: str, problem: str) -> None:
    assert refused(password) == {"password": problem}


@pytest.mark.parametrize(
    "password",
    [
        "qwertyuiopas",  # a keyboard walk
        "1qaz2wsx3edc",  # a column walk
        "password1234",
        "PASSWORD1234",
        "123456789012",
        "iloveyou1234",
        "qqqqqqqqqqqqz",
        "abcdefghijkl",
        "passwordpassword",
        "ｑｗｅｒｔｙｕｉｏｐａｓ",  # the walk in fullwidth letters, the same after NFKC
    ],
)
def test_common_and_guessable_passwords_are_refused(password: str) -> None:
    assert refused(password) == {"password": "too common"}


def test_the_account_names_count_against_the_password() -> None:
    assert refused("alice@acme2024") == {"password": "too common"}
    check_new_password("alice@acme2024", context=[])  # the same is fine for someone else


def test_no_composition_rules() -> None:
    check_new_password("all lower case words", context=CTX)
    check_new_password("x7#kq9!mz2vb", context=CTX)
    check_new_password("correct horse battery staple " * 6, context=CTX)  # past 72 too


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
    assert "password" in refused_in(ctx, "averylongname!")  # the name plus a symbol: guessable
    check_new_password("averylongname rides 42 bikes", context=ctx)


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


def test_hash_is_of_the_nfkc_form_so_any_typing_of_it_signs_in() -> None:
    pw = Passwords(FAST)
    composed = "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e"
    decomposed = "cafe\u0301 cre\u0300me bru\u0302le\u0301e"
    assert normalize(decomposed) == composed
    stored = pw.hash(decomposed)
    assert pw.verify(stored, composed)
    assert pw.verify(stored, decomposed)
    assert pw.verify(pw.hash("ｆｕｌｌｗｉｄｔｈ ｐａｓｓ"), "fullwidth pass")
    assert not pw.verify(stored, "cafe creme brulee")


def test_a_hash_made_before_normalisation_still_verifies_as_typed() -> None:
    """Stored hashes of non-NFKC text (set before the change) match the same keystrokes."""
    pw = Passwords(FAST)
    typed = "cafe\u0301 cre\u0300me bru\u0302le\u0301e"
    legacy = PasswordHasher(memory_cost=1024, time_cost=1, parallelism=1).hash(typed)
    assert pw.verify(legacy, typed)
    assert not pw.verify(legacy, "cafe creme brulee")
    assert not pw.verify(None, typed)


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
