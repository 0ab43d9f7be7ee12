"""The composition root: settings → runtime → per-request (or per-command) Context.

The faces (API, console, CLI), the tests and the bench all build what they need here, so no
face imports another to get at the database, the key ring or the mailer."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from twofold.config import ConfigError, Settings
from twofold.domain.passwords import HashParams, Passwords
from twofold.domain.ports import NULL_OBSERVER, Clock, Mailer, Observer, SmsSender, SystemClock
from twofold.domain.sealing import KeyRing
from twofold.logs import SecurityLog
from twofold.metrics import Metrics
from twofold.services.audit import publish_on_commit
from twofold.services.context import Context
from twofold.services.mail import build_mailer
from twofold.services.sms import build_sms
from twofold.storage import keyfile
from twofold.storage.db import Timeouts, make_engine, make_session_factory
from twofold.storage.hot import HotDatabase
from twofold.storage.lite import LiteDatabase
from twofold.storage.sealed import sealed_key_ids

if TYPE_CHECKING:
    from twofold.storage.aio import LoopDatabase


class Observers:
    """The Observer the services see: counts go to the metrics, audit events to the security
    log (bound methods, so a report costs one call)."""

    def __init__(self, metrics: Observer, security_log: SecurityLog) -> None:
        self.login = metrics.login
        self.mfa_check = metrics.mfa_check
        self.lockout = metrics.lockout
        self.session_created = metrics.session_created
        self.audited = security_log.audited


@dataclass
class Runtime:
    """What a process holds for its lifetime."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keys: KeyRing
    passwords: Passwords
    mailer: Mailer
    clock: Clock
    trusted: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
    sms: SmsSender | None = None
    metrics: Metrics | None = None  # None: TWOFOLD_METRICS=false
    metrics_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(
        default_factory=list
    )
    observer: Observer = NULL_OBSERVER
    # PostgreSQL: the hot paths' statements on the event loop (storage/aio.py); None on SQLite.
    loop_db: LoopDatabase | None = None
    # SQLite: the hot paths' statements on the driver's own connections, inline on the event
    # loop (storage/lite.py); None on PostgreSQL.
    lite_db: LiteDatabase | None = None

    def hot_db(self) -> HotDatabase | None:
        """The hot paths' connections: SQLite's driver connections, or PostgreSQL's on the
        event loop once they may run there (`LoopDatabase.ready`); None: the engine's."""
        if self.lite_db is not None:
            return self.lite_db
        if self.loop_db is not None and self.loop_db.ready():
            return self.loop_db
        return None

    def context(self, db: Session, client_addr: str | None, agent: str | None) -> Context:
        """The Context of one request or command, over the database session `db`."""
        return Context(
            db=db,
            settings=self.settings,
            clock=self.clock,
            keys=self.keys,
            passwords=self.passwords,
            mailer=self.mailer,
            client_addr=client_addr,
            user_agent=agent,
            sms=self.sms,
            observer=self.observer,
        )

    @contextmanager
    def open_context(self, client_addr: str | None, agent: str | None) -> Iterator[Context]:
        """A Context with a database session of its own, closed on the way out."""
        db = self.sessions()
        try:
            yield self.context(db, client_addr, agent)
        finally:
            db.close()

    def close(self) -> None:
        if self.loop_db is not None:
            self.loop_db.discard_idle()
        self.engine.dispose()


def _needed_key_ids(engine: Engine) -> set[str]:
    try:
        return sealed_key_ids(engine)
    except SQLAlchemyError as exc:
        raise ConfigError(
            "the key file is missing and the database cannot be read to tell whether it holds "
            f"sealed secrets: {type(exc).__name__}"
        ) from exc


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    sms: SmsSender | None = None,
) -> Runtime:
    """Open the database and key file, or fail with a one-line ConfigError."""
    timeouts = Timeouts(
        connect=settings.db_connect_timeout,
        statement=settings.db_statement_timeout,
        pool=settings.db_pool_timeout,
        ping_idle=settings.db_ping_idle,
    )
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size, timeouts=timeouts)
    try:
        sms = sms if sms is not None else build_sms(settings)
        keys = keyfile.open_or_create(settings.key_file, lambda: _needed_key_ids(engine))
    except ConfigError:
        engine.dispose()
        raise
    metrics = Metrics() if settings.metrics else None
    observer = Observers(metrics or NULL_OBSERVER, SecurityLog())
    sessions = make_session_factory(engine)
    publish_on_commit(sessions, observer)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        keys=keys,
        passwords=Passwords(
            HashParams(
                memory_kib=settings.argon2_memory_kib,
                time_cost=settings.argon2_time_cost,
                parallelism=settings.argon2_parallelism,
            ),
            max_queue=settings.argon2_max_queue,
            max_wait=settings.argon2_max_wait_ms / 1000,
        ),
        mailer=mailer or build_mailer(settings),
        clock=clock or SystemClock(),
        trusted=_networks(settings.trusted_proxies),
        sms=sms,
        metrics=metrics,
        metrics_networks=_networks(settings.metrics_networks),
        observer=observer,
        loop_db=(
            _loop_database(engine, settings.db_pool_size, timeouts)
            if engine.dialect.name == "postgresql"
            else None
        ),
        lite_db=LiteDatabase(engine) if engine.dialect.name == "sqlite" else None,
    )


def _loop_database(engine: Engine, size: int, timeouts: Timeouts) -> LoopDatabase:
    """PostgreSQL's connections on the event loop. Imported here: psycopg costs a worker
    about 9 MiB resident, which a SQLite worker does without."""
    from twofold.storage.aio import LoopDatabase

    return LoopDatabase(engine, size=size, timeouts=timeouts)


def _networks(cidrs: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in cidrs]
