"""Changing an existing care team from the command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from tests.bot.cli.test_cli import _program, cli  # noqa: F401  (the fixture)


def test_assign_changes_an_existing_team_and_removes_tiers(cli) -> None:  # noqa: F811
    ids = _program(cli)
    other = json.loads(cli("people", "add", "--role", "peer", "--name", "Kim", "--console", "kim", "--json"))
    cli("assign", "--pir", "Alex", "--peer", "Sam", "--backup", "Kim", "--supervisor", "Dana")
    team = json.loads(cli("assign", "--pir", "Alex", "--remove-backup", "--json"))
    assert (team["peer_id"], team["backup_id"], team["supervisor_id"]) == (ids["Sam"], None, ids["Dana"])
    team = json.loads(cli("assign", "--pir", "Alex", "--peer", "Kim", "--remove-supervisor", "--json"))
    assert (team["peer_id"], team["backup_id"], team["supervisor_id"]) == (other["id"], None, None)


def test_a_new_team_needs_its_peer(cli) -> None:  # noqa: F811
    _program(cli)
    assert "has no care team yet: give --peer" in cli("assign", "--pir", "Alex", code=2)
