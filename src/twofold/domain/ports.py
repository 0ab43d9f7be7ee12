"""Ports the services depend on, as Protocols, with the production implementations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None:
        """Deliver one plain-text mail."""
        ...


class SmsDeliveryFailed(Exception):
    """The SMS gateway did not take a message; the text says why (never the message)."""


class SmsSender(Protocol):
    def send(self, to: str, text: str) -> None:
        """Hand one text message for the E.164 number `to` to the gateway, or raise
        SmsDeliveryFailed."""
        ...
