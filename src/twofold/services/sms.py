"""Outgoing SMS: a signed webhook to the operator's gateway, or the server log while
developing. API.md "Phone": a JSON POST of `{"to", "text"}` (and a message `id`, the same on
every attempt, for the relay to drop duplicates) with `X-Twofold-Signature: sha256=<hex HMAC
of the body>`; a 2xx answer means sent."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from twofold.config import ConfigError, Settings
from twofold.domain.phones import masked_phone
from twofold.domain.ports import SmsDeliveryFailed, SmsSender

log = logging.getLogger("twofold.sms")

SIGNATURE_HEADER = "X-Twofold-Signature"
BACKOFF_START = 0.5  # seconds before the first retry; doubled before each further one


def signature(secret: str, body: bytes) -> str:
    """The header value a relay recomputes to check that a request came from us."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer that is not 2xx: the message is not re-sent elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookSms:
    """POSTs each message to the gateway relay; retries a timeout, a refused connection or
    a 5xx (also 408 and 429) with doubling pauses; a 4xx is final."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float,
        retries: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"TWOFOLD_SMS_WEBHOOK_URL must be an http(s) URL, not {url!r}")
        self.url, self.secret, self.timeout, self.retries = url, secret, timeout, retries
        self.sleep = sleep
        self.opener = urllib.request.build_opener(_NoRedirects())

    def send(self, to: str, text: str) -> None:
        body = json.dumps(
            {"to": to, "text": text, "id": secrets.token_hex(12)}, separators=(",", ":")
        ).encode()
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature(self.secret, body),
                "User-Agent": "Twofold-SMS/1",
            },
        )
        reason = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(BACKOFF_START * 2 ** (attempt - 1))
            try:
                with self.opener.open(request, timeout=self.timeout) as answer:
                    if 200 <= answer.status < 300:
                        return
                    reason = f"HTTP {answer.status}"
            except urllib.error.HTTPError as exc:
                reason = f"HTTP {exc.code}"
                if 300 <= exc.code < 500 and exc.code not in (408, 429):
                    break
            except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out
                reason = _why(getattr(exc, "reason", exc))
            log.warning("SMS to %s: attempt %d failed (%s)", masked_phone(to), attempt + 1, reason)
        raise SmsDeliveryFailed(reason)


def _why(exc: object) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return type(exc).__name__


class LogSms:
    """Development only: writes each message to the server log instead of sending it."""

    def send(self, to: str, text: str) -> None:
        log.warning("development SMS to %s: %s", to, text)


def build_sms(settings: Settings) -> SmsSender | None:
    """The configured provider; None when none is (phone verification then answers
    SMSUnavailable). A provider that cannot work is a ConfigError at start-up."""
    provider = settings.sms_provider
    if provider == "webhook":
        if not settings.sms_webhook_url or not settings.sms_webhook_secret:
            raise ConfigError(
                "TWOFOLD_SMS_PROVIDER=webhook needs TWOFOLD_SMS_WEBHOOK_URL and "
                "TWOFOLD_SMS_WEBHOOK_SECRET"
            )
        if len(settings.sms_webhook_secret) < 16:
            raise ConfigError("TWOFOLD_SMS_WEBHOOK_SECRET must be at least 16 characters")
        return WebhookSms(
            settings.sms_webhook_url,
            settings.sms_webhook_secret,
            timeout=settings.sms_webhook_timeout,
            retries=settings.sms_webhook_retries,
        )
    if settings.env == "production":
        if provider == "log":
            raise ConfigError(
                "TWOFOLD_SMS_PROVIDER=log is for development; use webhook in production"
            )
        return None
    return LogSms()
