"""Key rotation: every sealed secret re-sealed under the new key in one transaction."""

from __future__ import annotations

from sqlalchemy import select, update

from twofold.domain.sealing import KeyRing
from twofold.services.audit import Audit
from twofold.services.codes import device_context
from twofold.services.context import Context
from twofold.storage.models import MfaDevice


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
    Audit(ctx).record("keys.rotated", detail={"key_id": new.current, "resealed": len(rows)})
    ctx.db.commit()
    return len(rows)
