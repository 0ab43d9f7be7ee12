"""The key file: AES keys for sealing (with ids, for rotation) and the keyed-hash key."""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from twofold.config import ConfigError
from twofold.domain.sealing import KeyRing


def _new_key_id(existing: dict[str, bytes]) -> str:
    while True:
        kid = f"k{secrets.token_hex(3)}"
        if kid not in existing:
            return kid


def _write(path: Path, ring: KeyRing) -> None:
    data = {
        "current": ring.current,
        "keys": {kid: base64.b64encode(k).decode() for kid, k in ring.keys.items()},
        "hash_key": base64.b64encode(ring.hash_key).decode(),
    }
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_or_create(path_str: str) -> KeyRing:
    """Load the key ring; create it (mode 0600) when the file does not exist yet."""
    path = Path(path_str)
    if not path.exists():
        kid = _new_key_id({})
        ring = KeyRing(kid, {kid: secrets.token_bytes(32)}, secrets.token_bytes(32))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write(path, ring)
        except OSError as exc:
            raise ConfigError(f"cannot create the key file {path}: {exc.strerror}") from exc
        ring.reload = _reloader(path)
        return ring
    ring = _read(path)
    ring.reload = _reloader(path)
    return ring


def _reloader(path: Path) -> Callable[[], KeyRing]:
    def reload() -> KeyRing:
        try:
            return _read(path)
        except ConfigError:
            return KeyRing("", {}, b"")  # nothing new: the unknown key id stays unknown

    return reload


def _read(path: Path) -> KeyRing:
    try:
        data = json.loads(path.read_text())
        keys = {kid: base64.b64decode(v) for kid, v in data["keys"].items()}
        ring = KeyRing(data["current"], keys, base64.b64decode(data["hash_key"]))
    except OSError as exc:
        raise ConfigError(f"cannot read the key file {path}: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"the key file {path} is not a Twofold key file") from exc
    if ring.current not in keys or any(len(k) != 32 for k in keys.values()):
        raise ConfigError(f"the key file {path} is damaged: bad key ids or key lengths")
    return ring


def add_key(path_str: str, ring: KeyRing) -> KeyRing:
    """A ring with a new current key, written to the file (the old keys stay, to open)."""
    kid = _new_key_id(ring.keys)
    new = KeyRing(kid, {**ring.keys, kid: secrets.token_bytes(32)}, ring.hash_key)
    _write(Path(path_str), new)
    new.reload = _reloader(Path(path_str))
    return new
