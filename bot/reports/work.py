"""Peer work: relays to staff, peer replies, contact notes and H0038 units."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, func, or_, select
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
    recipient = Person.__table__.alias("recipient")  # type: ignore[attr-defined]
    relays = (
        select(func.count()).select_from(Message).join(recipient, recipient.c.id == col(Message.person_id))
    )
    relays = relays.where(
        col(Message.direction) == Direction.OUTBOUND,
        col(Message.kind) == MessageKind.RELAY,
        in_period(col(Message.created_at), period),
    )
    to_staff = relays.where(recipient.c.role.in_(STAFF_ROLES) if peer is None else recipient.c.id == peer.id)
    family = select(col(FamilyLink.family_id)).where(col(FamilyLink.pir_id).in_(scope))
    to_people = relays.where(or_(recipient.c.id.in_(scope), recipient.c.id.in_(family)))
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
