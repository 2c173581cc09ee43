"""The flow engine: a pure function from (flow, session state, input) to a `Sprint`.

Modelled on goflow's `session.Resume(resume) → sprint`: the engine does no I/O and keeps no memory. The
host loads the state from the database, calls `start`/`resume`/`remind`/`expire`, then in one transaction
stores the new state and answers, turns `events` into alerts and writes `outputs` to the outbox. Because
the state is plain JSON, a restart between two messages loses nothing.

Safety choices: a reply that does not parse is re-asked at most `max_reasks` times, then the engine moves
on (nobody gets stuck in a loop); and every non-empty reply that did not parse is also emitted as
`FreeText`, so "7 but I want to die" reaches triage even though it is not a valid scale answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from types import MappingProxyType

from flows.conditions import UNCLEAR, AnswerValue, Condition, Op, parse_condition
from flows.model import END, Flow, Step, StepType, localised, resolve_locale
from flows.parsing import (
    is_skip,
    parse_choice,
    parse_clear_yesno,
    parse_option_number,
    parse_scale,
    parse_yesno,
)
from flows.texts import ui

__all__ = [
    "Answer",
    "AnswerValue",
    "Completed",
    "EngineError",
    "Event",
    "Expired",
    "Flagged",
    "FreeText",
    "GaveUp",
    "Halted",
    "Option",
    "Output",
    "Question",
    "Reasked",
    "Say",
    "SessionState",
    "Sprint",
    "current_question",
    "expire",
    "flagged_steps",
    "halt",
    "remind",
    "resume",
    "start",
]

SKIP = "skip"
_REASON_TEXT_LIMIT = 80


class EngineError(ValueError):
    """The host asked for something impossible: resuming a finished session, a state from another flow."""


@dataclass(frozen=True, slots=True)
class SessionState:
    """Where one person is in one flow. `step_id` is None once `done`; skipped answers are None."""

    flow_id: str
    step_id: str | None
    reasks: int
    answers: Mapping[str, AnswerValue]
    done: bool

    def to_json(self) -> dict[str, object]:
        """Plain JSON for a database JSON column."""
        return {
            "flow_id": self.flow_id,
            "step_id": self.step_id,
            "reasks": self.reasks,
            "answers": dict(self.answers),
            "done": self.done,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> SessionState:
        """Rebuild a state stored by `to_json`; EngineError if the stored shape is not one we wrote."""
        flow_id, step_id, reasks = data.get("flow_id"), data.get("step_id"), data.get("reasks")
        answers, done = data.get("answers"), data.get("done")
        if not isinstance(flow_id, str) or not (step_id is None or isinstance(step_id, str)):
            raise EngineError(f"stored session has a bad flow_id/step_id: {data!r}")
        if isinstance(reasks, bool) or not isinstance(reasks, int) or not isinstance(done, bool):
            raise EngineError(f"stored session has a bad reasks/done: {data!r}")
        if not isinstance(answers, Mapping):
            raise EngineError(f"stored session answers are not an object: {data!r}")
        clean: dict[str, AnswerValue] = {}
        for key, value in answers.items():
            if not isinstance(key, str) or not (value is None or isinstance(value, int | str)):
                raise EngineError(f"stored session answer {key!r} has a bad value {value!r}")
            clean[key] = value
        return cls(flow_id, step_id, reasks, MappingProxyType(clean), done)


@dataclass(frozen=True, slots=True)
class Option:
    """A button or numbered option: what people see, and the exact answer value it stands for."""

    label: str
    payload: str


@dataclass(frozen=True, slots=True)
class Question:
    """A step asked in one locale; rendered to buttons or numbered SMS text by `flows.render`."""

    step_id: str
    kind: StepType
    text: str
    options: tuple[Option, ...]
    hint: str | None
    locale: str = "en"


@dataclass(frozen=True, slots=True)
class Say:
    """Plain outbound text: intro, outro, reminder, re-ask hint."""

    text: str


@dataclass(frozen=True, slots=True)
class Answer:
    """A recorded answer; `raw` is what the person sent (text or button payload)."""

    step_id: str
    value: AnswerValue
    raw: str


@dataclass(frozen=True, slots=True)
class Flagged:
    """A structured rule matched: the host raises an alert of this severity and category."""

    step_id: str
    severity: str
    category: str
    reason: str
    unclear: bool = False  # the reply was not a clear yes or no (an ``unclear`` rule)


@dataclass(frozen=True, slots=True)
class Reasked:
    step_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class GaveUp:
    """The reply never parsed within `max_reasks`; the step was recorded as None and the flow moved on."""

    step_id: str


@dataclass(frozen=True, slots=True)
class Completed:
    flow_id: str


@dataclass(frozen=True, slots=True)
class FreeText:
    """Text the host must run through free-text triage: a triage step's answer or an unparsed reply."""

    step_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Expired:
    """The session ran out of time; `answered` counts the steps given a real (non-skipped) answer."""

    flow_id: str
    answered: int


