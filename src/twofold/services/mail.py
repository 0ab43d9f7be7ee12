"""Outgoing mail: SMTP in earnest, or the server log while developing."""

from __future__ import annotations

import logging
import smtplib
import threading
from collections.abc import Mapping
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from twofold import i18n
from twofold.config import ConfigError, Settings
from twofold.domain.ports import Mailer

log = logging.getLogger("twofold.mail")


class SmtpMailer:
    """Sends through `smtp://[user:pass@]host:port` (or `smtps://`, or STARTTLS with ?starttls)."""

    def __init__(self, url: str, sender: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError(f"TWOFOLD_SMTP_URL must be smtp://host:port, not {url!r}")
        self.tls = parts.scheme == "smtps"
        self.starttls = "starttls" in parts.query
        self.host = parts.hostname
        self.port = parts.port or (465 if self.tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender

    def send(self, to: str, subject: str, body: str) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, to, subject
        msg.set_content(body)
        smtp_cls = smtplib.SMTP_SSL if self.tls else smtplib.SMTP
        with smtp_cls(self.host, self.port, timeout=10) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(msg)


class LogMailer:
    """Development only: writes each mail to the server log instead of sending it."""

    def send(self, to: str, subject: str, body: str) -> None:
        log.warning("development mail to %s: %s\n%s", to, subject, body)


def build_mailer(settings: Settings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, settings.mail_from)
    if settings.env == "production":
        raise ConfigError("TWOFOLD_SMTP_URL is required when TWOFOLD_ENV=production")
    return LogMailer()


def compose(
    subject: str, body: str, params: Mapping[str, object] | None = None, locale: str | None = None
) -> tuple[str, str]:
    """A mail's subject and body in `locale` (the recipient's own language, where it chose
    one), else the request's: both are catalogue msgids, `params` fill their {placeholders}."""
    tr = i18n.translator(locale)
    values = dict(params or {})
    return tr.gettext(subject).format(**values), tr.gettext(body).format(**values)


def notify(
    mailer: Mailer,
    to: str | None,
    subject: str,
    body: str,
    *,
    params: Mapping[str, object] | None = None,
    locale: str | None = None,
) -> None:
    """Best-effort notice to a principal's address: a failed mail never undoes the change."""
    if not to:
        return
    subject, body = compose(subject, body, params, locale)
    _deliver(mailer, to, subject, body)


def _deliver(mailer: Mailer, to: str, subject: str, body: str) -> None:
    try:
        mailer.send(to, subject, body)
    except (OSError, smtplib.SMTPException):
        log.warning("could not deliver the notice %r", subject)


def notify_later(
    mailer: Mailer,
    to: str | None,
    subject: str,
    body: str,
    *,
    params: Mapping[str, object] | None = None,
    locale: str | None = None,
) -> None:
    """`notify` on a thread of its own: a notice sent from a failure path must not make that
    answer slower than the same failure of an unknown login (a timing oracle). Composed
    here, in the request's language: the thread does not see the request."""
    if to:
        subject, body = compose(subject, body, params, locale)
        threading.Thread(target=_deliver, args=(mailer, to, subject, body), daemon=True).start()
