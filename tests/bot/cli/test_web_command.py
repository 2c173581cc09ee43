"""`peerline web link WHO`: a single-use sign-in link for a staff member, refused for anyone else."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from bot.web.signin import link_is_live
from storage.db import Database

runner = CliRunner()


def test_web_link_prints_a_live_link_for_staff_only(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PEERLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("PEERLINE_PUBLIC_URL", "https://console.example.org/")

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    run("people", "add", "--role", "admin", "--name", "Ada", "--console", "ada")
    run("people", "add", "--role", "pir", "--name", "Alex", "--console", "alex")
    printed = json.loads(run("web", "link", "Ada", "--json"))
    prefix = "https://console.example.org/login/link/"
    assert printed["name"] == "Ada" and printed["link"].startswith(prefix)
    assert "is a pir, not a peer or supervisor or admin" in run("web", "link", "Alex", code=2)

    async def live(token: str) -> bool:
        database = Database(db_url)
        try:
            async with database.transaction() as s:
                return await link_is_live(s, token, datetime.now(UTC))
        finally:
            await database.dispose()

    assert asyncio.run(live(printed["link"].removeprefix(prefix)))
    assert not asyncio.run(live("not-a-token"))
