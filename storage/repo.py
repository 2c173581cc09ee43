"""Queries the bot needs, kept in one place so the SQL is easy to review and index."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from storage.appends import appends
from storage.models import (
    AuditAction,
    CareTeam,
    ChannelIdentity,
    ConsentState,
    FamilyLink,
    FlowSession,
    Message,
    Person,
    SessionStatus,
)


async def identity_for(s: AsyncSession, channel: str, address: str) -> ChannelIdentity | None:
    return (
        await s.scalars(
            select(ChannelIdentity).where(
                col(ChannelIdentity.channel) == channel, col(ChannelIdentity.address) == address
            )
        )
    ).first()


def identity_in(keys: Iterable[tuple[str, str]]) -> ColumnElement[bool]:
    """`ChannelIdentity` rows with any of these (channel, address) keys, one indexed IN per channel."""
    by_channel: dict[str, set[str]] = {}
    for channel, address in keys:
        by_channel.setdefault(channel, set()).add(address)
    return or_(
        false(),
        *(
            and_(col(ChannelIdentity.channel) == channel, col(ChannelIdentity.address).in_(addresses))
            for channel, addresses in by_channel.items()
        ),
    )


async def identities_of(s: AsyncSession, person_id: int) -> Sequence[ChannelIdentity]:
    return (
        await s.scalars(
            select(ChannelIdentity)
            .where(col(ChannelIdentity.person_id) == person_id)
            .order_by(col(ChannelIdentity.id))
        )
    ).all()


def usable(identity: ChannelIdentity) -> bool:
    """Whether a message to this identity can reach the person: not opted out, not known unreachable.
    The one rule of reachability; everything that picks an identity to write to asks it."""
    return identity.opted_out_at is None and identity.unreachable_at is None


def pick_identity(identities: Sequence[ChannelIdentity], prefer: str | None = None) -> ChannelIdentity | None:
    """Of one person's identities (oldest first), the one to write to: the preferred channel if usable,
    else the first usable one."""
    ok = [i for i in identities if usable(i)]
    return next((i for i in ok if i.channel == prefer), ok[0] if ok else None)


async def reachable_identity(
    s: AsyncSession, person_id: int, prefer: str | None = None
) -> ChannelIdentity | None:
    """The identity to write to: the preferred channel if usable, else the first usable one."""
    return pick_identity(await identities_of(s, person_id), prefer)


async def active_session(s: AsyncSession, person_id: int) -> FlowSession | None:
    return (
        await s.scalars(
            select(FlowSession)
            .where(col(FlowSession.person_id) == person_id, col(FlowSession.status) == SessionStatus.ACTIVE)
            .order_by(col(FlowSession.id).desc())
        )
    ).first()


async def care_team(s: AsyncSession, pir_id: int) -> CareTeam | None:
    return await s.get(CareTeam, pir_id)


async def active_links_of_family(s: AsyncSession, family_id: int, now: datetime) -> Sequence[FamilyLink]:
    links = (
        await s.scalars(
            select(FamilyLink)
            .where(col(FamilyLink.family_id) == family_id, col(FamilyLink.state) == ConsentState.ACTIVE)
            .order_by(col(FamilyLink.id))
        )
    ).all()
    return [link for link in links if link.expires_at is None or link.expires_at > now]


async def supported_pir_id(s: AsyncSession, family_id: int, now: datetime) -> int | None:
    """The PIR a family member supports: the one of a consent in force, else of their newest link in any
    state. What is *shared with* them needs a live consent; whom they *write about* does not: a family
    member's warning reaches the PIR's team whatever the PIR agreed to share."""
    active = await active_links_of_family(s, family_id, now)
    if active:
        return active[0].pir_id
    return (
        await s.scalars(
            select(FamilyLink.pir_id)
            .where(col(FamilyLink.family_id) == family_id)
            .order_by(col(FamilyLink.id).desc())
            .limit(1)
        )
    ).first()


async def history(s: AsyncSession, person_id: int, limit: int = 200) -> Sequence[Message]:
    return (
        await s.scalars(
            select(Message)
            .where(col(Message.person_id) == person_id)
            .order_by(col(Message.created_at).desc(), col(Message.id).desc())
            .limit(limit)
        )
    ).all()


async def people(s: AsyncSession, role: str | None = None) -> Sequence[Person]:
    query = select(Person).order_by(col(Person.id))
    if role is not None:
        query = query.where(col(Person.role) == role)
    return (await s.scalars(query)).all()


def audit(
    s: AsyncSession,
    at: datetime,
    actor: str,
    action: AuditAction,
    person_id: int | None = None,
    **detail: Any,
) -> None:
    """Append an audit event to the current transaction (written in bulk: see `storage.appends`)."""
    appends(s).audit.append(
        {"at": at, "actor": actor, "action": action, "person_id": person_id, "detail": detail}
    )


def mark_lost(
    s: AsyncSession, ident: ChannelIdentity, now: datetime, *, opted_out: bool, code: str | None, source: str
) -> bool:
    """Mark a channel opted out at the provider (Twilio 21610) or unreachable (a blocked bot, a number
    that cannot take texts), once, audited; whether it was newly marked. Any message from the person
    clears `unreachable_at` again (`bot.inbound.routing`); an opt-out only their START clears."""
    if opted_out:
        if ident.opted_out_at is not None:
            return False
        ident.opted_out_at = now
        action = AuditAction.CONSENT_OPTED_OUT
    else:
        if ident.unreachable_at is not None:
            return False
        ident.unreachable_at = now
        action = AuditAction.IDENTITY_UNREACHABLE
    audit(s, now, "system", action, ident.person_id, channel=ident.channel, code=code, source=source)
    return True
