"""Compliance keywords (CTIA): they win over any running flow, so they are recognised before routing.

A keyword counts only as the whole message, ignoring case, punctuation and politeness around it ("STOP",
"stop.", "Stop!!", "STOP please", "please unsubscribe"), or as a short plain request that is the whole
message ("stop texting me", "unsubscribe me", "no more messages please") or its first sentence ("STOP
texting me, I'm going to kill myself": still a STOP, and still a crisis). Inside a longer sentence ("my
sponsor said don't text me after 10pm lol") a request to stop is only a *maybe*: the bot asks whether the
person wants to stop all messages and otherwise handles the message as usual, because an opt-out nobody
meant silences check-ins and alerts for good.

Staff (peers, supervisors) opt out only by the exact keyword: their messages are commands ("REPLY Alex
please don't text me after 9pm" is a message for Alex), and a staff opt-out stops alerts reaching them.
A plain request from staff ("stop texting me") is a maybe, so they are asked to confirm with the keyword.

Spanish keywords (ALTO, BAJA, PARAR, CANCELAR) count for everyone: as a whole message none of them has
another reading here, and many Spanish speakers are enrolled in English. STOP counts in any language.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"
    # Not a keyword: a longer message that asks for no more messages. The bot asks, nobody is opted out.
    MAYBE_STOP = "maybe_stop"


_STOP_WORDS = (
    "stop",
    "stopall",
    "stop all",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "revoke",
    "optout",
    "opt out",
    "opt-out",
    "/stop",
    "alto",
    "baja",
    "parar",
    "cancelar",
)

_EXACT: dict[str, Keyword] = {
    **dict.fromkeys(_STOP_WORDS, Keyword.STOP),
    **dict.fromkeys(("start", "unstop", "yes", "/start", "subscribe"), Keyword.START),
    **dict.fromkeys(("help", "info", "/help", "ayuda"), Keyword.HELP),
}

# Said to mean "stop!" only in Spanish ("¡para ya!"); in English "para" is no word a person sends alone.
_EXACT_ES: dict[str, Keyword] = dict.fromkeys(("para", "para ya"), Keyword.STOP)

_POLITE_WORDS = r"(?:please|pls|plz|now|thanks|thank you|thx|por favor|porfa|gracias|ya)"
_POLITE = re.compile(
    rf"^(?:(?:{_POLITE_WORDS}|ok|okay|just)\b[\s,]*)+|(?:[\s,]*\b(?:{_POLITE_WORDS}|already))+$"
)

_ME = r"(?:me|us|this number)"
_MESSAGES = r"(?:texts?|messages?|text messages?|msgs?|sms|check-?ins?)"
# A request to stop messages: as the whole message it is one, inside a sentence only a maybe. It names
# who is written to ("don't text me"), so "I don't text my dealer anymore" asks for nothing.
_REQUEST = (
    rf"(?:stop|quit|cease|don'?t|do not|never)\s+(?:texting|messaging|text|message|contacting|contact|"
    rf"writing|write|sending|send|bothering)(?:\s+to)?\s+{_ME}"
    rf"(?:\s+(?:any\s?more|again|ever again|{_MESSAGES}))?"
    rf"|stop\s+(?:all\s+|the\s+|these\s+|your\s+)?{_MESSAGES}"
    rf"|stop\s+sending\s+(?:me\s+)?(?:all\s+|the\s+|these\s+|your\s+)?{_MESSAGES}"
    rf"|no\s+more\s+{_MESSAGES}"
    rf"|unsubscribe(?:\s+{_ME})?(?:\s+from\s+(?:this|these|the|your)?\s*(?:list|{_MESSAGES}|service))?"
    rf"|(?:take|remove)\s+me\s+(?:off|from)(?:\s+(?:this|the|your))?\s+(?:list|{_MESSAGES})"
    rf"|opt\s?-?\s?(?:me\s+)?out"
    rf"|i\s+(?:want|would like|'?d like)\s+to\s+(?:unsubscribe|opt\s?out|stop\s+(?:getting|receiving)\s+"
    rf"(?:these\s+|the\s+|your\s+)?{_MESSAGES})"
    r"|(?:deja|dejen|para|paren)\s+de\s+(?:escribirme|mandarme|enviarme)(?:\s+(?:mensajes|textos))?"
    r"|no\s+me\s+(?:escribas|escriban|mandes|manden|envies|envíes|envien|envíen)\s+(?:mas|más)"
    r"(?:\s+(?:mensajes|textos))?"
    r"|(?:ya\s+)?no\s+(?:quiero|deseo)\s+(?:recibir\s+)?(?:mas\s+|más\s+)?(?:mensajes|textos)"
    r"|no\s+(?:mas|más)\s+mensajes"
    r"|(?:quiero\s+)?dar(?:me)?\s+de\s+baja"
)
# Only as the whole message: "stop texting" alone is a request, "I need to stop texting my ex" is not.
_WHOLE_REQUEST = re.compile(rf"{_REQUEST}|(?:stop|quit)\s+(?:texting|messaging)")
# A first sentence that is a STOP ("STOP texting me, I'm going to kill myself") is one: the rest is
# still read (and triaged). Only words that mean nothing else; "Cancel, I'm at work" may mean a check-in.
_LEADING_STOP = frozenset({"stop", "stopall", "stop all", "unsubscribe", "optout", "opt out", "alto", "baja"})
_FIRST_SENTENCE = re.compile(r"[,.;:!?\n]+|\s[-–—]+\s")
_REQUEST_IN_SENTENCE = re.compile(rf"(?<![\w'])(?:{_REQUEST})(?![\w'])")
# "won't stop texting me", "keeps texting me": a report about someone else, not a request.
_NOT_A_REQUEST_BEFORE = re.compile(
    r"(?:won'?t|wont|will not|doesn'?t|does not|didn'?t|did not|can'?t|cannot|never|keeps?|kept|"
    r"wouldn'?t|isn'?t going to|not going to)\s+$"
)

_START_WITH_PARAMETER = re.compile(r"/start [a-z0-9_-]{1,64}")
_EDGES = "\\s.!?¡¿,;:'\"…()*~-"


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().replace("’", "'").strip()
    text = re.sub(rf"^[{_EDGES}]+|[{_EDGES}]+$", "", text)
    return re.sub(r"\s+", " ", text)


def _unwrapped(folded: str) -> str:
    """The message without politeness and punctuation around it ("STOP please" → "stop")."""
    previous = None
    while previous != folded:
        previous = folded
        folded = _fold(_POLITE.sub("", folded))
    return folded


def _asks_to_stop(folded: str) -> bool:
    for match in _REQUEST_IN_SENTENCE.finditer(folded):
        if not _NOT_A_REQUEST_BEFORE.search(folded[: match.start()]):
            return True
    return False


def classify(
    text: str, *, opted_out: bool = False, staff: bool = False, locale: str = "en"
) -> Keyword | None:
    """The compliance keyword a message carries, `Keyword.MAYBE_STOP` for a request to stop inside a
    longer message (ask, do not opt out), or None.

    "yes" re-subscribes only a person who opted out; otherwise it is an ordinary answer. Staff opt out
    only by the exact keyword; their plain requests are a maybe, and a longer message never is (it is a
    command, often for someone else).
    """
    folded = _fold(text)
    if _START_WITH_PARAMETER.fullmatch(folded):  # Telegram deep link (an invite) from a known chat
        return Keyword.START
    exact = _exact(folded, locale)
    if exact is Keyword.START and folded == "yes" and not opted_out:
        return None
    if exact is not None:
        return exact
    bare = _unwrapped(folded)
    kind = _exact(bare, locale)
    if kind is Keyword.START and bare == "yes" and not opted_out:  # "yes please" is an answer
        kind = None
    if kind is None and bare and _WHOLE_REQUEST.fullmatch(bare):
        kind = Keyword.STOP
    if kind is not None:
        # Staff opt out by the exact keyword only: "STOP please" or "stop texting me" is asked about.
        return Keyword.MAYBE_STOP if staff and kind is Keyword.STOP else kind
    if staff:
        return None
    first = _unwrapped(_FIRST_SENTENCE.split(folded, maxsplit=1)[0])
    if first != bare and (first in _LEADING_STOP or _WHOLE_REQUEST.fullmatch(first)):
        return Keyword.STOP
    if _asks_to_stop(folded):
        return Keyword.MAYBE_STOP
    return None


def _exact(folded: str, locale: str) -> Keyword | None:
    return _EXACT.get(folded) or (_EXACT_ES.get(folded) if locale == "es" else None)
