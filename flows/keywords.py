"""Compliance keywords (CTIA): they win over any running flow, so they are recognised before routing.

Exact keywords follow carrier practice (a message that *is* the keyword, ignoring case, punctuation
and surrounding spaces); a few natural-language opt-outs are recognised too, because "stop texting me"
means stop.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


_EXACT: dict[str, Keyword] = {
    **dict.fromkeys(
        ("stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "opt out", "/stop"),
        Keyword.STOP,
    ),
    **dict.fromkeys(("start", "unstop", "yes", "/start", "subscribe"), Keyword.START),
    **dict.fromkeys(("help", "info", "/help", "ayuda"), Keyword.HELP),
}

_NATURAL_STOP = re.compile(
    r"\b(?:stop|quit|quit\s+(?:texting|messaging)|don'?t|do\s+not|no\s+more)\s+"
    r"(?:texting|messaging|sending|texts?|messages?|contact)(?:ing)?\s*(?:me|us)?\b"
    r"|\bunsubscribe\s+me\b|\bremove\s+me\s+from\b|\btake\s+me\s+off\b"
    r"|\bno\s+(?:me\s+)?(?:escribas|mandes|env[ií]es)\s+m[aá]s\b|\bdeja\s+de\s+(?:escribirme|mandarme|enviarme)\b",
)

_START_WITH_PARAMETER = re.compile(r"/start [a-z0-9_-]{1,64}")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().strip()
    return re.sub(r"[\s.!?¡¿,;:'\"]+$", "", re.sub(r"^[\s.!?¡¿,;:'\"]+", "", text))


def classify(text: str, *, opted_out: bool = False) -> Keyword | None:
    """The compliance keyword a message carries, if any.

    "yes" re-subscribes only a person who opted out; otherwise it is an ordinary answer.
    """
    folded = _fold(text)
    folded = re.sub(r"\s+", " ", folded)
    keyword = _EXACT.get(folded)
    if keyword is Keyword.START and folded == "yes" and not opted_out:
        return None
    if keyword is not None:
        return keyword
    if _START_WITH_PARAMETER.fullmatch(folded):  # Telegram deep link (an invite) from a known chat
        return Keyword.START
    if _NATURAL_STOP.search(folded):
        return Keyword.STOP
    return None
