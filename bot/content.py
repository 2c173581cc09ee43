"""Program content loaded from the config directory: flows, triage lexicons and system messages."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from flows.escalation import EscalationPolicy, PolicyError, load_policy
from flows.loader import DEFAULT_PROGRAM, load_flows
from flows.model import Flow
from flows.trends import TrendThresholds, load_thresholds

if TYPE_CHECKING:
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


class _Once:
    """The triage, compiled on first use (seconds of work that most CLI commands never need)."""

    __slots__ = ("_config_dir", "_triage")

    def __init__(self, config_dir: Path) -> None:
        self._config_dir = config_dir
        self._triage: Triage | None = None

    def get(self) -> Triage:
        if self._triage is None:
            from flows.triage import Triage  # noqa: PLC0415  (the lexicon compiler, only when needed)

            self._triage = Triage.load(self._config_dir)
        return self._triage


@dataclass(frozen=True, slots=True)
class Content:
    flows: Mapping[str, Flow]
    messages: Messages
    trends: TrendThresholds
    escalation: EscalationPolicy
    _triage: _Once = field(repr=False, compare=False)

    @property
    def triage(self) -> Triage:
        return self._triage.get()

    @classmethod
    def load(cls, config_dir: Path, *, program: str = DEFAULT_PROGRAM, lazy: bool = False) -> Content:
        """Load (or reuse) the content of `config_dir`; compiled lexicons are kept while no file changes.

        `program` is the name messages go out under: `{program}` in flow texts becomes it. With `lazy`,
        the triage lexicons and model are compiled when first used instead of now, and a mistake in them
        is reported then.
        """
        content = _load_cached(config_dir.resolve(), _fingerprint(config_dir), program)
        if not lazy:
            content.triage  # noqa: B018  (compiled now: a bad lexicon stops start-up)
        return content

    @classmethod
    def _build(cls, config_dir: Path, program: str) -> Content:
        return cls(
            flows=load_flows(config_dir / "flows", program=program),
            messages=Messages.load(config_dir / "messages"),
            trends=load_thresholds(config_dir),
            escalation=_escalation(config_dir),
            _triage=_Once(config_dir),
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
