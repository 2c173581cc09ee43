"""What a person hears back for a set of signals, and how a triage result reads on a page (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.alerts.raising import Signal, reply_key
from flows.severity import Severity
from flows.triage import Triage

CONFIG = Path(__file__).resolve().parents[3] / "config"

CRITICAL, HIGH, MEDIUM = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM


def sig(severity: Severity, *categories: str, **flags: bool) -> Signal:
    return Signal(severity, categories, ("why",), **flags)


@pytest.mark.parametrize(
    ("signals", "family", "key"),
    [
        ([sig(CRITICAL, "suicide")], False, "crisis"),
        ([sig(CRITICAL, "overdose")], False, "crisis_overdose"),
        ([sig(CRITICAL, "medical", "use")], False, "crisis_overdose"),
        ([sig(CRITICAL, "overdose", about_other=True)], False, "crisis_other"),
        ([sig(CRITICAL, "suicide")], True, "crisis_other"),
        ([sig(CRITICAL, "suicide", unclear=True)], False, "safety_unclear"),
        # an unclear answer that also says more: the gravest reading answers
        ([sig(CRITICAL, "suicide", unclear=True), sig(CRITICAL, "overdose")], False, "crisis_overdose"),
        ([sig(HIGH, "suicide", possible=True)], False, "possible_crisis"),
        ([sig(HIGH, "suicide", possible=True)], True, "possible_crisis_other"),
        ([sig(HIGH, "use")], False, "use_support"),
        ([sig(HIGH, "craving"), sig(HIGH, "use")], False, "use_support"),
        ([sig(HIGH, "use")], True, "use_support_other"),
        ([sig(HIGH, "use", about_other=True)], False, "use_support_other"),
        ([sig(HIGH, "craving")], False, None),
        ([sig(HIGH, "family_concern")], True, None),
        ([sig(MEDIUM, "mood")], False, None),
        ([], False, None),
    ],
)
def test_reply_key(signals: list[Signal], family: bool, key: str | None) -> None:
    assert reply_key(signals, family=family) == key


@pytest.fixture(scope="module")
def triage() -> Triage:
    return Triage.load(CONFIG, use_model=False)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("took too many pills", 'wrote "took too many pills"'),
        ("Took too many pills.", 'wrote "Took too many pills."'),
        (
            "I think I took too many pills, took too many pills",
            'wrote "I think I took too many pills, took too many pills" (took too many pills)',
        ),
        (
            "I relapsed last night. used heroin again",
            'wrote "I relapsed last night. used heroin again" (relapsed, used heroin)',
        ),
    ],
)
def test_a_page_quotes_the_person_once_and_names_each_matched_phrase_once(
    triage: Triage, text: str, reason: str
) -> None:
    assert Signal.from_triage(triage.assess(text, "en"), text).reasons == (reason,)
