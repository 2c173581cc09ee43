"""`peerline report billing`: the H0038 claim lines of a month, one per contact note."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.reports.period import Period, Pseudonyms
from storage.models import ContactNote, Person

COLUMNS = (
    "service_date",
    "start",
    "end",
    "minutes",
    "units",
    "method",
    "service_code",
    "peer",
    "credential",
    "person_served",
    "person_id",
    "note",
)


async def claim_lines(
    s: AsyncSession, period: Period, *, peer: Person | None = None, pseudonyms: Pseudonyms | None = None
) -> list[dict[str, Any]]:
    """Every contact note of the period (by its service date, the peer's local date), oldest first.

    With `pseudonyms` (`--deidentify`) the person served is a stable pseudonym and the note is left out.
    """
    staff = Person.__table__.alias("staff")  # type: ignore[attr-defined]
    query = (
        select(ContactNote, staff.c.name, staff.c.credential, Person)
        .join(staff, staff.c.id == col(ContactNote.peer_id))
        .join(Person, col(Person.id) == col(ContactNote.pir_id))
        .where(
            col(ContactNote.service_date) >= period.first.isoformat(),
            col(ContactNote.service_date) <= period.last.isoformat(),
        )
        .order_by(col(ContactNote.service_date), col(ContactNote.started_at), col(ContactNote.id))
    )
    if peer is not None:
        query = query.where(col(ContactNote.peer_id) == peer.id)
    lines = []
    for note, peer_name, credential, served in (await s.execute(query)).all():
        assert served.id is not None
        lines.append(
            {
                "service_date": note.service_date,
                "start": note.started_at.isoformat(),
                "end": note.ended_at.isoformat(),
                "minutes": note.minutes,
                "units": note.units,
                "method": note.method,
                "service_code": note.service_code,
                "peer": peer_name,
                "credential": credential,
                "person_served": served.name if pseudonyms is None else pseudonyms("pir", served.id),
                "person_id": served.id if pseudonyms is None else None,
                "note": note.note if pseudonyms is None else None,
            }
        )
    return lines
