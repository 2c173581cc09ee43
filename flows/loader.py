"""Load and validate flow files from `config/flows/*.yaml`.

Flow files are edited by program staff, so the loader is strict and specific: unknown keys, a missing
English prompt, a jump to a step that does not exist or a condition that can never match all fail at
start-up with `FlowError("<file>: steps[2].branches[0].goto: ...")`, never halfway through someone's
check-in. Jumps may only go forward, which guarantees every session reaches the end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import NoReturn

import yaml

from flows.conditions import ConditionError, check_fits, parse_condition
from flows.model import (
    DEFAULT_LOCALE,
    END,
    LOCALES,
    Audience,
    Branch,
    Choice,
    Flow,
    Rule,
    Step,
    StepType,
)
from flows.payloads import RESERVED, reserved
from flows.severity import ALERTABLE

# A button payload starts with its step id: these kinds are no step id or choice value (flows.payloads).
_RESERVED = ", ".join(f"{kind}:" for kind in sorted(RESERVED))

_FLOW_KEYS = frozenset(
    {
        "id",
        "audience",
        "version",
        "description",
        "max_reasks",
        "reminder_after",
        "expires_after",
        "intro",
        "outro",
        "reminder",
        "expired",
        "steps",
    }
)
_STEP_KEYS = frozenset(
    {
        "id",
        "type",
        "label",
        "prompt",
        "hint",
        "min",
        "max",
        "choices",
        "optional",
        "next",
        "branches",
        "rules",
        "triage",
        "sets_locale",
    }
)
_CHOICE_KEYS = frozenset({"value", "label", "synonyms"})
_BRANCH_KEYS = frozenset({"when", "goto", "say"})
_RULE_KEYS = frozenset({"when", "severity", "category"})
PROGRAM = "{program}"
DEFAULT_PROGRAM = "Peerline"
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_DURATION_PART = re.compile(r"(\d+)\s*([dhms])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


class FlowError(ValueError):
    """A flow file that cannot be used; the message names the file and the offending key."""


def parse_duration(text: str) -> timedelta:
    """'2h', '30m', '1d', '1h30m' → timedelta; ValueError otherwise."""
    compact = text.strip().lower()
    parts = _DURATION_PART.findall(compact)
    if not parts or _DURATION_PART.sub("", compact).strip():
        raise ValueError(f"cannot read duration {text!r} (use e.g. 30m, 2h, 1d)")
    total = timedelta()
    for amount, unit in parts:
        total += timedelta(**{_UNITS[unit]: int(amount)})
    return total


class _Reader:
    """Validating reader for one file; every failure goes through `fail` so messages name file and key."""

    def __init__(self, path: Path, program: str = DEFAULT_PROGRAM) -> None:
        self.path = path
        self.program = program

    def fail(self, key: str, problem: str) -> NoReturn:
        raise FlowError(f"{self.path}: {key}: {problem}")

    def mapping(self, value: object, key: str, allowed: frozenset[str]) -> Mapping[str, object]:
        if not isinstance(value, Mapping):
            self.fail(key, "must be a mapping")
        unknown = sorted(str(name) for name in value if name not in allowed)
        if unknown:
            where = f"{key}.{unknown[0]}" if key else unknown[0]
            self.fail(where, f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return {str(name): item for name, item in value.items()}

    def string(self, value: object, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(key, "must be a non-empty string (quote values like '08:00' or 'yes')")
        return value.strip()

    def integer(self, value: object, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, "must be a whole number")
        return value

    def boolean(self, value: object, key: str) -> bool:
        if not isinstance(value, bool):
            self.fail(key, "must be true or false")
        return value

    def items(self, value: object, key: str) -> list[object]:
        if not isinstance(value, list):
            self.fail(key, "must be a list")
        return list(value)

    def texts(self, value: object, key: str, *, required: bool = True) -> Mapping[str, str]:
        """Per-locale text; English is required because it is the fallback for every other locale."""
        if value is None and not required:
            return MappingProxyType({})
        raw = self.mapping(value, key, frozenset(LOCALES))
        texts = {
            locale: self.string(text, f"{key}.{locale}").replace(PROGRAM, self.program)
            for locale, text in raw.items()
        }
        if DEFAULT_LOCALE not in texts:
            self.fail(f"{key}.{DEFAULT_LOCALE}", "missing English text")
        return MappingProxyType(texts)

    def label(self, value: object, key: str) -> Mapping[str, str]:
        """A step's name as staff read it: one word for every language, or per language."""
        if value is None:
            return MappingProxyType({})
        if isinstance(value, str):
            return MappingProxyType({DEFAULT_LOCALE: self.string(value, key)})
        return self.texts(value, key)

    def duration(self, value: object, key: str) -> timedelta:
        try:
            return parse_duration(self.string(value, key))
        except ValueError as error:
            self.fail(key, str(error))

    def when(self, value: object, key: str) -> str:
        # YAML 1.1 reads a bare `yes`/`no` as a boolean; accept it rather than punish the obvious spelling.
        if isinstance(value, bool):
            return "yes" if value else "no"
        return self.string(value, key)

    def choice(self, value: object, key: str) -> Choice:
        raw = self.mapping(value, key, _CHOICE_KEYS)
        choice_value = self.string(raw.get("value"), f"{key}.value")
        if reserved(choice_value):
            self.fail(f"{key}.value", f"{choice_value!r} is reserved for the bot's own buttons ({_RESERVED})")
        synonyms: dict[str, tuple[str, ...]] = {}
        per_locale = self.mapping(raw.get("synonyms", {}), f"{key}.synonyms", frozenset(LOCALES))
        for locale, words in per_locale.items():
            where = f"{key}.synonyms.{locale}"
            synonyms[locale] = tuple(self.string(word, where) for word in self.items(words, where))
        return Choice(choice_value, self.texts(raw.get("label"), f"{key}.label"), MappingProxyType(synonyms))

    def step(self, value: object, key: str) -> Step:
        raw = self.mapping(value, key, _STEP_KEYS)
        step_id = self.string(raw.get("id"), f"{key}.id")
        if not _ID.match(step_id) or step_id == END:
            self.fail(f"{key}.id", f"{step_id!r} must be lower_snake_case and not {END!r}")
        if reserved(step_id):
            self.fail(f"{key}.id", f"{step_id!r} is reserved for the bot's own buttons ({_RESERVED})")
        type_name = self.string(raw.get("type"), f"{key}.type")
        if type_name not in set(StepType):
            self.fail(f"{key}.type", f"unknown step type {type_name!r} (use {', '.join(StepType)})")
        step_type = StepType(type_name)
        lo = hi = None
        if step_type is StepType.SCALE:
            lo, hi = self.integer(raw.get("min"), f"{key}.min"), self.integer(raw.get("max"), f"{key}.max")
            if lo >= hi:
                self.fail(f"{key}.max", f"must be greater than min ({lo})")
        elif "min" in raw or "max" in raw:
            self.fail(f"{key}.min", "only scale steps have min/max")
        choices: tuple[Choice, ...] = ()
        if step_type is StepType.CHOICE:
            listed = self.items(raw.get("choices"), f"{key}.choices")
            choices = tuple(self.choice(item, f"{key}.choices[{i}]") for i, item in enumerate(listed))
            values = [choice.value for choice in choices]
            if not choices or len(set(values)) != len(values):
                self.fail(f"{key}.choices", "needs at least one choice and unique values")
        elif "choices" in raw:
            self.fail(f"{key}.choices", "only choice steps have choices")
        triage = self.boolean(raw.get("triage", False), f"{key}.triage")
        if triage and step_type is not StepType.TEXT:
            self.fail(f"{key}.triage", "only free-text steps can be sent to triage")
        branch_list = self.items(raw.get("branches", []), f"{key}.branches")
        branches = tuple(self.branch(item, f"{key}.branches[{i}]") for i, item in enumerate(branch_list))
        rule_list = self.items(raw.get("rules", []), f"{key}.rules")
        rules = tuple(self.rule(item, f"{key}.rules[{i}]") for i, item in enumerate(rule_list))
        sets_locale = self.boolean(raw.get("sets_locale", False), f"{key}.sets_locale")
        if sets_locale and (not choices or any(c.value not in LOCALES for c in choices)):
            locales = ", ".join(LOCALES)
            self.fail(f"{key}.sets_locale", f"only for a choice step whose values are locales ({locales})")
        step = Step(
            id=step_id,
            type=step_type,
            prompts=self.texts(raw.get("prompt"), f"{key}.prompt"),
            hints=self.texts(raw.get("hint"), f"{key}.hint", required=False),
            min=lo,
            max=hi,
            choices=choices,
            optional=self.boolean(raw.get("optional", False), f"{key}.optional"),
            next=None if raw.get("next") is None else self.string(raw.get("next"), f"{key}.next"),
            branches=branches,
            rules=rules,
            triage=triage,
            sets_locale=sets_locale,
            labels=self.label(raw.get("label"), f"{key}.label"),
        )
        for i, branch in enumerate(branches):
            self.check_when(step, branch.when, f"{key}.branches[{i}].when")
        for i, rule in enumerate(rules):
            self.check_when(step, rule.when, f"{key}.rules[{i}].when")
        return step

    def branch(self, value: object, key: str) -> Branch:
        raw = self.mapping(value, key, _BRANCH_KEYS)
        return Branch(
            self.when(raw.get("when"), f"{key}.when"),
            self.string(raw.get("goto"), f"{key}.goto"),
            self.texts(raw.get("say"), f"{key}.say", required=False),
        )

    def rule(self, value: object, key: str) -> Rule:
        raw = self.mapping(value, key, _RULE_KEYS)
        severity = self.string(raw.get("severity"), f"{key}.severity")
        if severity not in ALERTABLE:
            self.fail(f"{key}.severity", f"unknown severity {severity!r} (use {', '.join(ALERTABLE)})")
        category = self.string(raw.get("category"), f"{key}.category")
        return Rule(self.when(raw.get("when"), f"{key}.when"), severity, category)

    def check_when(self, step: Step, when: str, key: str) -> None:
        try:
            check_fits(parse_condition(when), step.type, tuple(choice.value for choice in step.choices))
        except ConditionError as error:
            self.fail(key, str(error))

    def check_jumps(self, steps: tuple[Step, ...]) -> None:
        """Every jump names a later step or `end`: unknown targets and loops are refused."""
        position = {step.id: index for index, step in enumerate(steps)}
        for index, step in enumerate(steps):
            key = f"steps[{index}]"
            targets = [(f"{key}.next", step.next)] + [
                (f"{key}.branches[{i}].goto", branch.goto) for i, branch in enumerate(step.branches)
            ]
            for where, target in targets:
                if target is None or target == END:
                    continue
                if target not in position:
                    self.fail(where, f"unknown step {target!r}")
                if position[target] <= index:
                    self.fail(where, f"jumps back to {target!r}; jumps may only go forward")

    def flow(self, data: object) -> Flow:
        raw = self.mapping(data, "", _FLOW_KEYS)
        audience = self.string(raw.get("audience"), "audience")
        if audience not in set(Audience):
            self.fail("audience", f"unknown audience {audience!r} (use {', '.join(Audience)})")
        listed = self.items(raw.get("steps"), "steps")
        if not listed:
            self.fail("steps", "a flow needs at least one step")
        steps = tuple(self.step(item, f"steps[{index}]") for index, item in enumerate(listed))
        seen: set[str] = set()
        for index, step in enumerate(steps):
            if step.id in seen:
                self.fail(f"steps[{index}].id", f"duplicate step id {step.id!r}")
            seen.add(step.id)
        self.check_jumps(steps)
        max_reasks = self.integer(raw.get("max_reasks", 2), "max_reasks")
        if max_reasks < 0:
            self.fail("max_reasks", "must be 0 or more")
        return Flow(
            id=self.string(raw.get("id"), "id"),
            audience=Audience(audience),
            version=self.integer(raw.get("version"), "version"),
            steps=steps,
            intro=self.texts(raw.get("intro"), "intro"),
            outro=self.texts(raw.get("outro"), "outro"),
            max_reasks=max_reasks,
            reminder_after=self.duration(raw.get("reminder_after"), "reminder_after"),
            expires_after=self.duration(raw.get("expires_after"), "expires_after"),
            reminder=self.texts(raw.get("reminder"), "reminder"),
            expired=self.texts(raw.get("expired"), "expired"),
        )


def load_flow(path: str | Path, *, program: str = DEFAULT_PROGRAM) -> Flow:
    """Read and validate one flow file; `{program}` in its texts becomes `program`."""
    path = Path(path)
    reader = _Reader(path, program)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        reader.fail("(file)", f"not valid YAML: {error}")
    except OSError as error:
        reader.fail("(file)", f"cannot read: {error}")
    return reader.flow(data)


def load_flows(directory: str | Path, *, program: str = DEFAULT_PROGRAM) -> dict[str, Flow]:
    """Every `*.yaml` / `*.yml` flow in a directory, keyed by flow id; duplicate ids are an error.

    `{program}` in any text is the name messages go out under (the program's, or a discreet one).
    """
    flows: dict[str, Flow] = {}
    paths = sorted([*Path(directory).glob("*.yaml"), *Path(directory).glob("*.yml")])
    for path in paths:
        flow = load_flow(path, program=program)
        if flow.id in flows:
            _Reader(path).fail("id", f"duplicate flow id {flow.id!r}")
        flows[flow.id] = flow
    return flows
