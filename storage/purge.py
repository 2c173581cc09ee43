"""`peerline db purge`: remove records past the retention period (`PEERLINE_RETENTION_YEARS`).

What goes, each older than the cutoff: outbox rows, answers, resolved alerts (an alert still open or
acknowledged stays until it is resolved), disclosures, finished check-in sessions, messages and audit
events. A message or session still referenced by a row that stays (a newer alert about an old message)
stays too, so every delete is foreign-key safe; the order below deletes what refers before what is
referred to. The counts of a dry run are those a real run deletes. People, consents, contact notes
(billing records) and care teams are not touched.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Delete, and_, delete, exists, func, not_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from storage.models import (
    Alert,
    AlertStatus,
    Answer,
    AuditAction,
    AuditEvent,
    Disclosure,
    FlowSession,
    Message,
    Outbox,
    SessionStatus,
)
from storage.repo import audit

NEWEST_CUTOFF = timedelta(days=1)  # a purge never reaches into the last day


class PurgeError(ValueError):
    """A purge that cannot run as asked; the message says what to do."""


def default_cutoff(now: datetime, years: int) -> datetime:
    """`years` calendar years before `now` (29 February falls back to the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def check_cutoff(before: datetime, now: datetime) -> datetime:
    if before > now - NEWEST_CUTOFF:
        raise PurgeError(
            f"--before {before:%Y-%m-%d %H:%M} UTC is within the last day: a purge removes only what is "
            f"older than {now - NEWEST_CUTOFF:%Y-%m-%d %H:%M} UTC or earlier"
        )
    return before


def _alert_goes(before: datetime) -> ColumnElement[bool]:
    return and_(col(Alert.created_at) < before, col(Alert.status) == AlertStatus.RESOLVED)


def _plan(before: datetime) -> list[tuple[str, Delete]]:
    """(name, DELETE) in foreign-key-safe order; the WHERE of each is also what a dry run counts."""
    kept_alert = not_(_alert_goes(before))
    session_referenced = exists().where(
        col(Answer.session_id) == col(FlowSession.id), col(Answer.answered_at) >= before
    ) | exists().where(col(Alert.session_id) == col(FlowSession.id), kept_alert)
    message_referenced = exists().where(
        col(Outbox.message_id) == col(Message.id), col(Outbox.created_at) >= before
    ) | exists().where(col(Alert.message_id) == col(Message.id), kept_alert)
    return [
        ("outbox", delete(Outbox).where(col(Outbox.created_at) < before)),
        ("answers", delete(Answer).where(col(Answer.answered_at) < before)),
        ("alerts", delete(Alert).where(_alert_goes(before))),
        ("disclosures", delete(Disclosure).where(col(Disclosure.disclosed_at) < before)),
        (
            "sessions",
            delete(FlowSession).where(
                col(FlowSession.updated_at) < before,
                col(FlowSession.status) != SessionStatus.ACTIVE,
                not_(session_referenced),
            ),
        ),
        ("messages", delete(Message).where(col(Message.created_at) < before, not_(message_referenced))),
        ("audit_events", delete(AuditEvent).where(col(AuditEvent.at) < before)),
    ]


async def purge(
    s: AsyncSession, before: datetime, now: datetime, *, dry_run: bool, actor: str = "cli"
) -> dict[str, int]:
    """Count (`dry_run`) or delete everything older than `before`; returns the count per table. A real
    run leaves one audit event saying what went, how much and before when."""
    check_cutoff(before, now)
    counts: dict[str, int] = {}
    for name, statement in _plan(before):
        table = statement.table
        if dry_run:
            query = select(func.count()).select_from(table).where(statement.whereclause)  # type: ignore[arg-type]
            counts[name] = (await s.scalar(query)) or 0
        else:
            result = await s.execute(statement)
            counts[name] = int(getattr(result, "rowcount", 0) or 0)
    if not dry_run:
        audit(s, now, actor, AuditAction.RECORDS_PURGED, None, before=before.isoformat(), deleted=counts)
    return counts
