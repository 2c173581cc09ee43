"""Turn engine outputs into what a channel sends: keyboard buttons, or short numbered SMS text.

Channel adapters only translate `Rendered` into provider calls, so every layout decision lives here and
is tested without Telegram or Twilio. Telegram shows at most 8 inline buttons per row (tginfo
Telegram-Limits #228), so long scales wrap into balanced rows; SMS says "Reply 0-10" instead of listing
eleven numbers, because every extra line costs the person a scroll and the program a segment.

`{terms}` in a question stands for the channel's terms: on SMS what CTIA asks of a program ("Msg & data
rates may apply", STOP, HELP), elsewhere only how to stop, since no carrier charges a Telegram message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from flows.engine import SKIP, Option, Question, Say
from flows.model import StepType
from flows.texts import ui

MAX_BUTTONS_PER_ROW = 8


@dataclass(frozen=True, slots=True)
class Rendered:
    """Message text plus keyboard rows (empty for SMS and plain text)."""

    text: str
    buttons: tuple[tuple[Option, ...], ...] = ()


def _balanced_rows(options: tuple[Option, ...]) -> tuple[tuple[Option, ...], ...]:
    """Split into the fewest rows of at most MAX_BUTTONS_PER_ROW, sizes differing by at most one."""
    if not options:
        return ()
    rows = -(-len(options) // MAX_BUTTONS_PER_ROW)
    size, extra = divmod(len(options), rows)
    result: list[tuple[Option, ...]] = []
    start = 0
    for row in range(rows):
        end = start + size + (1 if row < extra else 0)
        result.append(options[start:end])
        start = end
    return tuple(result)


def _keyboard(question: Question) -> tuple[tuple[Option, ...], ...]:
    answers = tuple(option for option in question.options if option.payload != SKIP)
    skips = tuple(option for option in question.options if option.payload == SKIP)
    rows: tuple[tuple[Option, ...], ...]
    if question.kind is StepType.CHOICE:
        rows = tuple((option,) for option in answers)
    else:
        rows = _balanced_rows(answers)
    return rows + ((skips,) if skips else ())


def numbered(labels: Iterable[str]) -> list[str]:
    """Options as a channel without buttons shows them: `1) label`, one a line (a reply of 1 picks it)."""
    return [f"{number}) {label}" for number, label in enumerate(labels, start=1)]


def _sms_lines(question: Question) -> list[str]:
    answers = [option for option in question.options if option.payload != SKIP]
    lines = [question.text]
    if question.kind is StepType.SCALE and answers:
        lines.append(ui("reply_range", question.locale, lo=answers[0].payload, hi=answers[-1].payload))
    elif answers:
        lines.extend(numbered(option.label for option in answers))
    if len(answers) != len(question.options):
        lines.append(ui("reply_skip", question.locale))
    return lines


TERMS = "{terms}"


def render(item: Say | Question, *, buttons: bool, sms: bool = False) -> Rendered:
    """Render a `Say` or `Question` for a channel with (`buttons=True`) or without keyboards; `sms`
    for an SMS channel (its terms)."""
    if isinstance(item, Say):
        return Rendered(item.text)
    if TERMS in item.text:
        terms = ui("terms_sms" if sms else "terms_chat", item.locale)
        item = replace(item, text=item.text.replace(TERMS, terms))
    if buttons:
        return Rendered(item.text, _keyboard(item))
    return Rendered("\n".join(_sms_lines(item)))
