"""How urgently a human must look: the one severity scale of triage, flow rules and escalation."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """Compare with `rank()` or `max_severity`, never `<` (a StrEnum compares alphabetically);
    `max(xs, key=Severity.rank)` works."""

    NONE = "none"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    def rank(self) -> int:
        return _RANKS[self.value]


_RANKS = {"none": 0, "medium": 1, "high": 2, "critical": 3}

# What a flow rule may raise and an escalation policy must cover: "none" is the absence of a flag.
ALERTABLE: tuple[Severity, ...] = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM)


def max_severity(*severities: Severity) -> Severity:
    """The most severe of the given severities (NONE for none)."""
    return max(severities, key=Severity.rank, default=Severity.NONE)
