"""A PIR's care team by tier, and whether (and where) a person can be reached to be paged."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from flows.escalation import Tier
from storage.models import CareTeam, ChannelIdentity, Person, PersonStatus
from storage.repo import identities_of, pick_identity


async def team_of(s: AsyncSession, pir_id: int) -> dict[Tier, Person | None]:
    team = await s.get(CareTeam, pir_id)
    ids = {
        Tier.PEER: team.peer_id if team else None,
        Tier.BACKUP: team.backup_id if team else None,
        Tier.SUPERVISOR: team.supervisor_id if team else None,
    }
    return {tier: await s.get(Person, pid) if pid is not None else None for tier, pid in ids.items()}


async def reachable(s: AsyncSession, person: Person | None) -> tuple[ChannelIdentity | None, str]:
    """The identity to page a staff member on, or None and why not (a `why_*` message key suffix)."""
    if person is None or person.id is None:
        return None, "none_assigned"
    if person.status != PersonStatus.ACTIVE:
        return None, "inactive"
    identities = await identities_of(s, person.id)
    identity = pick_identity(identities)
    if identity is not None:
        return identity, ""
    if not identities:
        return None, "no_channel"
    if all(i.opted_out_at is not None for i in identities):
        return None, "opted_out"
    return None, "unreachable"


async def name_of(s: AsyncSession, person_id: int | None) -> str | None:
    person = await s.get(Person, person_id) if person_id is not None else None
    return person.name if person is not None else None
