"""The append-only record of who did what to whom."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, event, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from twofold.domain import errors
from twofold.domain.ports import Observer
from twofold.services.context import Context
from twofold.services.counters import Counters
from twofold.services.views import AuditEventView, AuditPage
from twofold.storage.db import affected, run, table_of
from twofold.storage.models import AuditEvent, Principal

# Built once: an event is written on every sign-in and code check (a Core INSERT, no ORM
# unit of work), with a parameter for every column but the id, so it is compiled once
# through the engine and prebuilt on the driver's own connection (storage/lite.py) alike.
EVENT_COLUMNS = [c for c in table_of(AuditEvent).c if c.key != "id"]
INSERT_EVENT = insert(table_of(AuditEvent)).values(
    {c.key: bindparam(c.key, type_=c.type) for c in EVENT_COLUMNS}
)


MAX_EVENT_ID = 2**31 - 1


class Party(NamedTuple):
    """A principal in an event, as plain values (for callers that hold no ORM object)."""

    id: int
    login: str
    account_id: int

# Events of the open transaction, told to the observer once it commits (dropped on rollback):
# the security log never reports what did not happen.
_PENDING = "twofold_audit_pending"


def publish_on_commit(sessions: sessionmaker[Session], observer: Observer) -> None:
    """Tell `observer` each audit event of the sessions `sessions` makes, after its commit."""

    def committed(session: Session) -> None:
        for row in session.info.pop(_PENDING, ()):
            observer.audited(row)

    def rolled_back(session: Session) -> None:
        session.info.pop(_PENDING, None)

    event.listen(sessions, "after_commit", committed)
    event.listen(sessions, "after_rollback", rolled_back)


class Audit:
    """Appends events in the caller's transaction, and pages through them."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def record(
        self,
        action: str,
        *,
        result: str = "success",
        actor: Principal | None = None,
        target: Principal | None = None,
        account_id: int | None = None,
        target_name: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        row = self._row(action, result, actor, target, account_id, target_name, detail)
        run(self.ctx.db, INSERT_EVENT, row)
        self._pending(row)

    def _pending(self, row: dict[str, Any]) -> None:
        self.ctx.db.info.setdefault(_PENDING, []).append(row)

    def record_tally(
        self, action: str, *, result: str, ref: int | None, detail: dict[str, Any]
    ) -> int:
        """One row standing for many like events: inserted when `ref` is None (returns its
        id), else that row's detail (the count) is rewritten."""
        row = self._row(action, result, None, None, None, None, detail)
        self._pending(row)  # each event is a line of the security log, tallied or not
        if ref is not None:
            self.ctx.db.execute(
                update(AuditEvent).where(AuditEvent.id == ref).values(detail=detail)
            )
            return ref
        stmt = insert(AuditEvent).values(row).returning(AuditEvent.id)
        return int(self.ctx.db.execute(stmt).scalar_one())

    def own_event(
        self, action: str, who: Party, detail: dict[str, Any], result: str = "success"
    ) -> dict[str, Any]:
        """The row of an event a principal caused about itself (a step-up, a wrong code),
        from plain values, for a caller that writes it with INSERT_EVENT on a connection of
        its own and tells the observer once that commits."""
        return self._row(action, result, who, who, None, None, detail)

    def _row(
        self,
        action: str,
        result: str,
        actor: Principal | Party | None,
        target: Principal | Party | None,
        account_id: int | None,
        target_name: str | None,
        detail: dict[str, Any] | None,
    ) -> dict[str, Any]:
        owner = account_id
        subject = target or actor
        if owner is None and subject is not None:
            owner = subject.account_id
        return {
            "account_id": owner,
            "actor": actor.login if actor else None,
            "actor_principal_id": actor.id if actor else None,
            "action": action,
            "target": target.login if target else target_name,
            "target_principal_id": target.id if target else None,
            "result": result,
            "client_addr": self.ctx.client_addr,
            "detail": detail,
            "created_at": self.ctx.clock.now(),
        }

    def page(self, viewer: Principal, *, limit: int, before: int | None) -> AuditPage:
        """Newest first. A primary sees its account; a sub-user sees events about itself."""
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
        if viewer.kind == "primary":
            query = query.where(AuditEvent.account_id == viewer.account_id)
        else:
            query = query.where(
                (AuditEvent.actor_principal_id == viewer.id)
                | (AuditEvent.target_principal_id == viewer.id)
            )
        if before is not None:
            # A cursor past every id (the column is a 32-bit integer) means "from the newest".
            query = query.where(AuditEvent.id < min(before, MAX_EVENT_ID))
        with self.ctx.reading():
            rows = list(self.ctx.db.scalars(query))
        more = len(rows) > limit
        events = [_event_view(e) for e in rows[:limit]]
        return AuditPage(events, events[-1].id if more and events else None)


    def prune(self, before: date, *, via: str = "cli") -> int:
        """Retention: delete the events from before `before` (00:00 UTC that day), in one
        transaction that also records the pruning itself. A date after today is refused."""
        today = self.ctx.clock.now().astimezone(UTC).date()
        if before > today:
            raise errors.ValidationFailed(
                "The date {date} is in the future; give today or earlier.",
                params={"date": before.isoformat()},
                fields={"before": "in the future"},
            )
        cutoff = datetime.combine(before, time.min, tzinfo=UTC)
        deleted = affected(self.ctx.db.execute(delete(AuditEvent).where(
            AuditEvent.created_at < cutoff
        )))
        # Throttle counters past every window go too (unknown logins' tallies pile up).
        counters = Counters(self.ctx).forget_stale(cutoff)
        self.record("audit.pruned", detail={"before": before.isoformat(), "deleted": deleted,
                                            "counters_deleted": counters, "via": via})
        self.ctx.db.commit()
        return deleted


def _event_view(e: AuditEvent) -> AuditEventView:
    return AuditEventView(
        id=e.id,
        created_at=e.created_at,
        actor=e.actor,
        action=e.action,
        target=e.target,
        result=e.result,
        client_addr=e.client_addr,
        detail=e.detail,
    )
