"""The `peerline` command line, driven as an operator would, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bot.app import App
from bot.cli.main import app
from config.settings import Settings
from flows.triage import LexiconError

runner = CliRunner()


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PEERLINE_DATABASE_URL", db_url)

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (
            f"{args}: exit {result.exit_code}\n{result.output}\n{result.exception!r}"
        )
        return result.output

    return run


def _program(cli) -> dict[str, int]:
    ids = {}
    for role, name, extra in [
        ("peer", "Sam", ["--telegram", "1001"]),
        ("supervisor", "Dana", ["--phone", "+1 (415) 555-0100"]),
        (
            "pir",
            "Alex",
            ["--phone", "+14155550123", "--timezone", "America/Chicago", "--checkin-time", "9:30"],
        ),
        ("family", "Jordan", ["--console", "jordan"]),
    ]:
        ids[name] = json.loads(cli("people", "add", "--role", role, "--name", name, *extra, "--json"))["id"]
    return ids


def test_enrol_assign_link_and_list(cli) -> None:
    ids = _program(cli)
    assert cli("people", "add", "--role", "pir", "--name", "Robin", "--console", "robin").strip().isdigit()
    team = json.loads(
        cli("assign", "--pir", "Alex", "--peer", str(ids["Sam"]), "--supervisor", "Dana", "--json")
    )
    assert (team["peer_id"], team["supervisor_id"]) == (ids["Sam"], ids["Dana"])
    link = json.loads(
        cli("family", "link", "--family", "Jordan", "--pir", "Alex", "--share", "status", "--json")
    )
    assert link["scope"] == "status"
    people = json.loads(cli("people", "list", "--json"))
    assert [(p["name"], p["role"]) for p in people] == [
        ("Sam", "peer"),
        ("Dana", "supervisor"),
        ("Alex", "pir"),
        ("Jordan", "family"),
        ("Robin", "pir"),
    ]
    assert next(p for p in people if p["name"] == "Alex")["timezone"] == "America/Chicago"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["people", "add", "--role", "pir", "--name", "X", "--phone", "12"], "bad phone number"),
        (["people", "add", "--role", "pir", "--name", "X", "--timezone", "Mars/Base"], "unknown time zone"),
        (["people", "add", "--role", "pir", "--name", "X", "--checkin-time", "25:00"], "bad time"),
        (["people", "add", "--role", "pir", "--name", "X", "--telegram", "abc"], "bad Telegram chat id"),
        (["people", "add", "--role", "pir", "--name", "X", "--locale", "fr"], "bad locale"),
        (["assign", "--pir", "Nobody", "--peer", "Sam"], "no person named 'Nobody'"),
        (["assign", "--pir", "Sam", "--peer", "Sam"], "is a peer, not a pir"),
        (["checkin", "send", "999"], "no person with id 999"),
        (["history", "Ghost"], "no person named"),
        (["scheduler", "tick", "--now", "yesterday"], "bad --now"),
    ],
)
def test_clear_errors(cli, args: list[str], message: str) -> None:
    _program(cli)
    output = cli(*args, code=2)
    assert message in output


def test_care_team_is_checked_and_backup_and_supervisor_can_be_cleared(cli) -> None:
    ids = _program(cli)
    ids["Riley"] = int(cli("people", "add", "--role", "peer", "--name", "Riley", "--console", "r"))
    ids["Ari"] = int(cli("people", "add", "--role", "admin", "--name", "Ari", "--console", "ari"))
    for args, message in [
        (["--peer", "Sam", "--backup", "Sam"], "the backup must be someone other than the peer (Sam)"),
        (
            ["--peer", "Sam", "--supervisor", "Riley"],
            f"Riley (id {ids['Riley']}) is a peer, not a supervisor",
        ),
        (["--peer", "Dana"], f"Dana (id {ids['Dana']}) is a supervisor, not a peer"),
        (["--peer", "Sam", "--backup", "Jordan"], "is a family, not a peer or supervisor"),
        (["--peer", "Sam", "--supervisor", "Ari"], f"Ari (id {ids['Ari']}) is an admin, not a supervisor"),
        (["--peer", "Sam", "--backup", "Dana", "--supervisor", "Dana"], "the backup and the supervisor"),
    ]:
        output = cli("assign", "--pir", "Alex", *args, code=2)
        assert message in output, (args, output)
        assert output.strip().count("\n") == 0, output
    team = json.loads(
        cli("assign", "--pir", "Alex", "--peer", "Sam", "--backup", "Riley", "--supervisor", "Dana", "--json")
    )
    assert (team["peer_id"], team["backup_id"], team["supervisor_id"]) == (
        ids["Sam"],
        ids["Riley"],
        ids["Dana"],
    )
    # Riley is still the backup: making Riley the peer needs another backup, or none
    output = cli("assign", "--pir", "Alex", "--peer", "Riley", code=2)
    assert (
        "the backup must be someone other than the peer (Riley): give another --backup or --backup none"
        in output
    )
    team = json.loads(cli("assign", "--pir", "Alex", "--peer", "Riley", "--backup", "none", "--json"))
    assert (team["peer_id"], team["backup_id"], team["supervisor_id"]) == (ids["Riley"], None, ids["Dana"])
    team = json.loads(cli("assign", "--pir", "Alex", "--peer", "Riley", "--supervisor", "NONE", "--json"))
    assert (team["backup_id"], team["supervisor_id"]) == (None, None)
    assert "backup none, supervisor none" in cli("assign", "--pir", "Alex", "--peer", "Riley")


def test_ambiguous_names_ask_for_an_id(cli) -> None:
    cli("people", "add", "--role", "pir", "--name", "Chris", "--console", "c1")
    cli("people", "add", "--role", "pir", "--name", "chris", "--console", "c2")
    assert "ambiguous" in cli("checkin", "send", "Chris", code=2)


def test_first_names_and_unique_prefixes_name_people_as_in_chat(cli) -> None:
    ids = {}
    for role, name, console in [
        ("pir", "Alex Rivera", "a"),
        ("peer", "Sam Ortiz", "s"),
        ("pir", "Chris Lee", "c1"),
        ("pir", "Christine Park", "c2"),
    ]:
        ids[name] = int(cli("people", "add", "--role", role, "--name", name, "--console", console))
    team = json.loads(cli("assign", "--pir", "alex", "--peer", "SAM", "--json"))
    assert (team["pir_id"], team["peer_id"]) == (ids["Alex Rivera"], ids["Sam Ortiz"])
    assert json.loads(cli("checkin", "send", "ale", "--json"))["person_id"] == ids["Alex Rivera"]
    assert json.loads(cli("checkin", "send", "chris", "--json"))["person_id"] == ids["Chris Lee"]
    assert (
        json.loads(cli("checkin", "send", "christine park", "--json"))["person_id"] == ids["Christine Park"]
    )
    output = cli("checkin", "send", "chr", code=2)
    assert output.strip().count("\n") == 0, output
    chris, christine = ids["Chris Lee"], ids["Christine Park"]
    assert f"'chr' is ambiguous: Chris Lee (id {chris}, pir), Christine Park (id {christine}, pir)" in output


def test_duplicate_channel_identity_is_refused(cli) -> None:
    _program(cli)
    out = cli("people", "add", "--role", "pir", "--name", "Copy", "--phone", "+14155550123", code=2)
    assert "already belongs" in out


def test_checkin_send_history_and_alerts(cli) -> None:
    ids = _program(cli)
    cli("assign", "--pir", "Alex", "--peer", "Sam")
    started = json.loads(cli("checkin", "send", "Alex", "--json"))
    assert started["flow"] == "daily_checkin"
    history = json.loads(cli("history", "Alex", "--json"))
    # the opt-in confirmation of enrolment, then the check-in's greeting and first question
    assert [m["kind"] for m in history] == ["keyword", "checkin", "checkin"]
    assert "Msg & data rates may apply" in history[0]["body"]
    assert history[2]["body"].startswith("How is your mood today")
    assert json.loads(cli("alerts", "list", "--json")) == []
    assert "is a peer" in cli("checkin", "send", str(ids["Sam"]), code=2)


def test_checkin_send_picks_the_flow_for_the_role_and_refuses_the_wrong_audience(cli) -> None:
    _program(cli)
    refused = cli("checkin", "send", "Jordan", "--flow", "daily_checkin", code=2)
    assert "family_checkin" in refused
    assert len(refused.strip().splitlines()) == 1, refused
    history = json.loads(cli("history", "Jordan", "--json"))
    assert [m["kind"] for m in history] == ["keyword"]  # the opt-in only, none of the PIR's questions
    assert json.loads(cli("checkin", "send", "Jordan", "--json"))["flow"] == "family_checkin"
    assert "daily_checkin" in cli("checkin", "send", "Alex", "--flow", "family_checkin", code=2)
    onboarding = json.loads(cli("checkin", "send", "Alex", "--flow", "onboarding", "--json"))
    assert onboarding["flow"] == "onboarding"  # written for anyone


def test_a_check_in_time_inside_quiet_hours_is_refused_with_the_reason(
    cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _program(cli)
    args = ["people", "add", "--role", "pir", "--name", "Robin", "--console", "robin"]
    refused = cli(*args, "--checkin-time", "22:30", code=2)
    assert len(refused.strip().splitlines()) == 1, refused
    assert "22:30" in refused
    assert "quiet hours (21:00-09:00" in refused
    assert "PEERLINE_QUIET_HOURS" in refused
    assert "inside quiet hours" in cli("schedule", "set", "Alex", "--time", "06:15", code=2)
    assert "inside quiet hours" in cli(
        "people", "add", "--role", "family", "--name", "Kim", "--checkin-time", "23:00", code=2
    )
    names = [p["name"] for p in json.loads(cli("people", "list", "--json"))]
    assert "Robin" not in names and "Kim" not in names
    monkeypatch.setenv("PEERLINE_QUIET_HOURS", "off")
    assert cli(*args, "--checkin-time", "22:30").strip().isdigit()


def test_scheduler_tick_at_a_given_time(cli) -> None:
    _program(cli)
    # Alex's check-in is 09:30 in Chicago: 15:30 UTC in March (CDT from 8 March 2026).
    report = json.loads(cli("scheduler", "tick", "--now", "2030-01-01T00:00:00", "--json"))
    assert report["missed"] >= 1  # long past due: recorded as missed, not sent at midnight
    report = json.loads(cli("scheduler", "tick", "--now", "2030-01-01T15:31:00Z", "--json"))
    assert report["started"] == 2  # Alex at 09:30 Chicago, Jordan's family check-in 09:00 New York


def test_triage_cli_outputs_one_object_per_text(cli, tmp_path: Path) -> None:
    lines = cli("triage", "I want to kill myself", "had a nice walk").strip().splitlines()
    objects = [json.loads(line) for line in lines]
    assert [o["severity"] for o in objects] == ["critical", "none"]
    assert {"text", "severity", "categories", "matches"} <= set(objects[0])  # the shape it keeps
    assert {"possible_crisis", "experiencer", "findings", "model"} <= set(objects[0])  # what it adds
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "me quiero morir", "lang": "es"}\n\n{"text": "fine"}\n', encoding="utf-8")
    objects = [json.loads(x) for x in cli("triage", "--jsonl", str(source)).strip().splitlines()]
    assert [o["severity"] for o in objects] == ["critical", "none"]
    source.write_text("not json\n", encoding="utf-8")
    assert "not JSON" in cli("triage", "--jsonl", str(source), code=2)
    assert "bad --lang" in cli("triage", "x", "--lang", "fr", code=2)


_HEAVY = (
    "aiogram",
    "alembic",
    "twilio",
    "sklearn",
    "flows.triage",
    "flows.loader",
    "bot.inbound.pipeline",
    "bot.content",
)


def _imported_by(*args: str) -> set[str]:
    """The modules a `peerline` process imports (`python -X importtime` names each on standard error)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line.rsplit("|", 1) for line in done.stderr.splitlines() if line.startswith("import time:")]
    return {name.strip() for _, name in lines}


