"""Outgoing mail: SMTP in earnest, or the server log while developing."""

from __future__ import annotations

import logging
import smtplib
import threading
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

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


def notify(mailer: Mailer, to: str | None, subject: str, body: str) -> None:
    """Best-effort notice to a principal's address: a failed mail never undoes the change."""
    if not to:
        return
    try:
        mailer.send(to, subject, body)
    except (OSError, smtplib.SMTPException):
        log.warning("could not deliver the notice %r", subject)


def notify_later(mailer: Mailer, to: str | None, subject: str, body: str) -> None:
    """`notify` on a thread of its own: a notice sent from a failure path must not make that
    answer slower than the same failure of an unknown login (a timing oracle)."""
    if to:
        threading.Thread(target=notify, args=(mailer, to, subject, body), daemon=True).start()