@dataclass(frozen=True, slots=True)
class Halted:
    """The host ended the session early (a crisis): no more questions; answers so far are kept."""

    flow_id: str
    step_id: str | None


Event = Flagged | Reasked | GaveUp | Completed | FreeText | Expired | Halted
Output = Say | Question


@dataclass(frozen=True, slots=True)
class Sprint:
    """Everything one engine call produced; the host persists and sends it in one transaction."""

    state: SessionState
    outputs: tuple[Say | Question, ...]
    answers: tuple[Answer, ...]
    events: tuple[Event, ...]


@lru_cache(maxsize=256)
def _condition(when: str) -> Condition:
    return parse_condition(when)


def _bounds(step: Step) -> tuple[int, int]:
    if step.min is None or step.max is None:
        raise EngineError(f"scale step {step.id!r} has no min/max")
    return step.min, step.max


def _question(step: Step, locale: str) -> Question:
    loc = resolve_locale(locale)
    options: tuple[Option, ...] = ()
    if step.type is StepType.SCALE:
        lo, hi = _bounds(step)
        options = tuple(Option(str(number), str(number)) for number in range(lo, hi + 1))
    elif step.type is StepType.YESNO:
        options = (Option(ui("yes", loc), "yes"), Option(ui("no", loc), "no"))
    elif step.type is StepType.CHOICE:
        options = tuple(Option(choice.label(loc), choice.value) for choice in step.choices)
    if step.optional:
        options = (*options, Option(ui("skip", loc), SKIP))
    return Question(step.id, step.type, step.prompt(loc), options, step.hint(loc), loc)


def _says(*texts: str) -> tuple[Say, ...]:
    return tuple(Say(text) for text in texts if text)


def _live_step(flow: Flow, state: SessionState) -> Step:
    if state.done:
        raise EngineError(f"session of flow {state.flow_id!r} is already finished")
    if state.flow_id != flow.id:
        raise EngineError(f"session belongs to flow {state.flow_id!r}, not {flow.id!r}")
    if state.step_id is None or not flow.has_step(state.step_id):
        raise EngineError(f"flow {flow.id!r} has no step {state.step_id!r}")
    return flow.step(state.step_id)


def start(flow: Flow, locale: str) -> Sprint:
    """Begin a session: the intro, then the first question."""
    first = flow.first_step
    state = SessionState(flow.id, first.id, 0, MappingProxyType({}), False)
    outputs: tuple[Say | Question, ...] = (*_says(localised(flow.intro, locale)), _question(first, locale))
    return Sprint(state, outputs, (), ())


def current_question(flow: Flow, state: SessionState, locale: str) -> Question | None:
    """The question the person owes an answer to (to re-send after a restart), None when finished."""
    if state.done:
        return None
    return _question(_live_step(flow, state), locale)


def remind(flow: Flow, state: SessionState, locale: str) -> Sprint:
    """A gentle nudge and the pending question again; the state does not change."""
    step = _live_step(flow, state)
    outputs: tuple[Say | Question, ...] = (*_says(localised(flow.reminder, locale)), _question(step, locale))
    return Sprint(state, outputs, (), ())


def expire(flow: Flow, state: SessionState, locale: str) -> Sprint:
    """Close an unanswered session as missed; answers given so far are kept."""
    _live_step(flow, state)
    answered = sum(1 for value in state.answers.values() if value is not None)
    finished = SessionState(flow.id, None, 0, state.answers, True)
    return Sprint(finished, _says(localised(flow.expired, locale)), (), (Expired(flow.id, answered),))


