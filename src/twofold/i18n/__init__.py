"""The console's languages: which one a request gets, and the gettext catalogues.

English is the source language; `locale/<lang>/LC_MESSAGES/messages.po` holds each translation
(docs/i18n.md). The .po file is compiled in memory on first use, so a fresh clone needs no
build step. The language of the request in hand lives in a context variable, set by
`LocaleMiddleware` (web) from the cookie or Accept-Language and refined by a signed-in
principal's own preference; services read it for the mail they send.
"""

from __future__ import annotations

import gettext as _gettext
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from twofold.domain.errors import N_, Translator

__all__ = ["N_", "LANGUAGES", "DEFAULT", "Translator"]

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DEFAULT = "en"
# The languages offered, by their gettext name, with the name each calls itself.
LANGUAGES: dict[str, str] = {"en": "English", "zh_CN": "简体中文"}


@dataclass
class Choice:
    """The language of one request; a holder, so a later step of the same request (the
    signed-in principal's preference) can change it for everything downstream."""

    locale: str = DEFAULT


_current: ContextVar[Choice | None] = ContextVar("twofold_locale", default=None)


def begin(locale: str) -> Choice:
    """Start a request (or a CLI run) in `locale`."""
    choice = Choice(locale if locale in LANGUAGES else DEFAULT)
    _current.set(choice)
    return choice


def use(locale: str | None) -> None:
    """Switch the request in hand to `locale` (a principal's preference), if it is offered."""
    choice = _current.get()
    if choice is not None and locale in LANGUAGES:
        choice.locale = locale


def current() -> str:
    choice = _current.get()
    return choice.locale if choice is not None else DEFAULT


def html_lang(locale: str | None = None) -> str:
    """The BCP 47 tag for `<html lang>` and Content-Language: zh_CN -> zh-CN."""
    return (locale or current()).replace("_", "-")


def known(value: str | None) -> str | None:
    """`value` if it names an offered language (a cookie, a form field, a stored
    preference), else None."""
    return value if value in LANGUAGES else None


def negotiate(accept_language: str | None) -> str:
    """The offered language the `Accept-Language` header likes best (q-values honoured);
    any Chinese (zh, zh-CN, zh-Hans, zh-TW...) gets Simplified Chinese, the only one offered."""
    best, best_q = DEFAULT, 0.0
    for position, part in enumerate((accept_language or "")[:500].split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        locale = {"zh": "zh_CN", "en": "en"}.get(primary)
        # Equal q: the earlier wins; `position` keeps that order.
        if locale and q > best_q and q > 0:
            best, best_q = locale, q - position * 1e-6
    return best


@cache
def _translations(locale: str) -> _gettext.NullTranslations:
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if locale == DEFAULT or not po.is_file():
        return _gettext.NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=locale)
    buffer = BytesIO()
    write_mo(buffer, catalog)  # fuzzy entries are left out, as msgfmt does
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def translator(locale: str | None = None) -> Translator:
    """The catalogue of `locale`, by default the current request's."""
    return _translations(known(locale) or current())


def gettext(message: str) -> str:
    return _translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations(current()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """A word that reads differently by where it stands ("On" a switch, "On" whom)."""
    return _translations(current()).pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return _translations(current()).npgettext(context, singular, plural, n)


def format_when(value: datetime, *, seconds: bool = False) -> str:
    """A moment in the current language (Babel's own patterns for it), in UTC, the zone named.
    English keeps the ISO-like `2026-11-26 21:05 UTC`."""
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if current() == DEFAULT:
        return value.astimezone(UTC).strftime(
            "%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC"
        )
    locale = Locale.parse(current())
    if seconds:
        text = format_datetime(value, "medium", tzinfo=UTC, locale=locale)
    else:
        day = format_date(value.astimezone(UTC), "long", locale=locale)
        text = f"{day} {format_time(value, 'HH:mm', tzinfo=UTC, locale=locale)}"
    return f"{text} UTC"
