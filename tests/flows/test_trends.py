"""Trend and engagement rules against the person's own history."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from flows.severity import Severity
from flows.trends import (
    CheckinPoint,
    TrendThresholds,
    assess_trends,
    load_thresholds,
    thresholds_from_mapping,
)
from flows.triage import NO_FLAGS, LexiconError

CONFIG_DIR = Path(__file__).parents[2] / "config"
TODAY = date(2026, 3, 16)
DEFAULTS = TrendThresholds()


def history(*values: tuple[int | None, int | None], end: date = TODAY) -> list[CheckinPoint]:
    """(craving, mood) pairs for consecutive days ending the day before `end`, oldest first."""
    start = end - timedelta(days=len(values))
    return [CheckinPoint(start + timedelta(days=i), c, m) for i, (c, m) in enumerate(values)]


def assess(
    craving: int | None = None,
    mood: int | None = None,
    points: list[CheckinPoint] | None = None,
    outcomes: list[str] | None = None,
    thresholds: TrendThresholds = DEFAULTS,
    today: date | None = TODAY,
) -> list[tuple[str, str]]:
    result = assess_trends(
        craving_today=craving,
        mood_today=mood,
        history=points or [],
        recent_outcomes=outcomes or [],
        thresholds=thresholds,
        today=today,
    )
    assert result.severity in (Severity.NONE, Severity.MEDIUM)
    return [(m.category, m.phrase) for m in result.matches]


STEADY = history(*[(4, 6)] * 14)


def test_craving_three_over_the_usual_is_a_spike() -> None:
    assert assess(craving=7, points=STEADY) == [("craving_spike", "craving 7 vs usual 4")]
    assert assess(craving=6, points=STEADY) == []


def test_craving_at_the_ceiling_flags_even_without_history() -> None:
    assert assess(craving=8) == [("craving_spike", "craving 8 of 10")]
    no_ceiling = TrendThresholds(craving_ceiling=None)
    assert assess(craving=10, thresholds=no_ceiling) == []


def test_mood_two_under_the_usual_is_a_drop() -> None:
    assert assess(mood=4, points=STEADY) == [("mood_drop", "mood 4 vs usual 6")]
    assert assess(mood=5, points=STEADY) == []


def test_the_usual_is_a_median_of_the_last_fourteen_days_only() -> None:
    old_highs = history(*[(9, 9)] * 10, end=TODAY - timedelta(days=14))
    recent = history((2, 5), (3, 5), (3, 6), (4, 6))
    assert assess(craving=6, mood=3, points=old_highs + recent) == [
        ("craving_spike", "craving 6 vs usual 3"),
        ("mood_drop", "mood 3 vs usual 5.5"),
    ]


def test_no_baseline_until_enough_answers() -> None:
    assert assess(craving=7, mood=1, points=history((1, 8), (1, 8))) == []
    assert assess(craving=7, points=history((1, 8), (None, 8), (1, 8), (None, 8))) == []


def test_today_defaults_to_the_day_after_the_newest_point() -> None:
    assert assess(craving=7, points=STEADY, today=None) == [("craving_spike", "craving 7 vs usual 4")]


def test_three_missed_in_a_row_newest_first() -> None:
    assert assess(outcomes=["missed", "missed", "missed", "completed"]) == [
        ("missed_checkins", "3 check-ins missed in a row")
    ]
    assert assess(outcomes=["missed", "missed", "completed", "missed"]) == []
    assert assess(outcomes=["completed", "missed", "missed", "missed"]) == []


def test_answers_stopping_part_way_three_of_the_last_five() -> None:
    outcomes = ["abandoned", "completed", "abandoned", "completed", "abandoned", "abandoned"]
    assert assess(outcomes=outcomes) == [("abandoned_checkins", "3 of the last 5 check-ins stopped part-way")]
    assert (
        assess(outcomes=["abandoned", "completed", "abandoned", "completed", "completed", "abandoned"]) == []
    )


def test_quiet_history_is_no_flags() -> None:
    result = assess_trends(
        craving_today=4,
        mood_today=6,
        history=STEADY,
        recent_outcomes=["completed"] * 5,
        thresholds=DEFAULTS,
    )
    assert result == NO_FLAGS


def test_several_rules_at_once_are_medium_and_merge_with_free_text() -> None:
    result = assess_trends(
        craving_today=9,
        mood_today=2,
        history=STEADY,
        recent_outcomes=["abandoned"] * 3,
        thresholds=DEFAULTS,
        today=TODAY,
    )
    assert result.severity is Severity.MEDIUM
    assert result.categories == ("craving_spike", "mood_drop", "abandoned_checkins")


def test_thresholds_come_from_the_config_file(tmp_path: Path) -> None:
    assert load_thresholds(CONFIG_DIR) == TrendThresholds()
    (tmp_path / "triage").mkdir()
    assert load_thresholds(tmp_path) == TrendThresholds()  # no file: defaults
    (tmp_path / "triage" / "trends.yaml").write_text("craving_rise: 2\ncraving_ceiling: null\n", "utf-8")
    loaded = load_thresholds(tmp_path)
    assert (loaded.craving_rise, loaded.craving_ceiling, loaded.mood_drop) == (2, None, 2)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"craving_spike": 3}, "unknown key(s) ['craving_spike']"),
        ({"mood_drop": "two"}, "mood_drop must be a whole number"),
        ({"mood_drop": 0}, "mood_drop must be a whole number"),
        ({"missed_in_a_row": True}, "missed_in_a_row must be a whole number"),
        ({"abandoned_min": 6}, "abandoned_min cannot exceed abandoned_window"),
        (["craving_rise"], "expected a mapping"),
    ],
)
def test_bad_thresholds_name_the_key(data: object, message: str) -> None:
    with pytest.raises(LexiconError, match=r"trends\.yaml") as caught:
        thresholds_from_mapping(data, "trends.yaml")
    assert message in str(caught.value)
