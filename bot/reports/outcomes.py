"""`peerline report outcomes`: what the program did over a period, and what changed for its people.

Every figure is one set-based query over the period (no per-person loops); where a value is encrypted at
rest (answers, audit details) the query fetches the rows and the sum is made here. Conventions, also in
the README: a period is whole days in the program's time zone, `--to` inclusive; a check-in belongs to
the period it started in; `completed` (every question answered), `partial` (some answers, then it
expired or was replaced), `missed` (no answer at all, or never started because the bot was down) and
`stopped` (ended by a crisis, a human took over) are separate counts, and the completion rate is
completed over all that ended; percentiles are nearest-rank; `--peer` means PIRs whose assigned peer
that is.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.reports.period import Period, percentile
from flows.escalation import EscalationPolicy
from storage.models import (
    Alert,
    Answer,
    AuditAction,
    AuditEvent,
    CareTeam,
    ContactNote,
    Direction,
    FamilyLink,
    FlowSession,
    Message,
    MessageKind,
    Person,
    PersonStatus,
    Role,
    SessionStatus,
)

STAFF_ROLES = (Role.PEER, Role.SUPERVISOR, Role.ADMIN)
ENDED = (SessionStatus.COMPLETED, SessionStatus.EXPIRED, SessionStatus.ABANDONED, SessionStatus.STOPPED)
RETENTION_DAYS = (30, 60, 90)
BARC10 = "barc10"  # config/flows/barc10.yaml: ten items of 1-6, total 10-60
BARC10_ITEMS = 10
CHANGE_WINDOW = timedelta(days=14)
SEVERITIES = ("critical", "high", "medium", "low")


@dataclass
class PirRow:
    """One PIR's measures (a CSV row)."""

    id: int
    name: str
    peer: str | None
    enrolled: str
    status: str
    started: int = 0
    completed: int = 0
    partial: int = 0
    missed: int = 0
    stopped: int = 0
    alerts: int = 0
    critical: int = 0
    notes: int = 0
    units: int = 0
    first: dict[str, float | None] = field(default_factory=dict)  # mood / craving, first two weeks
    last: dict[str, float | None] = field(default_factory=dict)  # and last two weeks
    capital_baseline: float | None = None  # BARC-10 total: the first ever, and the latest in the period
    capital_latest: float | None = None

    @property
    def completion_rate(self) -> float | None:
        ended = self.completed + self.partial + self.missed + self.stopped
        return round(self.completed / ended, 4) if ended else None


@dataclass
class Outcomes:
    figures: dict[str, Any]
    pirs: list[PirRow]


def _scope(peer_id: int | None) -> Select[Any]:
    """The ids of the PIRs a report covers."""
    query = select(col(Person.id)).where(col(Person.role) == Role.PIR)
    if peer_id is not None:
        query = query.where(
            col(Person.id).in_(select(col(CareTeam.pir_id)).where(col(CareTeam.peer_id) == peer_id))
        )
    return query


def _in(column: Any, period: Period) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


