"""The key file: created 0600 over an empty database only, refused with one line when
unusable or missing over sealed secrets; a rotation elsewhere is seen at the next seal."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from twofold.config import ConfigError
from twofold.storage import keyfile


def test_created_with_mode_0600_and_loaded_again(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "twofold.key"
    ring = keyfile.open_or_create(str(path), set)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = keyfile.open_or_create(str(path), set)
    assert again.current == ring.current
    assert again.keys == ring.keys
    assert again.hash_key == ring.hash_key
    sealed = ring.seal("s", "c")
    assert again.unseal(sealed, "c") == "s"


def test_add_key_keeps_old_keys_and_hash_key(tmp_path: Path) -> None:
    path = tmp_path / "twofold.key"
    ring = keyfile.create(str(path))
    sealed = ring.seal("s", "c")
    new = keyfile.add_key(str(path), ring)
    assert new.current != ring.current
    loaded = keyfile.load(str(path))
    assert loaded.current == new.current
    assert loaded.unseal(sealed, "c") == "s"
    assert loaded.hash_key == ring.hash_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _one_line_error(path: Path) -> str:
    with pytest.raises(ConfigError) as exc:
        keyfile.open_or_create(str(path), set)
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_unreadable_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dir.key"
    path.mkdir()  # exists, but cannot be read as a file (even by root)
    assert "cannot read the key file" in _one_line_error(path)


@pytest.mark.parametrize(
    "content",
    [
        "garbage",
        "{}",
        json.dumps({"current": "k1", "keys": {"k1": "c2hvcnQ="}, "hash_key": "AAAA"}),
        json.dumps({"current": "k2", "keys": {"k1": "A" * 44}, "hash_key": "AAAA"}),
    ],
)
def test_damaged_key_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "twofold.key"
    path.write_text(content)
    _one_line_error(path)


def test_key_file_in_an_unwritable_place_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert "cannot create the key file" in _one_line_error(blocker / "twofold.key")


def test_missing_over_sealed_secrets_is_refused_and_nothing_written(tmp_path: Path) -> None:
    path = tmp_path / "twofold.key"
    with pytest.raises(ConfigError) as exc:
        keyfile.open_or_create(str(path), lambda: {"k0a0b0c", "k1d2e3f"})
    message = str(exc.value)
    assert "\n" not in message and str(path) in message
    assert "k0a0b0c, k1d2e3f" in message
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_create_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "twofold.key"
    first = keyfile.create(str(path))
    second = keyfile.create(str(path))  # a second process racing the first one
    assert second.keys == first.keys and second.current == first.current


def test_a_rotation_elsewhere_is_sealed_under_at_the_next_seal(tmp_path: Path) -> None:
    path = tmp_path / "twofold.key"
    server = keyfile.create(str(path))  # what a running server holds
    old = server.current
    rotated = keyfile.add_key(str(path), keyfile.load(str(path)))  # `keys rotate`, elsewhere
    sealed = server.seal("s", "c")
    assert server.key_id_of(sealed) == rotated.current != old
    assert rotated.unseal(sealed, "c") == "s"


def test_remove_key_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "twofold.key"
    ring = keyfile.create(str(path))
    old = ring.current
    new = keyfile.add_key(str(path), ring)
    keyfile.remove_key(str(path), new, old)
    loaded = keyfile.load(str(path))
    assert set(loaded.keys) == {new.current} and loaded.hash_key == ring.hash_key
    with pytest.raises(ValueError):
        keyfile.remove_key(str(path), loaded, loaded.current)
