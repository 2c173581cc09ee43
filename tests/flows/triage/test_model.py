"""The triage model: the committed file is what the committed corpus trains, scoring is pure and
matches the featurization training used, a bad file is named, and `peerline triage train` works."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from flows.severity import Severity
from flows.triage import training
from flows.triage.model import ModelError, TriageModel, featurize, sigmoid
from flows.triage.training import CorpusError, dumps, is_dev, load_corpus, parse_row, train

CONFIG_DIR = Path(__file__).parents[3] / "config"
MODEL_FILE = CONFIG_DIR / "triage" / "model.json"
CORPUS_DIR = CONFIG_DIR / "triage" / "corpus"
STRONG = "I want to die"  # a critical row of the corpus
EVERYDAY = "good, went to work"


@pytest.fixture(scope="module")
def model() -> TriageModel:
    return TriageModel.load(MODEL_FILE)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [r.text for r in load_corpus(CORPUS_DIR).rows]


def test_committed_model_is_what_the_committed_corpus_trains() -> None:
    corpus = load_corpus(CORPUS_DIR)
    committed = MODEL_FILE.read_text(encoding="utf-8")
    retrain = "the corpus changed: rebuild the model with `peerline triage train` and commit it"
    assert json.loads(committed)["corpus_sha256"] == corpus.sha256, retrain
    assert dumps(train(corpus.rows, corpus_sha256=corpus.sha256)) == committed, retrain


def test_scoring_is_deterministic(model: TriageModel, texts: list[str]) -> None:
    first = [model.score(t) for t in texts]
    assert [model.score(t) for t in texts] == first  # warm word cache
    cold = TriageModel.load(MODEL_FILE)
    assert [cold.score(t) for t in texts] == first  # a fresh model, empty word cache


def test_a_strong_positive_is_flagged_and_an_everyday_text_is_not(model: TriageModel) -> None:
    assert STRONG in {r.text for r in load_corpus(CORPUS_DIR).rows if r.expect == "critical"}
    strong, everyday = model.score(STRONG), model.score(EVERYDAY)
    assert strong.critical >= model.critical.threshold
    assert model.severity(strong) is Severity.CRITICAL
    assert everyday.critical < model.critical.threshold and everyday.alert < model.alert.threshold
    assert model.severity(everyday) is Severity.NONE
    assert strong.version == model.version != ""


def test_training_and_scoring_featurize_alike(model: TriageModel, texts: list[str]) -> None:
    assert training.featurize is featurize
    for text in [*texts, "I want to die. I want to die", "kms kms!!", "", "😂"]:
        present = model.indices(text)  # featurize(text), restricted to the vocabulary
        n = len(present)
        for head, got in (
            (model.critical, model.score(text).critical),
            (model.alert, model.score(text).alert),
        ):
            total = math.fsum(head.weights[i] for i in present)
            expected = sigmoid(head.intercept + (total / math.sqrt(n) if n else 0.0))
            assert got == pytest.approx(expected, abs=1e-12), text


def test_the_model_only_raises_a_severity(model: TriageModel) -> None:
    for severity in Severity:
        for text in (STRONG, EVERYDAY, "my sponsor dropped me and i feel hopeless"):
            raised = model.raise_severity(severity, text)
            assert raised.rank() >= severity.rank()
    assert model.raise_severity(Severity.NONE, STRONG) is Severity.CRITICAL
    assert model.raise_severity(Severity.HIGH, EVERYDAY) is Severity.HIGH


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: "{not json", "not a valid JSON"),
        (lambda d: {**d, "format": 99}, '"format" must be 1'),
        (lambda d: {k: v for k, v in d.items() if k != "heads"}, '"heads" must have'),
        (lambda d: {**d, "vocabulary": d["vocabulary"][:-1]}, "one per vocabulary entry"),
        (lambda d: {**d, "vocabulary": list(reversed(d["vocabulary"]))}, "must be sorted"),
        (
            lambda d: {**d, "heads": {**d["heads"], "alert": {**d["heads"]["alert"], "threshold": 1.5}}},
            "threshold must be a probability",
        ),
        (
            lambda d: {
                **d,
                "heads": {**d["heads"], "critical": {**d["heads"]["critical"], "intercept": "x"}},
            },
            "finite numbers",
        ),
    ],
)
def test_a_broken_model_file_is_named(tmp_path: Path, edit, message: str) -> None:
    broken = tmp_path / "model.json"
    data = edit(json.loads(MODEL_FILE.read_text(encoding="utf-8")))
    broken.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelError, match=message) as caught:
        TriageModel.load(broken)
    assert str(broken) in str(caught.value)


def test_a_missing_model_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read"):
        TriageModel.load(tmp_path / "absent.json")


def test_the_development_split_is_stable_and_about_fifteen_percent(texts: list[str]) -> None:
    share = sum(map(is_dev, texts)) / len(texts)
    assert 0.10 < share < 0.20
    assert is_dev("I want to die") == is_dev("i WANT to die!!")  # split by the normalised text


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("nope", "not JSON"),
        ("[1]", "expected a JSON object"),
        ('{"lang": "en", "expect": "none"}', '"text" must be a string'),
        ('{"text": "x", "expect": "none"}', '"lang"'),
        ('{"text": "x", "lang": "en", "expect": "medium"}', '"expect" must be one of'),
        ('{"text": "x", "lang": "en", "expect": "none", "author": 3}', '"author" must be a string'),
    ],
)
def test_a_bad_corpus_line_is_named(line: str, message: str) -> None:
    with pytest.raises(CorpusError, match=message) as caught:
        parse_row(line, "seed.jsonl:7")
    assert str(caught.value).startswith("seed.jsonl:7: ")


def test_older_rows_need_no_author_category_or_experiencer() -> None:
    row = parse_row('{"text": "kms", "lang": "en", "expect": "critical"}', "x:1")
    assert (row.author, row.category, row.experiencer) == (None, None, None)


def test_scoring_needs_neither_numpy_nor_scikit_learn() -> None:
    code = (
        "import sys; from pathlib import Path; from flows.triage.model import TriageModel; "
        f"TriageModel.load(Path({str(MODEL_FILE)!r})).score('hello there'); "
        "print(sorted({'numpy', 'scipy', 'sklearn'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


runner = CliRunner()


def test_cli_train_writes_the_committed_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PEERLINE_CONFIG_DIR", raising=False)
    out = tmp_path / "model.json"
    result = runner.invoke(app, ["triage", "train", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == MODEL_FILE.read_bytes()
    assert "development set" in result.output and "false alarms" in result.output
    result = runner.invoke(app, ["triage", "hello", "--out", str(out)])
    assert result.exit_code == 2 and "--out goes with" in result.output


def test_cli_train_names_a_bad_corpus_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    bad = config / "triage" / "corpus" / "zz_new.jsonl"
    bad.write_text('{"text": "ok", "lang": "en", "expect": "none"}\n{"text": "x", "lang": "en"}\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PEERLINE_CONFIG_DIR", str(config))
    result = runner.invoke(app, ["triage", "train"])
    assert result.exit_code == 2
    assert f"{bad}:2: " in result.output and '"expect" must be one of' in result.output
    assert (config / "triage" / "model.json").read_bytes() == MODEL_FILE.read_bytes()  # untouched
