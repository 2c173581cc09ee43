"""Compliance keywords: recognised exactly, tolerant of case and punctuation, never from ordinary talk."""

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
    ],
)
def test_stop(text: str) -> None:
    assert classify(text) is Keyword.STOP


@pytest.mark.parametrize("text", ["START", "unstop", "/start", "Start!", "/start Xq3-_9aBc"])  # + deep link
def test_start(text: str) -> None:
    assert classify(text) is Keyword.START


def test_yes_restarts_only_after_opt_out() -> None:
    assert classify("YES", opted_out=True) is Keyword.START
    assert classify("yes") is None


@pytest.mark.parametrize("text", ["HELP", "info", "Help?", "ayuda"])
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
        "",
        "   ",
    ],
)
def test_ordinary_messages_are_not_keywords(text: str) -> None:
    assert classify(text) is None
