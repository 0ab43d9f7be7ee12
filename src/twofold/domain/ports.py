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