async def outcomes(
    s: AsyncSession,
    period: Period,
    policy: EscalationPolicy,
    *,
    program: str,
    peer: Person | None = None,
) -> Outcomes:
    scope = _scope(peer.id if peer is not None else None)
    pirs = await _pirs(s, period, scope)
    by_id = {row.id: row for row in pirs}
    checkins = await _checkins(s, period, scope, by_id)
    weekly = await _weekly(s, period, scope, len(pirs))
    retention = await _retention(s, period, scope)
    alerts = await _alerts(s, period, scope, policy, by_id)
    work = await _peer_work(s, period, scope, peer, by_id)
    change = await _change(s, period, scope, by_id)
    change["recovery_capital"] = await _capital(s, period, scope, by_id)
    family = await s.scalar(
        select(func.count(func.distinct(FamilyLink.family_id)))
        .join(Person, col(Person.id) == col(FamilyLink.family_id))
        .where(col(FamilyLink.pir_id).in_(scope), col(Person.created_at) < period.end)
    )
    figures: dict[str, Any] = {
        "program": program,
        "period": {
            "from": period.first.isoformat(),
            "to": period.last.isoformat(),
            "timezone": period.timezone,
        },
        "peer": peer.name if peer is not None else None,
        "people": {
            "pirs_enrolled": len(pirs),
            "pirs_new": sum(1 for p in pirs if p.enrolled >= period.first.isoformat()),
            "pirs_active": sum(1 for p in pirs if p.status == PersonStatus.ACTIVE),
            "pirs_discharged": sum(1 for p in pirs if p.status == PersonStatus.INACTIVE),
            "family_enrolled": int(family or 0),
        },
        "checkins": checkins | {"weekly": weekly, "retention": retention},
        "alerts": alerts,
        "peer_work": work,
        "notes": work["notes"],
        "change": change,
    }
    return Outcomes(figures, pirs)


async def _pirs(s: AsyncSession, period: Period, scope: Select[Any]) -> list[PirRow]:
    """Every PIR enrolled at any time in the period, with the name of their peer."""
    peer = Person.__table__.alias("peer")  # type: ignore[attr-defined]
    rows = (
        await s.execute(
            select(Person, peer.c.name)
            .outerjoin(CareTeam, col(CareTeam.pir_id) == col(Person.id))
            .outerjoin(peer, peer.c.id == col(CareTeam.peer_id))
            .where(col(Person.id).in_(scope), col(Person.created_at) < period.end)
            .order_by(col(Person.id))
        )
    ).all()
    return [
        PirRow(
            id=person.id,
            name=person.name,
            peer=peer_name,
            enrolled=period.local_date(person.created_at).isoformat(),
            status=person.status,
        )
        for person, peer_name in rows
    ]


async def _checkins(
    s: AsyncSession, period: Period, scope: Select[Any], by_id: Mapping[int, PirRow]
) -> dict[str, Any]:
    answered = exists().where(col(Answer.session_id) == col(FlowSession.id))
    unfinished = col(FlowSession.status).in_([SessionStatus.EXPIRED, SessionStatus.ABANDONED])
    rows = (
        await s.execute(
            select(
                col(FlowSession.person_id),
                func.count(),
                func.sum(case((col(FlowSession.status) == SessionStatus.COMPLETED, 1), else_=0)),
                func.sum(case((and_(unfinished, answered), 1), else_=0)),
                func.sum(case((and_(unfinished, ~answered), 1), else_=0)),
                func.sum(case((col(FlowSession.status) == SessionStatus.STOPPED, 1), else_=0)),
            )
            .where(col(FlowSession.person_id).in_(scope), _in(col(FlowSession.started_at), period))
            .group_by(col(FlowSession.person_id))
        )
    ).all()
    for person_id, started, completed, partial, missed, stopped in rows:
        row = by_id.get(person_id)
        if row is not None:
            row.started, row.completed, row.partial = int(started), int(completed), int(partial)
            row.missed, row.stopped = int(missed), int(stopped)
    downtime = (
        await s.execute(
            select(col(AuditEvent.person_id), col(AuditEvent.detail)).where(
                col(AuditEvent.action) == AuditAction.CHECKIN_MISSED_DOWNTIME,
                col(AuditEvent.person_id).in_(scope),
                _in(col(AuditEvent.at), period),
            )
        )
    ).all()
    missed_downtime = 0
    for person_id, detail in downtime:
        count = int(detail.get("count", 1))
        missed_downtime += count
        if (row := by_id.get(person_id)) is not None:
            row.missed += count
    total = Counter[str]()
    for row in by_id.values():
        total.update(
            {
                "started": row.started,
                "completed": row.completed,
                "partial": row.partial,
                "missed": row.missed,
                "stopped": row.stopped,
            }
        )
    ended = total["completed"] + total["partial"] + total["missed"] + total["stopped"]
    return {
        "started": total["started"],
        "completed": total["completed"],
        "partial": total["partial"],
        "missed": total["missed"],
        "missed_downtime": missed_downtime,
        "stopped": total["stopped"],
        "in_progress": total["started"] - (ended - missed_downtime),
        "completion_rate": _rate(total["completed"], ended),
    }


