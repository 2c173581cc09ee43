"""What every part of the outcomes report shares: the per-PIR row, the scope, the period filter, rates."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, select
from sqlmodel import col

from bot.reports.period import Period
from storage.models import (
    CareTeam,
    Person,
    Role,
)


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


def pir_scope(peer_id: int | None) -> Select[Any]:
    """The ids of the PIRs a report covers."""
    query = select(col(Person.id)).where(col(Person.role) == Role.PIR)
    if peer_id is not None:
        query = query.where(
            col(Person.id).in_(select(col(CareTeam.pir_id)).where(col(CareTeam.peer_id) == peer_id))
        )
    return query


def in_period(column: Any, period: Period) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def aware(value: Any) -> datetime | None:
    """An aggregate over a UTC column comes back naive (SQLite) or as a string: as an aware datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
