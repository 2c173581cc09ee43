"""Trend and engagement rules: today's answers against the person's own recent history.

Pure functions over plain values; the host reads the history from storage and passes it in.
Every rule raises MEDIUM with a match that says why ("craving 8 vs usual 4"), so a peer can act
without opening the chart. Thresholds come from `config/triage/trends.yaml`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from pathlib import Path
from statistics import median
from typing import Any

import yaml

from flows.engine import scale_reason
from flows.severity import Severity
from flows.triage import NO_FLAGS, LexiconError, Match, TriageResult

CRAVING_MAX = 10  # the daily check-in's craving scale is 0-10 (the thresholds below assume it too)


@dataclass(frozen=True, slots=True)
class CheckinPoint:
    day: date
    craving: int | None
    mood: int | None


@dataclass(frozen=True, slots=True)
class TrendThresholds:
    baseline_days: int = 14  # the window the "usual" (median) is taken over
    min_baseline_points: int = 3  # fewer answers than this in the window: no baseline yet
    craving_rise: int = 3  # craving today >= usual + this
    craving_ceiling: int | None = 8  # craving today >= this, whatever the usual (None: off)
    mood_drop: int = 2  # mood today <= usual - this
    missed_in_a_row: int = 3  # this many newest outcomes all "missed"
    abandoned_window: int = 5  # of the newest this many outcomes...
    abandoned_min: int = 3  # ...at least this many "abandoned"


def load_thresholds(config_dir: Path) -> TrendThresholds:
    """Read `config_dir/triage/trends.yaml`; a missing file means the defaults."""
    path = config_dir / "triage" / "trends.yaml"
    if not path.exists():
        return TrendThresholds()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise LexiconError(f"{path}: not valid YAML: {exc}") from None
    return thresholds_from_mapping(data, str(path))


def thresholds_from_mapping(data: Any, source: str = "<trends>") -> TrendThresholds:
    """Validate a mapping of threshold names to whole numbers; errors name the key."""
    if not isinstance(data, Mapping):
        raise LexiconError(f"{source}: expected a mapping of threshold names to numbers")
    known = {f.name for f in fields(TrendThresholds)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise LexiconError(f"{source}: unknown key(s) {unknown}; allowed: {sorted(known)}")
    values: dict[str, int | None] = {}
    for key, value in data.items():
        if value is None and key == "craving_ceiling":
            values[key] = None
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            values[key] = value
        else:
            raise LexiconError(f"{source}: {key} must be a whole number of at least 1, not {value!r}")
    thresholds = TrendThresholds(**values)  # type: ignore[arg-type]  # keys and types checked above
    if thresholds.abandoned_min > thresholds.abandoned_window:
        raise LexiconError(f"{source}: abandoned_min cannot exceed abandoned_window")
    return thresholds


def _usual(values: Sequence[int], thresholds: TrendThresholds) -> float | None:
    return median(values) if len(values) >= thresholds.min_baseline_points else None


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def assess_trends(
    *,
    craving_today: int | None,
    mood_today: int | None,
    history: Sequence[CheckinPoint],
    recent_outcomes: Sequence[str],
    thresholds: TrendThresholds,
    today: date | None = None,
    already_flagged: Collection[str] = (),
) -> TriageResult:
    """MEDIUM flags from trend and engagement rules.

    `history` holds earlier check-ins (today's, if present, is left out of the baseline);
    the baseline window is the `baseline_days` before `today` (default: the day after the newest
    point). `recent_outcomes` is newest first: "completed", "missed" or "abandoned".
    """
    if today is None and history:
        today = max(p.day for p in history) + timedelta(days=1)
    window: list[CheckinPoint] = []
    if today is not None:
        since = today - timedelta(days=thresholds.baseline_days)
        window = [p for p in history if since <= p.day < today]
    matches: list[Match] = []

    def flag(category: str, why: str) -> None:
        matches.append(Match(category, Severity.MEDIUM, why))

    if craving_today is not None:
        usual = _usual([p.craving for p in window if p.craving is not None], thresholds)
        if usual is not None and craving_today - usual >= thresholds.craving_rise:
            flag("craving_spike", f"craving {craving_today} vs usual {_fmt(usual)}")
        elif (
            thresholds.craving_ceiling is not None
            and craving_today >= thresholds.craving_ceiling
            and "craving" not in already_flagged  # the check-in's own rule said it: "craving 8 of 10"
        ):
            # Worded as the check-in's own rule words it: the same answer reads the same everywhere.
            flag("craving_spike", scale_reason("craving", craving_today, CRAVING_MAX))
    if mood_today is not None:
        usual = _usual([p.mood for p in window if p.mood is not None], thresholds)
        if usual is not None and usual - mood_today >= thresholds.mood_drop:
            flag("mood_drop", f"mood {mood_today} vs usual {_fmt(usual)}")

    streak = 0
    for outcome in recent_outcomes:
        if outcome != "missed":
            break
        streak += 1
    if streak >= thresholds.missed_in_a_row:
        flag("missed_checkins", f"{streak} check-ins missed in a row")

    latest = list(recent_outcomes[: thresholds.abandoned_window])
    abandoned = latest.count("abandoned")
    if abandoned >= thresholds.abandoned_min:
        flag("abandoned_checkins", f"{abandoned} of the last {len(latest)} check-ins stopped part-way")

    return TriageResult.from_matches(matches) if matches else NO_FLAGS