def test_reading_commands_load_no_content_pipeline_or_provider_library(
    cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`people list` starts fast: it loads only what reads the database, even with Telegram configured."""
    _program(cli)
    monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11")
    for args in (["people", "list"], ["alerts", "list", "--json"], ["history", "Alex", "--json"]):
        loaded = _imported_by(*args)
        assert "sqlalchemy" in loaded  # the list is real ...
        assert {m for m in loaded if m.split(".")[0] in _HEAVY or m in _HEAVY} == set(), args  # ... and lean


def test_a_broken_lexicon_stops_serving_and_triage_but_not_administration(
    cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str
) -> None:
    config = tmp_path / "config"
    shutil.copytree(Path(__file__).parents[3] / "config", config)
    (config / "triage" / "en.yaml").write_text("critical: [unclosed\n", encoding="utf-8")
    monkeypatch.setenv("PEERLINE_CONFIG_DIR", str(config))
    _program(cli)  # enrolment needs no triage
    assert len(json.loads(cli("people", "list", "--json"))) == 4
    output = cli("triage", "hello", code=2)
    assert "en.yaml: not valid YAML" in output and "Traceback" not in output, output
    with pytest.raises(LexiconError, match=r"en\.yaml"):  # what `peerline serve` builds
        App.build(Settings(database_url=db_url, config_dir=config))


def test_bad_setting_names_the_key(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEERLINE_TICK_SECONDS", "often")
    assert "PEERLINE_TICK_SECONDS" in cli("people", "list", code=2)


def test_people_enrolled_without_a_time_check_in_at_the_programs_default(
    cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PEERLINE_DEFAULT_CHECKIN_TIME", "9:45")
    cli("people", "add", "--role", "pir", "--name", "Robin", "--console", "robin")
    cli("people", "add", "--role", "pir", "--name", "Kai", "--console", "kai", "--checkin-time", "18:00")
    assert json.loads(cli("schedule", "set", "Robin", "--json"))["local_time"] == "09:45"
    assert json.loads(cli("schedule", "set", "Kai", "--json"))["local_time"] == "18:00"
    monkeypatch.setenv("PEERLINE_DEFAULT_CHECKIN_TIME", "25:00")
    out = cli("people", "list", code=2)
    assert "PEERLINE_DEFAULT_CHECKIN_TIME" in out and "HH:MM" in out


def test_demo_script_runs_without_a_terminal(tmp_path: Path) -> None:
    script = tmp_path / "answers.txt"
    script.write_text("4\n9\nyes\nI slipped last night\nno\nskip\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--script", str(script), "--db", str(tmp_path / "demo.db")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "bot → Sam (peer)" in result.stdout
    assert "HIGH alert" in result.stdout
    assert "check-in is finished" in result.stdout


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group such as `people`
            found += _commands(command, (*prefix, name))
        else:
            found.append(((*prefix, name), command))
    return found


def test_every_command_takes_json() -> None:
    commands = _commands(typer.main.get_group(app))
    assert len(commands) >= 15  # the walk reaches every command, in groups too
    lacking = [
        " ".join(path) for path, command in commands if not any("--json" in p.opts for p in command.params)
    ]
    assert lacking == []


def test_json_of_the_database_and_triage_commands(cli) -> None:
    assert json.loads(cli("db", "upgrade", "--json")) == {"status": "up to date", "revisions": ["0001"]}
    key = json.loads(cli("db", "new-key", "--json"))["key"]
    assert len(key) == 44 and key.endswith("=")
    assert json.loads(cli("triage", "I want to kill myself", "--json"))["severity"] == "critical"


def test_demo_as_json_lines(tmp_path: Path) -> None:
    script = tmp_path / "answers.txt"
    script.write_text("4\n9\nyes\nI slipped last night\nno\nskip\n", encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "demo",
            "--script",
            str(script),
            "--db",
            str(tmp_path / "d.db"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [x["text"] for x in lines if x.get("from") == "alex"] == script.read_text().splitlines()
    assert any("HIGH alert" in x["text"] for x in lines if x.get("to") == "sam")
    assert lines[-1] == {"checkin": "finished", "database": str(tmp_path / "d.db")}


def test_db_new_key_prints_a_key_the_settings_accept(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = cli("db", "new-key").strip(), cli("db", "new-key").strip()
    assert first != second
    monkeypatch.setenv("PEERLINE_ENCRYPTION_KEY", f"{first},{second}")
    assert "database is up to date" in cli("db", "upgrade")


def test_oncall_set_and_list(cli) -> None:
    ids = _program(cli)
    assert "every supervisor is paged" in cli("oncall", "list")
    cli("people", "add", "--role", "supervisor", "--name", "Ari", "--console", "ari")
    assert cli("oncall", "set", "Dana", "Ari").strip() == "on call: Dana (supervisor), Ari (supervisor)"
    assert next(r["id"] for r in json.loads(cli("oncall", "list", "--json"))) == ids["Dana"]
    out = cli("oncall", "set", "Sam", code=2)
    assert "Sam is a peer; the on-call must be a supervisor" in out
    cli("people", "add", "--role", "admin", "--name", "Lee", "--console", "lee")
    assert "Lee is a admin; the on-call must be a supervisor (admins are never paged)" in cli(
        "oncall", "set", "Lee", code=2
    )
    assert [r["name"] for r in json.loads(cli("oncall", "list", "--json"))] == ["Dana", "Ari"]


def test_arguments_out_of_any_range_are_one_line_not_a_traceback(cli, tmp_path: Path) -> None:
    _program(cli)
    out = cli("scheduler", "tick", "--now", "9999-12-31T23:59:59Z", code=2)
    assert "between the years 2000 and 2199" in out and "Traceback" not in out
    out = cli("invite", "Alex", "--hours", "1e308", "--bot-username", "PeerlineBot", code=2)
    assert "--hours" in out and "Traceback" not in out
    for args in (["history", "²"], ["assign", "--pir", "²", "--peer", "Sam"], ["checkin", "send", "9" * 20]):
        out = cli(*args, code=2)
        assert "no person" in out and "Traceback" not in out, args
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "hi"}\n{"text": "\xff"}\n')
    out = cli("triage", "--jsonl", str(bad), code=2)
    assert "is not UTF-8 text" in out and "Traceback" not in out


def test_a_database_in_a_folder_that_does_not_exist_is_one_line(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PEERLINE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/missing/peerline.db")
    out = cli("people", "list", code=2)
    assert "the database folder" in out and "does not exist" in out and "Traceback" not in out
