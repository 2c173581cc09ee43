"""Trend and engagement signals from a person's own history (the pure rules are in `flows.trends`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.triage import Signal
from flows.severity import Severity
from flows.trends import CheckinPoint, TrendThresholds, assess_trends
from storage.models import Answer, FlowSession, Person, SessionStatus

TREND_STEPS = ("craving", "mood")


def outcome(session: FlowSession) -> str:
    """How a finished session counts: completed, missed (nothing answered) or abandoned (stopped part-way)."""
    if session.status == SessionStatus.COMPLETED:
        return "completed"
    answers = session.state.get("answers", {})
    answered = [v for v in answers.values() if v is not None] if isinstance(answers, dict) else []
    return "abandoned" if answered else "missed"


async def trend_signal(
    s: AsyncSession,
    person: Person,
    flow_id: str,
    now: datetime,
    thresholds: TrendThresholds,
    today_answers: Mapping[str, object] | None = None,
) -> Signal | None:
    """A MEDIUM signal when today's answers or recent engagement break from the person's own pattern."""
    assert person.id is not None
    tz = ZoneInfo(person.timezone)
    since = now - timedelta(days=thresholds.baseline_days + 1)
    rows = (
        await s.scalars(
            select(Answer).where(
                Answer.person_id == person.id,
                Answer.flow_id == flow_id,
                col(Answer.step_id).in_(TREND_STEPS),
                col(Answer.answered_at) >= since,
            )
        )
    ).all()
    by_session: dict[int, dict[str, object]] = {}
    days: dict[int, datetime] = {}
    for row in rows:
        by_session.setdefault(row.session_id, {})[row.step_id] = row.value
        days[row.session_id] = row.answered_at
    history = [
        CheckinPoint(
            day=days[sid].astimezone(tz).date(),
            craving=values.get("craving") if isinstance(values.get("craving"), int) else None,  # type: ignore[arg-type]
            mood=values.get("mood") if isinstance(values.get("mood"), int) else None,  # type: ignore[arg-type]
        )
        for sid, values in by_session.items()
    ]
    finished = (
        await s.scalars(
            select(FlowSession)
            .where(
                FlowSession.person_id == person.id,
                FlowSession.flow_id == flow_id,
                FlowSession.status != SessionStatus.ACTIVE,
            )
            .order_by(col(FlowSession.id).desc())
            .limit(max(thresholds.abandoned_window, thresholds.missed_in_a_row))
        )
    ).all()
    today = today_answers or {}
    craving, mood = today.get("craving"), today.get("mood")
    result = assess_trends(
        craving_today=craving if isinstance(craving, int) and not isinstance(craving, bool) else None,
        mood_today=mood if isinstance(mood, int) and not isinstance(mood, bool) else None,
        history=history,
        recent_outcomes=[outcome(f) for f in finished],
        thresholds=thresholds,
        today=now.astimezone(tz).date(),
    )
    if result.severity is Severity.NONE:
        return None
    return Signal(result.severity, result.categories, tuple(m.phrase for m in result.matches))
