"""What `/people/<id>` shows of one PIR in scope: profile, care team, mood and craving with alerts over
a window, recent messages both ways, contact notes and consents. Reads only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.family.accounting import consent_rows
from bot.staff.caseload import SCALES, paused
from bot.web.alert_queue import names
from bot.web.charts import Mark, Point
from bot.web.scope import Scope
from storage.models import Alert, Answer, CareTeam, ContactNote, Message, Person, Role
from storage.repo import history

DAYS = (30, 90)
MESSAGES_SHOWN = 20
NOTES_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Record:
    person: Person
    team: dict[str, str]  # seat -> name
    paused: bool
    points: list[Point]
    alerts: list[Alert]  # raised in the window, newest first
    messages: Sequence[Message]  # newest first
    notes: Sequence[ContactNote]  # newest first
    note_by: dict[int, str]
    consents: list[dict[str, Any]]
    start: datetime
    end: datetime

    @property
    def marks(self) -> list[Mark]:
        return [Mark(a.created_at, f"#{a.id} {a.severity}", a.severity) for a in self.alerts]


async def pir_in_scope(s: AsyncSession, scope: Scope, person_id: int) -> Person | None:
    """The PIR if `scope` sees them; None when not, or not a PIR, or nobody: the same to a caller."""
    person = await s.get(Person, person_id)
    if person is None or person.role != Role.PIR or not scope.sees(await s.get(CareTeam, person_id)):
        return None
    return person


async def record(s: AsyncSession, person: Person, now: datetime, days: int) -> Record:
    assert person.id is not None
    start = now - timedelta(days=days)
    team = await s.get(CareTeam, person.id)
    seats = {
        seat: getattr(team, f"{seat}_id") for seat in ("peer", "backup", "supervisor") if team is not None
    }
    answers = (
        await s.scalars(
            select(Answer)
            .where(
                col(Answer.person_id) == person.id,
                col(Answer.step_id).in_(SCALES),
                col(Answer.answered_at) >= start,
            )
            .order_by(col(Answer.answered_at), col(Answer.id))
        )
    ).all()
    alerts = (
        await s.scalars(
            select(Alert)
            .where(col(Alert.person_id) == person.id, col(Alert.created_at) >= start)
            .order_by(col(Alert.id).desc())
        )
    ).all()
    notes = (
        await s.scalars(
            select(ContactNote)
            .where(col(ContactNote.pir_id) == person.id)
            .order_by(col(ContactNote.id).desc())
            .limit(NOTES_SHOWN)
        )
    ).all()
    named = await names(s, [*seats.values(), *(n.peer_id for n in notes)])
    return Record(
        person=person,
        team={seat: named.get(pid, "?") for seat, pid in seats.items() if pid is not None},
        paused=person.id in await paused(s, [person.id]),
        points=[Point(a.answered_at, a.step_id, a.value) for a in answers],
        alerts=list(alerts),
        messages=await history(s, person.id, limit=MESSAGES_SHOWN),
        notes=notes,
        note_by=named,
        consents=await consent_rows(s, person),
        start=start,
        end=now,
    )
