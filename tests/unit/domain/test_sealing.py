"""Secrets at rest: AES-GCM under a key ring, tagged with the key id."""

from __future__ import annotations

import base64
import os

import pytest

from twofold.domain.sealing import KeyRing, SealingError


def ring(kid: str = "k1", **more: bytes) -> KeyRing:
    return KeyRing(kid, {kid: os.urandom(32), **more}, os.urandom(32))


def test_roundtrip_and_key_id_tag() -> None:
    r = ring("kabc")
    sealed = r.seal("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "mfa-device:s1")
    assert sealed.startswith("kabc:")
    assert r.key_id_of(sealed) == "kabc"
    assert "JBSWY3DP" not in sealed
    assert r.unseal(sealed, "mfa-device:s1") == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_each_seal_uses_a_fresh_nonce() -> None:
    r = ring()
    assert r.seal("same", "c") != r.seal("same", "c")


def test_tampered_ciphertext_does_not_open() -> None:
    r = ring()
    sealed = r.seal("secret value", "ctx")
    kid, _, body = sealed.partition(":")
    raw = bytearray(base64.b64decode(body))
    for i in (0, 12, len(raw) - 1):  # nonce, ciphertext, tag
        bad = raw.copy()
        bad[i] ^= 1
        with pytest.raises(SealingError):
            r.unseal(f"{kid}:{base64.b64encode(bytes(bad)).decode()}", "ctx")


def test_truncated_or_garbled_values_do_not_open() -> None:
    r = ring()
    sealed = r.seal("secret value", "ctx")
    for bad in (sealed[:-8], sealed[: len("k1:") + 4], "k1:", "k1:!!!!", "no-separator"):
        with pytest.raises(SealingError):
            r.unseal(bad, "ctx")


def test_sealed_value_is_bound_to_its_context() -> None:
    # A secret moved to another device's row does not open there.
    r = ring()
    sealed = r.seal("secret value", "mfa-device:a")
    with pytest.raises(SealingError):
        r.unseal(sealed, "mfa-device:b")


def test_unknown_key_id() -> None:
    r = ring("k1")
    sealed = r.seal("secret value", "ctx")
    other = ring("k2")
    with pytest.raises(SealingError):
        other.unseal(sealed, "ctx")
    with pytest.raises(SealingError):
        r.unseal("k9:" + sealed.partition(":")[2], "ctx")


def test_rotation_keeps_old_keys_to_open() -> None:
    old = ring("k1")
    sealed_old = old.seal("secret value", "ctx")
    new = KeyRing("k2", {**old.keys, "k2": os.urandom(32)}, old.hash_key)
    assert new.unseal(sealed_old, "ctx") == "secret value"
    resealed = new.seal("secret value", "ctx")
    assert new.key_id_of(resealed) == "k2"
    with pytest.raises(SealingError):
        old.unseal(resealed, "ctx")


def test_keyed_hash_depends_on_the_hash_key_only() -> None:
    a = ring()
    b = KeyRing("k2", {"k2": os.urandom(32)}, a.hash_key)
    assert a.keyed_hash("x") == b.keyed_hash("x")
    assert a.keyed_hash("x") != a.keyed_hash("y")
    assert ring().keyed_hash("x") != a.keyed_hash("x")
    assert len(a.keyed_hash("x")) == 64
