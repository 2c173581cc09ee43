"""Safety: alerts by severity and category, how fast a human acknowledged, escalations, crisis replies."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.reports.period import Period, percentile
from bot.reports.rows import PirRow, in_period, rate
from flows.escalation import EscalationPolicy
from storage.models import (
    Alert,
    Direction,
    FamilyLink,
    Message,
    MessageKind,
)

SEVERITIES = ("critical", "high", "medium", "low")


async def alert_figures(
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
            ).where(col(Alert.person_id).in_(scope), in_period(col(Alert.created_at), period))
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
            in_period(col(Message.created_at), period),
            col(Message.person_id).in_(
                scope.union(select(col(FamilyLink.family_id)).where(col(FamilyLink.pir_id).in_(scope)))
            ),
        )
    )
    return {
        "total": len(rows),
        "by_severity": {name: by_severity.get(name, 0) for name in SEVERITIES}
        | {k: v for k, v in by_severity.items() if k not in SEVERITIES},
        "by_category": dict(sorted(by_category.items())),
        "acknowledged": len(everyone),
        "time_to_ack_seconds": ack_waits(everyone),
        "time_to_ack_seconds_by_severity": {name: ack_waits(ws) for name, ws in sorted(waits.items())},
        "acknowledged_within_first_step": rate(sum(within.values()), len(rows)),
        "escalated_past_peer": escalated,
        "crisis_replies": int(crisis or 0),
    }


def ack_waits(values: Sequence[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 0.5),
        "p90": percentile(values, 0.9),
        "max": max(values) if values else None,
    }
