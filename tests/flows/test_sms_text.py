"""SMS segment counting (GSM-7, its extension table, UCS-2 with emoji and accents) and fitting into two."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.sms_text import (
    GSM7_BASIC,
    GSM7_EXTENDED,
    Encoding,
    SegmentInfo,
    cut_to_septets,
    drop_symbols,
    fit_sms,
    force_gsm7,
    is_gsm7,
    plain_gsm7,
    segment_info,
    segments,
    septets,
    split_segments,
)


def test_the_gsm7_alphabet_has_127_characters_plus_escape_and_10_extensions() -> None:
    assert len(GSM7_BASIC) == 127
    assert frozenset("\f^{}\\[~]|€") == GSM7_EXTENDED
    assert not GSM7_BASIC & GSM7_EXTENDED


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        ("", Encoding.GSM7, 0, 1),
        ("a" * 160, Encoding.GSM7, 160, 1),
        ("a" * 161, Encoding.GSM7, 161, 2),
        ("a" * 306, Encoding.GSM7, 306, 2),
        ("a" * 307, Encoding.GSM7, 307, 3),
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà", Encoding.GSM7, 42, 1),
        # extension characters are two septets each
        ("€" * 80, Encoding.GSM7, 160, 1),
        ("€" * 81, Encoding.GSM7, 162, 2),
        ("[x]" * 32, Encoding.GSM7, 160, 1),
        ("{}" * 41, Encoding.GSM7, 164, 2),
        ("a^b~c|d\\e", Encoding.GSM7, 13, 1),
        # one character outside GSM-7 makes the whole message UCS-2
        ("a" * 69 + "’", Encoding.UCS2, 70, 1),
        ("a" * 70 + "’", Encoding.UCS2, 71, 2),
        ("a" * 133 + "á", Encoding.UCS2, 134, 2),
        ("a" * 134 + "á", Encoding.UCS2, 135, 3),
        # emoji outside the BMP are surrogate pairs: two UTF-16 units
        ("😀" * 35, Encoding.UCS2, 70, 1),
        ("😀" * 36, Encoding.UCS2, 72, 2),
        ("👍🏽", Encoding.UCS2, 4, 1),
        ("❤", Encoding.UCS2, 1, 1),
        # Spanish: é, ñ, ü, ¿, ¡ are GSM-7; á, í, ó, ú are not
        ("¿Qué tal? Mañana, pingüino. ¡Olé!", Encoding.GSM7, 33, 1),
        ("¿Cómo estás?", Encoding.UCS2, 12, 1),
        ("ç", Encoding.UCS2, 1, 1),
    ],
)
def test_segment_info(text: str, encoding: Encoding, units: int, count: int) -> None:
    assert segment_info(text) == SegmentInfo(encoding, units, count)


def test_an_escape_pair_is_never_split_across_segments() -> None:
    text = "a" * 152 + "€" + "b" * 10  # the euro sign would straddle septets 153 and 154
    parts = split_segments(text)
    assert parts == ["a" * 152, "€" + "b" * 10]
    assert segments(text) == 2


def test_a_surrogate_pair_is_never_split_across_segments() -> None:
    text = "a" * 66 + "😀" + "b" * 10
    assert split_segments(text) == ["a" * 66, "😀" + "b" * 10]


@given(st.text(alphabet=st.sampled_from([*sorted(GSM7_BASIC | GSM7_EXTENDED), "á", "😀", "’"])))
def test_splitting_loses_nothing_and_respects_the_limits(text: str) -> None:
    parts = split_segments(text)
    assert "".join(parts) == text
    info = segment_info(text)
    assert info.segments == len(parts)
    if len(parts) > 1:
        limit = 153 if info.encoding is Encoding.GSM7 else 67
        assert all(segment_info(part).units <= limit for part in parts)


def test_fitting_swaps_typographic_punctuation_even_when_it_already_fits() -> None:
    assert fit_sms("“Hi” — it’s… fine\u00a0now") == '"Hi" - it\'s... fine now'
    assert segment_info(fit_sms("it’s " * 30)).encoding is Encoding.GSM7


def test_fitting_leaves_accents_and_emoji_alone_when_the_text_fits() -> None:
    assert fit_sms("¿Cómo estás? 💙") == "¿Cómo estás? 💙"


def test_fitting_folds_spanish_accents_only_when_that_brings_it_within_two_segments() -> None:
    text = (
        "Gracias por contármelo. Un tropiezo no borra tu progreso. ¿Quieres contarle a tu "
        "compañero/a de apoyo un poco más sobre lo que pasó? Responde cuando quieras, aquí estoy."
    )
    assert segments(text) == 3  # UCS-2 because of á, ó, í
    fitted = fit_sms(text)
    assert segment_info(fitted) == SegmentInfo(Encoding.GSM7, len(text), 2)
    assert "compañero" in fitted  # ñ is GSM-7 and stays
    assert "contarmelo" in fitted and "pasó" not in fitted


def test_fitting_drops_emoji_only_as_a_last_resort() -> None:
    text = "You did great today 💪 " + "Keep going, one day at a time. " * 8
    assert segments(text) > 2
    fitted = fit_sms(text)
    assert "💪" not in fitted and segments(fitted) <= 2
    assert fitted.startswith("You did great today Keep going")


def test_fitting_never_cuts_a_message_that_cannot_fit() -> None:
    text = "Call or text 988 now. " * 20  # 440 characters of GSM-7: three segments whatever we do
    assert fit_sms(text) == text
    assert segments(fit_sms(text)) == 3


# -- staff texts: plain GSM-7 always, cut only where told ---------------------------------------------


def test_plain_gsm7_takes_out_emoji_and_folds_accents_even_when_the_text_would_fit() -> None:
    assert (
        plain_gsm7("🚨 Alerta CRÍTICA #12: Ramón · “ya no puedo” 💔")
        == 'Alerta CRITICA #12: Ramon - "ya no puedo"'
    )
    assert plain_gsm7("é ñ ü stay") == "é ñ ü stay"
    assert plain_gsm7("Ольга") == "Ольга"  # letters of another script are the reader's business


def test_an_emoji_is_an_emoji_whatever_unicode_calls_its_base() -> None:
    assert drop_symbols("ℹ️ For your information") == "For your information"  # ℹ is a letter (Ll)
    assert drop_symbols("ℹ alone stays") == "ℹ alone stays"


def test_force_gsm7_shows_what_cannot_be_carried_as_a_question_mark() -> None:
    text = force_gsm7("Ольга wrote “I’m done” 😞")
    assert is_gsm7(text) and text == '????? wrote "I\'m done"'


def test_cutting_to_septets_ends_at_a_word_and_says_so() -> None:
    text = "wrote: 'I have the pills my doctor gave me and I want to end it all tonight'"
    cut = cut_to_septets(text, 40)
    assert septets(cut) <= 40 and cut.endswith("...") and text.startswith(cut.removesuffix("..."))
    assert cut == "wrote: 'I have the pills my doctor..."
    assert cut_to_septets(text, 200) == text
    assert septets("[x]") == 5  # brackets are escape pairs
