"""Enrolling a PIR or family member queues the opt-in confirmation SMS programs must send (CTIA)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli.main import app as cli_app
from storage.db import Database
from storage.models import Direction, Message, MessageKind, Outbox

runner = CliRunner()


def _enrol(*args: str) -> int:
    result = runner.invoke(cli_app, ["people", "add", *args, "--json"])
    assert result.exit_code == 0, result.output
    person_id: int = json.loads(result.output)["id"]
    return person_id


async def _queued(db_url: str) -> list[Message]:
    db = Database(db_url)
    try:
        async with db.transaction() as s:
            rows = await s.scalars(
                select(Message).where(Message.direction == Direction.OUTBOUND).order_by(col(Message.id))
            )
            messages = list(rows.all())
            assert len((await s.scalars(select(Outbox))).all()) == len(messages)
    finally:
        await db.dispose()
    return messages


@pytest.fixture
def env(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PEERLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("PEERLINE_PROGRAM_NAME", "Harbor Recovery")
    return db_url


def test_people_add_with_a_phone_queues_the_opt_in_confirmation(env: str) -> None:
    alex = _enrol("--role", "pir", "--name", "Alex", "--phone", "(202) 555-0143")
    rosa = _enrol("--role", "family", "--name", "Rosa", "--phone", "+12025550188", "--locale", "es")
    _enrol("--role", "peer", "--name", "Sam", "--phone", "+12025550101")  # staff: no subscription
    first, second = asyncio.run(_queued(env))
    assert (first.person_id, first.channel, first.address, first.kind) == (
        alex,
        "sms",
        "+12025550143",
        MessageKind.KEYWORD,
    )
    for needed in ("Harbor Recovery", "about 1 message a day", "Msg & data rates may apply", "HELP", "STOP"):
        assert needed in first.body
    assert (second.person_id, second.address) == (rosa, "+12025550188")
    assert "Pueden aplicarse tarifas de mensajes y datos" in second.body


def test_a_bad_phone_number_is_a_clear_error(env: str) -> None:
    result = runner.invoke(cli_app, ["people", "add", "--role", "pir", "--name", "Alex", "--phone", "555-12"])
    assert result.exit_code == 2
    assert "bad phone number '555-12'" in result.output and "E.164" in result.output
