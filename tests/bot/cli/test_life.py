"""`peerline people edit|discharge|readmit` and `caseload transfer` from the command line (issue 15)."""

from __future__ import annotations

import json

from tests.bot.cli.test_cli import _program, cli  # noqa: F401  (the fixture)


def test_edit_discharge_readmit_and_transfer(cli) -> None:  # noqa: F811
    ids = _program(cli)
    cli("people", "add", "--role", "peer", "--name", "Kim", "--console", "kim")
    cli("assign", "--pir", "Alex", "--peer", "Sam", "--supervisor", "Dana")
    edited = json.loads(cli("people", "edit", "Alex", "--name", "Alex Rivera", "--locale", "es", "--json"))
    assert edited == {"id": ids["Alex"], "name": "Alex Rivera", "changed": ["name", "locale"]}
    assert "changed checkin_time" in cli("people", "edit", "alex rivera", "--checkin-time", "10:15")
    moved = json.loads(cli("caseload", "transfer", "--from", "Sam", "--to", "Kim", "--json"))
    assert moved["pirs"] == [ids["Alex"]] and moved["alerts_reopened"] == []
    assert "0 PIR(s) moved from Sam to Kim" in cli("caseload", "transfer", "--from", "Sam", "--to", "Kim")
    out = json.loads(cli("people", "discharge", "Alex Rivera", "--reason", "completed the program", "--json"))
    assert (out["status"], out["open_alerts"]) == ("discharged", [])
    people = {p["id"]: p for p in json.loads(cli("people", "list", "--json"))}
    assert people[ids["Alex"]]["status"] == "discharged"
    assert "readmitted Alex Rivera" in cli("people", "readmit", "Alex Rivera")
    # Sam has no people left and can leave; Kim still has Alex.
    assert "discharged Sam" in cli("people", "discharge", "Sam")
    assert "is on 1 care team(s)" in cli("people", "discharge", "Kim", code=2)


def test_bad_arguments_are_one_line(cli) -> None:  # noqa: F811
    _program(cli)
    assert "nothing to change" in cli("people", "edit", "Alex", code=2)
    assert "bad locale 'xx'" in cli("people", "edit", "Alex", "--locale", "xx", code=2)
    assert "not discharged" in cli("people", "readmit", "Alex", code=2)
    assert "the same peer" in cli("caseload", "transfer", "--from", "Sam", "--to", "Sam", code=2)
    assert "is a pir, not a peer" in cli("caseload", "transfer", "--from", "Alex", "--to", "Sam", code=2)
