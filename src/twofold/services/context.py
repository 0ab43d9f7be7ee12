"""What every use case needs, built once per request (or CLI command) by one factory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from twofold.config import Settings
from twofold.domain.passwords import Passwords
from twofold.domain.ports import NULL_OBSERVER, Clock, Mailer, Observer, SmsSender
from twofold.domain.sealing import KeyRing
from twofold.storage.db import begin_read_only


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
    sms: SmsSender | None = None  # None: no SMS gateway is configured
    observer: Observer = NULL_OBSERVER

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """One read-only transaction for a read use case (SQLite: no write lock), ended on
        the way out. Inside a transaction already open, it reads in that one."""
        if self.db.in_transaction():
            yield self.db
            return
        begin_read_only(self.db)
        try:
            yield self.db
        except BaseException:
            self.db.rollback()
            raise
        self.db.commit()
