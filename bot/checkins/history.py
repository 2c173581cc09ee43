"""Trend and engagement signals from a person's own history (the pure rules are in `flows.trends`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy import select as select_columns
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.alerts.raising import Signal
from flows.severity import Severity
from flows.trends import CheckinPoint, TrendThresholds, assess_trends
from storage.models import Answer, FlowSession, Person, SessionStatus

TREND_STEPS = ("craving", "mood")


def outcome(session: FlowSession) -> str:
    """How a finished session counts: completed, stopped (by a crisis), missed (nothing answered) or
    abandoned (left part-way)."""
    if session.status == SessionStatus.COMPLETED:
        return "completed"
    if session.status == SessionStatus.STOPPED:
        return "stopped"  # a crisis ended it: not a sign of drifting away
    answers = session.state.get("answers", {})
    answered = [v for v in answers.values() if v is not None] if isinstance(answers, dict) else []
    return "abandoned" if answered else "missed"


@dataclass(slots=True)
class TrendHistory:
    """What the trend rules read about one person and flow: recent answers and finished sessions."""

    answers: list[tuple[int, str, object, datetime]] = field(default_factory=list)  # session, step, value, at
    finished: list[FlowSession] = field(default_factory=list)  # newest first

    def signal(
        self,
        person: Person,
        now: datetime,
        thresholds: TrendThresholds,
        today_answers: Mapping[str, object] | None = None,
        *,
        newest: FlowSession | None = None,
        already_flagged: Collection[str] = (),
    ) -> Signal | None:
        """A MEDIUM signal when today's answers or recent engagement break from the person's own pattern.

        `newest`: a session finished in this very transaction (it counts as the latest outcome even if
        the history was read before it finished). `already_flagged`: steps whose own rules raised an
        alert in this check-in (their threshold is not said twice).
        """
        tz = ZoneInfo(person.timezone)
        by_session: dict[int, dict[str, object]] = {}
        days: dict[int, datetime] = {}
        for session_id, step_id, value, answered_at in self.answers:
            by_session.setdefault(session_id, {})[step_id] = value
            days[session_id] = answered_at
        history = [
            CheckinPoint(
                day=days[sid].astimezone(tz).date(),
                craving=_whole(values.get("craving")),
                mood=_whole(values.get("mood")),
            )
            for sid, values in by_session.items()
        ]
        finished = self.finished
        if newest is not None:
            finished = [newest, *(f for f in finished if f.id != newest.id)]
        today = today_answers or {}
        result = assess_trends(
            craving_today=_whole(today.get("craving")),
            mood_today=_whole(today.get("mood")),
            history=history,
            recent_outcomes=[outcome(f) for f in finished[: _outcomes_kept(thresholds)]],
            thresholds=thresholds,
            today=now.astimezone(tz).date(),
            already_flagged=already_flagged,
        )
        if result.severity is Severity.NONE:
            return None
        return Signal(result.severity, result.categories, tuple(m.phrase for m in result.matches))


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _outcomes_kept(thresholds: TrendThresholds) -> int:
    return max(thresholds.abandoned_window, thresholds.missed_in_a_row)


async def load_histories(
    s: AsyncSession,
    person_ids: Collection[int],
    flow_id: str,
    now: datetime,
    thresholds: TrendThresholds,
) -> dict[int, TrendHistory]:
    """Trend history of many people in two queries (a whole inbound batch shares them)."""
    histories = {person_id: TrendHistory() for person_id in person_ids}
    if not histories:
        return histories
    since = now - timedelta(days=thresholds.baseline_days + 1)
    answers = await s.execute(
        select_columns(
            col(Answer.person_id),
            col(Answer.session_id),
            col(Answer.step_id),
            col(Answer.value),
            col(Answer.answered_at),
        ).where(
            col(Answer.person_id).in_(histories),
            col(Answer.flow_id) == flow_id,
            col(Answer.step_id).in_(TREND_STEPS),
            col(Answer.answered_at) >= since,
        )
    )
    for person_id, session_id, step_id, value, answered_at in answers:
        histories[person_id].answers.append((session_id, step_id, value, answered_at))
    # The newest few finished sessions of each person: numbered per person, newest first.
    rank = (
        func.row_number()
        .over(partition_by=col(FlowSession.person_id), order_by=col(FlowSession.id).desc())
        .label("rank")
    )
    newest = (
        select(col(FlowSession.id), rank)
        .where(
            col(FlowSession.person_id).in_(histories),
            col(FlowSession.flow_id) == flow_id,
            col(FlowSession.status) != SessionStatus.ACTIVE,
        )
        .subquery()
    )
    finished = await s.scalars(
        select(FlowSession)
        .join(newest, newest.c.id == col(FlowSession.id))
        .where(newest.c.rank <= _outcomes_kept(thresholds))
        .order_by(col(FlowSession.id).desc())
    )
    for session in finished:
        histories[session.person_id].finished.append(session)
    return histories


async def trend_signal(
    s: AsyncSession,
    person: Person,
    flow_id: str,
    now: datetime,
    thresholds: TrendThresholds,
    today_answers: Mapping[str, object] | None = None,
) -> Signal | None:
    """One person's trend signal, read from storage (sessions finished in this transaction included)."""
    assert person.id is not None
    histories = await load_histories(s, [person.id], flow_id, now, thresholds)
    return histories[person.id].signal(person, now, thresholds, today_answers)