def halt(sprint: Sprint) -> Sprint:
    """End the session a sprint left it in, at once: a crisis ends a check-in's questions.

    The answers and events of the sprint stay; its outputs (the next question, the outro) are dropped,
    because the person now gets the crisis reply and then a human, not another question.
    """
    state = sprint.state
    if state.done:
        return replace(sprint, outputs=())
    finished = SessionState(state.flow_id, None, 0, state.answers, True)
    return Sprint(finished, (), sprint.answers, (*sprint.events, Halted(state.flow_id, state.step_id)))


def flagged_steps(flow: Flow, answers: Mapping[str, AnswerValue]) -> set[str]:
    """The steps whose answers matched one of their rules (the check-in already raised those)."""
    return {
        step.id
        for step in flow.steps
        if step.id in answers and any(_condition(rule.when).matches(answers[step.id]) for rule in step.rules)
    }


def takes_unclear(step: Step) -> bool:
    """A yes/no step with an ``unclear`` rule: any reply but a clear yes or no is its answer."""
    return step.type is StepType.YESNO and any(_condition(rule.when).op is Op.UNCLEAR for rule in step.rules)


def _from_payload(step: Step, payload: str) -> tuple[bool, AnswerValue]:
    """A button press is taken as the exact value, but only if it is a value this step can have
    (a stale button from an earlier question must not be filed under this one)."""
    if payload == SKIP:
        return step.optional, None
    if step.type is StepType.SCALE:
        lo, hi = _bounds(step)
        if payload.isascii() and payload.lstrip("-").isdecimal() and lo <= int(payload) <= hi:
            return True, int(payload)
    elif step.type is StepType.YESNO:
        if payload in ("yes", "no"):
            return True, payload == "yes"
    elif step.type is StepType.CHOICE:
        if payload in {choice.value for choice in step.choices}:
            return True, payload
    elif payload.strip():
        return True, payload.strip()
    return False, None


def _from_text(step: Step, text: str) -> tuple[bool, AnswerValue]:
    """Parse a typed reply for this step: (parsed?, value)."""
    if not text.strip():
        return False, None
    if step.optional and is_skip(text, free_text=step.type is StepType.TEXT):
        return True, None
    value: AnswerValue = None
    if step.type is StepType.SCALE:
        value = parse_scale(text, *_bounds(step))
    elif step.type is StepType.YESNO:
        number = parse_option_number(text, 2)  # SMS shows "1) Yes 2) No"
        if number is not None:
            value = number == 1
        elif takes_unclear(step):
            clear = parse_clear_yesno(text)
            value = UNCLEAR if clear is None else clear  # "maybe a little", "idk", "not really"
        else:
            value = parse_yesno(text)
    elif step.type is StepType.CHOICE:
        value = parse_choice(text, step.choices)
    elif parse_yesno(text) is not True:
        value = text.strip()
    # else: a bare "yes" to "anything you'd like your peer to know?" means "yes, I'll type it": re-ask
    # with the hint instead of filing "yes" as the message and moving on before they have said it.
    return value is not None, value


def _reask_hint(step: Step, locale: str) -> str:
    """The flow's own hint as written, else a generic one (plus the skip offer on optional steps)."""
    own = step.hint(locale)
    if own is not None:
        return own
    if step.type is StepType.SCALE:
        lo, hi = _bounds(step)
        hint = ui("hint_scale", locale, lo=lo, hi=hi)
    else:
        hint = ui(f"hint_{step.type.value}", locale)
    return f"{hint} {ui('hint_skip', locale)}" if step.optional else hint


def scale_reason(name: str, value: int, top: int | None) -> str:
    """'craving 9 of 10': a scale answer as alert reasons word it, whichever rule raised it."""
    return f"{name} {value} of {top}" if top is not None else f"{name} {value}"


