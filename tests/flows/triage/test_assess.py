"""Free-text triage: the engine's safety rules, the phrase syntax and the shipped lexicons."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flows.severity import Severity, max_severity
from flows.triage import (
    NO_FLAGS,
    Lexicon,
    LexiconError,
    Match,
    Triage,
    TriageResult,
    normalize,
)

CONFIG_DIR = Path(__file__).parents[3] / "config"
CRITICAL, HIGH, NONE = Severity.CRITICAL, Severity.HIGH, Severity.NONE


@pytest.fixture(scope="module")
def triage() -> Triage:
    return Triage.load(CONFIG_DIR)


def severity(triage: Triage, text: str, lang: str | None = None) -> Severity:
    return triage.assess(text, lang).severity


# --- severity and result ---------------------------------------------------------------------


def test_severity_orders_by_rank_not_alphabet() -> None:
    assert [s.rank() for s in (NONE, Severity.MEDIUM, HIGH, CRITICAL)] == [0, 1, 2, 3]
    assert max_severity(HIGH, CRITICAL, Severity.MEDIUM) is CRITICAL
    assert max_severity() is NONE
    assert max([CRITICAL, HIGH], key=Severity.rank) is CRITICAL


def test_result_orders_categories_worst_first_and_merges() -> None:
    use = Match("use", HIGH, "relapsed")
    od = Match("overdose", CRITICAL, "not breathing")
    trend = Match("craving_spike", Severity.MEDIUM, "craving 8 vs usual 4")
    result = TriageResult.from_matches([use, od])
    assert result.severity is CRITICAL
    assert result.categories == ("overdose", "use")
    merged = result.merge(TriageResult.from_matches([trend]))
    assert merged.categories == ("overdose", "use", "craving_spike")
    assert TriageResult.from_matches([]) == NO_FLAGS


def test_to_json_lists_phrases_for_the_cli(triage: Triage) -> None:
    result = triage.assess("I Relapsed LAST night and want to die 😭")
    shape = result.to_json()
    assert {k: shape[k] for k in ("severity", "categories", "matches")} == {
        "severity": "critical",
        "categories": ["suicide", "use"],
        "matches": ["Relapsed", "want to die"],
    }
    assert shape["possible_crisis"] is False and shape["experiencer"] == "self"
    assert {f["source"] for f in shape["findings"]} == {"lexicon"}
    detailed = result.to_json(detailed=True)["matches"]
    assert any(d["phrase"] == "want to die" and d["category"] == "suicide" for d in detailed)


# --- the examples --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kms", CRITICAL),
        ("thinking about how to unalive myself", CRITICAL),
        ("my buddy od'd", CRITICAL),
        ("we used narcan on him", CRITICAL),
        ("she's turning blue", CRITICAL),
        ("I picked up last night", HIGH),
        ("I slipped.", HIGH),
        ("I caved", HIGH),
        ("went out and used", HIGH),
        ("about to go cop", HIGH),
        ("fell off the wagon", HIGH),
    ],
)
def test_slang_fires(triage: Triage, text: str, expected: Severity) -> None:
    assert severity(triage, text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "didn't use",
        "no cravings",
        "not suicidal",
        "this traffic is killing me",
        "dying to see my kids",
        "picked up my kids",
        "I used my coping skills",
        "I used to drink",
        "I slipped on the ice",
        "my sponsor is killing it",
        "I'm high on life",
        "",
        "   ",
        "😊😊",
        "7/10",
    ],
)
def test_idioms_and_negations_do_not_fire(triage: Triage, text: str) -> None:
    assert not triage.assess(text).matches


# --- negation never hides a crisis -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm not suicidal", NONE),
        ("no suicidal thoughts today", NONE),
        ("I would never hurt myself", NONE),
        ("I don't want to die, I want to get better", NONE),
        ("not sure I want to live", CRITICAL),
        ("I didn't overdose but my friend did and isn't breathing", CRITICAL),
        ("I'm not suicidal but I want to die", CRITICAL),
        ("I'm not suicidal yet", CRITICAL),  # "yet" leaves room: when unsure, escalate
        ("I didn't kill myself but I tried", CRITICAL),
        ("I didn't use but I want to kill myself", CRITICAL),
        ("don't worry, I'm going to kill myself", CRITICAL),
        ("no I don't want to live anymore", CRITICAL),
    ],
)
def test_only_a_whole_denial_cancels_a_critical_phrase(triage: Triage, text: str, expected: Severity) -> None:
    assert severity(triage, text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I didn't drink", NONE),
        ("haven't had a drink in 2 years", NONE),
        ("I almost used but called my sponsor", NONE),
        ("wanted to drink but didn't", NONE),
        ("craving was really bad this morning but it passed", NONE),
        ("I drank, I'm sorry", HIGH),
        ("no, I relapsed", HIGH),
        ("I don't know why I relapsed", HIGH),  # "don't know" is not a negation of "relapsed"
        ("I didn't go to work and drank all day", HIGH),
        ("I relapsed but I called my sponsor after", HIGH),  # a completed use is never cancelled
    ],
)
def test_negation_scope(triage: Triage, text: str, expected: Severity) -> None:
    assert severity(triage, text) is expected


# --- normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I WANT TO DIE",
        "i want to dieeeee",
        "i wanna kiiiiill myself",
        "want 2 die",
        "want to… die",
        "want to 😭 die",
        "ｋｍｓ",  # fullwidth letters
        "I’m going to kill my self",
        "thinkin bout killin myself",
        "self-harm again",
        "selfharm again",
        "I O.D.'d",
    ],
)
def test_spelling_case_emoji_and_repeats_are_tolerated(triage: Triage, text: str) -> None:
    assert severity(triage, text) is CRITICAL


def test_curly_apostrophes_and_accents(triage: Triage) -> None:
    assert severity(triage, "I didn’t use today") is NONE
    for text in ("recaí", "recai", "RECAÍ", "Recaí anoche"):
        assert severity(triage, text, "es") is HIGH, text
    assert severity(triage, "me quiero morír", "es") is CRITICAL


def test_laughing_emoji_tell_an_idiom_from_a_crisis(triage: Triage) -> None:
    assert severity(triage, "I'm dying 😂😂") is NONE
    assert severity(triage, "I think I'm dying") is CRITICAL


def test_normalize_is_what_the_lexicon_sees() -> None:
    assert normalize("  I’M  Sooooo HIGH!!! 😭 ") == "i'm so high ."
    assert normalize("Recaí, otra vez") == "recai . otra vez"
    assert normalize("") == ""


# --- languages -------------------------------------------------------------------------------


def test_a_given_language_still_checks_the_others_critical_phrases(triage: Triage) -> None:
    assert severity(triage, "I'm fine pero me quiero morir", "en") is CRITICAL
    assert severity(triage, "estoy bien pero I want to die", "es") is CRITICAL
    assert severity(triage, "quiero matarme", "en-US") is CRITICAL
    assert severity(triage, "recaí", "es") is HIGH
    assert severity(triage, "recaí", None) is HIGH
    assert severity(triage, "recaí", "fr") is HIGH  # unknown language: check everything


# --- the match report ------------------------------------------------------------------------


def test_matches_quote_the_person_and_name_the_category(triage: Triage) -> None:
    result = triage.assess("ok so... I RELAPSED last night 😔 and honestly I wanna dieeee")
    assert [(m.category, m.phrase) for m in result.matches] == [
        ("use", "RELAPSED"),
        ("suicide", "wanna dieeee"),
    ]
    assert all(
        m.phrase in "ok so... I RELAPSED last night 😔 and honestly I wanna dieeee" for m in result.matches
    )


def test_a_match_spanning_punctuation_and_accents_is_quoted_verbatim(triage: Triage) -> None:
    result = triage.assess("Ayúdenme: mi amigo NO RESPIRA!!!", "es")
    assert result.severity is CRITICAL
    assert [m.phrase for m in result.matches] == ["NO RESPIRA"]


# --- hypothesis: noise never hides a crisis --------------------------------------------------

CRITICAL_TEXTS = [
    "I want to die",
    "kms",
    "my friend isn't breathing",
    "he od'd",
    "I took all my pills",
    "I'm going to kill him",
    "I cut myself again",
    "quiero matarme",
    "mi amigo no respira",
    "not sure I want to live",
]
NOISE = st.one_of(
    st.sampled_from(
        [
            "ok",
            "lol",
            "hey",
            "so",
            "today was long",
            "at work rn",
            "idk",
            "my mom called",
            "7/10",
            "...",
            "!!!",
        ]
    ),
    st.text(st.characters(categories=["So", "Sk"]), min_size=1, max_size=3),  # emoji and symbols
)
SEPARATORS = st.sampled_from([" ", ", ", "\n", ". ", " - "])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.sampled_from(CRITICAL_TEXTS),
    before=st.lists(NOISE, max_size=3),
    after=st.lists(NOISE, max_size=3),
    sep=SEPARATORS,
    lang=st.sampled_from([None, "en", "es"]),
)
def test_benign_noise_around_a_crisis_keeps_it_critical(
    triage: Triage, text: str, before: list[str], after: list[str], sep: str, lang: str | None
) -> None:
    noisy = sep.join([*before, text, *after])
    # A threat to someone else followed by a laugh is the hyperbole of issue 11 ("I'm gonna kill
    # my brother lol"): see test_a_laughed_off_threat_to_someone_else_is_a_joke.
    assume(not (text == "I'm going to kill him" and "lol" in normalize(noisy)))
    result = triage.assess(noisy, lang)
    assert result.severity is CRITICAL, noisy
    assert all(m.phrase and m.phrase in noisy for m in result.matches)


@pytest.mark.parametrize(
    "text",
    [
        "I'm gonna kill my brother lol",
        "lo voy a matar, se comió mis tacos jajaja",
        "im going to kill him lmao",
    ],
)
def test_a_laughed_off_threat_to_someone_else_is_a_joke(triage: Triage, text: str) -> None:
    assert severity(triage, text) is NONE


@pytest.mark.parametrize("text", ["lol i want to die", "I want to die 😂", "jaja ya me quiero morir"])
def test_a_laugh_never_silences_a_wish_to_die(triage: Triage, text: str) -> None:
    assert severity(triage, text) is CRITICAL


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=80))
def test_any_text_is_assessed_and_quoted_from_itself(triage: Triage, text: str) -> None:
    result = triage.assess(text)
    assert all(
        (m.phrase and m.phrase in text) or (m.source == "model" and not m.phrase) for m in result.matches
    )


# --- lexicon files: syntax and validation ----------------------------------------------------


def lexicon(categories: dict[str, object], **extra: object) -> Triage:
    return Triage({"en": Lexicon.from_mapping("en", {"categories": categories, **extra}, "test.yaml")})


def test_phrase_syntax() -> None:
    t = lexicon(
        {
            "use": {
                "severity": "high",
                "phrases": ["relaps*", "i caved $", "(drank|had) [a few] @booze", "=od'd", "went ... using"],
            }
        },
        groups={"booze": ["beer*", "wine"]},
    )
    assert t.assess("relapsing").severity is HIGH
    assert t.assess("I caved.").severity is HIGH
    assert t.assess("I caved in").severity is NONE  # "$": end of sentence only
    assert t.assess("had a few beers").severity is HIGH
    assert t.assess("drank wine").severity is HIGH
    assert t.assess("od'd").severity is HIGH
    assert t.assess("that's odd").severity is NONE  # "=": exact spelling
    assert t.assess("went back to using").severity is HIGH
    assert t.assess("went back home and stopped using").severity is NONE  # "...": up to three words


def test_negation_cues_idioms_and_denials_come_from_the_file() -> None:
    t = lexicon(
        {
            "suicide": {"severity": "critical", "phrases": ["suicid*", "kill myself"]},
            "use": {"severity": "high", "phrases": ["relapsed"], "unless_followed_by": ["in my dreams"]},
        },
        negation={"window": 2, "before": ["never"], "clause_breaks": ["but"]},
        denials={"phrases": ["not suicidal"], "unless_followed_by": ["but"]},
        safe=["suicide prevention", "kill myself laughing"],
    )
    assert t.assess("never relapsed").severity is NONE
    assert t.assess("never did I think I relapsed").severity is HIGH  # outside the 2-word window
    assert t.assess("never, but relapsed").severity is HIGH  # clause break
    assert t.assess("relapsed in my dreams").severity is NONE
    assert t.assess("never suicidal").severity is CRITICAL  # critical phrases ignore negation
    assert t.assess("not suicidal").severity is NONE
    assert t.assess("not suicidal but close").severity is CRITICAL
    assert t.assess("suicide prevention walk").severity is NONE
    assert t.assess("I could kill myself laughing").severity is NONE


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"categories": {"x": {"severity": "urgent", "phrases": ["a"]}}}, "categories.x: severity"),
        (
            {"categories": {"x": {"severity": "critical", "negatable": True, "phrases": ["a"]}}},
            "cannot be negatable",
        ),
        ({"categories": {"x": {"severity": "high", "phrases": ["(a|b"]}}}, "categories.x.phrases[0]: '(a|b'"),
        ({"categories": {"x": {"severity": "high", "phrases": ["@nope"]}}}, "unknown group @nope"),
        ({"categories": {"x": {"severity": "high", "phrases": ["[a]"]}}}, "can match nothing"),
        ({"categories": {"x": {"severity": "high", "phrases": []}}}, "at least one phrase"),
        (
            {"categories": {"x": {"severity": "high", "phrases": ["a"], "colour": 1}}},
            "unknown key(s) ['colour']",
        ),
        ({"categories": {}}, "at least one category"),
        ({"language": "es", "categories": {"x": {"severity": "high", "phrases": ["a"]}}}, "language"),
    ],
)
def test_lexicon_errors_name_the_entry(data: dict[str, object], message: str) -> None:
    with pytest.raises(LexiconError, match=r"test\.yaml") as caught:
        Lexicon.from_mapping("en", data, "test.yaml")
    assert message in str(caught.value)


def test_load_reads_every_language(tmp_path: Path) -> None:
    triage = Triage.load(CONFIG_DIR)
    assert set(triage.languages) == {"en", "es"}

    (tmp_path / "triage").mkdir()
    with pytest.raises(LexiconError, match="no lexicon files"):
        Triage.load(tmp_path)
    (tmp_path / "triage" / "en.yaml").write_text("categories: [unclosed\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"en\.yaml: not valid YAML"):
        Triage.load(tmp_path)


def test_shipped_lexicons_never_negate_critical_categories(triage: Triage) -> None:
    for lex in triage.lexicons.values():
        for category in lex.categories:
            assert category.negatable is (category.severity is not CRITICAL), category.name
        assert {c.name for c in lex.categories} <= {
            "suicide",
            "self_harm",
            "overdose",
            "medical",
            "violence",
            "use",
            "intent_to_use",
            "unsafe_situation",
        }


@pytest.fixture(scope="module")
def rules_only() -> Triage:
    return Triage.load(CONFIG_DIR, use_model=False)


@pytest.mark.parametrize(
    "text",
    [
        "got a bag of blues in the drawer and cant stop staring at it",
        "the liquor store is open till 10 and im going",
    ],
)
def test_the_models_alert_head_pages_high_for_use_in_words_the_rules_do_not_know(
    triage: Triage, rules_only: Triage, text: str
) -> None:
    assert rules_only.assess(text, "en").severity is Severity.NONE  # the rules alone miss it
    result = triage.assess(text, "en")
    assert (result.severity, result.categories) == (Severity.HIGH, ("possible_risk",))
    assert not result.possible_crisis  # a use page, not the gentle crisis reply
    (match,) = result.matches
    assert match.source == "model" and result.model is not None and result.model.alert >= 0.5


@pytest.mark.parametrize(
    "text",
    [
        "I am not going to the liquor store tonight, I went to a meeting instead",
        "good, went to work",
    ],
)
def test_the_alert_head_leaves_denials_and_everyday_texts_alone(triage: Triage, text: str) -> None:
    assert triage.assess(text, "en").severity is Severity.NONE
