"""RFC 6238 arithmetic, code format and the Key Uri Format, at fixed times."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from twofold.domain import totp

# RFC 6238 Appendix B and RFC 4226 Appendix D both use the ASCII seed "12345678901234567890".
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode().rstrip("=")

# RFC 6238 Appendix B, the SHA1 rows: (Unix time, 8-digit TOTP). A 6-digit code is the same
# truncated value modulo 10**6, i.e. the last six digits.
RFC6238_SHA1 = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]

# RFC 4226 Appendix D: HOTP values for counters 0..9.
RFC4226_HOTP = [
    "755224", "287082", "359152", "969429", "338314",
    "254676", "287922", "162583", "399871", "520489",
]


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@pytest.mark.parametrize(("epoch", "expected"), RFC6238_SHA1)
def test_rfc6238_appendix_b_sha1(epoch: int, expected: str) -> None:
    step = totp.time_step(at(epoch))
    assert step == epoch // 30
    assert totp.code_at_step(RFC_SECRET, step) == expected[-6:]
    # The check at that moment finds exactly that step.
    assert totp.match_step(RFC_SECRET, expected[-6:], step, 1) == step


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(RFC4226_HOTP)))
def test_rfc4226_appendix_d(counter: int, expected: str) -> None:
    assert totp.code_at_step(RFC_SECRET, counter) == expected
    # Counter c is the TOTP step of [30c, 30c + 29].
    step = totp.time_step(at(30 * counter + 29))
    assert totp.match_step(RFC_SECRET, expected, step, 0) == counter


def test_match_step_returns_the_matched_step_within_the_window() -> None:
    centre = 1_000_000
    for offset in (-1, 0, 1):
        code = totp.code_at_step(RFC_SECRET, centre + offset)
        assert totp.match_step(RFC_SECRET, code, centre, 1) == centre + offset
    for offset in (-2, 2):
        code = totp.code_at_step(RFC_SECRET, centre + offset)
        if code not in {totp.code_at_step(RFC_SECRET, centre + d) for d in (-1, 0, 1)}:
            assert totp.match_step(RFC_SECRET, code, centre, 1) is None
    # A wider window finds it, which is how an out-of-sync device is recognised.
    far = totp.code_at_step(RFC_SECRET, centre + 7)
    assert totp.match_step(RFC_SECRET, far, centre, 10) == centre + 7


def test_step_boundaries() -> None:
    assert totp.time_step(at(0)) == 0
    assert totp.time_step(at(29)) == 0
    assert totp.time_step(at(30)) == 1
    assert totp.time_step(at(1111111109)) == 37037036


@pytest.mark.parametrize(
    "raw",
    [
        " 123456",
        "123456 ",
        "123 456",
        "123-456",
        "123456\n",
        "\t123456",
        "１２３４５６",  # full-width digits
        "١٢٣٤٥٦",  # Arabic-Indic digits
        "12345",
        "1234567",
        "12345a",
        "",
        123456,
        None,
        b"123456",
    ],
)
def test_only_six_ascii_digits_are_a_code(raw: object) -> None:
    assert totp.parse_code(raw) is None


@pytest.mark.parametrize("raw", ["123456", "000000", "999999", "012345"])
def test_six_ascii_digits_parse(raw: str) -> None:
    assert totp.parse_code(raw) == raw


def test_new_secret_is_160_bits_unpadded_base32() -> None:
    secrets = {totp.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for s in secrets:
        assert len(s) == 32
        assert re.fullmatch(r"[A-Z2-7]{32}", s)
        assert len(base64.b32decode(s)) == 20


def test_otpauth_uri_follows_the_key_uri_format() -> None:
    uri = totp.otpauth_uri("JBSWY3DPEHPK3PXP", "Twofold", "alice@acme")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    assert unquote(parts.path) == "/Twofold:alice@acme"
    assert "@" not in parts.path  # the label is URL-encoded
    query = parse_qs(parts.query, strict_parsing=True)
    assert query == {
        "secret": ["JBSWY3DPEHPK3PXP"],
        "issuer": ["Twofold"],
        "algorithm": ["SHA1"],
        "digits": ["6"],
        "period": ["30"],
    }


def test_otpauth_uri_encodes_spaces_and_colons_in_issuer() -> None:
    uri = totp.otpauth_uri("JBSWY3DPEHPK3PXP", "Acme Corp: IT", "bob")
    parts = urlsplit(uri)
    # Spaces are %20 (the Key Uri Format), never "+".
    assert "+" not in uri
    issuer_in_label, _, account = parts.path.removeprefix("/").partition(":")
    assert unquote(issuer_in_label) == "Acme Corp: IT"
    assert account == "bob"
    assert parse_qs(parts.query)["issuer"] == ["Acme Corp: IT"]


def test_group_secret() -> None:
    assert totp.group_secret("ABCDEFGHIJ") == "ABCD EFGH IJ"


def test_the_search_computes_what_pyotp_computes() -> None:
    """`match_step` computes codes on the decoded key itself; they are pyotp's, for fresh
    secrets of every length the app accepts, in either case, over a wide span of steps."""
    import secrets as random_bytes

    for length in (16, 20, 32):
        secret = base64.b32encode(random_bytes.token_bytes(length)).decode().rstrip("=")
        for written in (secret, secret.lower()):
            for step in (0, 1, 55_555_555, 2**31 + 7, *range(59_000_000, 59_000_040)):
                code = totp.code_at_step(secret, step)
                assert step in totp.matching_steps(written, code, step, 0), (length, step)
                assert totp.match_step(written, code, step + 3, 3) is not None


def test_matching_steps_gives_every_match_in_order() -> None:
    centre = 1_000_000
    codes = {s: totp.code_at_step(RFC_SECRET, s) for s in range(centre - 10, centre + 11)}
    for step, code in codes.items():
        expected = [s for s, c in codes.items() if c == code]
        assert totp.matching_steps(RFC_SECRET, code, centre, 10) == expected
        assert step in expected
    assert totp.matching_steps(RFC_SECRET, "000000", centre, 10) == [
        s for s, c in codes.items() if c == "000000"
    ]


def test_search_accepts_within_the_window_and_reports_a_wider_match_apart() -> None:
    centre = 1_000_000
    codes = {s: totp.code_at_step(RFC_SECRET, s) for s in range(centre - 11, centre + 12)}
    near = {c for s, c in codes.items() if abs(s - centre) <= 1}
    wide = {c for s, c in codes.items() if abs(s - centre) <= 10}
    for step, code in codes.items():
        found, off = totp.search(RFC_SECRET, code, centre, 1, 10)
        if code in near:  # accepted: the first step within the window with this code
            assert (found, off) == (min(s for s in range(centre - 1, centre + 2)
                                        if codes[s] == code), False)
        elif code in wide:  # the clock is off: reported, not accepted
            assert (found, off) == (None, True), step
        else:  # 11 steps away is past the wider search: a wrong code
            assert (found, off) == (None, False), step
    assert totp.search(RFC_SECRET, "abcdef", centre, 1, 10) == (None, False)
