"""Training the triage model (`flows.triage.model`) from the labelled corpus, deterministically.

    peerline triage train            # config/triage/corpus/*.jsonl -> config/triage/model.json

The corpus is JSON lines, `{"text", "lang", "expect": "critical"|"high"|"none", "author",
"category", "experiencer"}` (the last three optional). About 15% of the rows, picked by a hash of
the normalised text (`is_dev`), are the development set: never trained on, only measured. Each
head is scikit-learn's LogisticRegression (liblinear, fixed random_state, balanced classes) over
the binary, L2-normalised features of `flows.triage.model.featurize`; the vocabulary is every
feature seen in at least `MIN_DF` training texts, capped at `MAX_FEATURES` by document frequency.
Weights are rounded to 6 significant digits, and each head's threshold lets at most
`FALSE_ALARMS` of its negative training rows through, scored out of fold (see `train`), so the
same corpus always gives the same file, byte for byte.

scikit-learn and numpy are imported here only: scoring never needs them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.severity import Severity
from flows.textfold import normalize
from flows.triage.model import FORMAT, HEADS, FeatureParams, TriageModel, featurize

DEV_SHARE = 15  # percent of rows in the development set
MIN_DF = 2  # a feature must occur in this many training texts
MAX_FEATURES = 60_000
C = 4.0  # inverse regularisation strength of both heads
# Out-of-fold false alarms each head's threshold allows. The alert head pages on its own (a high
# alert where the rules saw nothing), so it is held to fewer.
FALSE_ALARMS = {"critical": 0.03, "alert": 0.015}
FOLDS = 3
EXPECT = ("critical", "high", "none")
_OPTIONAL = ("author", "category", "experiencer")


class CorpusError(ValueError):
    """A corpus line that cannot be used; the message is `file:line: what is wrong`."""


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    lang: str
    expect: str  # critical, high or none
    category: str | None = None
    author: str | None = None
    experiencer: str | None = None


@dataclass(frozen=True, slots=True)
class Corpus:
    rows: tuple[Row, ...]
    sha256: str  # of the files' bytes, in sorted name order
    files: tuple[Path, ...]


def is_dev(text: str) -> bool:
    """Whether a text belongs to the development set (~15%): a hash of its normalised form, so
    a text and its re-cased or re-punctuated copy always fall on the same side."""
    digest = hashlib.sha256(normalize(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < DEV_SHARE


def load_corpus(corpus_dir: Path) -> Corpus:
    """Every row of `corpus_dir/*.jsonl`; a bad line raises `CorpusError` naming file:line."""
    files = tuple(sorted(corpus_dir.glob("*.jsonl"), key=lambda p: p.name))
    if not files:
        raise CorpusError(f"{corpus_dir}: no corpus files (*.jsonl)")
    digest = hashlib.sha256()
    rows: list[Row] = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CorpusError(f"{path}: cannot read: {exc.strerror}") from None
        digest.update(data)
        try:
            lines = data.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{path}: not UTF-8 ({exc.reason})") from None
        for number, line in enumerate(lines, 1):
            if line.strip():
                rows.append(parse_row(line, f"{path}:{number}"))
    if not rows:
        raise CorpusError(f"{corpus_dir}: the corpus files have no rows")
    return Corpus(tuple(rows), digest.hexdigest(), files)


def parse_row(line: str, where: str) -> Row:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise CorpusError(f"{where}: expected a JSON object")
    text, lang, expect = obj.get("text"), obj.get("lang"), obj.get("expect")
    if not isinstance(text, str):
        raise CorpusError(f'{where}: "text" must be a string')
    if not isinstance(lang, str) or not lang:
        raise CorpusError(f'{where}: "lang" must be a language code such as "en"')
    if expect not in EXPECT:
        raise CorpusError(f'{where}: "expect" must be one of {", ".join(EXPECT)}, found {expect!r}')
    extra: dict[str, str | None] = {}
    for key in _OPTIONAL:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise CorpusError(f'{where}: "{key}" must be a string when given')
        extra[key] = value
    return Row(text, lang, expect, extra["category"], extra["author"], extra["experiencer"])


def _positive(head: str, expect: str) -> bool:
    return expect == "critical" if head == "critical" else expect in ("critical", "high")


def _round(x: float) -> float:
    return float(f"{x:.6g}") + 0.0  # + 0.0: never a negative zero in the file


def _fit(rows: Sequence[Row], params: FeatureParams) -> dict[str, Any]:
    """Vocabulary and rounded weights of both heads, fitted on `rows` (thresholds left at 0.5)."""
    import numpy as np  # noqa: PLC0415  (training only)
    from scipy.sparse import csr_matrix  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    for head in HEADS:
        if {_positive(head, r.expect) for r in rows} != {True, False}:
            raise CorpusError(f"the training rows need positive and negative examples for the {head} head")
    features = [featurize(r.text, params) for r in rows]
    df = Counter(f for fs in features for f in fs)
    kept = sorted((f for f, n in df.items() if n >= MIN_DF), key=lambda f: (-df[f], f))[:MAX_FEATURES]
    vocabulary = sorted(kept)
    index = {f: i for i, f in enumerate(vocabulary)}
    indptr, cols, values = [0], [], []
    for fs in features:
        present = sorted(index[f] for f in fs if f in index)
        cols += present
        values += [1.0 / math.sqrt(len(present))] * len(present) if present else []
        indptr.append(len(cols))
    x = csr_matrix(
        (
            np.array(values, dtype=np.float64),
            np.array(cols, dtype=np.int32),
            np.array(indptr, dtype=np.int32),
        ),
        shape=(len(rows), len(vocabulary)),
    )
    heads: dict[str, dict[str, Any]] = {}
    for head in HEADS:
        y = np.array([_positive(head, r.expect) for r in rows], dtype=np.int32)
        fit = LogisticRegression(
            solver="liblinear", C=C, class_weight="balanced", random_state=0, max_iter=1000, tol=1e-6
        ).fit(x, y)
        heads[head] = {
            "threshold": 0.5,
            "intercept": _round(float(fit.intercept_[0])),
            "weights": [_round(float(w)) for w in fit.coef_[0]],
        }
    return {"features": params.to_json(), "heads": heads, "vocabulary": vocabulary}


def _scorer(fitted: Mapping[str, Any]) -> TriageModel:
    return TriageModel.from_json({"format": FORMAT, "version": "", "corpus_sha256": "", **fitted})


def train(
    rows: Sequence[Row], *, corpus_sha256: str = "", params: FeatureParams | None = None
) -> dict[str, Any]:
    """The JSON-ready model trained on the non-development rows, with development figures.

    The model is a recall net behind the rules, so its thresholds are set for precision: each
    head's threshold is the lowest at which at most `FALSE_ALARMS` of the training rows that are
    negative for it score above, out of fold (each row scored by a model fitted without it)."""
    params = params or FeatureParams()
    training = [r for r in rows if not is_dev(r.text)]
    development = [r for r in rows if is_dev(r.text)]
    fitted = _fit(training, params)
    out_of_fold: list[Any] = [None] * len(training)
    for fold in range(FOLDS):
        held = [i for i in range(len(training)) if i % FOLDS == fold]
        scorer = _scorer(_fit([r for i, r in enumerate(training) if i % FOLDS != fold], params))
        for i in held:
            out_of_fold[i] = scorer.score(training[i].text)
    for head in HEADS:
        negatives = sorted(
            (
                getattr(s, head)
                for r, s in zip(training, out_of_fold, strict=True)
                if not _positive(head, r.expect)
            ),
            reverse=True,
        )
        at = negatives[min(len(negatives) - 1, math.floor(FALSE_ALARMS[head] * len(negatives)))]
        fitted["heads"][head]["threshold"] = max(math.ceil(at * 1e6) / 1e6 + 1e-6, 1e-6)
    model: dict[str, Any] = {
        "format": FORMAT,
        "version": "",
        "corpus_sha256": corpus_sha256,
        "features": fitted["features"],
        "training": {
            "rows": len(training),
            "development_rows": len(development),
            "dev_share_percent": DEV_SHARE,
            "min_df": MIN_DF,
            "max_features": MAX_FEATURES,
            "C": C,
            "solver": "liblinear",
            "class_weight": "balanced",
            "threshold_false_alarms": FALSE_ALARMS,
            "threshold_folds": FOLDS,
        },
        "development": figures(model_grade(_scorer(fitted)), development),
        "heads": fitted["heads"],
        "vocabulary": fitted["vocabulary"],
    }
    model["version"] = "tm1-" + hashlib.sha256(dumps(model).encode("utf-8")).hexdigest()[:12]
    return model


def figures(grade: Callable[[Row], Severity], rows: Iterable[Row]) -> dict[str, dict[str, int]]:
    """Counts per expected class of what `grade` flags (integers, so the model file is stable)."""
    out = {
        "critical": {"rows": 0, "flagged_critical": 0, "flagged_alert": 0},
        "high": {"rows": 0, "flagged_alert": 0},
        "none": {"rows": 0, "false_alarms": 0},
    }
    for row in rows:
        got = grade(row)
        counts = out[row.expect]
        counts["rows"] += 1
        if row.expect == "critical":
            counts["flagged_critical"] += got is Severity.CRITICAL
            counts["flagged_alert"] += got.rank() >= Severity.HIGH.rank()
        elif row.expect == "high":
            counts["flagged_alert"] += got.rank() >= Severity.HIGH.rank()
        else:
            counts["false_alarms"] += got is not Severity.NONE
    return out


def model_grade(model: TriageModel) -> Callable[[Row], Severity]:
    return lambda row: model.severity(model.score(row.text))


def report_lines(
    model: Mapping[str, Any], others: Mapping[str, Mapping[str, Any]] | None = None
) -> list[str]:
    """What `peerline triage train` prints: sizes, thresholds and development-set figures of the
    model alone and of any `others` (name -> `figures`), such as the lexicon with and without it."""
    t, heads = model["training"], model["heads"]
    columns = {"model alone": model["development"], **(others or {})}

    def share(part: int, whole: int) -> str:
        return f"{part / whole:6.1%} {f'({part}/{whole})':>11}" if whole else f"{'n/a':>6} {'(0/0)':>11}"

    lines = [
        f"model {model['version']}: {len(model['vocabulary'])} features, "
        f"{t['rows']} training rows, {t['development_rows']} development rows (never trained on)",
        f"thresholds: critical {heads['critical']['threshold']:.6f}, alert {heads['alert']['threshold']:.6f}",
        f"{'development set:':<42}" + "".join(f"{name:>22}" for name in columns),
    ]
    rows = [
        ("critical recall (critical)", "critical", "flagged_critical"),
        ("critical flagged high+", "critical", "flagged_alert"),
        ("high recall (high+)", "high", "flagged_alert"),
        ("false alarms on none", "none", "false_alarms"),
    ]
    for label, expect, key in rows:
        cells = "".join(f"{share(c[expect][key], c[expect]['rows']):>22}" for c in columns.values())
        lines.append(f"  {label:<40}{cells}")
    return lines


def dumps(model: Mapping[str, Any]) -> str:
    """The file's text: one entry a line, so a retrained model diffs readably."""
    return json.dumps(model, ensure_ascii=False, indent=1) + "\n"


def train_corpus(corpus_dir: Path) -> dict[str, Any]:
    corpus = load_corpus(corpus_dir)
    return train(corpus.rows, corpus_sha256=corpus.sha256)
