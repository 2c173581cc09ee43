"""What `/caseload` shows: every PIR in a staff member's scope, filtered, sorted and paged, in a few
queries for the whole page (the streak and latest answers are `bot.staff.caseload`'s, as in chat)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as select_columns
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlmodel import col

from bot.staff.caseload import finished_checkins, glances, paused
from bot.web.scope import Scope
from storage.models import Alert, AlertStatus, CareTeam, FlowSession, Person, Role

SORTS = ("name", "last", "alerts")
PAGE_SIZE = 50
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Entry:
    """One PIR before the page is cut: what sorting and filtering need."""

    id: int
    name: str
    status: str
    last: datetime | None
    alerts: int


@dataclass(frozen=True, slots=True)
class CaseRow:
    entry: Entry
    streak: int
    latest: dict[str, Any]
    trend: dict[str, tuple[Any, ...]]
    paused: bool


@dataclass(frozen=True, slots=True)
class Caseload:
    rows: list[CaseRow]
    total: int  # PIRs in scope that match the filter
    page: int
    pages: int


def in_scope(scope: Scope) -> Select[Any]:
    """The ids of the PIRs in `scope`, as a subquery (no list of ids travels to the database)."""
    return (
        select_columns(col(Person.id))
        .outerjoin(CareTeam, col(CareTeam.pir_id) == col(Person.id))
        .where(col(Person.role) == Role.PIR, scope.clause())
    )


def choose(
    entries: Sequence[Entry], *, q: str = "", open_only: bool = False, sort: str = "name"
) -> list[Entry]:
    """Filter by name (any part, any case) and open alerts, then sort: by name; by last check-in,
    oldest first (who has gone quiet longest leads, never checked in first); by open alerts, most first."""
    wanted = q.casefold().strip()
    chosen = [
        e for e in entries if (not wanted or wanted in e.name.casefold()) and (not open_only or e.alerts)
    ]
    by_name = sorted(chosen, key=lambda e: (e.name.casefold(), e.id))
    if sort == "last":
        return sorted(by_name, key=lambda e: e.last or _NEVER)
    if sort == "alerts":
        return sorted(by_name, key=lambda e: -e.alerts)
    return by_name


async def entries(s: AsyncSession, scope: Scope) -> list[Entry]:
    """Three queries: the PIRs, their last check-in, their open alerts (names are decrypted here:
    they are encrypted at rest, so the database can neither sort nor search them)."""
    ids = in_scope(scope)
    people = (
        await s.execute(
            select_columns(col(Person.id), col(Person.name), col(Person.status))
            .outerjoin(CareTeam, col(CareTeam.pir_id) == col(Person.id))
            .where(col(Person.role) == Role.PIR, scope.clause())
        )
    ).all()
    last: dict[int, datetime] = dict(
        (
            await s.execute(
                select_columns(col(FlowSession.person_id), func.max(col(FlowSession.updated_at)))
                .where(col(FlowSession.person_id).in_(ids), *finished_checkins())
                .group_by(col(FlowSession.person_id))
            )
        ).all()
    )
    alerts: dict[int, int] = dict(
        (
            await s.execute(
                select_columns(col(Alert.person_id), func.count())
                .where(col(Alert.person_id).in_(ids), col(Alert.status) != AlertStatus.RESOLVED)
                .group_by(col(Alert.person_id))
            )
        ).all()
    )
    return [
        Entry(pid, name, status, last.get(pid), alerts.get(pid, 0))
        for pid, name, status in people
        if pid is not None
    ]


async def caseload_page(
    s: AsyncSession, scope: Scope, *, q: str = "", open_only: bool = False, sort: str = "name", page: int = 1
) -> Caseload:
    chosen = choose(await entries(s, scope), q=q, open_only=open_only, sort=sort)
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = chosen[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    ids = [e.id for e in shown]
    glance = await glances(s, ids)
    stopped = await paused(s, ids)
    rows = [
        CaseRow(e, glance[e.id].streak, dict(glance[e.id].latest), dict(glance[e.id].trend), e.id in stopped)
        for e in shown
    ]
    return Caseload(rows, len(chosen), page, pages)
