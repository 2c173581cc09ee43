"""Free-text triage: recall and false alarms per set, source, language and author; throughput.

    .venv/bin/python -m bench.triage_eval [--seconds 2] [--sets train,development]

Sets: `train` and `development` are the labelled corpus (`config/triage/corpus/`) split by a hash
of the text (the model never trains on development rows; the rules were tuned on both). The
blind sets (`tests/flows/data/triage_blind_*.jsonl`) were written before any tuning by helpers who
never saw the lexicon, the concepts or the corpus; their sha256 is recorded below and checked, and
they are never edited to pass (retire one that has been tuned to and write a new one). Sets
short and long were measured (aggregate figures only, never read) after the first round of rules;
set C was written after that, before the second round, and measured only at its end. Set D was
written on 2026-12-02 by a helper who never saw the lexicon, the concepts, the corpus or the model,
before the tuning round that followed it (1,255 more corpus rows, concept rules tuned on the train
split only); it was measured, aggregates only, once before that round and once after it, and no one
has read which of its texts pass or fail.
Set E (339 texts) was written on 2026-12-02 the same way, by another helper, before the next tuning
round; it leans to critical (192 critical, 65 high, 82 none) because it was cut short at its deadline.
It was measured, aggregates only, once before round E (1,241 corpus rows written by a helper who never
saw the lexicon or any blind set; the alert head's page chosen on the development split) and once after
it; nobody has read which of its texts pass or fail.
Set F (438 texts: 136 critical, 113 high, 189 none; 41% Spanish, a third by family members) was written
on 2026-12-02 after round E by a helper who never saw the lexicon, the concepts, the corpus, the model
or any other set, and was measured once, aggregates only, on the triage as round E left it: the figure
of record for generalisation until the next tuning round, which it must not be used for.

For each set, four graders: the lexicon alone (the phrase lists), the rules (lexicon + concepts),
the model alone (its own thresholds), and the whole triage (what the bot does). Figures:
critical as critical; critical at any alert level (a human is paged); high recall (high or
critical); false alarms (a "none" text flagged at all). Throughput: texts per second on one core,
the whole triage beside the lexicon alone and a naive substring scan, in the same run. Figures
only; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from flows.severity import Severity
from flows.textfold import normalize
from flows.triage import Triage
from flows.triage.training import Row, is_dev, load_corpus, parse_row

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "config"
CORPUS_DIR = CONFIG_DIR / "triage" / "corpus"
DATA_DIR = ROOT / "tests" / "flows" / "data"
# Blind sets and their sha256, recorded when they were written (before any tuning).
BLIND = {
    "triage_blind_short.jsonl": "db40347c89181d9f68a1a567bd571437a033de4ef9a6aa0916af6ea26fdc86ed",
    "triage_blind_long.jsonl": "0bb7da0581e2613ed2ddab4466030f9327d3960565999393f372067ee3f31428",
    "triage_blind_c.jsonl": "1f9b6d67743866774129a15d500a2b57140f0f4c2cd5b9e433b9d40959788abd",
    "triage_blind_d.jsonl": "b833f361c29d02d48100550126812fbc05647b9c9e5bcd397666ee0721feabb6",
    "triage_blind_e.jsonl": "1b3884b8577bd8d244560c582d6ccc16248ce355ba13c96f77e197b72ef5ae98",
    "triage_blind_f.jsonl": "276ef4f623388984e8ce2ff1b49dd998f5f6ef1dbde9fc9c011ae24a87d9ab4c",
}


def set_name(blind_file: str) -> str:
    """The short name of a blind set's file, as `--sets` takes it: "triage_blind_d.jsonl" -> "d"."""
    return blind_file.removeprefix("triage_blind_").removesuffix(".jsonl")


def load_sets(only: Collection[str] | None = None) -> dict[str, list[Row]]:
    """The corpus split as the trainer splits it, and the blind sets, each checked against its hash;
    `only`: just these sets ("train", "development", or a blind set's short name such as "d")."""
    corpus = load_corpus(CORPUS_DIR).rows
    sets = {
        "train": [r for r in corpus if not is_dev(r.text)],
        "development": [r for r in corpus if is_dev(r.text)],
    }
    if only is not None:
        sets = {name: rows for name, rows in sets.items() if name in only}
    for name, digest in BLIND.items():
        if only is not None and set_name(name) not in only:
            continue
        data = (DATA_DIR / name).read_bytes()
        got = hashlib.sha256(data).hexdigest()
        label = f"blind {set_name(name)}"
        if got != digest:
            label += " (EDITED: hash differs, figures do not count)"
        lines = data.decode("utf-8").splitlines()
        sets[label] = [parse_row(line, f"{name}:{n}") for n, line in enumerate(lines, 1) if line.strip()]
    return sets


