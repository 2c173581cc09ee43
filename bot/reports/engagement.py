"""Engagement: who is enrolled, check-ins by outcome, weekly engagement, retention."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.reports.period import Period
from bot.reports.rows import PirRow, aware, in_period, rate
from storage.models import (
    Answer,
    AuditAction,
    AuditEvent,
    CareTeam,
    FlowSession,
    Person,
    SessionStatus,
)

RETENTION_DAYS = (30, 60, 90)


async def enrolled_pirs(s: AsyncSession, period: Period, scope: Select[Any]) -> list[PirRow]:
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


async def count_checkins(
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
            .where(col(FlowSession.person_id).in_(scope), in_period(col(FlowSession.started_at), period))
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
                in_period(col(AuditEvent.at), period),
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
        "completion_rate": rate(total["completed"], ended),
    }


def responded() -> ColumnElement[bool]:
    """A check-in the person answered at least once."""
    return or_(
        col(FlowSession.status).in_([SessionStatus.COMPLETED, SessionStatus.STOPPED]),
        exists().where(col(Answer.session_id) == col(FlowSession.id)),
    )


async def weekly_engagement(
    s: AsyncSession, period: Period, scope: Select[Any], enrolled: int
) -> dict[str, Any]:
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
                col(FlowSession.person_id).in_(scope),
                in_period(col(FlowSession.started_at), period),
                responded(),
            )
            .group_by(week_of)
        )
    ).all()
    per_week = dict.fromkeys(range(len(weeks)), 0) | {int(n): int(c) for n, c in rows if n >= 0}
    every = await s.scalar(
        select(func.count()).select_from(
            select(col(FlowSession.person_id))
            .where(
                col(FlowSession.person_id).in_(scope),
                in_period(col(FlowSession.started_at), period),
                responded(),
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
        "mean_share_per_week": rate(sum(per_week.values()), enrolled * len(weeks)),
    }


async def retention_at(s: AsyncSession, period: Period, scope: Select[Any]) -> dict[str, Any]:
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
                    responded(),
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
            enrolled, latest_at = aware(enrolled_at), aware(latest)
            if enrolled is None or enrolled > period.end - span:
                continue
            base += 1
            kept += latest_at is not None and latest_at >= enrolled + span
        out[f"day_{days}"] = {"eligible": base, "still_checking_in": kept, "share": rate(kept, base)}
    return out
