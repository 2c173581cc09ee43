"""Signing in to the console without a password: a 6-digit code over the person's own channel, or a
single-use link an operator prints (`peerline web link`).

Only hashes are stored. A code lives 10 minutes and takes five tries; requests are limited per client
address, and codes per person, so the form can be used neither to guess nor to flood someone's phone.
A `who` that names nobody gets a sign-in row too, with no person: the answer, and the failure of every
code typed into it, are the same as for a staff member.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.errors import UserError
from bot.outbox.queue import queue_message
from bot.people.audience import STAFF
from bot.people.enrolment import normalise_phone
from bot.people.names import match_name
from bot.staff.caseload import reply_identity
from bot.web.words import text
from storage.models import AuditAction, ChannelName, MessageKind, Person, PersonStatus, WebSignIn
from storage.repo import audit, identity_for

CODE_TTL = timedelta(minutes=10)
LINK_TTL = timedelta(hours=1)
MAX_TRIES = 5
WINDOW = timedelta(minutes=15)
REQUESTS_PER_CLIENT = 10  # sign-in requests from one address per WINDOW
CODES_PER_PERSON = 3  # codes sent to one person per WINDOW (more requests are answered, not sent)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _code_hash(challenge: str, code: str) -> str:
    return digest(f"{challenge}:{code}")


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def may_sign_in(person: Person | None) -> bool:
    return person is not None and person.role in STAFF and person.status != PersonStatus.DISCHARGED


async def find_staff(s: AsyncSession, who: str) -> Person | None:
    """The staff member `who` names: an address on any channel (a phone number, a Telegram chat id or
    handle, a console name), else a name as chat commands find it; None for nobody, or several."""
    who = " ".join(who.split())
    if not who:
        return None
    keys = [(ChannelName.TELEGRAM, who.lstrip("@")), (ChannelName.CONSOLE, who)]
    with contextlib.suppress(UserError):  # not a phone number
        keys.insert(0, (ChannelName.SMS, normalise_phone(who)))
    for channel, address in keys:
        identity = await identity_for(s, channel, address)
        if identity is not None:
            person = await s.get(Person, identity.person_id)
            return person if may_sign_in(person) else None
    staff = (await s.scalars(select(Person).where(col(Person.role).in_(STAFF)))).all()
    found = match_name([p for p in staff if may_sign_in(p)], who.lstrip("@").split())
    return found.person


@dataclass(frozen=True, slots=True)
class Requested:
    challenge: str = ""  # what the code form carries back; empty when rate-limited
    queued: bool = False  # a code went to the outbox (never shown to the browser)

    @property
    def limited(self) -> bool:
        return not self.challenge


async def _count(s: AsyncSession, *where: object) -> int:
    return int(await s.scalar(select(func.count()).select_from(WebSignIn).where(*where)) or 0)  # type: ignore[arg-type]


async def request_code(s: AsyncSession, who: str, client: str, now: datetime) -> Requested:
    """Answer a `who`: a code to the staff member it names, if any, over their own channel."""
    since = now - WINDOW
    if await _count(s, col(WebSignIn.client) == client, col(WebSignIn.created_at) > since) >= (
        REQUESTS_PER_CLIENT
    ):
        audit(s, now, f"web:{client}", AuditAction.WEB_SIGNIN_REFUSED, None, reason="rate_limited")
        return Requested()
    person = await find_staff(s, who)
    challenge, code = secrets.token_urlsafe(24), new_code()
    queued = False
    if person is not None and person.id is not None:
        sent = await _count(
            s,
            col(WebSignIn.person_id) == person.id,
            col(WebSignIn.created_at) > since,
            col(WebSignIn.kind) == "code",
        )
        identity = await reply_identity(s, person.id) if sent < CODES_PER_PERSON else None
        if identity is not None:
            body = text(person.locale, "code_message", code=code)
            queued = queue_message(s, identity, body, MessageKind.SYSTEM, now) is not None
    s.add(
        WebSignIn(
            kind="code",
            secret_hash=digest(challenge),
            code_hash=_code_hash(challenge, code),
            person_id=person.id if person is not None else None,
            client=client,
            created_at=now,
            expires_at=now + CODE_TTL,
        )
    )
    audit(
        s,
        now,
        f"web:{client}",
        AuditAction.WEB_SIGNIN_REQUESTED,
        person.id if person is not None else None,
        sent=queued,
    )
    return Requested(challenge, queued)


@dataclass(frozen=True, slots=True)
class Checked:
    person: Person | None = None  # signed in as
    left: int = 0  # tries left after a wrong code; 0 with no person: ask for a new code

    @property
    def dead(self) -> bool:
        return self.person is None and self.left == 0


def _live(row: WebSignIn | None, now: datetime) -> bool:
    return row is not None and row.used_at is None and row.expires_at > now and row.tries < MAX_TRIES


async def check_code(s: AsyncSession, challenge: str, code: str, client: str, now: datetime) -> Checked:
    """A code typed into the form `challenge` came with: signed in, wrong (tries left) or dead."""
    row = (
        await s.scalars(
            select(WebSignIn)
            .where(col(WebSignIn.secret_hash) == digest(challenge), col(WebSignIn.kind) == "code")
            .with_for_update()
        )
    ).first()
    if row is None or not _live(row, now):
        audit(s, now, f"web:{client}", AuditAction.WEB_SIGNIN_REFUSED, None, reason="dead")
        return Checked()
    right = row.code_hash is not None and hmac.compare_digest(
        row.code_hash, _code_hash(challenge, "".join(code.split()))
    )
    person = await s.get(Person, row.person_id) if row.person_id is not None else None
    if not right or not may_sign_in(person):
        row.tries += 1
        audit(s, now, f"web:{client}", AuditAction.WEB_SIGNIN_REFUSED, row.person_id, reason="wrong_code")
        return Checked(left=MAX_TRIES - row.tries)
    row.used_at = now
    return Checked(person)


async def create_link(s: AsyncSession, person: Person, now: datetime) -> str:
    """A single-use sign-in token for `person` (printed by `peerline web link`), valid for LINK_TTL."""
    if not may_sign_in(person) or person.id is None:
        raise UserError(f"{person.name} is {person.role}: only peers, supervisors and admins sign in")
    token = secrets.token_urlsafe(32)
    s.add(
        WebSignIn(
            kind="link",
            secret_hash=digest(token),
            person_id=person.id,
            created_at=now,
            expires_at=now + LINK_TTL,
        )
    )
    audit(s, now, "cli", AuditAction.WEB_LINK_CREATED, person.id, expires=(now + LINK_TTL).isoformat())
    return token


async def link_is_live(s: AsyncSession, token: str, now: datetime) -> bool:
    row = (
        await s.scalars(
            select(WebSignIn).where(
                col(WebSignIn.secret_hash) == digest(token), col(WebSignIn.kind) == "link"
            )
        )
    ).first()
    return _live(row, now)


async def redeem_link(s: AsyncSession, token: str, client: str, now: datetime) -> Person | None:
    """The person a live link signs in, using it up; None for a used, expired or unknown link."""
    row = (
        await s.scalars(
            select(WebSignIn)
            .where(col(WebSignIn.secret_hash) == digest(token), col(WebSignIn.kind) == "link")
            .with_for_update()
        )
    ).first()
    if row is None or not _live(row, now):
        audit(s, now, f"web:{client}", AuditAction.WEB_SIGNIN_REFUSED, None, reason="dead_link")
        return None
    row.used_at = now
    person = await s.get(Person, row.person_id) if row.person_id is not None else None
    return person if may_sign_in(person) else None
