"""What every use case needs, built once per request (or CLI command) by one factory."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from twofold.config import Settings
from twofold.domain.passwords import Passwords
from twofold.domain.ports import Clock, Mailer
from twofold.domain.sealing import KeyRing


@dataclass
class Context:
    db: Session
    settings: Settings
    clock: Clock
    keys: KeyRing
    passwords: Passwords
    mailer: Mailer
    client_addr: str | None = None
    user_agent: str | None = None
