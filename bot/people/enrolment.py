"""Enrolment and care-team administration, shared by the CLI and the demo."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import Messages
from bot.errors import UserError as UserError  # noqa: PLC0414  (re-exported: raised from here)
from bot.family.requests import request_consent
from bot.local_time import DEFAULT_QUIET, QuietHours, is_quiet_time, next_due
from bot.outbox.queue import queue_message
from bot.people.audience import audience_text
from bot.people.names import resolve as resolve  # noqa: PLC0414  (re-exported: the CLI's resolver)
from storage.models import (
    AuditAction,
    CareTeam,
    ChannelIdentity,
    ChannelName,
    CheckinSchedule,
    FamilyLink,
    MessageKind,
    Person,
    Role,
    ShareScope,
)
from storage.repo import audit, identities_of, identity_for

_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
FLOW_FOR_ROLE = {Role.PIR: "daily_checkin", Role.FAMILY: "family_checkin"}


def normalise_phone(raw: str, region: str = "US") -> str:
    """E.164 form of a phone number, or a UserError explaining what is wrong."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise UserError(f"bad phone number {raw!r}: {exc}. Use E.164, e.g. +15551234567") from exc
    if not phonenumbers.is_valid_number(number):
        raise UserError(f"bad phone number {raw!r}: not a valid number. Use E.164, e.g. +15551234567")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"unknown time zone {name!r}: use an IANA name such as America/New_York") from None
    return name


def check_time(value: str) -> str:
    match = _TIME.match(value.strip())
    if match is None:
        raise UserError(f"bad time {value!r}: use HH:MM in 24-hour form, e.g. 09:30")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def check_checkin_time(value: str, quiet: QuietHours | None) -> str:
    """A valid HH:MM outside quiet hours: a time inside them would only ever be held to the morning."""
    hhmm = check_time(value)
    if quiet is not None and is_quiet_time(hhmm, quiet):
        hour, minute = divmod((int(quiet[0][:2]) * 60 + int(quiet[0][3:]) - 1) % (24 * 60), 60)
        raise UserError(
            f"check-in time {hhmm} is inside quiet hours ({quiet[0]}-{quiet[1]} local), when nothing "
            f"scheduled is sent: choose a time from {quiet[1]} to {hour:02d}:{minute:02d}, "
            "or change PEERLINE_QUIET_HOURS"
        )
    return hhmm


def check_locale(locale: str) -> str:
    if locale not in ("en", "es"):
        raise UserError(f"bad locale {locale!r}: use en or es")
    return locale


def check_telegram(chat_id: str) -> str:
    if not re.fullmatch(r"-?\d{1,20}", chat_id.strip()):
        raise UserError(f"bad Telegram chat id {chat_id!r}: a number such as 123456789")
    return chat_id.strip()


def checked_identities(
    *, telegram: str | None = None, phone: str | None = None, console: str | None = None
) -> list[tuple[str, str]]:
    """The (channel, address) pairs given, each checked and in the form stored."""
    identities: list[tuple[str, str]] = []
    if telegram is not None:
        identities.append((ChannelName.TELEGRAM, check_telegram(telegram)))
    if phone is not None:
        identities.append((ChannelName.SMS, normalise_phone(phone)))
    if console is not None:
        identities.append((ChannelName.CONSOLE, console))
    return identities


async def check_free(s: AsyncSession, channel: str, address: str, *, owner: int | None = None) -> None:
    """A UserError when the address belongs to someone other than `owner`."""
    existing = await identity_for(s, channel, address)
    if existing is None or existing.person_id == owner:
        return
    raise UserError(f"{channel} {address} already belongs to person {existing.person_id}")


def check_credential(role: str, credential: str | None) -> str | None:
    if credential is not None and role not in (Role.PEER, Role.SUPERVISOR, Role.ADMIN):
        raise UserError(f"--credential is for staff: a {role} has none")
    return credential.strip() or None if credential is not None else None


async def add_person(
    s: AsyncSession,
    now: datetime,
    *,
    role: Role,
    name: str,
    locale: str = "en",
    timezone: str = "America/New_York",
    telegram: str | None = None,
    phone: str | None = None,
    console: str | None = None,
    checkin_time: str | None = None,
    quiet: QuietHours | None = DEFAULT_QUIET,
    credential: str | None = None,
    actor: str = "cli",
) -> Person:
    """Enrol a person with their channel identities and, for PIRs and family members, their own daily
    check-in (at `checkin_time`, default 09:00; never inside the `quiet` hours). A staff member's
    `credential` (CPRS, CRPS, …) goes on their billing lines."""
    if not name.strip():
        raise UserError("a name is required")
    credential = check_credential(role, credential)
    check_locale(locale)
    check_timezone(timezone)
    identities = checked_identities(telegram=telegram, phone=phone, console=console)
    for channel, address in identities:
        await check_free(s, channel, address)
    time = check_checkin_time(checkin_time, quiet) if checkin_time is not None else None
    person = Person(
        role=role,
        name=name.strip(),
        locale=locale,
        timezone=timezone,
        credential=credential,
        created_at=now,
    )
    s.add(person)
    await s.flush()
    assert person.id is not None
    for channel, address in identities:
        # Enrolment by the program records consent to messages (the opt-in confirmation follows).
        s.add(
            ChannelIdentity(
                person_id=person.id, channel=channel, address=address, consent_at=now, created_at=now
            )
        )
    flow = FLOW_FOR_ROLE.get(role)
    if flow is not None:
        local_time = time or "09:00"
        s.add(
            CheckinSchedule(
                person_id=person.id,
                flow_id=flow,
                local_time=local_time,
                next_due_at=next_due(now, timezone, local_time),
            )
        )
    audit(
        s,
        now,
        actor,
        AuditAction.PERSON_CREATED,
        person.id,
        role=str(role),
        channels=[c for c, _ in identities],
    )
    return person


