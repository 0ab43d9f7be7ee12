"""A software WebAuthn authenticator for API tests: P-256 credentials, attestation "none",
answers shaped as a browser's PublicKeyCredential.toJSON(). Each ceremony can be bent
(origin, RP id, sign count) to prove the server refuses it."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    @property
    def id(self) -> str:
        return b64url(self.credential_id)


@dataclass
class SoftAuthenticator:
    origin: str = "http://127.0.0.1:8000"
    credentials: list[SoftCredential] = field(default_factory=list)

    @property
    def rp_id_default(self) -> str:
        return self.origin.split("://", 1)[1].rsplit(":", 1)[0]

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": challenge,
                "origin": origin or self.origin,
                "crossOrigin": False,
            }
        ).encode()

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        discoverable: bool = True,
    ) -> dict[str, Any]:
        """Answer registration options with a new credential (navigator.credentials.create)."""
        rp = rp_id or options["rp"]["id"]
        key = ec.generate_private_key(ec.SECP256R1())
        cred = SoftCredential(secrets.token_bytes(32), key, rp, unb64url(options["user"]["id"]))
        numbers = key.public_key().public_numbers()
        cose = cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([0x01 | 0x04 | 0x40])  # user present, verified, attested data
            + (0).to_bytes(4, "big")
            + bytes(16)  # AAGUID
            + len(cred.credential_id).to_bytes(2, "big")
            + cred.credential_id
            + cose
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        self.credentials.append(cred)
        return {
            "id": cred.id,
            "rawId": cred.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["usb"],
            },
            "clientExtensionResults": {"credProps": {"rk": discoverable}},
        }

    def get(
        self,
        options: dict[str, Any],
        cred: SoftCredential | None = None,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
        user_verified: bool = True,
    ) -> dict[str, Any]:
        """Answer request options (navigator.credentials.get) with a credential."""
        if cred is None:
            allowed = {c["id"] for c in options.get("allowCredentials") or []}
            cred = next(c for c in self.credentials if not allowed or c.id in allowed)
        cred.sign_count = cred.sign_count + 1 if sign_count is None else sign_count
        rp = rp_id or cred.rp_id
        flags = 0x01 | (0x04 if user_verified else 0)
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([flags])
            + cred.sign_count.to_bytes(4, "big")
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = cred.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": cred.id,
            "rawId": cred.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(cred.user_handle),
            },
            "clientExtensionResults": {},
        }