def _responded() -> ColumnElement[bool]:
    """A check-in the person answered at least once."""
    return or_(
        col(FlowSession.status).in_([SessionStatus.COMPLETED, SessionStatus.STOPPED]),
        exists().where(col(Answer.session_id) == col(FlowSession.id)),
    )


async def _weekly(s: AsyncSession, period: Period, scope: Select[Any], enrolled: int) -> dict[str, Any]:
    """PIRs who answered at least one check-in in each week of the period (weeks from its first day)."""
    weeks = period.weeks()
    week_of = case(
        *(
            (and_(col(FlowSession.started_at) >= a, col(FlowSession.started_at) < b), n)
            for n, (a, b) in enumerate(weeks)
        ),
        else_=-1,
    )
    rows = (
        await s.execute(
            select(week_of, func.count(func.distinct(FlowSession.person_id)))
            .where(
                col(FlowSession.person_id).in_(scope), _in(col(FlowSession.started_at), period), _responded()
            )
            .group_by(week_of)
        )
    ).all()
    per_week = dict.fromkeys(range(len(weeks)), 0) | {int(n): int(c) for n, c in rows if n >= 0}
    every = await s.scalar(
        select(func.count()).select_from(
            select(col(FlowSession.person_id))
            .where(
                col(FlowSession.person_id).in_(scope), _in(col(FlowSession.started_at), period), _responded()
            )
            .group_by(col(FlowSession.person_id))
            .having(func.count(func.distinct(week_of)) == len(weeks))
            .subquery()
        )
    )
    return {
        "weeks": len(weeks),
        "pirs_each_week": [per_week[n] for n in range(len(weeks))],
        "pirs_every_week": int(every or 0),
        "mean_share_per_week": _rate(sum(per_week.values()), enrolled * len(weeks)),
    }


async def _retention(s: AsyncSession, period: Period, scope: Select[Any]) -> dict[str, Any]:
    """Of the PIRs enrolled at least N days before the period ends, the share who answered a check-in
    N days or more after their enrolment (one query: each PIR's enrolment and latest answered check-in)."""
    rows = (
        await s.execute(
            select(col(Person.created_at), func.max(FlowSession.started_at))
            .outerjoin(
                FlowSession,
                and_(
                    col(FlowSession.person_id) == col(Person.id),
                    col(FlowSession.started_at) < period.end,
                    _responded(),
                ),
            )
            .where(col(Person.id).in_(scope), col(Person.created_at) < period.end)
            .group_by(col(Person.id), col(Person.created_at))
        )
    ).all()
    out: dict[str, Any] = {}
    for days in RETENTION_DAYS:
        span = timedelta(days=days)
        base = kept = 0
        for enrolled_at, latest in rows:
            enrolled, latest_at = _aware(enrolled_at), _aware(latest)
            if enrolled is None or enrolled > period.end - span:
                continue
            base += 1
            kept += latest_at is not None and latest_at >= enrolled + span
        out[f"day_{days}"] = {"eligible": base, "still_checking_in": kept, "share": _rate(kept, base)}
    return out


