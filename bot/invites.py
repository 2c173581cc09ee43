"""Invite links: a person links their Telegram account by tapping Start on a `t.me/<bot>?start=<code>` link.

A code is single use and expires. It is redeemed with one conditional UPDATE, so two chats racing on the
same code cannot both win, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import ChannelIdentity, Invite, Person
from storage.repo import audit

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
    """A fresh code for `person`, valid for `hours`."""
    assert person.id is not None
    invite = Invite(
        code=secrets.token_urlsafe(12),  # 96 random bits, 16 characters
        person_id=person.id,
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    s.add(invite)
    await s.flush()
    audit(
        s,
        now,
        actor,
        "invite.created",
        person.id,
        invite_id=invite.id,
        expires_at=invite.expires_at.isoformat(),
    )
    return invite


async def redeem_invite(
    s: AsyncSession, code: str, channel: str, address: str, now: datetime
) -> tuple[Person, ChannelIdentity] | None:
    """Link (channel, address) to the invited person; None when the code is unknown, used or expired."""
    claimed: CursorResult[tuple[()]] = await s.execute(  # type: ignore[assignment]
        update(Invite)
        .where(col(Invite.code) == code, col(Invite.used_at).is_(None), col(Invite.expires_at) > now)
        .values(used_at=now)
    )
    if claimed.rowcount != 1:
        audit(s, now, "system", "invite.refused", None, channel=channel)
        return None
    invite = (await s.scalars(select(Invite).where(col(Invite.code) == code))).one()
    person = await s.get(Person, invite.person_id)
    assert person is not None and person.id is not None
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
        "invite.redeemed",
        person.id,
        invite_id=invite.id,
        channel=channel,
    )
    return person, identity
