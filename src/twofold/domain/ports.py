"""Ports the services depend on, as Protocols, with the production implementations."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol


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


class Observer(Protocol):
    """Where the services report what happened, for metrics and the security log.

    The composition root wires an implementation (Prometheus counters, log lines); the
    services never import those libraries. Every method is cheap and never raises."""

    def login(self, result: str) -> None:
        """One step of a sign-in ended: `authenticated`, `mfa_required`, `invalid`, …"""
        ...

    def mfa_check(self, method: str, result: str) -> None:
        """A second factor was checked: method `totp`, `email`, `sms`, `recovery_code`."""
        ...

    def lockout(self, kind: str) -> None:
        """A throttle locked: `password` (sign-in) or the code counter's kind."""
        ...

    def session_created(self) -> None:
        """A signed-in session was created."""
        ...

    def audited(self, event: Mapping[str, Any]) -> None:
        """An audit event was committed (the row's columns: action, result, actor, …)."""
        ...


class NullObserver:
    """Reports nothing (metrics off; contexts built outside the composition root)."""

    def login(self, result: str) -> None:
        pass

    def mfa_check(self, method: str, result: str) -> None:
        pass

    def lockout(self, kind: str) -> None:
        pass

    def session_created(self) -> None:
        pass

    def audited(self, event: Mapping[str, Any]) -> None:
        pass


NULL_OBSERVER = NullObserver()
class SmsDeliveryFailed(Exception):
    """The SMS gateway did not take a message; the text says why (never the message)."""


class SmsSender(Protocol):
    def send(self, to: str, text: str) -> None:
        """Hand one text message for the E.164 number `to` to the gateway, or raise
        SmsDeliveryFailed."""
        ...