def _aware(value: Any) -> datetime | None:
    """An aggregate over a UTC column comes back naive (SQLite) or as a string: as an aware datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def _alerts(
    s: AsyncSession,
    period: Period,
    scope: Select[Any],
    policy: EscalationPolicy,
    by_id: Mapping[int, PirRow],
) -> dict[str, Any]:
    rows = (
        await s.execute(
            select(
                col(Alert.person_id),
                col(Alert.severity),
                col(Alert.categories),
                col(Alert.created_at),
                col(Alert.acknowledged_at),
                col(Alert.escalation_level),
            ).where(col(Alert.person_id).in_(scope), _in(col(Alert.created_at), period))
        )
    ).all()
    by_severity = Counter[str]()
    by_category = Counter[str]()
    waits: dict[str, list[float]] = defaultdict(list)
    within = Counter[str]()
    escalated = 0
    for person_id, severity, categories, created, acked, level in rows:
        by_severity[severity] += 1
        by_category.update(categories)
        if (row := by_id.get(person_id)) is not None:
            row.alerts += 1
            row.critical += severity == "critical"
        chain = policy.for_severity(severity).chain
        if acked is not None:
            wait = (acked - created).total_seconds()
            waits[severity].append(wait)
            second = chain[1].after.total_seconds() if len(chain) > 1 else None
            if second is None or wait < second:
                within[severity] += 1
        escalated += level >= 2  # a step past the peer ran: the backup or the supervisor was paged
    everyone = [w for ws in waits.values() for w in ws]
    crisis = await s.scalar(
        select(func.count()).where(
            col(Message.direction) == Direction.OUTBOUND,
            col(Message.kind) == MessageKind.CRISIS,
            _in(col(Message.created_at), period),
            or_(
                col(Message.person_id).in_(scope),
                col(Message.person_id).in_(
                    select(col(FamilyLink.family_id)).where(col(FamilyLink.pir_id).in_(scope))
                ),
            ),
        )
    )
    return {
        "total": len(rows),
        "by_severity": {name: by_severity.get(name, 0) for name in SEVERITIES}
        | {k: v for k, v in by_severity.items() if k not in SEVERITIES},
        "by_category": dict(sorted(by_category.items())),
        "acknowledged": len(everyone),
        "time_to_ack_seconds": _waits(everyone),
        "time_to_ack_seconds_by_severity": {name: _waits(ws) for name, ws in sorted(waits.items())},
        "acknowledged_within_first_step": _rate(sum(within.values()), len(rows)),
        "escalated_past_peer": escalated,
        "crisis_replies": int(crisis or 0),
    }


def _waits(values: Sequence[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 0.5),
        "p90": percentile(values, 0.9),
        "max": max(values) if values else None,
    }


async def _peer_work(
    s: AsyncSession,
    period: Period,
    scope: Select[Any],
    peer: Person | None,
    by_id: Mapping[int, PirRow],
) -> dict[str, Any]:
    recipient = Person.__table__.alias("recipient")  # type: ignore[attr-defined]
    relays = (
        select(func.count()).select_from(Message).join(recipient, recipient.c.id == col(Message.person_id))
    )
    relays = relays.where(
        col(Message.direction) == Direction.OUTBOUND,
        col(Message.kind) == MessageKind.RELAY,
        _in(col(Message.created_at), period),
    )
    to_staff = relays.where(recipient.c.role.in_(STAFF_ROLES) if peer is None else recipient.c.id == peer.id)
    family = select(col(FamilyLink.family_id)).where(col(FamilyLink.pir_id).in_(scope))
    to_people = relays.where(or_(recipient.c.id.in_(scope), recipient.c.id.in_(family)))
    notes = (
        await s.execute(
            select(
                col(ContactNote.pir_id),
                func.count(),
                func.coalesce(func.sum(ContactNote.minutes), 0),
                func.coalesce(func.sum(ContactNote.units), 0),
            )
            .where(
                col(ContactNote.pir_id).in_(scope),
                col(ContactNote.service_date) >= period.first.isoformat(),
                col(ContactNote.service_date) <= period.last.isoformat(),
            )
            .group_by(col(ContactNote.pir_id))
        )
    ).all()
    count = minutes = units = 0
    for pir_id, n, m, u in notes:
        count, minutes, units = count + int(n), minutes + int(m), units + int(u)
        if (row := by_id.get(pir_id)) is not None:
            row.notes, row.units = int(n), int(u)
    return {
        "relays_to_staff": int(await s.scalar(to_staff) or 0),
        "peer_replies": int(await s.scalar(to_people) or 0),
        "notes": {"count": count, "minutes": minutes, "units": units, "service_code": "H0038"},
    }


async def _change(
    s: AsyncSession, period: Period, scope: Select[Any], by_id: Mapping[int, PirRow]
) -> dict[str, Any]:
    """Mood and craving, the first two weeks of the period against its last two, per PIR and overall
    (the mean over PIRs with answers in both)."""
    first_end, last_start = period.start + CHANGE_WINDOW, period.end - CHANGE_WINDOW
    means: dict[tuple[int, str, str], float] = {}
    for which, window in (
        ("first", col(Answer.answered_at) < first_end),
        ("last", col(Answer.answered_at) >= last_start),
    ):
        rows = (
            await s.execute(
                select(col(Answer.person_id), col(Answer.step_id), func.avg(Answer.score))
                .where(
                    col(Answer.person_id).in_(scope),
                    col(Answer.step_id).in_(["mood", "craving"]),
                    _in(col(Answer.answered_at), period),
                    window,
                    col(Answer.score).is_not(None),
                )
                .group_by(col(Answer.person_id), col(Answer.step_id))
            )
        ).all()
        for person_id, step, mean in rows:
            means[(person_id, step, which)] = round(float(mean), 3)
    out: dict[str, Any] = {}
    for step in ("mood", "craving"):
        firsts, lasts = [], []
        for pir_id, row in by_id.items():
            first, last = means.get((pir_id, step, "first")), means.get((pir_id, step, "last"))
            row.first[step], row.last[step] = first, last
            if first is not None and last is not None:
                firsts.append(first)
                lasts.append(last)
        overall_first, overall_last = _mean(firsts), _mean(lasts)
        out[step] = {
            "pirs": len(firsts),
            "first_two_weeks": overall_first,
            "last_two_weeks": overall_last,
            "change": None
            if overall_first is None or overall_last is None
            else round(overall_last - overall_first, 3),
        }
    return out


async def _capital(
    s: AsyncSession, period: Period, scope: Select[Any], by_id: Mapping[int, PirRow]
) -> dict[str, Any]:
    """Recovery capital: each PIR's BARC-10 total at baseline (their first completed BARC-10, before or in
    the period) and the latest in the period; the means over PIRs with both."""
    totals = (
        await s.execute(
            select(col(FlowSession.person_id), col(FlowSession.started_at), func.sum(col(Answer.score)))
            .join(Answer, col(Answer.session_id) == col(FlowSession.id))
            .where(
                col(FlowSession.person_id).in_(scope),
                col(FlowSession.flow_id) == BARC10,
                col(FlowSession.status) == SessionStatus.COMPLETED,
                col(FlowSession.started_at) < period.end,
            )
            .group_by(col(FlowSession.id), col(FlowSession.person_id), col(FlowSession.started_at))
            .having(func.count(col(Answer.score)) == BARC10_ITEMS)
            .order_by(col(FlowSession.started_at))
        )
    ).all()
    for person_id, started_at, total in totals:
        row = by_id.get(person_id)
        if row is None:
            continue
        value = float(total or 0)
        if row.capital_baseline is None:
            row.capital_baseline = value
        if started_at >= period.start:
            row.capital_latest = value
    both = [r for r in by_id.values() if r.capital_baseline is not None and r.capital_latest is not None]
    baseline = _mean([r.capital_baseline for r in both if r.capital_baseline is not None])
    latest = _mean([r.capital_latest for r in both if r.capital_latest is not None])
    return {
        "pirs": len(both),
        "baseline": baseline,
        "latest": latest,
        "change": None if baseline is None or latest is None else round(latest - baseline, 3),
    }
