"""Change over the period: mood and craving, first two weeks against last two; recovery capital (BARC-10)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.reports.period import Period
from bot.reports.rows import PirRow, in_period, mean
from storage.models import (
    Answer,
    FlowSession,
    SessionStatus,
)

CHANGE_WINDOW = timedelta(days=14)
BARC10 = "barc10"  # config/flows/barc10.yaml: ten items of 1-6, total 10-60
BARC10_ITEMS = 10


async def mood_craving_change(
    s: AsyncSession, period: Period, scope: Select[Any], by_id: Mapping[int, PirRow]
) -> dict[str, Any]:
    """Mood and craving, the first two weeks of the period against its last two, per PIR and overall
    (the mean over PIRs with answers in both)."""
    first_end, last_start = period.start + CHANGE_WINDOW, period.end - CHANGE_WINDOW
    windows = {
        "first": col(Answer.answered_at) < first_end,
        "last": col(Answer.answered_at) >= last_start,
    }
    # One scan over both windows, each answer labelled with its window; two when they overlap (a period
    # shorter than four weeks), so that an answer in both counts in both.
    scans = [list(windows)] if first_end <= last_start else [["first"], ["last"]]
    means: dict[tuple[int, str, str], float] = {}
    for labels in scans:
        which = case(*((windows[label], label) for label in labels))
        rows = (
            await s.execute(
                select(col(Answer.person_id), col(Answer.step_id), which, func.avg(Answer.score))
                .where(
                    col(Answer.person_id).in_(scope),
                    col(Answer.step_id).in_(["mood", "craving"]),
                    in_period(col(Answer.answered_at), period),
                    or_(*(windows[label] for label in labels)),
                    col(Answer.score).is_not(None),
                )
                .group_by(col(Answer.person_id), col(Answer.step_id), which)
            )
        ).all()
        for person_id, step, label, average in rows:
            means[(person_id, step, label)] = round(float(average), 3)
    out: dict[str, Any] = {}
    for step in ("mood", "craving"):
        firsts, lasts = [], []
        for pir_id, row in by_id.items():
            first, last = means.get((pir_id, step, "first")), means.get((pir_id, step, "last"))
            row.first[step], row.last[step] = first, last
            if first is not None and last is not None:
                firsts.append(first)
                lasts.append(last)
        overall_first, overall_last = mean(firsts), mean(lasts)
        out[step] = {
            "pirs": len(firsts),
            "first_two_weeks": overall_first,
            "last_two_weeks": overall_last,
            "change": None
            if overall_first is None or overall_last is None
            else round(overall_last - overall_first, 3),
        }
    return out


async def recovery_capital(
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
    baseline = mean([r.capital_baseline for r in both if r.capital_baseline is not None])
    latest = mean([r.capital_latest for r in both if r.capital_latest is not None])
    return {
        "pirs": len(both),
        "baseline": baseline,
        "latest": latest,
        "change": None if baseline is None or latest is None else round(latest - baseline, 3),
    }
