"""Compliance keywords: the whole message (tolerant of case, punctuation and politeness) or a short plain
request; a request inside a longer sentence is only a maybe; staff opt out by the exact keyword alone."""

from __future__ import annotations

import pytest

from flows.keywords import Keyword, classify


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        " Stop. ",
        "STOPALL",
        "unsubscribe",
        "Cancel",
        "END",
        "quit!",
        "REVOKE",
        "optout",
        "opt out",
        "/stop",
        "stop texting me",
        "Please stop messaging me",
        "unsubscribe me",
        "don't text me",
        "no more texts",
        "take me off this list",
        "deja de escribirme",
        "no me escribas más",
        "STOP please",
        "stop.",
        "Stop!!",
        "please unsubscribe",
        "Stop texting me please",
        "no more messages please",
        "stop texting",
        "please don't text me anymore",
        "Unsubscribe me, thanks",
        "I want to opt out",
        "ALTO",
        "baja",
        "Parar",
        "CANCELAR por favor",
        "ya no quiero recibir mensajes",
        "quiero darme de baja",
    ],
)
def test_stop(text: str) -> None:
    assert classify(text) is Keyword.STOP


@pytest.mark.parametrize(
    "text", ["STOP texting me, I'm going to kill myself", "Stop. I relapsed", "Unsubscribe me! I mean it"]
)
def test_a_first_sentence_that_is_a_stop_is_one(text: str) -> None:
    assert classify(text) is Keyword.STOP
    assert classify(text, staff=True) is None


@pytest.mark.parametrize("text", ["Cancel, I'm at work till 9", "End of the day was rough", "no, stop it"])
def test_other_first_sentences_are_no_stop(text: str) -> None:
    assert classify(text) is None


@pytest.mark.parametrize("text", ["ALTO", "Baja.", "parar", "cancelar", "STOP"])
def test_spanish_keywords_count_for_everyone(text: str) -> None:
    assert classify(text, locale="en") is Keyword.STOP
    assert classify(text, locale="es") is Keyword.STOP


def test_para_alone_means_stop_only_in_spanish() -> None:
    assert classify("¡Para!", locale="es") is Keyword.STOP
    assert classify("para", locale="en") is None


@pytest.mark.parametrize(
    "text",
    [
        "my sponsor said don't text me after 10pm lol",
        "don't text me after 9pm, I work nights",
        "how do I unsubscribe from this?",
        "I told my cousin no more texts until he pays me back",
        "can I opt out of the family thing but keep my check-ins",
        "mi mamá dice que deja de escribirme tan tarde",
    ],
)
def test_a_request_inside_a_longer_message_is_only_a_maybe(text: str) -> None:
    assert classify(text) is Keyword.MAYBE_STOP


@pytest.mark.parametrize(
    "text",
    [
        "my dealer won't stop texting me and honestly it makes me want to use",
        "he keeps texting me",
        "I don't text my dealer anymore",
        "I need to stop texting my ex",
    ],
)
def test_reports_about_someone_else_ask_nothing(text: str) -> None:
    assert classify(text) is None


@pytest.mark.parametrize("text", ["STOP", "stop", "Stop!", "/stop", "UNSUBSCRIBE", "alto"])
def test_staff_opt_out_with_the_exact_keyword(text: str) -> None:
    assert classify(text, staff=True) is Keyword.STOP


@pytest.mark.parametrize("text", ["STOP please", "stop texting me", "please unsubscribe", "no more messages"])
def test_staff_plain_requests_are_asked_about(text: str) -> None:
    assert classify(text, staff=True) is Keyword.MAYBE_STOP


@pytest.mark.parametrize(
    "text",
    [
        "REPLY Alex please don't text me after 9pm, just call",
        "@Alex stop texting me after 9pm please",
        "my sponsor said don't text me after 10pm lol",
        "how do I unsubscribe a PIR?",
    ],
)
def test_staff_longer_messages_are_never_opt_outs(text: str) -> None:
    assert classify(text, staff=True) is None


@pytest.mark.parametrize("text", ["START", "unstop", "/start", "Start!", "/start Xq3-_9aBc"])  # + deep link
def test_start(text: str) -> None:
    assert classify(text) is Keyword.START


def test_yes_restarts_only_after_opt_out() -> None:
    assert classify("YES", opted_out=True) is Keyword.START
    assert classify("yes") is None


def test_yes_please_is_an_answer_unless_opted_out() -> None:
    assert classify("yes please") is None
    assert classify("Yes please", opted_out=True) is Keyword.START


@pytest.mark.parametrize("text", ["HELP", "info", "Help?", "ayuda", "help please"])
def test_help(text: str) -> None:
    assert classify(text) is Keyword.HELP


@pytest.mark.parametrize(
    "text",
    [
        "I can't stop thinking about using",
        "stopped by the meeting",
        "the end of the day was rough",
        "I need help",
        "can you help me",
        "started a new job",
        "4",
        "no",
        "the bus didn't stop",
        "I quit my job",
        "please",
        "thanks!",
        "ok",
        "just now",
        "nowhere to go tonight",
        "the end",
        "",
        "   ",
    ],
)
def test_ordinary_messages_are_not_keywords(text: str) -> None:
    assert classify(text) is None
