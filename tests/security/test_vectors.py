"""Item 1: known-answer vectors of RFC 4226 (App. D) and RFC 6238 (App. B), checked against
our TOTP module, pyotp with each digest, the real oathtool, and the service end to end."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from datetime import UTC, datetime

import pyotp
import pytest

from tests.security.helpers import login_mfa
from tests.support import Api
from twofold.domain import totp

SEED_SHA1 = b"12345678901234567890"
SEED_SHA256 = b"12345678901234567890123456789012"
SEED_SHA512 = SEED_SHA1 * 3 + b"1234"
TIMES = (59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000)
RFC6238 = {
    "sha1": ("94287082", "07081804", "14050471", "89005924", "69279037", "65353130"),
    "sha256": ("46119246", "68084774", "67062674", "91819424", "90698825", "77737706"),
    "sha512": ("90693936", "25091201", "99943326", "93441116", "38618901", "47863826"),
}
SEEDS = {"sha1": SEED_SHA1, "sha256": SEED_SHA256, "sha512": SEED_SHA512}
RFC4226 = ("755224", "287082", "359152", "969429", "338314",
           "254676", "287922", "162583", "399871", "520489")


def b32(seed: bytes) -> str:
    return base64.b32encode(seed).decode().rstrip("=")


def test_rfc4226_appendix_d_hotp_values() -> None:
    secret = b32(SEED_SHA1)
    for counter, expected in enumerate(RFC4226):
        assert totp.code_at_step(secret, counter) == expected
        assert pyotp.HOTP(secret).at(counter) == expected


@pytest.mark.parametrize("algo", ["sha1", "sha256", "sha512"])
def test_rfc6238_appendix_b_with_pyotp_and_oathtool(algo: str) -> None:
    secret = b32(SEEDS[algo])
    digest = getattr(hashlib, algo)
    for when, expected in zip(TIMES, RFC6238[algo], strict=True):
        assert pyotp.TOTP(secret, digits=8, digest=digest).at(when) == expected
        out = subprocess.run(
            ["oathtool", f"--totp={algo}", "-d", "8", "-b", secret, "-N", f"@{when}"],
            check=True, capture_output=True, text=True,
        )
        assert out.stdout.strip() == expected


def test_rfc6238_sha1_six_digit_truncation_in_our_module() -> None:
    secret = b32(SEED_SHA1)
    for when, expected in zip(TIMES, RFC6238["sha1"], strict=True):
        step = totp.time_step(datetime.fromtimestamp(when, UTC))
        assert step == when // 30
        assert totp.code_at_step(secret, step) == expected[-6:]
        assert totp.match_step(secret, expected[-6:], step, 1) == step


def test_service_accepts_the_code_at_t_20000000000(api: Api) -> None:
    """The year-2603 step (above 2**31 seconds) works end to end: bind, then log in."""
    api.clock.set(datetime.fromtimestamp(20000000000 - 25, UTC))
    owner = api.signup("acme")
    api.enable_mfa(owner)
    assert api.clock.epoch > 2**32
    r = api.call("POST", "/login", json={"login": owner.login, "password": owner.password})
    challenge = r.json()["challenge"]
    r = login_mfa(api, challenge, code=api.code(owner))
    assert r.status_code == 200, r.text
