"""The command line shows people by name and times with their zone; `messages catalogue` prints every
message text (`--json` too)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from storage.db import Database
from storage.models import Alert

runner = CliRunner()


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PEERLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("PEERLINE_DEFAULT_TIMEZONE", "America/Chicago")

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, f"{args}: exit {result.exit_code}\n{result.output}"
        return result.output

    return run


async def _raise(db_url: str, person_id: int) -> None:
    database = Database(db_url)
    try:
        async with database.transaction() as s:
            when = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
            s.add(
                Alert(
                    person_id=person_id, severity="high", categories=["use"], reasons=["x"], created_at=when
                )
            )
    finally:
        await database.dispose()


def test_assign_and_alerts_list_name_people_and_give_times_with_their_zone(cli, db_url: str) -> None:
    ids = {}
    for role, name in (("pir", "Alex"), ("peer", "Sam"), ("supervisor", "Dana")):
        ids[name] = int(
            cli("people", "add", "--role", role, "--name", name, "--console", name.lower()).strip()
        )
    out = cli("assign", "--pir", "Alex", "--peer", "Sam", "--supervisor", "Dana")
    assert out.strip() == (
        f"care team of Alex (id {ids['Alex']}): peer Sam (id {ids['Sam']}), backup none, "
        f"supervisor Dana (id {ids['Dana']})"
    )
    team = json.loads(cli("assign", "--pir", "Alex", "--peer", "Sam", "--json"))
    assert (team["pir_id"], team["peer_id"], team["backup_id"]) == (ids["Alex"], ids["Sam"], None)

    asyncio.run(_raise(db_url, ids["Alex"]))
    table = cli("alerts", "list")
    assert "Alex" in table and "8:05 AM" in table and "CST" in table  # Chicago, the program's zone
    (row,) = json.loads(cli("alerts", "list", "--json"))
    assert (row["person"], row["person_id"]) == ("Alex", ids["Alex"])


def test_messages_catalogue_prints_every_text_for_a_read_through(cli) -> None:
    text = cli("messages", "catalogue")
    assert "== page:alert [staff] en sms, GSM-7, 2 segment(s)\nCRITICAL alert #12: Alex (PIR)" in text
    assert "== opted_in_family_sms [family] es sms, GSM-7, 2 segment(s)\n" in text
    entries = json.loads(cli("messages", "catalogue", "--json"))
    keys = {(e["key"], e["locale"], e["channel"], e["audience"]) for e in entries}
    assert ("page:caseload", "es", "sms", "staff") in keys and ("crisis", "en", "telegram", "family") in keys
    assert {"key", "audience", "locale", "channel", "part", "text", "encoding", "segments"} == set(entries[0])