@dataclass(frozen=True, slots=True)
class Scores:
    n: dict[Severity, int]
    critical_recall: float  # critical as critical
    critical_paged: float  # critical flagged at any alert level
    high_recall: float  # high flagged high or critical: a human is paged either way
    false_alarms: float

    def line(self) -> str:
        return (
            f"critical {self.critical_recall:6.1%} paged {self.critical_paged:6.1%} "
            f"(n={self.n[Severity.CRITICAL]:4})  high {self.high_recall:6.1%} (n={self.n[Severity.HIGH]:4})  "
            f"false alarms {self.false_alarms:5.1%} (n={self.n[Severity.NONE]:4})"
        )


def score(rows: Sequence[Row], grade: Callable[[Row], Severity]) -> Scores:
    got = [(Severity(row.expect), grade(row)) for row in rows]

    def share(expect: Severity, ok: Callable[[Severity], bool]) -> float:
        picked = [g for e, g in got if e is expect]
        return sum(map(ok, picked)) / len(picked) if picked else float("nan")

    return Scores(
        n={s: sum(e is s for e, _ in got) for s in (Severity.CRITICAL, Severity.HIGH, Severity.NONE)},
        critical_recall=share(Severity.CRITICAL, lambda g: g is Severity.CRITICAL),
        critical_paged=share(Severity.CRITICAL, lambda g: g.rank() >= Severity.HIGH.rank()),
        high_recall=share(Severity.HIGH, lambda g: g.rank() >= Severity.HIGH.rank()),
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
    parser.add_argument(
        "--sets",
        default="",
        help="comma-separated sets to measure: train, development, and blind set names "
        f"({', '.join(set_name(n) for n in BLIND)}); default: all",
    )
    args = parser.parse_args(argv)
    known = {"train", "development", *(set_name(n) for n in BLIND)}
    only = {s.strip() for s in args.sets.split(",") if s.strip()} or None
    if only is not None and only - known:
        parser.error(f"unknown set(s): {', '.join(sorted(only - known))}; known: {', '.join(sorted(known))}")
    pinned = pin_to_one_core()

    started = time.perf_counter()
    triage = Triage.load(CONFIG_DIR)
    load_s = time.perf_counter() - started
    rules = Triage(triage.lexicons, triage.concepts)
    lexicon = Triage(triage.lexicons)
    model = triage.model
    assert model is not None, "config/triage/model.json is missing: run peerline triage train"
    print(f"triage: lexicons {', '.join(triage.languages)}, concepts, model; loaded in {load_s:.2f}s\n")

    graders: dict[str, Callable[[Row], Severity]] = {
        "lexicon alone": lambda r: lexicon.assess(r.text, r.lang).severity,
        "rules": lambda r: rules.assess(r.text, r.lang).severity,
        "model alone": lambda r: model.severity(model.score_normalized(normalize(r.text))),
        "whole triage": lambda r: triage.assess(r.text, r.lang).severity,
    }
    sets = load_sets(only)
    for label, rows in sets.items():
        print(f"{label} ({len(rows)} texts)")
        for name, grade in graders.items():
            print(f"  {name:14} {score(rows, grade).line()}")
        whole = graders["whole triage"]
        for lang in ("en", "es"):
            for author in ("pir", "family"):
                part = [r for r in rows if r.lang == lang and r.author == author]
                if part:
                    print(f"    {lang} {author:7}    {score(part, whole).line()}")
        print()

    every = [r for rows in sets.values() for r in rows]
    short = [(r.text, r.lang) for r in every]
    benign = [(r.text, r.lang) for r in every if r.expect == Severity.NONE]
    print(f"throughput, one core ({pinned}), best of 3 runs of {args.seconds / 3:.1f}s:")
    for label, items in (("all labelled texts", short), ("negatives only (typical check-in)", benign)):
        mean_len = statistics.mean(len(t) for t, _ in items)
        print(f"  {label}: {len(items)} texts, mean {mean_len:.0f} chars")
        whole_rate = throughput(triage.assess, items, args.seconds)
        lex_rate = throughput(lexicon.assess, items, args.seconds)
        print(f"    whole triage (lexicon + concepts + model) {whole_rate:10,.0f} texts/s")
        print(f"    lexicon alone (the previous triage)       {lex_rate:10,.0f} texts/s")


if __name__ == "__main__":
    main()
