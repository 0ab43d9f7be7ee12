"""The zh_CN catalogue holds every sentence marked for translation, each translated, with the
same placeholders: extraction runs here into a temporary directory (babel.cfg, as
`make messages` does) and its result is compared with the committed catalogue."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from twofold import i18n

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "src/twofold/locale/zh_CN/LC_MESSAGES/messages.po"
_PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|\{[a-z_]+(?:![rs])?\}")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> dict[object, object]:
    out = tmp_path_factory.mktemp("pot") / "messages.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run(
        [str(pybabel), "extract", "-F", str(ROOT / "babel.cfg"), "-o", str(out),
         str(ROOT / "src")],
        check=True, cwd=ROOT, capture_output=True,
    )  # fmt: skip
    with out.open("rb") as f:
        return {(m.id, m.context): m for m in read_po(f) if m.id}


def test_extraction_finds_the_console_the_errors_and_the_mail(extracted: dict) -> None:
    # The extractor is what the completeness check stands on: it must see every kind.
    ids = {msgid for msgid, _context in extracted}
    assert "Security settings" in ids  # a template
    assert "Wrong login or password." in ids  # an error's default_message
    assert "No user named {name!r} in this account." in ids  # an error raised
    assert "You are signed out." in ids  # a page's NOTICES
    assert "delete a user" in ids  # a page's PURPOSES
    assert "Reset your Twofold password" in ids  # a mail
    assert ("{n} minute", "{n} minutes") in ids  # a plural
    assert ("On", "audit: whom an action was on") in extracted  # a word with a context


def test_every_marked_string_is_translated(extracted: dict) -> None:
    with PO.open("rb") as f:
        catalogue = {(m.id, m.context): m for m in read_po(f, locale="zh_CN") if m.id}
    missing = [k for k in extracted if k not in catalogue]
    untranslated = [
        k
        for k in extracted
        if k in catalogue
        and ("fuzzy" in catalogue[k].flags or not all(_strings(catalogue[k].string)))
    ]
    assert not missing, f"not in the zh_CN catalogue (run `make messages`): {missing}"
    assert not untranslated, f"untranslated or fuzzy in zh_CN: {untranslated}"


def test_translations_keep_their_placeholders() -> None:
    with PO.open("rb") as f:
        catalogue = [m for m in read_po(f, locale="zh_CN") if m.id]
    wrong = []
    for m in catalogue:
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        wanted = set(_PLACEHOLDER.findall(ids[-1]))
        for text in _strings(m.string):
            if set(_PLACEHOLDER.findall(text)) != wanted:
                wrong.append((m.id, text))
    assert not wrong


def test_the_catalogue_is_used() -> None:
    tr = i18n.translator("zh_CN")
    assert tr.gettext("Security settings") == "安全设置"
    assert tr.ngettext("{n} minute", "{n} minutes", 5) == "{n} 分钟"
    assert i18n.translator("en").gettext("Security settings") == "Security settings"


def _strings(value: object) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, tuple) else (str(value or ""),)
