"""The life of an enrolment after `people add`: edits, discharge and re-admission, caseload transfer.

Each function changes the rows of one decision in the caller's transaction, audits it, and queues what
the people concerned are told; none of it deletes history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_, select

from bot.content import Messages
from bot.errors import UserError
from bot.family.requests import end_consent
from bot.local_time import QuietHours, next_due
from bot.outbox.queue import queue_message
from bot.people.audience import STAFF
from bot.people.enrolment import (
    check_checkin_time,
    check_credential,
    check_free,
    check_locale,
    check_telegram,
    check_timezone,
    confirm_opt_in,
    normalise_phone,
)
from bot.people.names import resolve
from storage.models import (
    Alert,
    AlertStatus,
    AuditAction,
    CareTeam,
    ChannelIdentity,
    ChannelName,
    CheckinSchedule,
    ConsentState,
    FamilyLink,
    FlowSession,
    MessageKind,
    Person,
    PersonStatus,
    Role,
    SessionStatus,
)
from storage.repo import audit, reachable_identity


@dataclass(frozen=True, slots=True)
class Edit:
    """What `people edit` was asked to change; None leaves a field as it is."""

    name: str | None = None
    phone: str | None = None
    telegram: str | None = None
    timezone: str | None = None
    locale: str | None = None
    checkin_time: str | None = None
    credential: str | None = None

    def empty(self) -> bool:
        return all(getattr(self, f) is None for f in self.__dataclass_fields__)


async def _schedules(s: AsyncSession, person_id: int) -> Sequence[CheckinSchedule]:
    return (await s.scalars(select(CheckinSchedule).where(col(CheckinSchedule.person_id) == person_id))).all()


async def _set_address(s: AsyncSession, person: Person, channel: str, address: str, now: datetime) -> str:
    """The person's one identity on `channel` now has `address` (a new number or chat id); returns what
    it was ("" when they had none). Consent to messages is recorded as for a new enrolment."""
    assert person.id is not None
    await check_free(s, channel, address, owner=person.id)
    identity = (
        await s.scalars(
            select(ChannelIdentity).where(
                col(ChannelIdentity.person_id) == person.id, col(ChannelIdentity.channel) == channel
            )
        )
    ).first()
    if identity is None:
        s.add(
            ChannelIdentity(
                person_id=person.id, channel=channel, address=address, consent_at=now, created_at=now
            )
        )
        return ""
    was = identity.address
    if was != address:  # a new number is a new opt-in: an old STOP or dead number does not carry over
        identity.address, identity.consent_at = address, now
        identity.opted_out_at = identity.unreachable_at = None
    return was


async def edit_person(
    s: AsyncSession,
    messages: Messages,
    now: datetime,
    who: str,
    edit: Edit,
    *,
    quiet: QuietHours | None,
    program: str,
    actor: str = "cli",
) -> tuple[Person, list[str]]:
    """Apply `edit`; returns the person and the names of the fields that changed (audited, never their
    values: names and numbers stay out of the audit log). A new number or chat id gets the opt-in
    confirmation a new enrolment gets."""
    if edit.empty():
        raise UserError(
            "nothing to change: give --name, --phone, --telegram, --timezone, --locale, "
            "--checkin-time or --credential"
        )
    person = await resolve(s, who)
    assert person.id is not None
    changed: list[str] = []
    if edit.name is not None:
        if not edit.name.strip():
            raise UserError("--name is empty: give the person's name")
        person.name = edit.name.strip()  # its lookup key follows (storage.models._keep_name_key)
        changed.append("name")
    if edit.locale is not None and edit.locale != person.locale:
        person.locale = check_locale(edit.locale)
        changed.append("locale")
    if edit.credential is not None:
        person.credential = check_credential(person.role, edit.credential)
        changed.append("credential")
    new_channels: list[str] = []
    for channel, raw, field_name in (
        (ChannelName.SMS, edit.phone, "phone"),
        (ChannelName.TELEGRAM, edit.telegram, "telegram"),
    ):
        if raw is None:
            continue
        address = normalise_phone(raw) if channel == ChannelName.SMS else check_telegram(raw)
        if await _set_address(s, person, channel, address, now) != address:
            new_channels.append(channel)
        changed.append(field_name)
    if edit.timezone is not None:
        person.timezone = check_timezone(edit.timezone)
        changed.append("timezone")
    schedules = await _schedules(s, person.id)
    if edit.checkin_time is not None:
        if not schedules:
            raise UserError(f"{person.name} is a {person.role} and has no check-in time")
        hhmm = check_checkin_time(edit.checkin_time, quiet)
        for schedule in schedules:
            schedule.local_time = hhmm
        changed.append("checkin_time")
    if edit.timezone is not None or edit.checkin_time is not None:
        for schedule in schedules:  # from the next occurrence on, in the (new) zone
            if person.status == PersonStatus.ACTIVE:
                schedule.next_due_at = next_due(now, person.timezone, schedule.local_time, schedule.days)
    audit(s, now, actor, AuditAction.PERSON_EDITED, person.id, fields=changed)
    if new_channels:
        await s.flush()
        await confirm_opt_in(s, messages, person, now, program=program, channels=new_channels)
    return person, changed


@dataclass(slots=True)
class Discharged:
    person: Person
    consents_ended: int = 0
    sessions_closed: int = 0
    open_alerts: list[int] = field(default_factory=list)


async def discharge(
    s: AsyncSession, messages: Messages, now: datetime, who: str, *, reason: str | None, actor: str = "cli"
) -> Discharged:
    """Check-ins stop, consents end (the family member is told updates stopped), an open check-in is
    closed; history stays. A staff member still on a care team must hand their caseload on first."""
    person = await resolve(s, who)
    assert person.id is not None
    if person.status == PersonStatus.DISCHARGED:
        raise UserError(f"{person.name} was already discharged: `peerline people readmit` to re-enrol")
    if person.role in STAFF:
        teams = (
            await s.scalars(
                select(CareTeam).where(
                    or_(
                        col(CareTeam.peer_id) == person.id,
                        col(CareTeam.backup_id) == person.id,
                        col(CareTeam.supervisor_id) == person.id,
                    )
                )
            )
        ).all()
        if teams:
            raise UserError(
                f"{person.name} is on {len(teams)} care team(s): move them first with `peerline caseload "
                f"transfer --from {person.name} --to <peer>` or `peerline assign`"
            )
    person.status, person.discharged_at = PersonStatus.DISCHARGED, now
    person.discharge_reason = reason.strip() if reason and reason.strip() else None
    for schedule in await _schedules(s, person.id):
        schedule.next_due_at = None  # nothing is due again until a re-admission
    result = Discharged(person)
    sessions = (
        await s.scalars(
            select(FlowSession).where(
                col(FlowSession.person_id) == person.id, col(FlowSession.status) == SessionStatus.ACTIVE
            )
        )
    ).all()
    for session in sessions:
        session.status, session.updated_at = SessionStatus.ABANDONED, now
        session.remind_at = session.expires_at = None
    result.sessions_closed = len(sessions)
    links = (
        await s.scalars(
            select(FamilyLink).where(
                or_(col(FamilyLink.pir_id) == person.id, col(FamilyLink.family_id) == person.id),
                col(FamilyLink.state).in_([ConsentState.ACTIVE, ConsentState.PENDING]),
            )
        )
    ).all()
    for link in links:
        if link.state == ConsentState.PENDING:
            link.state, link.revoked_at, link.answer_by = ConsentState.ENDED, now, None
        else:
            await end_consent(s, messages, link, ConsentState.ENDED, now, actor)
        result.consents_ended += 1
    result.open_alerts = list(
        (
            await s.scalars(
                select(Alert.id).where(
                    col(Alert.person_id) == person.id,
                    col(Alert.status).in_([AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]),
                )
            )
        ).all()
    )
    audit(
        s,
        now,
        actor,
        AuditAction.PERSON_DISCHARGED,
        person.id,
        consents_ended=result.consents_ended,
        sessions_closed=result.sessions_closed,
        open_alerts=result.open_alerts,
    )
    return result


async def readmit(s: AsyncSession, now: datetime, who: str, *, actor: str = "cli") -> Person:
    """Back in the program: check-ins resume from the next occurrence; ended consents stay ended (the
    PIR is asked again with `family link`)."""
    person = await resolve(s, who)
    assert person.id is not None
    if person.status != PersonStatus.DISCHARGED:
        raise UserError(f"{person.name} is {person.status}, not discharged: nothing to readmit")
    person.status, person.discharged_at, person.discharge_reason = PersonStatus.ACTIVE, None, None
    for schedule in await _schedules(s, person.id):
        schedule.next_due_at = next_due(now, person.timezone, schedule.local_time, schedule.days)
    audit(s, now, actor, AuditAction.PERSON_READMITTED, person.id)
    return person


@dataclass(slots=True)
class Transfer:
    source: Person
    target: Person
    pirs: list[Person] = field(default_factory=list)  # whose peer was the source
    backups: list[Person] = field(default_factory=list)  # whose backup was the source
    cleared_backup: list[Person] = field(default_factory=list)  # the target was their backup: none now
    reopened: list[int] = field(default_factory=list)  # alerts the source had acknowledged, paged again

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.source.id,
            "to": self.target.id,
            "pirs": [p.id for p in self.pirs],
            "backup_of": [p.id for p in self.backups],
            "backup_cleared": [p.id for p in self.cleared_backup],
            "alerts_reopened": self.reopened,
        }


async def transfer_caseload(
    s: AsyncSession, messages: Messages, now: datetime, source: str, target: str, *, actor: str = "cli"
) -> Transfer:
    """Every PIR of peer `source` gets `target` as their peer (and where `source` was the backup, as
    backup); alerts `source` had acknowledged but not resolved are open again and page the new team at
    once; both peers are told."""
    src = await resolve(s, source, Role.PEER)
    dst = await resolve(s, target, Role.PEER)
    assert src.id is not None and dst.id is not None
    if src.id == dst.id:
        raise UserError("--from and --to are the same peer: give the peer who takes the caseload over")
    if dst.status == PersonStatus.DISCHARGED:
        raise UserError(f"{dst.name} was discharged: give an active peer")
    result = Transfer(src, dst)
    teams = (
        await s.scalars(
            select(CareTeam).where(or_(col(CareTeam.peer_id) == src.id, col(CareTeam.backup_id) == src.id))
        )
    ).all()
    for team in teams:
        pir = await s.get(Person, team.pir_id)
        assert pir is not None
        before = {"peer": team.peer_id, "backup": team.backup_id}
        if team.peer_id == src.id:
            team.peer_id = dst.id
            result.pirs.append(pir)
            if team.backup_id == dst.id:  # the chain needs two different people
                team.backup_id = None
                result.cleared_backup.append(pir)
        if team.backup_id == src.id:
            team.backup_id = None if team.peer_id == dst.id else dst.id
            if team.backup_id is None:
                result.cleared_backup.append(pir)
            else:
                result.backups.append(pir)
        team.updated_at = now
        audit(
            s,
            now,
            actor,
            AuditAction.CARE_TEAM_ASSIGNED,
            pir.id,
            peer=team.peer_id,
            backup=team.backup_id,
            supervisor=team.supervisor_id,
            before=before,
        )
    moved = [p.id for p in result.pirs]
    if moved:
        acknowledged = (
            await s.scalars(
                select(Alert).where(
                    col(Alert.person_id).in_(moved),
                    col(Alert.status) == AlertStatus.ACKNOWLEDGED,
                    col(Alert.acknowledged_by) == src.id,
                )
            )
        ).all()
        for alert in acknowledged:  # nobody holds it any more: the new team is paged on the next tick
            alert.status, alert.acknowledged_by, alert.acknowledged_at = AlertStatus.OPEN, None, None
            alert.escalation_level, alert.repeats, alert.next_escalation_at = 0, 0, now
            assert alert.id is not None
            result.reopened.append(alert.id)
    audit(s, now, actor, AuditAction.CASELOAD_TRANSFERRED, None, **result.as_json())
    names = ", ".join(p.name for p in result.pirs + result.backups) or "-"
    count = len(result.pirs) + len(result.backups)
    for person, key, other in ((src, "caseload_moved_from", dst), (dst, "caseload_moved_to", src)):
        identity = await reachable_identity(s, person.id) if person.id is not None else None
        if identity is not None and count:
            text = messages.text(key, person.locale, count=count, names=names, other=other.name)
            queue_message(s, identity, text, MessageKind.SYSTEM, now)
    return result
