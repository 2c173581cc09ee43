"""What triage returns: the matches found in a text and the result they make, and its error."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flows.severity import Severity, max_severity
from flows.triage.model import ModelScore


@dataclass(frozen=True, slots=True)
class Match:
    category: str
    severity: Severity
    phrase: str  # the text span that matched, as written by the person ("" for the model)
    source: str = "lexicon"  # "lexicon", "concepts" or "model"
    concepts: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    experiencer: str = "self"  # who is in danger: "self" (the writer) or "other"
    possible: bool = False  # a possible crisis: critical words under a hedge, or the model alone

    def to_json(self) -> dict[str, Any]:
        return {
            "phrase": self.phrase,
            "category": self.category,
            "severity": self.severity.value,
            "source": self.source,
            "concepts": list(self.concepts),
            "modifiers": list(self.modifiers),
            "experiencer": self.experiencer,
            "possible_crisis": self.possible,
        }


@dataclass(frozen=True, slots=True)
class TriageResult:
    severity: Severity
    categories: tuple[str, ...]
    matches: tuple[Match, ...]
    model: ModelScore | None = None

    @classmethod
    def from_matches(cls, matches: Iterable[Match], model: ModelScore | None = None) -> TriageResult:
        """Severity is the worst match; categories are ordered worst first, then as found."""
        unique = tuple(dict.fromkeys(matches))
        if not unique:
            return NO_FLAGS if model is None else cls(Severity.NONE, (), (), model)
        worst: dict[str, int] = {}
        for m in unique:
            worst[m.category] = max(worst.get(m.category, 0), m.severity.rank())
        categories = sorted(worst, key=lambda c: -worst[c])  # stable: first found first
        severity = max_severity(*(m.severity for m in unique))
        return cls(severity, tuple(categories), unique, model)

    @property
    def possible_crisis(self) -> bool:
        """Paged at high because a crisis is possible, not certain: the person gets a gentle reply."""
        return self.severity is Severity.HIGH and any(m.possible for m in self.matches)

    @property
    def experiencer(self) -> str:
        """ "other" when every finding at the worst severity is about someone else."""
        worst = [m for m in self.matches if m.severity is self.severity]
        return "other" if worst and all(m.experiencer == "other" for m in worst) else "self"

    def merge(self, *others: TriageResult) -> TriageResult:
        """One result from several sources (free text, trends, structured answers)."""
        model = next((r.model for r in (self, *others) if r.model is not None), None)
        return TriageResult.from_matches((m for r in (self, *others) for m in r.matches), model)

    def to_json(self, *, detailed: bool = False) -> dict[str, Any]:
        """`matches` lists the matched phrases, or {"phrase", "category", ...} objects if `detailed`;
        `findings` always explains each one (source, concepts, modifiers, experiencer)."""
        matches: list[Any]
        if detailed:
            matches = [m.to_json() for m in self.matches]
        else:
            matches = list(dict.fromkeys(m.phrase for m in self.matches if m.phrase))
        out: dict[str, Any] = {
            "severity": self.severity.value,
            "categories": list(self.categories),
            "matches": matches,
            "possible_crisis": self.possible_crisis,
            "experiencer": self.experiencer if self.matches else None,
            "findings": [m.to_json() for m in self.matches],
        }
        if self.model is not None:
            out["model"] = {
                "critical": round(self.model.critical, 4),
                "alert": round(self.model.alert, 4),
                "version": self.model.version,
            }
        return out


NO_FLAGS = TriageResult(Severity.NONE, (), ())


class LexiconError(ValueError):
    """A lexicon or thresholds file that cannot be used; the message names the file and entry."""
