"""`peerline triage`: how the free-text triage rates a text or a file of texts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.groups import app, cli_settings, emit, fail

# -- triage ---------------------------------------------------------------------------------------


@app.command("triage")
def triage_cmd(
    text: Annotated[list[str] | None, typer.Argument(help="Texts to assess")] = None,
    jsonl: Annotated[
        Path | None, typer.Option(help="File of JSON lines with 'text' and optional 'lang'")
    ] = None,
    lang: Annotated[str | None, typer.Option(help="en or es (default: both)")] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="With `train`: where to write the model")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON (assessments are JSON lines anyway; `train`: one object)")
    ] = False,
) -> None:
    """Assess texts for red flags; one JSON object per input.

    `peerline triage train` instead rebuilds the model (triage/model.json) from the corpus
    (triage/corpus/*.jsonl) and prints its development-set figures."""
    from flows.triage import LexiconError, Triage  # noqa: PLC0415

    if text == ["train"] and jsonl is None and lang is None:
        _train_model(out_file, as_json=as_json)
        return
    if out_file is not None:
        fail("--out goes with `peerline triage train`")
    if lang is not None and lang not in ("en", "es"):
        fail(f"bad --lang {lang!r}: use en or es")
    items: list[tuple[str, str | None]] = [(t, lang) for t in (text or [])]
    if jsonl is not None:
        items.extend(_read_jsonl(jsonl, lang))
    if not items:
        fail("give TEXT arguments or --jsonl FILE")
    try:
        triage = Triage.load(cli_settings().config_dir)
    except LexiconError as exc:
        fail(str(exc))
        raise
    for body, item_lang in items:
        result = triage.assess(body, item_lang)
        sys.stdout.write(json.dumps({"text": body, **result.to_json()}, ensure_ascii=False) + "\n")


def _train_model(out_file: Path | None, *, as_json: bool = False) -> None:
    from flows.triage import LexiconError, Triage  # noqa: PLC0415
    from flows.triage.model import TriageModel  # noqa: PLC0415
    from flows.triage.training import (  # noqa: PLC0415  (scikit-learn: only when training)
        CorpusError,
        dumps,
        figures,
        is_dev,
        load_corpus,
        report_lines,
        train,
    )

    triage_dir = cli_settings().config_dir / "triage"
    target = out_file or triage_dir / "model.json"
    try:
        corpus = load_corpus(triage_dir / "corpus")
        model = train(corpus.rows, corpus_sha256=corpus.sha256)
        rules = Triage.load(triage_dir.parent, use_model=False)
    except (CorpusError, LexiconError) as exc:
        fail(str(exc))
        raise
    combined = Triage(rules.lexicons, rules.concepts, TriageModel.from_json(model))
    dev = [r for r in corpus.rows if is_dev(r.text)]
    others = {
        "rules alone": figures(lambda r: rules.assess(r.text, r.lang).severity, dev),
        "rules + model": figures(lambda r: combined.assess(r.text, r.lang).severity, dev),
    }
    partial = target.with_name(target.name + ".partial")
    try:
        partial.write_text(dumps(model), encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror}")
    if as_json:
        summary = {
            "corpus": {
                "rows": len(corpus.rows),
                "files": [p.name for p in corpus.files],
                "sha256": corpus.sha256,
            },
            "version": model["version"],
            "training": model["training"],
            "development": {"model alone": model["development"], **others},
            "wrote": str(target),
        }
        emit(True, summary)
        return
    files = ", ".join(p.name for p in corpus.files)
    typer.echo(f"corpus: {len(corpus.rows)} rows from {files} (sha256 {corpus.sha256[:12]})")
    for line in report_lines(model, others):
        typer.echo(line)
    typer.echo(f"wrote {target}")


def _read_jsonl(path: Path, lang: str | None) -> list[tuple[str, str | None]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
        raise
    except UnicodeDecodeError as exc:
        fail(f"{path} is not UTF-8 text (byte {exc.start}): save it as UTF-8")
        raise
    items: list[tuple[str, str | None]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            fail(f"{path}:{number}: not JSON ({exc.msg})")
            raise
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            fail(f'{path}:{number}: each line must be an object with a "text" string')
        item_lang = obj.get("lang", lang)
        if item_lang not in (None, "en", "es"):
            fail(f'{path}:{number}: "lang" must be "en" or "es"')
        items.append((obj["text"], item_lang))
    return items
