"""Program content loaded from the config directory: flows, triage lexicons and system messages."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flows.escalation import DEFAULT_POLICY, EscalationPolicy, PolicyError, load_policy
from flows.loader import DEFAULT_PROGRAM, load_flows
from flows.model import Flow
from flows.trends import TrendThresholds, load_thresholds
from flows.triage import Triage

LOCALES = ("en", "es")


class ContentError(ValueError):
    """A program content file is missing or malformed; the message names the file."""


@dataclass(frozen=True, slots=True)
class Messages:
    """System message templates per locale, falling back to English."""

    by_locale: Mapping[str, Mapping[str, str]]

    @classmethod
    def load(cls, directory: Path) -> Messages:
        by_locale: dict[str, dict[str, str]] = {}
        for locale in LOCALES:
            path = directory / f"{locale}.yaml"
            try:
                data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as exc:
                raise ContentError(f"{path}: {exc}") from exc
            if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
                raise ContentError(f"{path}: expected a mapping of message keys to text")
            by_locale[locale] = {str(k): v for k, v in data.items()}
        missing = set(by_locale["en"]) - set(by_locale["es"])
        if missing:
            raise ContentError(f"{directory}/es.yaml lacks keys: {', '.join(sorted(missing))}")
        return cls(by_locale)

    def has(self, key: str) -> bool:
        """Whether `key` exists (every key exists in English; other locales fall back to it)."""
        return key in self.by_locale["en"]

    def text(self, key: str, locale: str, **values: object) -> str:
        table = self.by_locale.get(locale) or self.by_locale["en"]
        template = table.get(key) or self.by_locale["en"][key]
        # An empty placeholder ("{promise}" when nobody could be told) leaves no double space behind.
        return _DOUBLE_SPACE.sub(" ", template.format(**values)).strip()


_DOUBLE_SPACE = re.compile(r"(?<=\S) {2,}(?=\S)")


@dataclass(frozen=True, slots=True)
class Content:
    flows: Mapping[str, Flow]
    triage: Triage
    messages: Messages
    trends: TrendThresholds
    escalation: EscalationPolicy = DEFAULT_POLICY

    @classmethod
    def load(cls, config_dir: Path, *, program: str = DEFAULT_PROGRAM) -> Content:
        """Load (or reuse) the content of `config_dir`; compiled lexicons are kept while no file changes.

        `program` is the name messages go out under: `{program}` in flow texts becomes it.
        """
        return _load_cached(config_dir.resolve(), _fingerprint(config_dir), program)

    @classmethod
    def _build(cls, config_dir: Path, program: str) -> Content:
        return cls(
            flows=load_flows(config_dir / "flows", program=program),
            triage=Triage.load(config_dir),
            messages=Messages.load(config_dir / "messages"),
            trends=load_thresholds(config_dir),
            escalation=_escalation(config_dir),
        )

    def flow(self, flow_id: str) -> Flow:
        try:
            return self.flows[flow_id]
        except KeyError:
            known = ", ".join(sorted(self.flows))
            raise ContentError(f"unknown flow {flow_id!r} (known: {known})") from None


def _escalation(config_dir: Path) -> EscalationPolicy:
    try:
        return load_policy(config_dir)
    except PolicyError as exc:
        raise ContentError(str(exc)) from None


def _fingerprint(config_dir: Path) -> tuple[tuple[str, int, int], ...]:
    files = sorted(p for p in config_dir.rglob("*") if p.suffix in (".yaml", ".yml"))
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)


@functools.lru_cache(maxsize=8)
def _load_cached(config_dir: Path, _fingerprint: tuple[tuple[str, int, int], ...], program: str) -> Content:
    # Compiling the triage lexicons takes a noticeable moment; content is immutable, so share it.
    return Content._build(config_dir, program)
