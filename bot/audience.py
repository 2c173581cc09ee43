"""Which wording of a message a person gets: written for their audience and fitted to their channel.

A key names the message (`opted_in`, `opted_out`, `help`); its variants add the audience and the
channel: `opted_in_family_sms`, `opted_in_staff`, `help_family`, `opted_in_sms`. The plain key is the
PIR's text on a chat channel (Telegram, console). SMS variants carry what CTIA asks of an SMS program
(message frequency, "Msg & data rates may apply", HELP/STOP), which means nothing on Telegram; family
texts are about the family member's own support; staff texts are about their alerts, not a subscription.
The most specific variant that exists wins: audience and channel, then audience, then channel, then the
plain key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_, select

from bot.caseload import STAFF
from bot.content import Messages
from bot.outbox import queue_message
from storage.models import CareTeam, ChannelIdentity, MessageKind, Person, PersonStatus, Role
from storage.repo import audit, reachable_identity


def audience(role: str) -> str:
    """`staff`, `family` or `pir`: whom a text is written for."""
    if role in STAFF:
        return "staff"
    return "family" if role == Role.FAMILY else "pir"


def variants(key: str, role: str, channel: str) -> list[str]:
    """Keys to try for `key`, most specific first."""
    group = audience(role)
    sms = channel == "sms"
    names = [] if group == "pir" else [f"{key}_{group}_sms"] * sms + [f"{key}_{group}"]
    return [*names, *[f"{key}_sms"] * sms, key]


def audience_text(
    messages: Messages, key: str, role: str, channel: str, locale: str, **values: object
) -> str:
    """Message `key` as written for this audience and channel, in `locale`."""
    chosen = next(name for name in variants(key, role, channel) if messages.has(name))
    return messages.text(chosen, locale, **values)


def _role_key(messages: Messages, role: str) -> str:
    # Peers and supervisors are named as the escalation names their tiers; an admin has no tier.
    return f"tier_{role}" if messages.has(f"tier_{role}") else f"role_{role}"


async def tell_supervisors(
    s: AsyncSession, messages: Messages, staff: Person, ident: ChannelIdentity, now: datetime
) -> int:
    """A peer or supervisor opted out: alerts will no longer reach them there, so their supervisors hear.

    Their supervisors are the supervisors of any care team they are on; with none, every supervisor.
    Returns how many messages were queued.
    """
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
            audit(s, now, "system", "notify.unreachable", supervisor.id, about=staff.id)
            continue
        text = messages.text(
            "supervisor_told_staff_opt_out",
            supervisor.locale,
            name=staff.name,
            role=messages.text(_role_key(messages, staff.role), supervisor.locale),
            channel=ident.channel,
        )
        if queue_message(s, to, text, MessageKind.SYSTEM, now) is not None:
            queued += 1
        audit(s, now, "system", "supervisor.told_opt_out", staff.id, supervisor_id=supervisor.id)
    return queued
