"""The program's on-call: who is paged when a care team cannot be reached, and who hears of a stranger in
crisis. Set with `peerline oncall set WHO...` (supervisors: an admin is never paged); when nobody on
call can be reached either, every active supervisor is the last resort, and in a program with no active
supervisor at all, its admins are, so an alert is never left with no human told.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.people.enrolment import UserError, resolve
from storage.models import AuditAction, OnCall, Person, PersonStatus, Role
from storage.repo import audit

ON_CALL_ROLES = (Role.SUPERVISOR,)


async def set_oncall(
    s: AsyncSession, now: datetime, who: Sequence[str], *, actor: str = "cli"
) -> list[Person]:
    """Replace the on-call list with these people, in this order (supervisors only)."""
    chosen: list[Person] = []
    for name in who:
        person = await resolve(s, name)
        if person.role not in ON_CALL_ROLES:
            why = " (admins are never paged)" if person.role == Role.ADMIN else ""
            raise UserError(f"{person.name} is a {person.role}; the on-call must be a supervisor{why}")
        if person.status != PersonStatus.ACTIVE:
            raise UserError(f"{person.name} is {person.status}; only active staff can be on call")
        if all(p.id != person.id for p in chosen):
            chosen.append(person)
    await s.execute(delete(OnCall))
    for position, person in enumerate(chosen):
        assert person.id is not None
        s.add(OnCall(position=position, person_id=person.id, set_at=now))
    audit(s, now, actor, AuditAction.ONCALL_SET, None, people=[p.id for p in chosen])
    return chosen


async def oncall(s: AsyncSession) -> list[Person]:
    """The on-call staff, in the order they were set."""
    rows = await s.execute(
        select(Person).join(OnCall, col(OnCall.person_id) == col(Person.id)).order_by(col(OnCall.position))
    )
    return list(rows.scalars())


async def last_resort(s: AsyncSession) -> list[Person]:
    """Every active supervisor, paged when neither the chain nor the on-call could be; only a program
    with no active supervisor at all falls back on its admins (else nobody would be told)."""
    for role in (Role.SUPERVISOR, Role.ADMIN):
        rows = await s.scalars(
            select(Person)
            .where(col(Person.role) == role, col(Person.status) == PersonStatus.ACTIVE)
            .order_by(col(Person.id))
        )
        found = list(rows.all())
        if found:
            return found
    return []
