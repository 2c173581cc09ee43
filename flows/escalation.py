"""Escalation policy: who is paged, and when, about an alert nobody has acknowledged.

Pure: the policy model, its loader (`config/escalation.yaml`) and the chain arithmetic. The host
(`bot/escalation.py`) keeps a `ChainState` on the alert row, asks `due` what to do when the row's timer
fires, and does the paging. Modelled on Grafana OnCall's escalation chains: ordered steps with waits,
a bounded "repeat from the top", and reminders for an acknowledged alert nobody resolves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import yaml

from flows.loader import parse_duration
from flows.severity import ALERTABLE, Severity

_TOP_KEYS = frozenset({"digest_time", "severities"})
_SEVERITY_KEYS = frozenset({"chain", "digest", "repeat", "acknowledged"})
_STEP_KEYS = frozenset({"notify", "after"})
_REPEAT_KEYS = frozenset({"every", "times"})
_ACK_KEYS = frozenset({"remind_every", "reopen_after_reminders"})


class PolicyError(ValueError):
    """An escalation policy that cannot be used; the message names the file and the key."""


class Tier(StrEnum):
    """A place in a PIR's care team (`CareTeam` columns)."""

    PEER = "peer"
    BACKUP = "backup"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True, slots=True)
class Step:
    tier: Tier
    after: timedelta  # since the alert was raised, not since the previous step


@dataclass(frozen=True, slots=True)
class Repeat:
    """After the last step: page every tier again, `every` apart, at most `times` times."""

    every: timedelta
    times: int


@dataclass(frozen=True, slots=True)
class SeverityPolicy:
    chain: tuple[Step, ...] = ()
    digest: bool = False  # no paging: the alert waits for the daily digest of the first reachable tier
    repeat: Repeat | None = None
    remind_every: timedelta | None = None  # acknowledged but unresolved: remind the acknowledger
    reopen_after_reminders: int | None = None  # then re-open it and page the rest of the team

    @property
    def tiers(self) -> tuple[Tier, ...]:
        """The chain's tiers in order, each once."""
        return tuple(dict.fromkeys(step.tier for step in self.chain))


@dataclass(frozen=True, slots=True)
class ChainState:
    """How far an alert's chain has run; stored on the alert row."""

    level: int = 0  # steps of the chain already run (paged, or fallen through)
    repeats: int = 0  # repeats already sent after the last step


@dataclass(frozen=True, slots=True)
class Due:
    """What to do when an open alert's timer fires."""

    tiers: tuple[Tier, ...]  # page these now, in order
    state: ChainState  # the state once they are paged
    next_at: datetime | None  # when the timer fires next (None: the chain is over)
    repeat: bool = False


@dataclass(frozen=True, slots=True)
class Reminder:
    """What to do when an acknowledged alert's timer fires."""

    reopen: bool  # True: re-open and page the team; False: remind the acknowledger
    reminders: int  # reminders sent once this one is done
    next_at: datetime | None


FALLBACK_TIERS = (Tier.PEER, Tier.BACKUP, Tier.SUPERVISOR)


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    severities: Mapping[str, SeverityPolicy]
    digest_time: str = "17:00"  # local time of the person receiving the digest

    def for_severity(self, severity: str) -> SeverityPolicy:
        """The policy of a severity; one the file does not name goes to the digest (never silently lost)."""
        return self.severities.get(severity) or SeverityPolicy(digest=True)

    def first_at(self, severity: str, raised_at: datetime) -> datetime | None:
        """When a new alert's timer first fires; None for digest alerts (the host picks the digest time)."""
        policy = self.for_severity(severity)
        if policy.digest or not policy.chain:
            return None
        return raised_at + policy.chain[0].after

    def due(self, severity: str, state: ChainState, raised_at: datetime, now: datetime) -> Due:
        """Every step whose time has come (after downtime there may be several), or else one repeat."""
        policy = self.for_severity(severity)
        chain = policy.chain
        if state.level < len(chain):
            level = state.level
            tiers: list[Tier] = []
            while level < len(chain) and raised_at + chain[level].after <= now:
                tiers.append(chain[level].tier)
                level += 1
            after = ChainState(level, state.repeats)
            return Due(tuple(tiers), after, self.next_at(severity, after, raised_at, now))
        if policy.repeat is None or state.repeats >= policy.repeat.times:
            return Due((), state, None)
        after = ChainState(state.level, state.repeats + 1)
        return Due(policy.tiers, after, self.next_at(severity, after, raised_at, now), repeat=True)

    def fall_through(self, severity: str, state: ChainState) -> tuple[Tier, ChainState] | None:
        """The next step of the chain, taken at once because nobody in the current one could be paged."""
        chain = self.for_severity(severity).chain
        if state.level >= len(chain):
            return None
        return chain[state.level].tier, ChainState(state.level + 1, state.repeats)

    def next_at(
        self, severity: str, state: ChainState, raised_at: datetime, now: datetime
    ) -> datetime | None:
        """When the chain in `state` fires next, seen from `now`."""
        policy = self.for_severity(severity)
        if state.level < len(policy.chain):
            return max(now, raised_at + policy.chain[state.level].after)
        if policy.repeat is not None and state.repeats < policy.repeat.times:
            return now + policy.repeat.every
        return None

    def after_acknowledged(self, severity: str, acknowledged_at: datetime) -> datetime | None:
        every = self.for_severity(severity).remind_every
        return acknowledged_at + every if every is not None else None

    def reminder(self, severity: str, reminders: int, now: datetime) -> Reminder:
        """An acknowledged alert is still unresolved at `now`, after `reminders` reminders."""
        policy = self.for_severity(severity)
        limit = policy.reopen_after_reminders
        if limit is not None and reminders >= limit:
            return Reminder(reopen=True, reminders=reminders, next_at=None)
        every = policy.remind_every
        return Reminder(reopen=False, reminders=reminders + 1, next_at=now + every if every else None)


