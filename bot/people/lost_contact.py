"""Lost contact: who hears when a person can no longer be reached where they were.

One decision for every path that loses a channel: a STOP (`bot.inbound.pipeline`), a carrier opt-out or a
number that cannot take texts (Twilio 21610, 30005/6, at send time or in a receipt), a blocked bot. A PIR
who goes quiet may be pulling away, so their peer hears; a family member's opt-out reaches the peers of
the PIRs they support; a peer or supervisor who can no longer be paged there leaves alerts uncovered, so
the supervisors of their care teams (else every supervisor) hear.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_, select

from bot.content import Messages
from bot.outbox.queue import queue_message
from bot.people.audience import STAFF
from storage.models import AuditAction, CareTeam, ChannelIdentity, MessageKind, Person, PersonStatus, Role
from storage.repo import active_links_of_family, audit, care_team, mark_lost, reachable_identity


async def lost_contact(
    s: AsyncSession,
    messages: Messages,
    ident: ChannelIdentity,
    now: datetime,
    *,
    opted_out: bool,
    code: str | None,
    source: str,
) -> int:
    """Mark the channel lost (once, audited) and tell whoever should know; how many messages were queued."""
    if not mark_lost(s, ident, now, opted_out=opted_out, code=code, source=source):
        return 0
    return await tell_team(s, messages, ident, now, opted_out=opted_out)


async def tell_team(
    s: AsyncSession, messages: Messages, ident: ChannelIdentity, now: datetime, *, opted_out: bool
) -> int:
    """Tell whoever should know that `ident` opted out (`opted_out`) or cannot be reached; how many
    messages were queued."""
    person = await s.get(Person, ident.person_id)
    if person is None or person.id is None:
        return 0
    how = "opt_out" if opted_out else "unreachable"
    if person.role in STAFF:
        return await _tell_supervisors(s, messages, person, ident, now, f"supervisor_told_staff_{how}")
    if person.role == Role.FAMILY:
        links = await active_links_of_family(s, person.id, now)
        told = 0
        seen: set[int] = set()
        for link in links:
            pir = await s.get(Person, link.pir_id)
            if pir is None:
                continue
            told += await _tell_peer(
                s, messages, person, ident, now, f"peer_told_family_{how}", pir=pir, seen=seen
            )
        return told
    return await _tell_peer(s, messages, person, ident, now, f"peer_told_{how}", pir=person, seen=set())


async def _tell_peer(
    s: AsyncSession,
    messages: Messages,
    person: Person,
    ident: ChannelIdentity,
    now: datetime,
    key: str,
    *,
    pir: Person,
    seen: set[int],
) -> int:
    """Message `key` about `person` to the peer of `pir` (themselves, or the PIR a family member supports)."""
    assert pir.id is not None and person.id is not None
    team = await care_team(s, pir.id)
    peer = await s.get(Person, team.peer_id) if team is not None and team.peer_id is not None else None
    if peer is None or peer.id is None or peer.id in seen:
        return 0
    seen.add(peer.id)
    to = await reachable_identity(s, peer.id)
    if to is None:
        audit(s, now, "system", AuditAction.NOTIFY_UNREACHABLE, peer.id, about=person.id)
        return 0
    text = messages.text(key, peer.locale, name=person.name, pir=pir.name, channel=ident.channel)
    queued = queue_message(s, to, text, MessageKind.SYSTEM, now)
    action = AuditAction.PEER_TOLD_OPT_OUT if "opt_out" in key else AuditAction.PEER_TOLD_UNREACHABLE
    audit(s, now, "system", action, person.id, peer_id=peer.id, channel=ident.channel)
    return 0 if queued is None else 1


async def _tell_supervisors(
    s: AsyncSession, messages: Messages, staff: Person, ident: ChannelIdentity, now: datetime, key: str
) -> int:
    """Alerts will no longer reach `staff` on this channel: the supervisors of any care team they are on
    hear, or with none every supervisor."""
    assert staff.id is not None
    teams = await s.scalars(
        select(CareTeam).where(
            or_(
                col(CareTeam.peer_id) == staff.id,
                col(CareTeam.backup_id) == staff.id,
                col(CareTeam.supervisor_id) == staff.id,
            )
        )
    )
    assigned = {team.supervisor_id for team in teams if team.supervisor_id is not None} - {staff.id}
    supervisors: Sequence[Person] = []
    if assigned:
        supervisors = (await s.scalars(select(Person).where(col(Person.id).in_(assigned)))).all()
    supervisors = [p for p in supervisors if p.role == Role.SUPERVISOR and p.status == PersonStatus.ACTIVE]
    if not supervisors:
        everyone = await s.scalars(
            select(Person).where(
                col(Person.role) == Role.SUPERVISOR,
                col(Person.status) == PersonStatus.ACTIVE,
                col(Person.id) != staff.id,
            )
        )
        supervisors = everyone.all()
    queued = 0
    for supervisor in sorted(supervisors, key=lambda p: p.id or 0):
        assert supervisor.id is not None
        to = await reachable_identity(s, supervisor.id)
        if to is None:
            audit(s, now, "system", AuditAction.NOTIFY_UNREACHABLE, supervisor.id, about=staff.id)
            continue
        text = messages.text(
            key,
            supervisor.locale,
            name=staff.name,
            role=messages.text(_role_key(messages, staff.role), supervisor.locale),
            channel=ident.channel,
        )
        if queue_message(s, to, text, MessageKind.SYSTEM, now) is not None:
            queued += 1
        action = (
            AuditAction.SUPERVISOR_TOLD_OPT_OUT
            if "opt_out" in key
            else AuditAction.SUPERVISOR_TOLD_UNREACHABLE
        )
        audit(s, now, "system", action, staff.id, supervisor_id=supervisor.id)
    return queued


def _role_key(messages: Messages, role: str) -> str:
    # Peers and supervisors are named as the escalation names their tiers; an admin has no tier.
    return f"tier_{role}" if messages.has(f"tier_{role}") else f"role_{role}"
