"""`peerline report outcomes`: what the program did over a period, and what changed for its people.

Every figure is one set-based query over the period (no per-person loops); numeric answers average in the
database from their plain `Answer.score`; only counts kept in encrypted audit details (downtime misses)
are fetched and summed in Python. Conventions, also in
the README: a period is whole days in the program's time zone, `--to` inclusive; a check-in belongs to
the period it started in; `completed` (every question answered), `partial` (some answers, then it
expired or was replaced), `missed` (no answer at all, or never started because the bot was down) and
`stopped` (ended by a crisis, a human took over) are separate counts, and the completion rate is
completed over all that ended; percentiles are nearest-rank; `--peer` means PIRs whose assigned peer
that is.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.reports.change import mood_craving_change, recovery_capital
from bot.reports.engagement import count_checkins, enrolled_pirs, retention_at, weekly_engagement
from bot.reports.period import Period
from bot.reports.rows import Outcomes, pir_scope
from bot.reports.safety import alert_figures
from bot.reports.work import peer_work_figures
from flows.escalation import EscalationPolicy
from storage.models import (
    FamilyLink,
    Person,
    PersonStatus,
)


async def outcomes(
    s: AsyncSession,
    period: Period,
    policy: EscalationPolicy,
    *,
    program: str,
    peer: Person | None = None,
) -> Outcomes:
    scope = pir_scope(peer.id if peer is not None else None)
    pirs = await enrolled_pirs(s, period, scope)
    by_id = {row.id: row for row in pirs}
    checkins = await count_checkins(s, period, scope, by_id)
    weekly = await weekly_engagement(s, period, scope, len(pirs))
    retention = await retention_at(s, period, scope)
    alerts = await alert_figures(s, period, scope, policy, by_id)
    work = await peer_work_figures(s, period, scope, peer, by_id)
    change = await mood_craving_change(s, period, scope, by_id)
    change["recovery_capital"] = await recovery_capital(s, period, scope, by_id)
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
            "pirs_discharged": sum(1 for p in pirs if p.status == PersonStatus.DISCHARGED),
            "family_enrolled": int(family or 0),
        },
        "checkins": checkins | {"weekly": weekly, "retention": retention},
        "alerts": alerts,
        "peer_work": work,
        "notes": work["notes"],
        "change": change,
    }
    return Outcomes(figures, pirs)
