"""What a peer sees about a PIR: care-team membership, check-in history, streak and how to reach them.

Shared by alert notifications (context to act without opening anything else) and peer commands
(caseload, history). Every query here is scoped by the caller's authorisation check: `on_team` first.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy import select as select_columns
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from bot.content import Messages
from storage.models import (
    Alert,
    AlertStatus,
    Answer,
    CareTeam,
    ChannelIdentity,
    ChannelName,
    CheckinSchedule,
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


def finished_checkins() -> tuple[ColumnElement[bool], ...]:
    """The sessions that count as check-ins in a caseload: finished, not onboarding."""
    return (col(FlowSession.status) != SessionStatus.ACTIVE, col(FlowSession.flow_id).not_in(_NOT_CHECKINS))


def streak_of(statuses: Iterable[str]) -> int:
    """Completed check-ins in a row, from the newest finished one (statuses newest first)."""
    streak = 0
    for status in statuses:
        if status != SessionStatus.COMPLETED:
            break
        streak += 1
    return streak


def latest_of(answers: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """The newest answered value of each step, from (step id, value) newest first (skips are not)."""
    latest: dict[str, Any] = {}
    for step_id, value in answers:
        if value is not None:
            latest.setdefault(step_id, value)
    return latest


async def summary(s: AsyncSession, pir_id: int, recent: int = 3) -> Summary:
    """Recent check-ins with their answers, the streak and the latest mood and craving of one PIR."""
    sessions = (
        await s.scalars(
            select(FlowSession)
            .where(col(FlowSession.person_id) == pir_id, *finished_checkins())
            .order_by(col(FlowSession.started_at).desc(), col(FlowSession.id).desc())
            .limit(_SESSIONS_LOOKED_AT)
        )
    ).all()
    streak = streak_of(x.status for x in sessions)
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
    latest = latest_of((row.step_id, row.value) for row in latest_rows)
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


# The pipeline keeps a pressed button's payload beside its label in the message body ("No [used:no]"):
# history shows what the person saw and chose, never the payload.
_PAYLOAD_IN_BODY = re.compile(r"\s*\[[\w.-]+:[^\]\s]*\]$")


def shown_body(message: Message) -> str:
    """A message as history shows it to staff."""
    return _PAYLOAD_IN_BODY.sub("", message.body) if message.direction == Direction.INBOUND else message.body


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


async def paused(s: AsyncSession, pir_ids: Collection[int]) -> set[int]:
    """Which of `pir_ids` have check-ins paused: every schedule they have is paused."""
    if not pir_ids:
        return set()
    flags: dict[int, list[bool]] = {}
    rows = await s.execute(
        select_columns(col(CheckinSchedule.person_id), col(CheckinSchedule.paused)).where(
            col(CheckinSchedule.person_id).in_(pir_ids)
        )
    )
    for person_id, flag in rows:
        flags.setdefault(person_id, []).append(flag)
    return {person_id for person_id, f in flags.items() if f and all(f)}


@dataclass(frozen=True, slots=True)
class Glance:
    """One PIR at a glance (CASELOAD in the console): the streak, the latest of SCALES and their trend."""

    streak: int
    latest: Mapping[str, Any]
    trend: Mapping[str, tuple[Any, ...]]  # each of SCALES' newest answered values, oldest first


async def glances(s: AsyncSession, pir_ids: Collection[int], points: int = 14) -> dict[int, Glance]:
    """`summary`'s streak and latest for many PIRs in two queries (numbered per person, newest first),
    with up to `points` answers of each of SCALES for a trend line."""
    if not pir_ids:
        return {}
    rank = (
        func.row_number()
        .over(
            partition_by=col(FlowSession.person_id),
            order_by=(col(FlowSession.started_at).desc(), col(FlowSession.id).desc()),
        )
        .label("rank")
    )
    ranked = (
        select_columns(col(FlowSession.person_id), col(FlowSession.status), rank)
        .where(col(FlowSession.person_id).in_(pir_ids), *finished_checkins())
        .subquery()
    )
    statuses: dict[int, list[str]] = {}
    for person_id, status in await s.execute(
        select_columns(ranked.c.person_id, ranked.c.status)
        .where(ranked.c.rank <= _SESSIONS_LOOKED_AT)
        .order_by(ranked.c.person_id, ranked.c.rank)
    ):
        statuses.setdefault(person_id, []).append(status)
    answer_rank = (
        func.row_number()
        .over(
            partition_by=(col(Answer.person_id), col(Answer.step_id)),
            order_by=(col(Answer.answered_at).desc(), col(Answer.id).desc()),
        )
        .label("rank")
    )
    answers = (
        select_columns(col(Answer.id), answer_rank)
        .where(col(Answer.person_id).in_(pir_ids), col(Answer.step_id).in_(SCALES))
        .subquery()
    )
    newest: dict[int, list[tuple[str, Any]]] = {}
    for person_id, step_id, value in await s.execute(
        select_columns(col(Answer.person_id), col(Answer.step_id), col(Answer.value))
        .join(answers, answers.c.id == col(Answer.id))
        .where(answers.c.rank <= points + 4)
        .order_by(col(Answer.answered_at).desc(), col(Answer.id).desc())
    ):
        newest.setdefault(person_id, []).append((step_id, value))
    result = {}
    for pir_id in pir_ids:
        given = newest.get(pir_id, [])
        trend = {
            step: tuple(reversed([v for k, v in given if k == step and v is not None][:points]))
            for step in SCALES
        }
        result[pir_id] = Glance(streak_of(statuses.get(pir_id, [])), latest_of(given), trend)
    return result
