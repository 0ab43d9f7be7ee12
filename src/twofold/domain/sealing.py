"""Secrets at rest: AES-256-GCM under a key ring, each ciphertext tagged with its key id.

Keyed hashes (HMAC-SHA256) for codes that are looked up but never read back use a separate
key that rotation leaves alone, so stored digests stay valid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class SealingError(Exception):
    """A sealed value cannot be opened: unknown key id or tampered ciphertext."""


@dataclass
class KeyRing:
    current: str
    keys: dict[str, bytes]
    hash_key: bytes
    # Re-reads the key file: a rotation run by another process adds keys this one has not seen.
    reload: Callable[[], KeyRing] | None = field(default=None, repr=False, compare=False)
    # Asked before each seal: a newer ring when the key file changed (a rotation elsewhere),
    # else None; so every process seals under the newest key, and the old one can be retired.
    refresh: Callable[[], KeyRing | None] | None = field(default=None, repr=False, compare=False)
    _aead: dict[str, AESGCM] = field(default_factory=dict, repr=False)

    def _adopt(self, fresh: KeyRing) -> None:
        if fresh.keys:
            self.keys = {**self.keys, **fresh.keys}
            self.current = fresh.current

    def _cipher(self, key_id: str) -> AESGCM:
        cipher = self._aead.get(key_id)
        if cipher is None:
            if key_id not in self.keys and self.reload is not None:
                self._adopt(self.reload())
            if key_id not in self.keys:
                raise SealingError(f"unknown key id {key_id!r}")
            cipher = self._aead[key_id] = AESGCM(self.keys[key_id])
        return cipher

    def seal(self, plaintext: str, context: str) -> str:
        self.catch_up()
        nonce = os.urandom(12)
        kid = self.current  # read once: another thread may take in a rotation meanwhile
        ciphertext = self._cipher(kid).encrypt(nonce, plaintext.encode(), context.encode())
        return f"{kid}:{base64.b64encode(nonce + ciphertext).decode('ascii')}"

    def unseal(self, sealed: str, context: str) -> str:
        key_id, _, body = sealed.partition(":")
        cipher = self._cipher(key_id)
        try:
            raw = base64.b64decode(body, validate=True)
            return cipher.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (InvalidTag, ValueError) as exc:  # a truncated or garbled value, too
            raise SealingError("sealed value does not open") from exc

    def catch_up(self) -> None:
        """Take in a rotation made by another process (cheap when there was none)."""
        if self.refresh is not None:
            fresh = self.refresh()
            if fresh is not None:
                self._adopt(fresh)

    def knows(self, key_id: str) -> bool:
        return key_id in self.keys

    def key_id_of(self, sealed: str) -> str:
        return sealed.partition(":")[0]

    def keyed_hash(self, value: str) -> str:
        return hmac.new(self.hash_key, value.encode(), hashlib.sha256).hexdigest()
