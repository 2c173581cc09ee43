"""The staff command grammar: command words, alert-button payloads, and what an acknowledge or resolve did."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from flows.numbers import parse_id
from flows.payloads import alert_action, alert_payload


def alert_number(word: str) -> int | None:
    """`12` or `#12` as an alert number; "²", "١٢" or a number past any id is none (`flows.numbers`)."""
    return parse_id(word.strip().removeprefix("#"))


def ack_payload(alert_id: int) -> str:
    return alert_payload("ack", alert_id)


def done_payload(alert_id: int) -> str:
    return alert_payload("done", alert_id)


class Verb(StrEnum):
    ACK = "ack"
    DONE = "done"
    CASELOAD = "caseload"
    HISTORY = "history"
    REPLY = "reply"
    NOTE = "note"
    PAUSE = "pause"
    RESUME = "resume"
    DIGEST = "digest"
    MORE = "more"
    COMMANDS = "commands"


MENU: tuple[Verb, ...] = tuple(Verb)
"""The commands a staff member's chat menu lists (Telegram `setMyCommands`): every verb, by its word."""

_WORDS: dict[str, Verb] = {
    **{verb.value: verb for verb in Verb},
    "acknowledge": Verb.ACK,
    "resolve": Verb.DONE,
    "help": Verb.COMMANDS,
    "ayuda": Verb.COMMANDS,
    "más": Verb.MORE,
    "mas": Verb.MORE,
}


MINUTES = re.compile(r"^(\d{1,4})(?:m|min|mins|minutes)?$", re.IGNORECASE)


class Result(StrEnum):
    CHANGED = "changed"
    ALREADY_MINE = "already_mine"
    ALREADY_OTHER = "already_other"
    ALREADY_RESOLVED = "already_resolved"


@dataclass(frozen=True, slots=True)
class Change:
    """What an acknowledge or resolve did; `by` names who got there first when nothing changed."""

    result: Result
    queued: int = 0
    by: str | None = None


@dataclass(frozen=True, slots=True)
class Command:
    verb: Verb | None  # None: a message from staff that is no command we know
    args: str = ""
    button: bool = False


def parse(text: str, payload: str | None = None) -> Command:
    """Read a staff message as a command."""
    pressed = alert_action(payload)
    if pressed is not None:
        action, alert_id = pressed
        verb = {"ack": Verb.ACK, "done": Verb.DONE}.get(action)
        return Command(verb, alert_id, button=True)
    body = text.strip()
    if body.startswith(("@", "#")):
        return Command(Verb.REPLY, body)
    parts = body.split(maxsplit=1)
    word, rest = (parts[0], parts[1] if len(parts) > 1 else "") if parts else ("", "")
    return Command(_WORDS.get(word.lstrip("/").split("@", 1)[0].casefold()), rest.strip())


def looks_like_command(text: str, payload: str | None) -> bool:
    """For a PIR or family member: only unmistakable command forms count (their "done" is an answer).

    That is an alert button, a `/command`, or an upper-case command word with the command's arguments.
    """
    if payload is not None:
        return alert_action(payload) is not None
    words = text.split()
    if not words:
        return False
    word = words[0]
    if word.startswith("/"):
        verb = _WORDS.get(word[1:].split("@", 1)[0].casefold())
        return verb is not None and verb is not Verb.COMMANDS
    if not word.isupper() or word.casefold() not in _WORDS:
        return False
    verb, args = _WORDS[word.casefold()], words[1:]
    if verb in (Verb.CASELOAD, Verb.DIGEST, Verb.COMMANDS):
        return not args and verb is not Verb.COMMANDS
    if verb is Verb.ACK:
        return not args or (len(args) == 1 and alert_number(args[0]) is not None)
    if verb is Verb.MORE:
        return len(args) == 1 and alert_number(args[0]) is not None
    if verb is Verb.DONE:
        return bool(args) and alert_number(args[0]) is not None
    if verb is Verb.NOTE:
        return any(MINUTES.match(a) for a in args[1:])
    if verb is Verb.REPLY:
        return len(args) >= 2
    return len(args) >= 1  # HISTORY, PAUSE, RESUME