DEFAULT_POLICY = EscalationPolicy(
    MappingProxyType(
        {
            Severity.CRITICAL: SeverityPolicy(
                chain=(
                    Step(Tier.PEER, timedelta()),
                    Step(Tier.BACKUP, timedelta(minutes=5)),
                    Step(Tier.SUPERVISOR, timedelta(minutes=10)),
                ),
                repeat=Repeat(timedelta(minutes=10), 3),
                remind_every=timedelta(minutes=30),
                reopen_after_reminders=1,
            ),
            Severity.HIGH: SeverityPolicy(
                chain=(
                    Step(Tier.PEER, timedelta()),
                    Step(Tier.BACKUP, timedelta(minutes=30)),
                    Step(Tier.SUPERVISOR, timedelta(hours=2)),
                ),
                remind_every=timedelta(hours=4),
                reopen_after_reminders=1,
            ),
            Severity.MEDIUM: SeverityPolicy(digest=True),
        }
    )
)


# -- loading ----------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> NoReturn:
        raise PolicyError(f"{self.source}: {key}: {problem}")

    def mapping(self, value: object, key: str, allowed: frozenset[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(key, "expected a mapping")
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            self.fail(key, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
        return value

    def duration(self, value: object, key: str) -> timedelta:
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(key, str(exc))

    def count(self, value: object, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.fail(key, "expected a whole number, 0 or more")
        return value

    def severity(self, name: str, value: object) -> SeverityPolicy:
        key = f"severities.{name}"
        data = self.mapping(value, key, _SEVERITY_KEYS)
        digest = data.get("digest", False)
        if not isinstance(digest, bool):
            self.fail(f"{key}.digest", "expected true or false")
        raw_chain = data.get("chain") or []
        if not isinstance(raw_chain, list):
            self.fail(f"{key}.chain", "expected a list of steps")
        if digest and raw_chain:
            self.fail(key, "a digest severity has no chain (choose one)")
        if not digest and not raw_chain:
            self.fail(key, "needs a chain of steps, or digest: true")
        chain: list[Step] = []
        for i, raw in enumerate(raw_chain):
            where = f"{key}.chain[{i}]"
            item = self.mapping(raw, where, _STEP_KEYS)
            try:
                tier = Tier(str(item.get("notify")))
            except ValueError:
                self.fail(f"{where}.notify", f"expected one of {', '.join(Tier)}")
            after = self.duration(item.get("after", "0m"), f"{where}.after")
            if chain and after < chain[-1].after:
                self.fail(f"{where}.after", "steps must be in time order (after is counted from the alert)")
            chain.append(Step(tier, after))
        repeat = None
        if data.get("repeat") is not None:
            raw_repeat = self.mapping(data["repeat"], f"{key}.repeat", _REPEAT_KEYS)
            every = self.duration(raw_repeat.get("every"), f"{key}.repeat.every")
            if every <= timedelta():
                self.fail(f"{key}.repeat.every", "must be longer than 0")
            repeat = Repeat(every, self.count(raw_repeat.get("times"), f"{key}.repeat.times"))
        remind_every = None
        reopen_after = None
        if data.get("acknowledged") is not None:
            ack = self.mapping(data["acknowledged"], f"{key}.acknowledged", _ACK_KEYS)
            if ack.get("remind_every") is not None:
                remind_every = self.duration(ack["remind_every"], f"{key}.acknowledged.remind_every")
                if remind_every <= timedelta():
                    self.fail(f"{key}.acknowledged.remind_every", "must be longer than 0")
            if ack.get("reopen_after_reminders") is not None:
                reopen_after = self.count(
                    ack["reopen_after_reminders"], f"{key}.acknowledged.reopen_after_reminders"
                )
                if remind_every is None:
                    self.fail(f"{key}.acknowledged", "reopen_after_reminders needs remind_every")
        return SeverityPolicy(tuple(chain), digest, repeat, remind_every, reopen_after)

    def policy(self, data: object) -> EscalationPolicy:
        top = self.mapping(data, "(top level)", _TOP_KEYS)
        digest_time = str(top.get("digest_time", "17:00"))
        hour, sep, minute = digest_time.partition(":")
        if not (
            sep
            and hour.isdigit()
            and len(minute) == 2
            and minute.isdigit()
            and int(hour) < 24
            and int(minute) < 60
        ):
            self.fail("digest_time", f"{digest_time!r} is not HH:MM")
        severities = self.mapping(top.get("severities"), "severities", frozenset(ALERTABLE))
        missing = sorted(set(ALERTABLE) - set(severities))
        if missing:
            self.fail("severities", f"missing {', '.join(missing)}: every severity needs a policy")
        return EscalationPolicy(
            MappingProxyType({str(name): self.severity(str(name), v) for name, v in severities.items()}),
            f"{int(hour):02d}:{minute}",
        )


def policy_from_mapping(data: object, source: str = "<escalation>") -> EscalationPolicy:
    """Validate a parsed policy; errors name the source and the key."""
    return _Reader(source).policy(data)


def load_policy(config_dir: Path) -> EscalationPolicy:
    """Read `config_dir/escalation.yaml`; a missing file means `DEFAULT_POLICY`."""
    path = config_dir / "escalation.yaml"
    if not path.exists():
        return DEFAULT_POLICY
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{path}: {exc}") from None
    return policy_from_mapping(data, str(path))
