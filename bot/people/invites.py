"""Invite links: a person links their Telegram account by tapping Start on a `t.me/<bot>?start=<code>` link.

A code is single use and expires. It is redeemed with one conditional UPDATE, so two chats racing on the
same code cannot both win, on SQLite or PostgreSQL. A new code for a person retires their earlier ones,
and a person has at most one chat per channel linked by invite: the person's row is locked while a code
is issued or redeemed, so neither two codes nor two chats can slip past each other.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.people.enrolment import UserError
from storage.models import AuditAction, ChannelIdentity, ChannelName, Invite, Person
from storage.repo import audit, identities_of

# Telegram deep-link parameters: up to 64 characters of A-Z, a-z, 0-9, _ and -.
_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_START = re.compile(r"/start(?:@\w+)?\s+(\S+)\s*", re.IGNORECASE)
DEFAULT_HOURS = 72


def start_code(text: str) -> str | None:
    """The invite code in a `/start <code>` message, if it carries one."""
    match = _START.fullmatch(text.strip())
    return match.group(1) if match and _CODE.fullmatch(match.group(1)) else None


def invite_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username.lstrip('@')}?start={code}"


async def create_invite(
    s: AsyncSession, person: Person, now: datetime, *, hours: float = DEFAULT_HOURS, actor: str = "cli"
) -> Invite:
    """A fresh code for `person`, valid for `hours`; their earlier codes that are still open retire.

    Refused (UserError) when the person's Telegram is already linked: a second chat is not what an
    invite is for.
    """
    assert person.id is not None
    await _lock(s, person.id)
    linked = [i.address for i in await identities_of(s, person.id) if i.channel == ChannelName.TELEGRAM]
    if linked:
        raise UserError(
            f"{person.name} (id {person.id}) already has a Telegram chat linked ({', '.join(linked)}):"
            " a new invite would link a second"
        )
    open_codes = (
        await s.scalars(
            select(Invite).where(
                col(Invite.person_id) == person.id,
                col(Invite.used_at).is_(None),
                col(Invite.expires_at) > now,
            )
        )
    ).all()
    for earlier in open_codes:
        earlier.expires_at = now  # an expired code is refused like a used one, and kept for the audit
    invite = Invite(
        code=secrets.token_urlsafe(12),  # 96 random bits, 16 characters
        person_id=person.id,
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    s.add(invite)
    await s.flush()
    if open_codes:
        audit(s, now, actor, AuditAction.INVITE_RETIRED, person.id, invites=[i.id for i in open_codes])
    audit(
        s,
        now,
        actor,
        AuditAction.INVITE_CREATED,
        person.id,
        invite_id=invite.id,
        expires_at=invite.expires_at.isoformat(),
    )
    return invite


async def redeem_invite(
    s: AsyncSession, code: str, channel: str, address: str, now: datetime
) -> tuple[Person, ChannelIdentity] | None:
    """Link (channel, address) to the invited person; None when the code is unknown, used or expired, or
    the person already has a chat on `channel` (the code is spent either way)."""
    claimed: CursorResult[tuple[()]] = await s.execute(  # type: ignore[assignment]
        update(Invite)
        .where(col(Invite.code) == code, col(Invite.used_at).is_(None), col(Invite.expires_at) > now)
        .values(used_at=now)
    )
    if claimed.rowcount != 1:
        audit(s, now, "system", AuditAction.INVITE_REFUSED, None, channel=channel)
        return None
    invite = (await s.scalars(select(Invite).where(col(Invite.code) == code))).one()
    person = await _lock(s, invite.person_id)
    assert person.id is not None
    if any(i.channel == channel for i in await identities_of(s, person.id)):
        audit(
            s,
            now,
            "system",
            AuditAction.INVITE_REFUSED,
            person.id,
            channel=channel,
            invite_id=invite.id,
            reason="already_linked",
        )
        return None
    # Tapping Start on the program's link is the person's own opt-in.
    identity = ChannelIdentity(
        person_id=person.id, channel=channel, address=address, consent_at=now, created_at=now
    )
    s.add(identity)
    await s.flush()
    audit(
        s,
        now,
        f"person:{person.id}",
        AuditAction.INVITE_REDEEMED,
        person.id,
        invite_id=invite.id,
        channel=channel,
    )
    return person, identity


async def _lock(s: AsyncSession, person_id: int) -> Person:
    """The person's row, locked until commit on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises)."""
    person = await s.get(Person, person_id, with_for_update=True)
    assert person is not None
    return person
