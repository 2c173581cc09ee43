"""Concept rules (flows/triage/concepts.py) and what they add to the triage: the examples of issue 11,
the term syntax, modifiers, experiencer and composition rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.severity import Severity
from flows.triage import Triage, normalize
from flows.triage.concept_rules import DROP, KEEP, POSSIBLE, ConceptError
from flows.triage.concepts import ConceptSet

CONFIG_DIR = Path(__file__).parents[3] / "config"
CRITICAL, HIGH, NONE = Severity.CRITICAL, Severity.HIGH, Severity.NONE


@pytest.fixture(scope="module")
def triage() -> Triage:
    return Triage.load(CONFIG_DIR)


def concepts(data: dict[str, object]) -> ConceptSet:
    return ConceptSet.from_mapping("en", {"language": "en", **data})


def findings(cs: ConceptSet, text: str) -> list[tuple[str, str, str]]:
    return [(f.category, f.effect, f.experiencer) for f in cs.findings(cs.analyse(normalize(text)))]


# --- issue 11: the misses and false alarms it names, measured from outside ---------------------

MISSED = [
    ("relapse.", HIGH),
    ("back on the pills", HIGH),
    ("picked up again", HIGH),
    ("day 0 again", HIGH),
    ("there's no reason for me to keep living", CRITICAL),
    ("I wrote a note for my kids. I'm done", CRITICAL),
    ("friend is nodding out and won't respond", CRITICAL),
    ("everyone at the house is using and I can't leave", HIGH),
    ("my son says he doesn't want to live", CRITICAL),
    ("she's cutting herself in the bathroom", CRITICAL),
    ("my brother has a knife and says he'll kill dad", CRITICAL),
    ("thank you for everything, this is my last message", CRITICAL),
    ("the world would be lighter without me", CRITICAL),
    ("ready to check out", CRITICAL),
    ("used and now I can't stay awake", CRITICAL),
    ("my chest is so tight after I used", CRITICAL),
    ("drank a fifth and took 4 klonopin", CRITICAL),
    ("bought fent to end it", CRITICAL),
    ("mi hijo dice que se va a matar", CRITICAL),
    ("quisiera que se acabara todo", CRITICAL),
    ("se están drogando en la casa", HIGH),
    ("me voy a poner hasta atrás", HIGH),
    ("bro I relapsed ayer", HIGH),
    ("🍺🍺🍺 sorry", HIGH),
    ("💉 again", HIGH),
]

FALSE_ALARMS = [
    "5 years ago I overdosed, today I got my chip",
    "my sponsor asked if I was suicidal and I said no",
    "if I ever felt suicidal I would call 988",
    "I could just die of embarrassment",
    "I'm gonna kill my brother lol",
    "wrote a goodbye letter to alcohol for step work",
    "where can I get narcan for the house",
    "so much happened this week and I want you to know all of it. " * 3,
    "iced coffee again ☕",
]


@pytest.mark.parametrize(("text", "expected"), MISSED)
def test_the_issues_misses_are_caught(triage: Triage, text: str, expected: Severity) -> None:
    assert triage.assess(text).severity is expected, triage.assess(text).to_json()


@pytest.mark.parametrize("text", FALSE_ALARMS)
def test_the_issues_false_alarms_page_nobody(triage: Triage, text: str) -> None:
    assert triage.assess(text).severity is NONE, triage.assess(text).to_json()


def test_someone_else_in_danger_is_said_so(triage: Triage) -> None:
    result = triage.assess("my son says he doesn't want to live")
    assert result.experiencer == "other"
    assert triage.assess("I don't want to live anymore").experiencer == "self"


def test_a_plan_alone_is_a_possible_crisis_paged_at_high(triage: Triage) -> None:
    result = triage.assess("tonight's the night")
    assert result.severity is HIGH and result.possible_crisis
    assert result.to_json()["possible_crisis"] is True


def test_every_finding_explains_itself(triage: Triage) -> None:
    shape = triage.assess("my chest is so tight after I used").to_json()
    concept = next(f for f in shape["findings"] if f["source"] == "concepts")
    assert concept["category"] == "overdose" and concept["severity"] == "critical"
    assert "symptom" in concept["concepts"]
    assert concept["phrase"] in "my chest is so tight after I used"
    assert 0.0 <= shape["model"]["critical"] <= 1.0 and shape["model"]["version"]


# --- syntax ------------------------------------------------------------------------------------


def test_words_match_any_form_and_words_in_between() -> None:
    cs = concepts(
        {
            "concepts": {"symptom": ["chest tight"], "use": ["relapse"]},
            "rules": [
                {"category": "overdose", "severity": "critical", "all": ["symptom"]},
                {"category": "use", "severity": "high", "all": ["use"]},
            ],
        }
    )
    assert findings(cs, "my chest is so tight") == [("overdose", KEEP, "self")]
    assert findings(cs, "relapsing again") == [("use", KEEP, "self")]
    assert findings(cs, "my chest. so tight") == []  # not across a clause


def test_groups_optional_groups_and_years() -> None:
    cs = concepts(
        {
            "concepts": {"c": ["(go on|keep going) (anymore)? now"], "y": ["back in <year>"]},
            "rules": [
                {"category": "x", "severity": "high", "all": ["c"]},
                {"category": "y", "severity": "high", "all": ["y"]},
            ],
        }
    )
    assert [f[0] for f in findings(cs, "can't keep going now")] == ["x"]
    assert [f[0] for f in findings(cs, "can't go on anymore now")] == ["x"]
    assert [f[0] for f in findings(cs, "back in 2015")] == ["y"]
    assert findings(cs, "back in 3015") == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"concepts": {"c": ["a?b"]}}, "cannot use"),
        ({"concepts": {"c": ["(a|)"]}}, "empty alternative"),
        ({"concepts": {"c": []}}, "at least one term"),
        (
            {"concepts": {"c": ["word"]}, "rules": [{"category": "x", "severity": "high", "all": ["nope"]}]},
            "unknown concept",
        ),
        (
            {"concepts": {"c": ["word"]}, "rules": [{"category": "x", "severity": "medium", "all": ["c"]}]},
            "critical or high",
        ),
        ({"modifiers": {"m": {"effect": "maybe", "cues": ["x"]}}}, "drop, possible or keep"),
        ({"bogus": 1}, "unknown key"),
    ],
)
def test_a_bad_concept_file_names_the_entry(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConceptError, match=message):
        concepts(data)


# --- modifiers, experiencer, composition -------------------------------------------------------

NEGATION = {
    "effect": {"critical": "possible", "high": "drop"},
    "direction": "forward",
    "window": 3,
    "cues": ["not"],
}


def test_negation_makes_a_crisis_possible_and_drops_a_high_finding() -> None:
    cs = concepts(
        {
            "concepts": {"wish": ["want die"], "use": ["relapse"]},
            "modifiers": {"negation": NEGATION},
            "rules": [
                {"category": "suicide", "severity": "critical", "all": ["wish"]},
                {"category": "use", "severity": "high", "all": ["use"]},
            ],
        }
    )
    assert findings(cs, "i do not want to die") == [("suicide", POSSIBLE, "self")]
    assert findings(cs, "did not relapse") == [("use", DROP, "self")]
    assert findings(cs, "not now. i want to die") == [("suicide", KEEP, "self")]  # its clause only


def test_a_modifier_can_be_limited_to_categories_and_reach_the_whole_message() -> None:
    cs = concepts(
        {
            "concepts": {"threat": ["kill him"], "wish": ["want die"]},
            "modifiers": {
                "joking": {
                    "effect": "drop",
                    "direction": "both",
                    "categories": ["violence"],
                    "whole_message": True,
                    "cues": ["=lol"],
                }
            },
            "rules": [
                {"category": "violence", "severity": "critical", "all": ["threat"]},
                {"category": "suicide", "severity": "critical", "all": ["wish"]},
            ],
        }
    )
    assert findings(cs, "gonna kill him, he ate my fries lol") == [("violence", DROP, "self")]
    assert findings(cs, "i want to die lol") == [("suicide", KEEP, "self")]


def test_the_experiencer_is_the_nearest_person_before_the_finding() -> None:
    cs = concepts(
        {
            "concepts": {"wish": ["want die"]},
            "experiencer": {"self": ["i", "me", "my"], "other": ["he", "she", "son"]},
            "rules": [{"category": "suicide", "severity": "critical", "all": ["wish"]}],
        }
    )
    assert findings(cs, "my son says he wants to die") == [("suicide", KEEP, "other")]
    assert findings(cs, "my son left and i want to die") == [("suicide", KEEP, "self")]


def test_a_concept_named_twice_needs_two_different_hits() -> None:
    cs = concepts(
        {
            "concepts": {"farewell": ["love you all", "sorry for everything"]},
            "rules": [
                {
                    "category": "suicide",
                    "severity": "critical",
                    "all": ["farewell", "farewell"],
                    "within": "message",
                }
            ],
        }
    )
    assert findings(cs, "love you all. love you all. love you all") == []
    assert findings(cs, "sorry for everything. love you all") == [("suicide", KEEP, "self")]


def test_spanglish_is_read_by_both_languages(triage: Triage) -> None:
    assert triage.assess("bro I relapsed ayer", "es").severity is HIGH
    assert triage.assess("mi hijo no respira after he used", "en").severity is CRITICAL
