"""The key file: AES keys for sealing (with ids, for rotation) and the keyed-hash key.

A key file is created only over a database that holds no sealed secret (or by an explicit
`twofold keys init`): a new key over secrets sealed under another one would make them
unreadable for good, and every device bound meanwhile would be lost once the real file is
put back.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from twofold.config import ConfigError
from twofold.domain.sealing import KeyRing


def _new_key_id(existing: Iterable[str]) -> str:
    taken = set(existing)
    while True:
        kid = f"k{secrets.token_hex(3)}"
        if kid not in taken:
            return kid


def _encode(ring: KeyRing) -> str:
    return json.dumps(
        {
            "current": ring.current,
            "keys": {kid: base64.b64encode(k).decode() for kid, k in ring.keys.items()},
            "hash_key": base64.b64encode(ring.hash_key).decode(),
        }
    )


def _write_tmp(path: Path, ring: KeyRing) -> Path:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(_encode(ring))
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


def _write(path: Path, ring: KeyRing) -> None:
    os.replace(_write_tmp(path, ring), path)


def exists(path_str: str) -> bool:
    return Path(path_str).exists()


def create(path_str: str) -> KeyRing:
    """Write a new key file (mode 0600); refuse when one is already there.

    The file appears whole or not at all, and of two processes creating it at once one wins
    and the other reads the winner's keys (never a second, different key)."""
    path = Path(path_str)
    kid = _new_key_id(())
    ring = KeyRing(kid, {kid: secrets.token_bytes(32)}, secrets.token_bytes(32))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _write_tmp(path, ring)
    except OSError as exc:
        raise ConfigError(f"cannot create the key file {path}: {exc.strerror}") from exc
    try:
        os.link(tmp, path)  # fails if the file exists: no overwrite, no race
    except FileExistsError:
        return load(path_str)
    except OSError as exc:
        raise ConfigError(f"cannot create the key file {path}: {exc.strerror}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return _watched(path, ring)


def load(path_str: str) -> KeyRing:
    """The key ring of an existing key file, or a one-line ConfigError."""
    path = Path(path_str)
    if not path.exists():
        raise ConfigError(f"the key file {path} is missing")
    return _watched(path, _read(path))


def open_or_create(path_str: str, sealed_key_ids: Callable[[], set[str]]) -> KeyRing:
    """Load the key file; create it only when the database holds no sealed secret.

    `sealed_key_ids` reports the key ids the database's secrets are sealed under; it is
    asked only when the file is missing."""
    path = Path(path_str)
    if not path.exists():
        needed = sealed_key_ids()
        if needed:
            raise ConfigError(missing_message(path_str, needed))
        return create(path_str)
    return load(path_str)


def missing_message(path_str: str, needed: set[str]) -> str:
    return (
        f"the key file {path_str} is missing, and the database holds secrets sealed under "
        f"key ids {', '.join(sorted(needed))}: put that key file back (a new key would not "
        "open them)"
    )


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _watched(path: Path, ring: KeyRing) -> KeyRing:
    """Give the ring a way to see a rotation made by another process.

    `refresh` costs one stat() and re-reads the file only when its inode, mtime or size
    moved (every write replaces the file, so the inode changes); `reload` re-reads it."""
    seen = [_stamp(path)]

    def refresh() -> KeyRing | None:
        stamp = _stamp(path)
        if stamp is None or stamp == seen[0]:
            return None  # unchanged, or gone: keep the keys in hand
        try:
            fresh = _read(path)
        except ConfigError:
            return None
        seen[0] = stamp
        return fresh

    def reload() -> KeyRing:
        try:
            return _read(path)
        except ConfigError:
            return KeyRing("", {}, b"")  # nothing new: the unknown key id stays unknown

    ring.refresh = refresh
    ring.reload = reload
    return ring


def _read(path: Path) -> KeyRing:
    try:
        data = json.loads(path.read_text())
        keys = {kid: base64.b64decode(v) for kid, v in data["keys"].items()}
        ring = KeyRing(data["current"], keys, base64.b64decode(data["hash_key"]))
    except OSError as exc:
        raise ConfigError(f"cannot read the key file {path}: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"the key file {path} is not a Twofold key file") from exc
    if ring.current not in keys or any(len(k) != 32 for k in keys.values()):
        raise ConfigError(f"the key file {path} is damaged: bad key ids or key lengths")
    return ring


def add_key(path_str: str, ring: KeyRing) -> KeyRing:
    """A ring with a new current key, written to the file (the old keys stay, to open)."""
    kid = _new_key_id(ring.keys)
    new = KeyRing(kid, {**ring.keys, kid: secrets.token_bytes(32)}, ring.hash_key)
    _write(Path(path_str), new)
    return _watched(Path(path_str), new)


def remove_key(path_str: str, ring: KeyRing, key_id: str) -> KeyRing:
    """A ring without `key_id` (never the current key), written to the file."""
    if key_id == ring.current or key_id not in ring.keys:
        raise ValueError(key_id)
    new = KeyRing(
        ring.current, {k: v for k, v in ring.keys.items() if k != key_id}, ring.hash_key
    )
    _write(Path(path_str), new)
    return _watched(Path(path_str), new)