def _reason(step: Step, value: AnswerValue, condition: Condition, raw: str = "") -> str:
    """What a peer reads on the alert: 'craving 9 of 10', 'used since last check-in: yes'.

    The rule's threshold is left out: the answer is what the peer acts on, and one wording for a
    scale answer lets a trend rule about the same answer join it instead of repeating it."""
    if value is None:
        return f"{step.name}: no answer"
    if condition.op is Op.UNCLEAR:
        words = raw.strip()
        words = words if len(words) <= _REASON_TEXT_LIMIT else words[: _REASON_TEXT_LIMIT - 3] + "..."
        return f'{step.name}: uncertain answer, "{words}"'

    if isinstance(value, bool):
        return f"{step.name}: {'yes' if value else 'no'}"
    if step.type is StepType.SCALE:
        return scale_reason(step.name, int(value), step.max)
    if step.type is StepType.CHOICE:
        labels = {choice.value: choice.label("en") for choice in step.choices}
        return f"{step.name}: {labels.get(str(value), str(value))}"
    text = str(value)
    return f"{step.name}: {text[:_REASON_TEXT_LIMIT]}{'...' if len(text) > _REASON_TEXT_LIMIT else ''}"


def _flags(step: Step, value: AnswerValue, raw: str) -> list[Flagged]:
    flags = []
    for rule in step.rules:
        condition = _condition(rule.when)
        if condition.matches(value):
            reason = _reason(step, value, condition, raw)
            unclear = condition.op is Op.UNCLEAR
            flags.append(Flagged(step.id, rule.severity, rule.category, reason, unclear=unclear))
    return flags


def _route(flow: Flow, step: Step, value: AnswerValue, locale: str) -> tuple[str | None, str]:
    """(next step id or None for the end, note to say on the way)."""
    for branch in step.branches:
        if _condition(branch.when).matches(value):
            return (None if branch.goto == END else branch.goto), localised(branch.say, locale)
    if step.next is not None:
        return (None if step.next == END else step.next), ""
    following = flow.step_after(step.id)
    return (None if following is None else following.id), ""


def _advance(
    flow: Flow,
    state: SessionState,
    step: Step,
    answer: Answer,
    locale: str,
    *,
    lead: tuple[Event, ...] = (),
    gave_up: bool = False,
) -> Sprint:
    """Record `answer`, raise its flags, and move to the next question or finish."""
    if step.sets_locale and isinstance(answer.value, str):
        locale = answer.value  # they chose a language: what follows is said in it
    events: list[Event] = [*lead, *_flags(step, answer.value, answer.raw)]
    if step.triage and isinstance(answer.value, str):
        events.append(FreeText(step.id, answer.value))
    elif answer.value == UNCLEAR and step.type is StepType.YESNO and answer.raw.strip():
        events.append(FreeText(step.id, answer.raw.strip()))  # "maybe, I took pills" is read too
    answers = MappingProxyType({**state.answers, step.id: answer.value})
    target, note = _route(flow, step, answer.value, locale)
    if target is None:
        outputs: list[Say | Question] = list(_says(note or localised(flow.outro, locale)))
        events.append(Completed(flow.id))
        return Sprint(SessionState(flow.id, None, 0, answers, True), tuple(outputs), (answer,), tuple(events))
    # "Let's move on" only makes sense when there is somewhere to move on to.
    outputs = list(_says(ui("moving_on", locale) if gave_up else "", note))
    outputs.append(_question(flow.step(target), locale))
    return Sprint(SessionState(flow.id, target, 0, answers, False), tuple(outputs), (answer,), tuple(events))


def resume(flow: Flow, state: SessionState, text: str, locale: str, payload: str | None = None) -> Sprint:
    """Feed one reply (typed `text`, or a button `payload` taken as the exact value) into the session."""
    step = _live_step(flow, state)
    raw = text if payload is None else payload
    parsed, value = _from_text(step, text) if payload is None else _from_payload(step, payload)
    if parsed:
        return _advance(flow, state, step, Answer(step.id, value, raw), locale)
    events: list[Event] = []
    if payload is None and text.strip():
        events.append(FreeText(step.id, text.strip()))
    attempt = state.reasks + 1
    if attempt > flow.max_reasks:
        events.append(GaveUp(step.id))
        skipped = Answer(step.id, None, raw)
        return _advance(flow, state, step, skipped, locale, lead=tuple(events), gave_up=True)
    events.append(Reasked(step.id, attempt))
    outputs = (Say(_reask_hint(step, locale)), _question(step, locale))
    return Sprint(replace(state, reasks=attempt), outputs, (), tuple(events))
