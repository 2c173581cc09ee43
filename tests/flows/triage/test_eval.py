"""The labelled evaluation sets: the bars the triage lexicons must clear.

`triage_eval.jsonl` was written after the lexicons, from the domain; `triage_heldout.jsonl` was
written separately, in blind batches, each run once before the lexicons were tuned on it, plus
everyday check-in messages as extra negatives.
Bars: recall on critical 100%, recall on high >= 95% (flagged high or critical: either way a
human is paged), false alarms on negatives <= 5%.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from flows.severity import Severity
from flows.triage import Triage

CONFIG_DIR = Path(__file__).parents[3] / "config"
DATA_DIR = Path(__file__).parents[1] / "data"
SETS = ["triage_eval.jsonl", "triage_heldout.jsonl"]


@pytest.fixture(scope="module")
def triage() -> Triage:
    return Triage.load(CONFIG_DIR)


def load(name: str) -> list[dict[str, Any]]:
    lines = (DATA_DIR / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def describe(rows: Sequence[tuple[dict[str, Any], Severity]]) -> str:
    return "\n".join(f"  [{r['lang']}] expected {r['expect']}, got {got}: {r['text']!r}" for r, got in rows)


@pytest.mark.parametrize("name", SETS)
def test_the_set_is_well_formed(name: str) -> None:
    rows = load(name)
    for row in rows:
        assert set(row) <= {"text", "lang", "expect", "category"}, row
        assert row["lang"] in ("en", "es") and row["expect"] in ("critical", "high", "none"), row
    texts = [r["text"] for r in rows]
    assert len(texts) == len(set(texts)), [t for t, n in Counter(texts).items() if n > 1]
    shape = Counter((r["lang"], r["expect"]) for r in rows)
    assert all(
        shape[(lang, expect)] >= 10 for lang in ("en", "es") for expect in ("critical", "high", "none")
    )


def test_the_main_set_is_large_and_the_held_out_set_is_separate() -> None:
    main, held = load(SETS[0]), load(SETS[1])
    assert len(main) >= 300
    assert not {r["text"] for r in main} & {r["text"] for r in held}
    assert any(r["text"] == "" for r in main)  # empty text is a case too


@pytest.mark.parametrize("name", SETS)
def test_recall_and_false_alarm_bars(triage: Triage, name: str) -> None:
    graded = [(r, triage.assess(r["text"], r["lang"]).severity) for r in load(name)]
    critical = [(r, s) for r, s in graded if r["expect"] == "critical"]
    high = [(r, s) for r, s in graded if r["expect"] == "high"]
    negatives = [(r, s) for r, s in graded if r["expect"] == "none"]

    missed_critical = [(r, s) for r, s in critical if s is not Severity.CRITICAL]
    missed_high = [(r, s) for r, s in high if s.rank() < Severity.HIGH.rank()]
    false_alarms = [(r, s) for r, s in negatives if s is not Severity.NONE]
    high_recall = 1 - len(missed_high) / len(high)
    false_alarm_rate = len(false_alarms) / len(negatives)

    assert not missed_critical, f"critical recall below 100% in {name}:\n{describe(missed_critical)}"
    assert high_recall >= 0.95, f"high recall {high_recall:.1%} < 95% in {name}:\n{describe(missed_high)}"
    assert false_alarm_rate <= 0.05, (
        f"false alarms {false_alarm_rate:.1%} > 5% in {name}:\n{describe(false_alarms)}"
    )


@pytest.mark.parametrize("name", SETS)
def test_flagged_texts_mostly_get_the_expected_category(triage: Triage, name: str) -> None:
    # The crisis reply differs for overdose and medical emergencies, so categories matter too;
    # some texts fit two (a cut wrist is self-harm and suicide), hence not 100%.
    flagged = [r for r in load(name) if r["expect"] != "none" and "category" in r]
    wrong = [r for r in flagged if r["category"] not in triage.assess(r["text"], r["lang"]).categories]
    assert len(wrong) <= 0.05 * len(flagged), [(r["category"], r["text"]) for r in wrong]
