"""The triage model's scoring cost: microseconds per `TriageModel.score`, on one core.

    .venv/bin/python -m bench.triage_model [--seconds 3]

Over the corpus texts as they are, and over "typical" messages of 10-30 words made by joining
corpus texts (seeded, so every run scores the same texts). Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.triage_eval import pin_to_one_core
from flows.textfold import normalize
from flows.triage.model import TriageModel
from flows.triage.training import load_corpus

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"


def per_text_us(score: Callable[[str], object], texts: Sequence[str], seconds: float) -> float:
    """Microseconds per call: the best of three runs of about `seconds` / 3 each, caches warm."""
    for text in texts:
        score(text)
    best = float("inf")
    for _ in range(3):
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            for text in texts:
                score(text)
            done += len(texts)
        best = min(best, elapsed / done * 1e6)
    return best


def typical(texts: Sequence[str], n: int = 2000) -> list[str]:
    rng = random.Random(7)
    out: list[str] = []
    while len(out) < n:
        words: list[str] = []
        goal = rng.randint(10, 30)
        while len(words) < goal:
            words += rng.choice(texts).split()
        out.append(" ".join(words[:goal]))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per figure")
    args = parser.parse_args(argv)
    pinned = pin_to_one_core()
    started = time.perf_counter()
    model = TriageModel.load(CONFIG_DIR / "triage" / "model.json")
    load_s = time.perf_counter() - started
    print(f"model {model.version}: {len(model.vocabulary)} features, loaded in {load_s:.2f}s")
    corpus = [r.text for r in load_corpus(CONFIG_DIR / "triage" / "corpus").rows if r.text.strip()]
    print(f"one core ({pinned}), best of 3 runs of {args.seconds / 3:.1f}s:")
    for label, texts in (("corpus texts", corpus), ("typical messages, 10-30 words", typical(corpus))):
        words = statistics.mean(len(t.split()) for t in texts)
        us = per_text_us(model.score, texts, args.seconds)
        pre = per_text_us(model.score_normalized, [normalize(t) for t in texts], args.seconds)
        print(f"  {label}: {len(texts)} texts, mean {words:.1f} words")
        print(f"    score (normalises)     {us:5.1f} µs/text")
        print(f"    score_normalized       {pre:5.1f} µs/text (the lexicon has normalised the text)")


if __name__ == "__main__":
    main()
