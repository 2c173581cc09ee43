"""What a peer sees about a PIR: care-team membership, check-in history, streak and how to reach them.

Shared by alert notifications (context to act without opening anything else) and peer commands
(caseload, history). Every query here is scoped by the caller's authorisation check: `on_team` first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.content import Messages
from storage.models import (
    Alert,
    AlertStatus,
    Answer,
    CareTeam,
    ChannelIdentity,
    ChannelName,
    ConsentState,
    Direction,
    FamilyLink,
    FlowSession,
    Message,
    Person,
    SessionStatus,
)
from storage.repo import identities_of, reachable_identity

SCALES = ("mood", "craving")  # step ids of the daily check-in that CASELOAD shows as "latest"
_NOT_CHECKINS = ("onboarding",)
_SESSIONS_LOOKED_AT = 60

# -- authorisation ----------------------------------------------------------------------------------


def team_ids(team: CareTeam | None) -> set[int]:
    if team is None:
        return set()
    return {pid for pid in (team.peer_id, team.backup_id, team.supervisor_id) if pid is not None}


async def on_team(s: AsyncSession, staff_id: int, pir_id: int) -> bool:
    """True when `staff_id` is the peer, backup or supervisor of `pir_id`."""
    return staff_id in team_ids(await s.get(CareTeam, pir_id))


async def caseload(s: AsyncSession, staff_id: int) -> list[tuple[Person, CareTeam]]:
    """The PIRs whose care team includes `staff_id`, by name."""
    rows = (
        await s.execute(
            select(Person, CareTeam)
            .join(CareTeam, col(CareTeam.pir_id) == col(Person.id))
            .where(
                or_(
                    col(CareTeam.peer_id) == staff_id,
                    col(CareTeam.backup_id) == staff_id,
                    col(CareTeam.supervisor_id) == staff_id,
                )
            )
        )
    ).all()
    # By name in Python: names are encrypted at rest, so the database cannot sort them.
    return sorted(((person, team) for person, team in rows), key=lambda row: (row[0].name, row[0].id))


async def family_of(s: AsyncSession, pir_ids: Sequence[int], now: datetime) -> list[tuple[Person, int]]:
    """Family members with a live link to one of `pir_ids`, with the PIR each is linked to."""
    if not pir_ids:
        return []
    rows = (
        await s.execute(
            select(Person, FamilyLink)
            .join(FamilyLink, col(FamilyLink.family_id) == col(Person.id))
            .where(col(FamilyLink.pir_id).in_(pir_ids), col(FamilyLink.state) == ConsentState.ACTIVE)
        )
    ).all()
    live = [(person, link) for person, link in rows if link.expires_at is None or link.expires_at > now]
    return [(person, link.pir_id) for person, link in sorted(live, key=lambda row: (row[0].name, row[1].id))]


# -- check-in history -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkin:
    at: datetime
    status: str  # completed, missed (nothing answered) or partial
    answers: Mapping[str, Any]  # by step id
    flow_id: str = ""


@dataclass(frozen=True, slots=True)
class Summary:
    recent: tuple[Checkin, ...]  # finished check-ins, newest first
    streak: int  # completed check-ins in a row, counting back from the newest finished one
    latest: Mapping[str, Any] = field(default_factory=dict)  # newest answer of each of SCALES

    @property
    def last(self) -> Checkin | None:
        return self.recent[0] if self.recent else None


async def summary(s: AsyncSession, pir_id: int, recent: int = 3) -> Summary:
    """Recent check-ins with their answers, the streak and the latest mood and craving of one PIR."""
    sessions = (
        await s.scalars(
            select(FlowSession)
            .where(
                col(FlowSession.person_id) == pir_id,
                col(FlowSession.status) != SessionStatus.ACTIVE,
                col(FlowSession.flow_id).not_in(_NOT_CHECKINS),
            )
            .order_by(col(FlowSession.started_at).desc(), col(FlowSession.id).desc())
            .limit(_SESSIONS_LOOKED_AT)
        )
    ).all()
    streak = 0
    for session in sessions:
        if session.status != SessionStatus.COMPLETED:
            break
        streak += 1
    shown = sessions[:recent]
    answers: dict[int, dict[str, Any]] = {}
    if shown:
        rows = (
            await s.scalars(
                select(Answer)
                .where(col(Answer.session_id).in_([x.id for x in shown]))
                .order_by(col(Answer.id))
            )
        ).all()
        for row in rows:
            answers.setdefault(row.session_id, {})[row.step_id] = row.value
    checkins = []
    for session in shown:
        assert session.id is not None
        given = answers.get(session.id, {})
        if session.status == SessionStatus.COMPLETED:
            status = "completed"
        else:
            status = "partial" if any(v is not None for v in given.values()) else "missed"
        checkins.append(Checkin(session.updated_at, status, given, session.flow_id))
    latest_rows = (
        await s.scalars(
            select(Answer)
            .where(col(Answer.person_id) == pir_id, col(Answer.step_id).in_(SCALES))
            .order_by(col(Answer.answered_at).desc(), col(Answer.id).desc())
            .limit(4 * len(SCALES))
        )
    ).all()
    latest: dict[str, Any] = {}
    for row in latest_rows:
        if row.value is not None:
            latest.setdefault(row.step_id, row.value)
    return Summary(tuple(checkins), streak, latest)


def answer_text(value: Any, messages: Messages, locale: str, *, chars: int = 60) -> str:
    """An answer as staff read it: yes, no, skipped, a number, or a quote cut to `chars`."""
    if value is True:
        return messages.text("word_yes", locale)
    if value is False:
        return messages.text("word_no", locale)
    if value is None:
        return messages.text("word_skipped", locale)
    text = str(value)
    return repr(text if len(text) <= chars else text[: chars - 3] + "...") if isinstance(value, str) else text


# -- reaching a person ------------------------------------------------------------------------------


async def reach_text(s: AsyncSession, person: Person, messages: Messages, locale: str) -> str:
    """How staff can reach a person: a phone number to call, and which channels still accept messages."""
    assert person.id is not None
    ways = []
    for identity in await identities_of(s, person.id):
        if identity.channel == ChannelName.SMS:
            way = messages.text("reach_phone", locale, phone=identity.address)
        else:
            way = messages.text("reach_channel", locale, channel=identity.channel)
        if identity.opted_out_at is not None:
            way += " " + messages.text("reach_opted_out", locale)
        elif identity.unreachable_at is not None:
            way += " " + messages.text("reach_unreachable", locale)
        ways.append(way)
    return ", ".join(ways) if ways else messages.text("reach_none", locale)


async def reply_identity(s: AsyncSession, person_id: int) -> ChannelIdentity | None:
    """Where to write to a person: the channel they last wrote from, if we may, else the first usable."""
    last = await s.scalar(
        select(Message.channel)
        .where(col(Message.person_id) == person_id, col(Message.direction) == Direction.INBOUND)
        .order_by(col(Message.id).desc())
        .limit(1)
    )
    return await reachable_identity(s, person_id, prefer=last)


async def open_alerts(s: AsyncSession, pir_ids: Sequence[int], severity: str | None = None) -> list[Alert]:
    """Unresolved alerts of these PIRs, newest first."""
    if not pir_ids:
        return []
    query = (
        select(Alert)
        .where(col(Alert.person_id).in_(pir_ids), col(Alert.status) != AlertStatus.RESOLVED)
        .order_by(col(Alert.id).desc())
    )
    if severity is not None:
        query = query.where(col(Alert.severity) == severity)
    return list((await s.scalars(query)).all())
