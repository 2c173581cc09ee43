"""Splitting a text too long for one provider message."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.base import split_text


def test_split_text_cuts_at_paragraphs_lines_and_words() -> None:
    assert split_text("short", 4096) == ["short"]
    paragraph = "word " * 500  # 2,500 units
    pieces = split_text(f"{paragraph}\n\n{paragraph}\n{paragraph}", 4096)
    assert [p.strip() for p in pieces] == [paragraph.strip()] * 3  # cut at the paragraph, then the line
    unbroken = "x" * 5000
    assert split_text(unbroken, 4096) == ["x" * 4096, "x" * 904]  # nowhere to cut: cut anyway
    emoji = "\U0001f600" * 3000  # two UTF-16 units each, as Telegram counts them
    assert [len(p) for p in split_text(emoji, 4096)] == [2048, 952]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(["a", "é", " ", "\n", "\U0001f600"]), min_size=1, max_size=600))
def test_split_text_keeps_every_character_within_the_limit(text: str) -> None:
    pieces = split_text(text, limit=50)
    assert all(len(p.encode("utf-16-le")) // 2 <= 50 for p in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())  # only whitespace at a cut may go
    assert len(pieces) == 1 or all(p.strip() for p in pieces)
