"""Flow model: the immutable shape of a check-in, as loaded from `config/flows/*.yaml`.

Everything here is a frozen value object so a loaded flow can be shared by every session and every
worker without anyone mutating it mid-conversation. Texts are per-locale mappings; lookups fall back to
English because a missing translation must never leave a person without a question to answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType

LOCALES: tuple[str, ...] = ("en", "es")
DEFAULT_LOCALE = "en"
END = "end"
"""Goto target that finishes the flow."""


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


def _empty_synonyms() -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({})


def localised(texts: Mapping[str, str], locale: str) -> str:
    """Text for `locale`, else English, else empty: a gap in a translation degrades, never crashes."""
    return texts.get(locale) or texts.get(DEFAULT_LOCALE) or ""


def resolve_locale(locale: str) -> str:
    """The locale actually used for built-in texts: unknown locales read English."""
    return locale if locale in LOCALES else DEFAULT_LOCALE


class StepType(StrEnum):
    """What kind of answer a step expects; decides parsing and rendering."""

    SCALE = "scale"
    CHOICE = "choice"
    YESNO = "yesno"
    TEXT = "text"


class Audience(StrEnum):
    """Who a flow is written for, so the scheduler never sends a PIR check-in to a family member."""

    PIR = "pir"
    FAMILY = "family"
    ANY = "any"


@dataclass(frozen=True, slots=True)
class Choice:
    """One option of a choice step; `value` is what gets stored, labels are what people see."""

    value: str
    labels: Mapping[str, str]
    synonyms: Mapping[str, tuple[str, ...]] = field(default_factory=_empty_synonyms)

    def label(self, locale: str) -> str:
        return localised(self.labels, locale) or self.value


@dataclass(frozen=True, slots=True)
class Rule:
    """A structured triage rule: when the step's answer matches `when`, raise an alert."""

    when: str
    severity: str
    category: str


@dataclass(frozen=True, slots=True)
class Branch:
    """Conditional jump after a step. `say` is an optional note sent when the branch is taken;
    when it jumps to the end, the note replaces the outro (e.g. a kind word after consent is declined)."""

    when: str
    goto: str
    say: Mapping[str, str] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class Step:
    """One question. `triage` marks free-text steps whose text the host must run through triage;
    `sets_locale` a choice of language, whose answer is the language of everything after it;
    `labels` name the step for staff (alert reasons, check-ins on a page), per language."""

    id: str
    type: StepType
    prompts: Mapping[str, str]
    hints: Mapping[str, str] = field(default_factory=_empty)
    min: int | None = None
    max: int | None = None
    choices: tuple[Choice, ...] = ()
    optional: bool = False
    next: str | None = None
    branches: tuple[Branch, ...] = ()
    rules: tuple[Rule, ...] = ()
    triage: bool = False
    sets_locale: bool = False
    labels: Mapping[str, str] = field(default_factory=_empty)

    def prompt(self, locale: str) -> str:
        return localised(self.prompts, locale)

    def hint(self, locale: str) -> str | None:
        return localised(self.hints, locale) or None

    @property
    def name(self) -> str:
        """Human name of the step for alert reasons (stored, so in English)."""
        return self.label_in("en")

    def label_in(self, locale: str) -> str:
        """What staff reading `locale` call this step: its label, never its id when it has none."""
        return localised(self.labels, locale) or self.id.replace("_", " ")


@dataclass(frozen=True, slots=True)
class Flow:
    """A whole conversation. Steps run in order unless `next` or a branch says otherwise; the loader
    guarantees jumps only go forward, so every session ends."""

    id: str
    audience: Audience
    version: int
    steps: tuple[Step, ...]
    intro: Mapping[str, str]
    outro: Mapping[str, str]
    max_reasks: int
    reminder_after: timedelta
    expires_after: timedelta
    reminder: Mapping[str, str]
    expired: Mapping[str, str]

    def step(self, step_id: str) -> Step:
        """The step with this id; KeyError if the flow has none (e.g. a stored session from an older flow)."""
        for candidate in self.steps:
            if candidate.id == step_id:
                return candidate
        raise KeyError(f"flow {self.id!r} has no step {step_id!r}")

    def is_for(self, role: str) -> bool:
        """Whether a person of `role` (pir, family, ...) may be sent this flow."""
        return self.audience is Audience.ANY or self.audience == role

    def has_step(self, step_id: str) -> bool:
        return any(candidate.id == step_id for candidate in self.steps)

    @property
    def first_step(self) -> Step:
        return self.steps[0]

    def step_after(self, step_id: str) -> Step | None:
        """The step written after `step_id` in the file, or None at the end."""
        ids = [candidate.id for candidate in self.steps]
        index = ids.index(step_id) + 1
        return self.steps[index] if index < len(self.steps) else None
