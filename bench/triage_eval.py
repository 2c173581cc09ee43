"""Free-text triage: recall and false alarms on the labelled sets, and single-core throughput.

    .venv/bin/python bench/triage_eval.py [--seconds 2]

Quality: per-class recall (critical must be 100%, high >= 95%) and the false-alarm rate on the
negatives (<= 5%), for the main set (written after the lexicons) and the held-out set (written
separately), by language.

Throughput: texts per second on one core (the process is pinned to one CPU where the OS allows)
over the same short messages. Baseline, in the same run: a naive scan, `any(phrase in
text.lower())` over the same lexicons' phrases spelled out literally, with its own recall and
false alarms for context. Figures only; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.severity import Severity
from flows.triage import Triage

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "config"
DATA_DIR = ROOT / "tests" / "flows" / "data"
SETS = {"main": "triage_eval.jsonl", "held-out": "triage_heldout.jsonl"}


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    lang: str
    expect: Severity
    category: str | None


def load_rows(name: str) -> list[Row]:
    rows: list[Row] = []
    for line in (DATA_DIR / name).read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw: dict[str, Any] = json.loads(line)
            rows.append(Row(raw["text"], raw["lang"], Severity(raw["expect"]), raw.get("category")))
    return rows


class NaiveScan:
    """The baseline: lower-case the text and look for each literal phrase as a substring."""

    def __init__(self, triage: Triage) -> None:
        self.by_severity: list[tuple[Severity, list[str]]] = []
        for lexicon in triage.lexicons.values():
            spelled = lexicon.literal_phrases()
            for category in lexicon.categories:
                self.by_severity.append((category.severity, spelled[category.name]))
        self.by_severity.sort(key=lambda pair: -pair[0].rank())
        self.phrases = [p for _, phrases in self.by_severity for p in phrases]

    def flagged(self, text: str) -> bool:
        lowered = text.lower()
        return any(p in lowered for p in self.phrases)

    def severity(self, text: str) -> Severity:
        lowered = text.lower()
        for severity, phrases in self.by_severity:
            if any(p in lowered for p in phrases):
                return severity
        return Severity.NONE


@dataclass(frozen=True, slots=True)
class Scores:
    n: dict[Severity, int]
    critical_recall: float
    high_recall: float  # flagged high or critical: a human is paged either way
    high_exact: float  # flagged exactly high
    false_alarms: float

    def line(self) -> str:
        return (
            f"critical recall {self.critical_recall:6.1%} (n={self.n[Severity.CRITICAL]:3})  "
            f"high recall {self.high_recall:6.1%} [exact {self.high_exact:6.1%}] "
            f"(n={self.n[Severity.HIGH]:3})  "
            f"false alarms {self.false_alarms:5.1%} (n={self.n[Severity.NONE]:3})"
        )


def score(rows: Sequence[Row], grade: Callable[[Row], Severity]) -> Scores:
    got = [(row.expect, grade(row)) for row in rows]

    def share(expect: Severity, ok: Callable[[Severity], bool]) -> float:
        picked = [g for e, g in got if e is expect]
        return sum(map(ok, picked)) / len(picked) if picked else float("nan")

    return Scores(
        n={s: sum(e is s for e, _ in got) for s in (Severity.CRITICAL, Severity.HIGH, Severity.NONE)},
        critical_recall=share(Severity.CRITICAL, lambda g: g is Severity.CRITICAL),
        high_recall=share(Severity.HIGH, lambda g: g.rank() >= Severity.HIGH.rank()),
        high_exact=share(Severity.HIGH, lambda g: g is Severity.HIGH),
        false_alarms=share(Severity.NONE, lambda g: g is not Severity.NONE),
    )


def throughput(fn: Callable[[str, str], object], items: Sequence[tuple[str, str]], seconds: float) -> float:
    """Texts per second: the best of three runs of about `seconds` / 3 each."""
    for text, lang in items:  # warm caches
        fn(text, lang)
    rates: list[float] = []
    for _ in range(3):
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            for text, lang in items:
                fn(text, lang)
            done += len(items)
        rates.append(done / elapsed)
    return max(rates)


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity here); single-threaded anyway"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per throughput figure")
    args = parser.parse_args(argv)
    pinned = pin_to_one_core()

    started = time.perf_counter()
    triage = Triage.load(CONFIG_DIR)
    load_s = time.perf_counter() - started
    naive = NaiveScan(triage)
    print(f"lexicons: {', '.join(triage.languages)}; loaded and compiled in {load_s:.2f}s")
    print(f"naive baseline: {len(naive.phrases)} literal phrases spelled out of the same lexicons\n")

    def peerline(row: Row) -> Severity:
        return triage.assess(row.text, row.lang).severity

    def baseline(row: Row) -> Severity:
        return naive.severity(row.text)

    every: list[Row] = []
    for label, name in SETS.items():
        rows = load_rows(name)
        every += rows
        print(f"{label} set ({name}, {len(rows)} texts)")
        print(f"  peerline        {score(rows, peerline).line()}")
        for lang in ("en", "es"):
            print(f"    {lang}            {score([r for r in rows if r.lang == lang], peerline).line()}")
        print(f"  naive baseline  {score(rows, baseline).line()}\n")

    flagged = [r for r in every if r.expect is not Severity.NONE and r.category]
    agree = sum(r.category in triage.assess(r.text, r.lang).categories for r in flagged) / len(flagged)
    print(f"expected category among those reported: {agree:.1%} of {len(flagged)} flagged texts\n")

    short = [(r.text, r.lang) for r in every]
    benign = [(r.text, r.lang) for r in every if r.expect is Severity.NONE]
    print(f"throughput, one core ({pinned}), best of 3 runs of {args.seconds / 3:.1f}s:")
    for label, items in (("all labelled texts", short), ("negatives only (typical check-in)", benign)):
        mean_len = statistics.mean(len(t) for t, _ in items)
        ours = throughput(triage.assess, items, args.seconds)
        theirs = throughput(lambda text, _lang: naive.flagged(text), items, args.seconds)
        print(f"  {label}: {len(items)} texts, mean {mean_len:.0f} chars")
        print(f"    peerline Triage.assess   {ours:10,.0f} texts/s")
        print(f"    naive any(phrase in text) {theirs:9,.0f} texts/s")


if __name__ == "__main__":
    main()
