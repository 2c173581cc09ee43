"""The `when` mini-language shared by branches and rules.

Forms: ``yes``, ``no``, ``>=8``, ``<=2``, ``>8``, ``<2``, ``==3``, ``in:a,b``, ``any`` (any real answer),
``skipped`` (no answer: skipped, or the engine gave up re-asking) and ``unclear`` (yes/no steps only:
a reply that is not a clear yes or no, such as "maybe a little" or "idk"; a step with an ``unclear`` rule
takes such a reply as its answer instead of asking again, see `flows.engine`). It is kept tiny
on purpose: flow files are edited by program staff, and a condition they cannot read at a glance is a
condition nobody will review. Conditions are parsed once by the loader (so a typo fails at start-up, not
in the middle of someone's check-in) and evaluated by the engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from flows.model import StepType

AnswerValue = int | bool | str | None
"""A recorded answer: scale → int, yes/no → bool (or `UNCLEAR`), choice value or free text → str,
skipped → None."""

UNCLEAR = "unclear"
"""The answer recorded on a yes/no step with an ``unclear`` rule when the reply was not a clear yes/no."""

_COMPARISON = re.compile(r"^(>=|<=|==|>|<)\s*(-?\d+)$")


class ConditionError(ValueError):
    """A `when` string that does not parse or does not fit the step's type."""


class Op(StrEnum):
    YES = "yes"
    NO = "no"
    GE = ">="
    LE = "<="
    GT = ">"
    LT = "<"
    EQ = "=="
    IN = "in"
    ANY = "any"
    SKIPPED = "skipped"
    UNCLEAR = "unclear"


_NUMERIC = frozenset({Op.GE, Op.LE, Op.GT, Op.LT, Op.EQ})


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed `when`. `number` is set for comparisons, `values` for `in:`."""

    op: Op
    number: int | None = None
    values: tuple[str, ...] = ()

    def matches(self, value: AnswerValue) -> bool:
        """Whether an answer satisfies the condition; a skipped answer (None) matches only `skipped`."""
        if value is None or self.op is Op.SKIPPED:
            return value is None and self.op is Op.SKIPPED
        if self.op is Op.ANY:
            return True
        if self.op is Op.YES or self.op is Op.NO:
            return isinstance(value, bool) and value is (self.op is Op.YES)
        if self.op is Op.UNCLEAR:
            return value == UNCLEAR
        if self.op is Op.IN:
            return isinstance(value, str) and value in self.values
        if isinstance(value, bool) or not isinstance(value, int) or self.number is None:
            return False
        return _compare(self.op, value, self.number)


def _compare(op: Op, value: int, number: int) -> bool:
    if op is Op.GE:
        return value >= number
    if op is Op.LE:
        return value <= number
    if op is Op.GT:
        return value > number
    if op is Op.LT:
        return value < number
    return value == number


def parse_condition(when: str) -> Condition:
    """Parse a `when` string; ConditionError says what was wrong."""
    raw = when.strip()
    text = raw.lower()
    if text in (Op.YES, Op.NO, Op.ANY, Op.SKIPPED, Op.UNCLEAR):
        return Condition(Op(text))
    if text.startswith("in:"):
        # Choice values keep their case: they are compared with the stored values verbatim.
        values = tuple(part.strip() for part in raw[3:].split(",") if part.strip())
        if not values:
            raise ConditionError(f"'in:' needs at least one value: {when!r}")
        return Condition(Op.IN, values=values)
    match = _COMPARISON.match(text)
    if match is None:
        raise ConditionError(
            f"cannot read condition {when!r} "
            "(use yes, no, unclear, any, skipped, >=N, <=N, >N, <N, ==N or in:a,b)"
        )
    return Condition(Op(match.group(1)), number=int(match.group(2)))


def check_fits(condition: Condition, step_type: StepType, choice_values: tuple[str, ...]) -> None:
    """Reject conditions that could never match the step's answers (a silent dead rule is a missed alert)."""
    if condition.op in (Op.ANY, Op.SKIPPED):
        return
    if condition.op in (Op.YES, Op.NO, Op.UNCLEAR):
        if step_type is not StepType.YESNO:
            raise ConditionError(f"'{condition.op}' only fits yes/no steps, not {step_type}")
        return
    if condition.op is Op.IN:
        if step_type is not StepType.CHOICE:
            raise ConditionError(f"'in:' only fits choice steps, not {step_type}")
        unknown = [value for value in condition.values if value not in choice_values]
        if unknown:
            raise ConditionError(f"'in:' names unknown choice value(s): {', '.join(unknown)}")
        return
    if step_type is not StepType.SCALE:
        raise ConditionError(f"'{condition.op}' comparisons only fit scale steps, not {step_type}")
