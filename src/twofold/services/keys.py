"""Sealing keys: rotation (every sealed secret re-sealed under a new key in one transaction)
and retirement of a key no secret uses any more.

The key file is touched only after the database shows the change is safe: a rotation first
opens every secret with the keys in hand, a retirement first counts the secrets still under
the key. A running server takes a rotation in at its next seal (it watches the key file),
so after a rotation no new secret is sealed under the old key and it can be retired."""

from __future__ import annotations

from sqlalchemy import func, select, update

from twofold.domain import errors
from twofold.domain.sealing import KeyRing, SealingError
from twofold.services.audit import Audit
from twofold.services.codes import device_context
from twofold.services.context import Context
from twofold.services.oidc import SigningKeys
from twofold.storage import keyfile
from twofold.storage.models import MfaDevice, SigningKey


class SealingKeys:
    """Rotate and retire the keys of the key file at `key_file` (the one `ctx.keys` came from)."""

    def __init__(self, ctx: Context, key_file: str) -> None:
        self.ctx = ctx
        self.key_file = key_file

    def check_all_open(self) -> int:
        """Open every sealed secret with the keys in hand; raise KeyFileMismatch naming the key
        ids of those that do not. Returns how many there are."""
        rows = self.ctx.db.execute(select(MfaDevice.serial, MfaDevice.sealed_secret)).all()
        failed: dict[str, int] = {}
        for serial, sealed in rows:
            try:
                self.ctx.keys.unseal(sealed, device_context(serial))
            except SealingError:
                kid = self.ctx.keys.key_id_of(sealed)
                failed[kid] = failed.get(kid, 0) + 1
        self.ctx.db.rollback()
        if failed:
            detail = ", ".join(f"{n} under {kid}" for kid, n in sorted(failed.items()))
            raise errors.KeyFileMismatch(
                f"the key file {self.key_file} does not open {sum(failed.values())} of "
                f"{len(rows)} sealed secrets ({detail}; the file has "
                f"{', '.join(sorted(self.ctx.keys.keys))}): nothing was changed"
            )
        return len(rows)

    def rotate(self) -> tuple[str, int]:
        """A new current key in the key file, every secret re-sealed under it; returns the new
        key id and the number re-sealed. Refused, with nothing changed, unless all open."""
        self.check_all_open()
        old = self.ctx.keys
        new = keyfile.add_key(self.key_file, old)
        return new.current, reseal_all(self.ctx, old, new)

    def retire(self, key_id: str) -> None:
        """Remove `key_id` from the key file; refused while it is current or any secret uses it."""
        ring = self.ctx.keys
        ring.catch_up()
        if key_id not in ring.keys:
            raise errors.NotFound(f"the key file {self.key_file} has no key {key_id}")
        if key_id == ring.current:
            raise errors.KeyInUse(f"{key_id} is the current key: rotate first")
        still = self.ctx.db.scalar(
            select(func.count())
            .select_from(MfaDevice)
            .where(MfaDevice.sealed_secret.startswith(f"{key_id}:", autoescape=True))
        )
        still = (still or 0) + (self.ctx.db.scalar(
            select(func.count())
            .select_from(SigningKey)
            .where(SigningKey.sealed_private.startswith(f"{key_id}:", autoescape=True))
        ) or 0)
        if still:
            raise errors.KeyInUse(
                f"{still} secrets are still sealed under {key_id}: run `twofold keys rotate` "
                "first; nothing was changed"
            )
        Audit(self.ctx).record("keys.retired", detail={"key_id": key_id})
        keyfile.remove_key(self.key_file, ring, key_id)
        self.ctx.db.commit()


def reseal_all(ctx: Context, old: KeyRing, new: KeyRing) -> int:
    """Re-seal every device secret from `old` to `new`; commit once; return the count."""
    rows = ctx.db.execute(select(MfaDevice.id, MfaDevice.serial, MfaDevice.sealed_secret)).all()
    for device_id, serial, sealed in rows:
        secret = old.unseal(sealed, device_context(serial))
        ctx.db.execute(
            update(MfaDevice)
            .where(MfaDevice.id == device_id)
            .values(sealed_secret=new.seal(secret, device_context(serial)))
        )
    signing = SigningKeys(ctx).rotate(old, new)
    Audit(ctx).record(
        "keys.rotated",
        detail={"key_id": new.current, "resealed": len(rows), "signing_keys_resealed": signing},
    )
    ctx.db.commit()
    return len(rows)
