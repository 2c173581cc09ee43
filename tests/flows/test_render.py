"""Rendering: keyboards for Telegram and the console, short numbered text for SMS."""

from __future__ import annotations

import pytest

from flows import engine
from flows.engine import Option, Question, Say
from flows.model import Flow, StepType
from flows.render import MAX_BUTTONS_PER_ROW, Rendered, render
from flows.texts import TEXTS


def question_at(flow: Flow, replies: list[str], locale: str = "en") -> Question:
    state = engine.start(flow, locale).state
    for reply in replies:
        state = engine.resume(flow, state, reply, locale).state
    question = engine.current_question(flow, state, locale)
    assert question is not None
    return question


def labels(rendered: Rendered) -> list[list[str]]:
    return [[option.label for option in row] for row in rendered.buttons]


@pytest.mark.parametrize("buttons", [True, False])
def test_say_is_plain_text(buttons: bool) -> None:
    assert render(Say("Thank you."), buttons=buttons) == Rendered("Thank you.", ())


def test_short_scale_is_one_row(daily: Flow) -> None:
    rendered = render(question_at(daily, []), buttons=True)
    assert rendered.text == "How is your mood today, from 1 (really low) to 5 (really good)?"
    assert labels(rendered) == [["1", "2", "3", "4", "5"]]
    assert [option.payload for option in rendered.buttons[0]] == ["1", "2", "3", "4", "5"]


def test_zero_to_ten_wraps_into_balanced_rows(daily: Flow) -> None:
    # Telegram shows at most 8 inline buttons in a row, so 0-10 cannot be a single row.
    rendered = render(question_at(daily, ["3"]), buttons=True)
    assert labels(rendered) == [["0", "1", "2", "3", "4", "5"], ["6", "7", "8", "9", "10"]]
    assert all(len(row) <= MAX_BUTTONS_PER_ROW for row in rendered.buttons)


def test_yesno_is_one_row(daily: Flow) -> None:
    assert labels(render(question_at(daily, ["3", "3"]), buttons=True)) == [["Yes", "No"]]
    assert labels(render(question_at(daily, ["3", "3"], "es"), buttons=True)) == [["Sí", "No"]]


def test_choices_one_per_row(family: Flow) -> None:
    rendered = render(question_at(family, []), buttons=True)
    assert rendered.text == "How are you holding up today?"
    assert labels(rendered) == [["Good"], ["Okay"], ["Struggling"]]
    assert [row[0].payload for row in rendered.buttons] == ["good", "okay", "struggling"]


def test_optional_text_gets_a_skip_row(daily: Flow) -> None:
    rendered = render(question_at(daily, ["3", "3", "yes"]), buttons=True)
    assert rendered.buttons == ((Option("Skip", "skip"),),)
    assert render(question_at(daily, ["3", "3", "sí"], "es"), buttons=True).buttons == (
        (Option("Saltar", "skip"),),
    )


def test_skip_row_comes_after_the_answers() -> None:
    question = Question(
        "sleep", StepType.SCALE, "Sleep?", (Option("1", "1"), Option("2", "2"), Option("Skip", "skip")), None
    )
    assert render(question, buttons=True).buttons == (
        (Option("1", "1"), Option("2", "2")),
        (Option("Skip", "skip"),),
    )
    assert render(question, buttons=False).text == "Sleep?\nReply 1-2\nReply SKIP to skip"


def test_sms_scale_says_the_range(daily: Flow) -> None:
    assert render(question_at(daily, ["3"]), buttons=False) == Rendered(
        "Since your last check-in, how strong have cravings been, from 0 (none) to 10 (the strongest)?"
        "\nReply 0-10"
    )
    spanish = render(question_at(daily, [], "es"), buttons=False)
    assert spanish.text == "¿Cómo está tu ánimo hoy, del 1 (muy bajo) al 5 (muy bien)?\nResponde 1-5"


def test_sms_yesno_is_numbered(family: Flow) -> None:
    rendered = render(question_at(family, ["1", "4"]), buttons=False)
    assert rendered == Rendered("Right now, are you worried about your loved one's safety?\n1) Yes\n2) No")


def test_sms_choices_are_numbered(onboarding: Flow) -> None:
    rendered = render(question_at(onboarding, ["yes"]), buttons=False)
    assert rendered.text.splitlines() == [
        "What time of day works best for your check-in?",
        "1) 9:00 am",
        "2) 10:00 am",
        "3) 12:00 noon",
        "4) 6:00 pm",
        "5) 8:00 pm",
    ]
    assert rendered.buttons == ()


def test_sms_optional_text_offers_skip(daily: Flow) -> None:
    assert render(question_at(daily, ["3", "3", "no", "no"]), buttons=False).text == (
        "Anything you'd like your peer to know? This one is optional.\nReply SKIP to skip"
    )
    assert render(question_at(daily, ["3", "3", "no", "no"], "es"), buttons=False).text.endswith(
        "\nResponde SALTAR para saltar"
    )


def test_sms_numbers_round_trip_through_the_engine(family: Flow) -> None:
    # What SMS shows as "2) Okay" must be what "2" answers.
    question = question_at(family, [])
    lines = render(question, buttons=False).text.splitlines()
    assert lines[2] == "2) Okay"
    state = engine.start(family, "en").state
    assert engine.resume(family, state, "2", "en").answers[0].value == "okay"


def test_every_interface_text_exists_in_every_locale() -> None:
    assert set(TEXTS["es"]) == set(TEXTS["en"])


def test_terms_are_the_channels(flows: dict[str, Flow]) -> None:
    consent = question_at(flows["onboarding"], [])
    sms = render(consent, buttons=False, sms=True).text
    telegram = render(consent, buttons=True).text
    assert "Msg & data rates may apply. Reply STOP any time to stop, HELP for help." in sms
    assert "Msg & data" not in telegram and "Send /stop any time to stop" in telegram
    assert "{terms}" not in sms + telegram
    spanish = render(question_at(flows["onboarding"], [], "es"), buttons=False, sms=True).text
    assert "Pueden aplicarse tarifas de mensajes y datos" in spanish
