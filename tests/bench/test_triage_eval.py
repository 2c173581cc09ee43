"""`bench.triage_eval --sets`: only the sets asked for are read, so tuning can leave the blind sets shut."""

from __future__ import annotations

import pytest

from bench import triage_eval


def test_only_the_named_sets_are_loaded() -> None:
    sets = triage_eval.load_sets({"development"})
    assert list(sets) == ["development"]
    assert sets["development"]


def test_a_blind_set_is_named_by_its_short_name() -> None:
    assert triage_eval.set_name("triage_blind_f.jsonl") == "f"
    assert list(triage_eval.load_sets({"f"})) == ["blind f"]


def test_an_unknown_set_is_one_line_that_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        triage_eval.main(["--sets", "train,nope"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown set(s): nope" in err and "development" in err
