"""The key file: created 0600 on first start, refused with one line when unusable."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from twofold.config import ConfigError
from twofold.storage import keyfile


def test_created_with_mode_0600_and_loaded_again(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "twofold.key"
    ring = keyfile.load_or_create(str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = keyfile.load_or_create(str(path))
    assert again.current == ring.current
    assert again.keys == ring.keys
    assert again.hash_key == ring.hash_key
    sealed = ring.seal("s", "c")
    assert again.unseal(sealed, "c") == "s"


def test_add_key_keeps_old_keys_and_hash_key(tmp_path: Path) -> None:
    path = tmp_path / "twofold.key"
    ring = keyfile.load_or_create(str(path))
    sealed = ring.seal("s", "c")
    new = keyfile.add_key(str(path), ring)
    assert new.current != ring.current
    loaded = keyfile.load_or_create(str(path))
    assert loaded.current == new.current
    assert loaded.unseal(sealed, "c") == "s"
    assert loaded.hash_key == ring.hash_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _one_line_error(path: Path) -> str:
    with pytest.raises(ConfigError) as exc:
        keyfile.load_or_create(str(path))
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
