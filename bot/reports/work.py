"""Peer work: relays to staff, peer replies, contact notes and H0038 units."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.reports.period import Period
from bot.reports.rows import PirRow, in_period
from storage.models import (
    ContactNote,
    Direction,
    FamilyLink,
    Message,
    MessageKind,
    Person,
    Role,
)

STAFF_ROLES = (Role.PEER, Role.SUPERVISOR, Role.ADMIN)


async def peer_work_figures(
    s: AsyncSession,
    period: Period,
    scope: Select[Any],
    peer: Person | None,
    by_id: Mapping[int, PirRow],
) -> dict[str, Any]:
    # Each count reads messages by recipient through the (person, created_at) index: one IN list of
    # people, never a scan of the whole message table.
    relays = select(func.count()).where(
        col(Message.direction) == Direction.OUTBOUND,
        col(Message.kind) == MessageKind.RELAY,
        in_period(col(Message.created_at), period),
    )
    staff = (
        select(col(Person.id)).where(col(Person.role).in_(STAFF_ROLES))
        if peer is None
        else select(col(Person.id)).where(col(Person.id) == peer.id)
    )
    to_staff = relays.where(col(Message.person_id).in_(staff))
    family = select(col(FamilyLink.family_id)).where(col(FamilyLink.pir_id).in_(scope))
    to_people = relays.where(col(Message.person_id).in_(scope.union(family)))
    notes = (
        await s.execute(
            select(
                col(ContactNote.pir_id),
                func.count(),
                func.coalesce(func.sum(ContactNote.minutes), 0),
                func.coalesce(func.sum(ContactNote.units), 0),
            )
            .where(
                col(ContactNote.pir_id).in_(scope),
                col(ContactNote.service_date) >= period.first.isoformat(),
                col(ContactNote.service_date) <= period.last.isoformat(),
            )
            .group_by(col(ContactNote.pir_id))
        )
    ).all()
    count = minutes = units = 0
    for pir_id, n, m, u in notes:
        count, minutes, units = count + int(n), minutes + int(m), units + int(u)
        if (row := by_id.get(pir_id)) is not None:
            row.notes, row.units = int(n), int(u)
    return {
        "relays_to_staff": int(await s.scalar(to_staff) or 0),
        "peer_replies": int(await s.scalar(to_people) or 0),
        "notes": {"count": count, "minutes": minutes, "units": units, "service_code": "H0038"},
    }