async def confirm_opt_in(
    s: AsyncSession,
    messages: Messages,
    person: Person,
    now: datetime,
    *,
    program: str,
    channels: Collection[str] | None = None,
) -> int:
    """Queue the opt-in confirmation to every channel of a newly enrolled PIR or family member, worded for
    them and for the channel (on SMS: program, frequency, "Msg & data rates may apply", STOP and HELP);
    returns how many were queued. `channels`: only these (a number changed by `people edit`).

    Staff get alerts as part of their work, not a subscription, so they get no confirmation.
    """
    assert person.id is not None
    if person.role not in FLOW_FOR_ROLE:
        return 0
    queued = 0
    for identity in await identities_of(s, person.id):
        if channels is not None and identity.channel not in channels:
            continue
        text = audience_text(
            messages, "opted_in", person.role, identity.channel, person.locale, program=program
        )
        if queue_message(s, identity, text, MessageKind.KEYWORD, now) is not None:
            queued += 1
    return queued


NOBODY = "none"  # `--backup none`, `--supervisor none`: clear that tier of the care team


async def assign(
    s: AsyncSession,
    now: datetime,
    *,
    pir: str,
    peer: str | None = None,
    backup: str | None = None,
    supervisor: str | None = None,
    actor: str = "cli",
) -> CareTeam:
    """Set or change a PIR's care team. An omitted tier stays as it was (a new team needs its peer);
    `none` clears a backup or supervisor.

    The chain must be three different people of fitting roles: the peer a peer, the backup a peer or
    supervisor other than the peer, the supervisor a supervisor other than the backup. An admin is
    none of these: admins are paged only as the program's on-call (`bot.people.oncall`).
    """
    pir_p = await resolve(s, pir, Role.PIR)
    assert pir_p.id is not None
    team = await s.get(CareTeam, pir_p.id)
    if peer is not None:
        peer_p: Person | None = await resolve(s, peer, Role.PEER)
    elif team is not None and team.peer_id is not None:
        peer_p = await s.get(Person, team.peer_id)
    else:
        raise UserError(f"{pir_p.name} has no care team yet: give --peer")
    assert peer_p is not None and peer_p.id is not None
    before = (
        {"peer": team.peer_id, "backup": team.backup_id, "supervisor": team.supervisor_id} if team else None
    )
    backup_id = await _tier(s, backup, (Role.PEER, Role.SUPERVISOR), team.backup_id if team else None)
    supervisor_id = await _tier(s, supervisor, (Role.SUPERVISOR,), team.supervisor_id if team else None)
    hint = ": give another --backup or --backup none" if backup is None else ""
    check_chain(peer_p.id, backup_id, supervisor_id, peer_name=peer_p.name, hint=hint)
    if team is None:
        team = CareTeam(pir_id=pir_p.id, updated_at=now)
        s.add(team)
    team.peer_id = peer_p.id
    team.backup_id = backup_id
    team.supervisor_id = supervisor_id
    team.updated_at = now
    audit(
        s,
        now,
        actor,
        AuditAction.CARE_TEAM_ASSIGNED,
        pir_p.id,
        peer=team.peer_id,
        backup=team.backup_id,
        supervisor=team.supervisor_id,
        before=before,
    )
    return team


def check_chain(
    peer_id: int, backup_id: int | None, supervisor_id: int | None, *, peer_name: str, hint: str = ""
) -> None:
    """The escalation chain is three different people: a UserError naming the clash otherwise (the one
    rule `assign` and `people import` both apply)."""
    if backup_id is not None and backup_id == peer_id:
        raise UserError(f"the backup must be someone other than the peer ({peer_name}){hint}")
    if backup_id is not None and backup_id == supervisor_id:
        raise UserError(
            "the backup and the supervisor must be different people (each is a separate step of the"
            " escalation chain)"
        )


async def _tier(s: AsyncSession, who: str | None, roles: tuple[Role, ...], current: int | None) -> int | None:
    """The person id for one tier: unchanged when `who` is None, cleared by `none`, else resolved."""
    if who is None:
        return current
    if who.strip().casefold() == NOBODY:
        return None
    person = await resolve(s, who, roles)
    return person.id


async def link_family(
    s: AsyncSession,
    now: datetime,
    *,
    family: str,
    pir: str,
    share: ShareScope,
    expires_at: datetime | None = None,
    actor: str = "cli",
) -> FamilyLink:
    """A consent signed on paper, recorded by `actor`: active at once (the demo and tests seed with it)."""
    empty = Messages({"en": {}, "es": {}})  # nothing is sent for a paper consent
    return await request_consent(
        s,
        empty,
        now,
        family=await resolve(s, family, Role.FAMILY),
        pir=await resolve(s, pir, Role.PIR),
        share=share,
        program="",
        answer_within=timedelta(0),
        expires_at=expires_at,
        actor=actor,
        recorded_by=actor,
    )
