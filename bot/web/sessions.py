"""Console sessions: a random token in a cookie (only its hash stored), a CSRF token, idle expiry."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.web.signin import digest, may_sign_in
from storage.models import AuditAction, Person, WebSession
from storage.repo import audit

COOKIE = "peerline_session"
PRE_COOKIE = "peerline_csrf"  # the CSRF token of the sign-in forms, before there is a session


@dataclass(frozen=True, slots=True)
class Current:
    session: WebSession
    person: Person


async def start(s: AsyncSession, person: Person, now: datetime, *, how: str) -> str:
    """A new session for `person`; returns the cookie's token."""
    assert person.id is not None
    token = secrets.token_urlsafe(32)
    s.add(
        WebSession(
            token_hash=digest(token),
            csrf=secrets.token_urlsafe(24),
            person_id=person.id,
            created_at=now,
            last_seen_at=now,
        )
    )
    audit(s, now, f"person:{person.id}", AuditAction.WEB_SIGNED_IN, person.id, how=how)
    return token


async def current(
    s: AsyncSession, token: str | None, now: datetime, idle: timedelta, *, touch: bool = True
) -> Current | None:
    """The live session of this cookie, its idle clock restarted when `touch`; None when there is none,
    it ended, it was idle too long, or its person may no longer sign in."""
    if not token:
        return None
    session = (await s.scalars(select(WebSession).where(col(WebSession.token_hash) == digest(token)))).first()
    if session is None or session.ended_at is not None:
        return None
    if session.last_seen_at + idle <= now:
        session.ended_at = session.last_seen_at + idle
        return None
    person = await s.get(Person, session.person_id)
    if person is None or not may_sign_in(person):
        session.ended_at = now
        return None
    if touch:
        session.last_seen_at = now
    return Current(session, person)


def end(s: AsyncSession, session: WebSession, now: datetime) -> None:
    session.ended_at = now
    audit(s, now, f"person:{session.person_id}", AuditAction.WEB_SIGNED_OUT, session.person_id)
