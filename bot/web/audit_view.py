"""What `/audit` shows: the audit log newest first, filtered, a page at a time (keyset: `before` an id).
An admin reads all of it; a supervisor the events about PIRs in their scope (and nothing else)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.web.caseload_view import in_scope
from bot.web.scope import Scope
from storage.models import AuditEvent, Role

PAGE_SIZE = 50
READERS = (Role.SUPERVISOR, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class Filters:
    person: int | None = None
    actor: str = ""  # an actor as written in the log ("person:12", "system"); a bare number is a person
    action: str = ""  # an action, or a family of them ending in "." ("web.")
    start: date | None = None
    end: date | None = None  # inclusive
    before: int | None = None  # the page after the one that ended at this id

    @property
    def actor_key(self) -> str:
        return f"person:{self.actor}" if self.actor.isdigit() else self.actor


def day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(), tzinfo=UTC)


async def events(s: AsyncSession, scope: Scope, f: Filters) -> tuple[list[AuditEvent], int | None]:
    """A page of events newest first, and the `before` of the next page (None on the last)."""
    query = select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(PAGE_SIZE + 1)
    if not scope.everyone:
        query = query.where(col(AuditEvent.person_id).in_(in_scope(scope)))
    if f.person is not None:
        query = query.where(col(AuditEvent.person_id) == f.person)
    if f.actor:
        query = query.where(col(AuditEvent.actor) == f.actor_key)
    if f.action.endswith("."):
        query = query.where(col(AuditEvent.action).startswith(f.action, autoescape=True))
    elif f.action:
        query = query.where(col(AuditEvent.action) == f.action)
    if f.start is not None:
        query = query.where(col(AuditEvent.at) >= _midnight(f.start))
    if f.end is not None:
        query = query.where(col(AuditEvent.at) < _midnight(f.end + timedelta(days=1)))
    if f.before is not None:
        query = query.where(col(AuditEvent.id) < f.before)
    found = list((await s.scalars(query)).all())
    more = len(found) > PAGE_SIZE
    shown = found[:PAGE_SIZE]
    return shown, (shown[-1].id if more and shown else None)
