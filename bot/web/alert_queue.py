"""What the console shows of alerts: the queue in a staff member's scope, worst and oldest first, and
one alert with the people around it. Reads only; who may see what is `bot.web.scope`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.web.scope import Scope
from flows.severity import Severity
from storage.models import Alert, AlertStatus, CareTeam, Person

_RANK = case({s.value: s.rank() for s in Severity}, value=col(Alert.severity), else_=0)


@dataclass(frozen=True, slots=True)
class Row:
    """One alert as the queue lists it."""

    id: int
    severity: str
    status: str
    person_id: int
    name: str
    created_at: datetime
    age_minutes: int
    paged: tuple[str, ...]
    acknowledged_by: str | None


def age_minutes(since: datetime, now: datetime) -> int:
    return max(0, int((now - since).total_seconds() // 60))


def age_parts(minutes: int) -> tuple[str, int]:
    """(`age_minutes` | `age_hours` | `age_days`, n): how a queue says how old an alert is."""
    if minutes < 60:
        return "age_minutes", minutes
    if minutes < 48 * 60:
        return "age_hours", minutes // 60
    return "age_days", minutes // (24 * 60)


async def names(s: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    people = (await s.scalars(select(Person).where(col(Person.id).in_(wanted)))).all()
    return {p.id: p.name for p in people if p.id is not None}


def _row(alert: Alert, named: Mapping[int, str], now: datetime) -> Row:
    assert alert.id is not None
    return Row(
        id=alert.id,
        severity=alert.severity,
        status=alert.status,
        person_id=alert.person_id,
        name=named.get(alert.person_id, "?"),
        created_at=alert.created_at,
        age_minutes=age_minutes(alert.created_at, now),
        paged=tuple(named.get(pid, "?") for pid in dict.fromkeys(alert.notified)),
        acknowledged_by=named.get(alert.acknowledged_by) if alert.acknowledged_by is not None else None,
    )


async def open_queue(s: AsyncSession, scope: Scope, now: datetime) -> list[Row]:
    """Open and acknowledged alerts of the PIRs in `scope`: worst severity first, then oldest."""
    alerts: Sequence[Alert] = (
        await s.scalars(
            select(Alert)
            .outerjoin(CareTeam, col(CareTeam.pir_id) == col(Alert.person_id))
            .where(col(Alert.status) != AlertStatus.RESOLVED, scope.clause())
            .order_by(_RANK.desc(), col(Alert.created_at), col(Alert.id))
        )
    ).all()
    named = await names(s, [x for a in alerts for x in (a.person_id, a.acknowledged_by, *a.notified)])
    return [_row(a, named, now) for a in alerts]


@dataclass(frozen=True, slots=True)
class Detail:
    row: Row
    alert: Alert
    resolved_by: str | None


async def alert_in_scope(s: AsyncSession, scope: Scope, alert_id: int, *, lock: bool = False) -> Alert | None:
    """The alert if its PIR is in `scope`; None when it is not, or does not exist: the same to a caller."""
    alert = await s.get(Alert, alert_id, with_for_update=lock)
    if alert is None or not scope.sees(await s.get(CareTeam, alert.person_id)):
        return None
    return alert


async def detail(s: AsyncSession, alert: Alert, now: datetime) -> Detail:
    named = await names(s, [alert.person_id, alert.acknowledged_by, alert.resolved_by, *alert.notified])
    resolved_by = named.get(alert.resolved_by) if alert.resolved_by is not None else None
    return Detail(_row(alert, named, now), alert, resolved_by)
