"""Answer parsing: tables of real-world replies, plus properties over every number and yes/no word."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.model import Choice
from flows.parsing import (
    is_skip,
    normalise,
    parse_choice,
    parse_option_number,
    parse_scale,
    parse_yesno,
    reads_as_message,
)

# Written out here rather than imported, so the test does not trust the table it is checking.
EN_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
ES_WORDS = ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez"]

YES_WORDS = ["y", "yes", "yeah", "yep", "yup", "ya", "sure", "ok", "okay", "si", "sí", "claro", "👍", "yea"]
NO_WORDS = ["n", "no", "nah", "nope", "not really", "no way", "👎", "nada", "never", "nunca"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", 7),
        (" 7 ", 7),
        ("7/10", 7),
        ("7 / 10", 7),
        ("7 out of 10", 7),
        ("7 de 10", 7),
        ("#7", 7),
        ("seven", 7),
        ("Seven", 7),
        ("siete", 7),
        ("a 7", 7),
        ("about 7", 7),
        ("7!", 7),
        ("7.", 7),
        ("I'm at a 7 today", 7),
        ("maybe a 7", 7),
        ("más o menos 7", 7),
        ("7️⃣", 7),
        ("１０", 10),  # full-width digits from some phone keyboards
        ("10/10", 10),
        ("0", 0),
        ("zero", 0),
        ("none", 0),
        ("nada", 0),
    ],
)
def test_parse_scale_accepts(text: str, expected: int) -> None:
    assert parse_scale(text, 0, 10) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "11",
        "-1",
        "70",
        "1-5",
        "6 or 7",
        "6-7",
        "between 6 and 7",
        "7.5",
        "7,5",
        "4/5",  # a fraction of some other scale is not a 0-10 answer
        "not 7",
        "at least 7",
        "over 7",
        "7 but I want to use",
        "seventy",
        "idk",
        "/10",
        "👍",
    ],
)
def test_parse_scale_rejects(text: str) -> None:
    assert parse_scale(text, 0, 10) is None


def test_parse_scale_respects_the_range_of_the_step() -> None:
    assert parse_scale("0", 1, 5) is None
    assert parse_scale("none", 1, 5) is None
    assert parse_scale("6", 1, 5) is None
    assert parse_scale("5/5", 1, 5) == 5
    assert parse_scale("5/10", 1, 5) is None


@given(st.integers(0, 5), st.integers(1, 15), st.data())
def test_every_number_in_range_parses_back(lo: int, span: int, data: st.DataObject) -> None:
    hi = lo + span
    number = data.draw(st.integers(lo, hi))
    forms = [
        str(number),
        f" {number} ",
        f"{number}/{hi}",
        f"#{number}",
        f"{number} out of {hi}",
        f"{number}!",
    ]
    if number <= 10:
        forms += [EN_WORDS[number], ES_WORDS[number], EN_WORDS[number].upper(), f"about {EN_WORDS[number]}"]
    for form in forms:
        assert parse_scale(form, lo, hi) == number, form


@given(st.text(max_size=40), st.integers(0, 5), st.integers(1, 15))
def test_junk_never_parses_out_of_range(text: str, lo: int, span: int) -> None:
    result = parse_scale(text, lo, lo + span)
    assert result is None or lo <= result <= lo + span


@given(st.integers(-1000, 1000), st.integers(0, 5), st.integers(1, 15))
def test_numbers_outside_the_range_never_parse(number: int, lo: int, span: int) -> None:
    hi = lo + span
    if not lo <= number <= hi:
        assert parse_scale(str(number), lo, hi) is None


@pytest.mark.parametrize(
    "text",
    [
        *YES_WORDS,
        "YES",
        "Yesss",
        "yeahhh",
        "yes!",
        "Yes please",
        "👍🏽",
        "✅",
        "of course",
        "claro que sí",
        "por supuesto",
        "I did",
        "yeah I have",
        "Sí, gracias",
        "uh huh",
    ],
)
def test_parse_yesno_yes(text: str) -> None:
    assert parse_yesno(text) is True


@pytest.mark.parametrize(
    "text",
    [
        *NO_WORDS,
        "NO",
        "noooo",
        "Nope.",
        "no thanks",
        "nah not today",
        "👎🏻",
        "❌",
        "of course not",
        "claro que no",
        "no, I did not",
        "I didn't",
        "not at all",
        "no gracias",
    ],
)
def test_parse_yesno_no(text: str) -> None:
    assert parse_yesno(text) is False


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "?",
        "maybe",
        "not sure",
        "yes and no",
        "yes no",
        "sometimes",
        "kind of",
        "idk",
        "1",
        "7",
        "no but I want to die",
        "yes I used",
        "tal vez",
        "a veces",
        "👍👎",
    ],
)
def test_parse_yesno_ambiguous(text: str) -> None:
    assert parse_yesno(text) is None


def _decorated(word: str, stretch: int, bang: str, upper: bool) -> str:
    text = word + word[-1] * stretch if word[-1].isalpha() else word
    return (text.upper() if upper else text) + bang


@given(
    st.sampled_from(YES_WORDS), st.integers(0, 4), st.sampled_from(["", "!", ".", "!!", " 🙂"]), st.booleans()
)
def test_yes_words_never_read_as_no(word: str, stretch: int, bang: str, upper: bool) -> None:
    assert parse_yesno(_decorated(word, stretch, bang, upper)) is True


@given(
    st.sampled_from(NO_WORDS), st.integers(0, 4), st.sampled_from(["", "!", ".", "!!", " 🙁"]), st.booleans()
)
def test_no_words_never_read_as_yes(word: str, stretch: int, bang: str, upper: bool) -> None:
    assert parse_yesno(_decorated(word, stretch, bang, upper)) is False


@given(st.sampled_from(YES_WORDS), st.sampled_from(NO_WORDS))
def test_a_yes_and_a_no_together_are_ambiguous(yes: str, no: str) -> None:
    assert parse_yesno(f"{yes} {no}") is None
    assert parse_yesno(f"{no}, {yes}") is None


HOLDING_UP = (
    Choice("good", {"en": "Good", "es": "Bien"}, {"en": ("great",)}),
    Choice("okay", {"en": "Okay", "es": "Más o menos"}, {"en": ("fine", "ok")}),
    Choice("struggling", {"en": "Struggling", "es": "Me está costando"}, {"en": ("not good", "bad")}),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", "good"),
        ("#2", "okay"),
        ("3)", "struggling"),
        ("two", "okay"),
        ("dos", "okay"),
        ("option 3", "struggling"),
        ("Good", "good"),
        ("GREAT!", "good"),
        ("bien", "good"),
        ("mas o menos", "okay"),
        ("Más o menos", "okay"),
        ("me esta costando", "struggling"),
        ("not good", "struggling"),
        ("struggling", "struggling"),
        ("okay", "okay"),
        ("I'm struggling today", "struggling"),
        ("honestly pretty great", "good"),
    ],
)
def test_parse_choice_accepts(text: str, expected: str) -> None:
    assert parse_choice(text, HOLDING_UP) == expected


@pytest.mark.parametrize("text", ["", "4", "0", "1 or 2", "not great", "good and bad", "purple", "not okay"])
def test_parse_choice_rejects(text: str) -> None:
    assert parse_choice(text, HOLDING_UP) is None


@given(st.integers(1, 3))
def test_every_option_number_picks_its_choice(number: int) -> None:
    assert parse_choice(str(number), HOLDING_UP) == HOLDING_UP[number - 1].value
    assert parse_choice(EN_WORDS[number], HOLDING_UP) == HOLDING_UP[number - 1].value


def test_parse_choice_matches_the_stored_value() -> None:
    times = (Choice("08:00", {"en": "8:00 am"}), Choice("20:00", {"en": "8:00 pm"}))
    assert parse_choice("20:00", times) == "20:00"
    assert parse_choice("8:00 am", times) == "08:00"
    assert parse_choice("2", times) == "20:00"


def test_parse_option_number() -> None:
    assert parse_option_number("1", 2) == 1
    assert parse_option_number(" #2 ", 2) == 2
    assert parse_option_number("3", 2) is None
    assert parse_option_number("yes", 2) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Sí, ¡CLARO!  ", "si claro"),
        ("I’m ok", "im ok"),
        ("yes 👍🏽!!", "yes"),
        ("Más\tO   menos", "mas o menos"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("text", "free_text", "expected"),
    [
        ("skip", False, True),
        ("SKIP", True, True),
        ("pass", False, True),
        ("saltar", False, True),
        ("no", True, True),
        ("nothing", True, True),
        ("nada", True, True),
        ("nope, thanks", True, True),
        ("no", False, False),  # on a yes/no step "no" is an answer
        ("nothing", False, False),
        ("no I relapsed", True, False),  # has content: goes to the peer and triage, not skipped
        ("I'm scared", True, False),
    ],
)
def test_is_skip(text: str, free_text: bool, expected: bool) -> None:
    assert is_skip(text, free_text=free_text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "can you call me later",
        "call me?",
        "¿me llamas",
        "I had a rough night honestly",
        "no sé qué decir hoy",
    ],
)
def test_a_reply_that_is_a_question_or_a_sentence_reads_as_a_message(text: str) -> None:
    assert reads_as_message(text)


@pytest.mark.parametrize("text", ["purple", "no idea", "banana split", "  idk  ", "10/10 lol"])
def test_one_or_two_words_read_as_a_wrong_answer(text: str) -> None:
    assert not reads_as_message(text)
