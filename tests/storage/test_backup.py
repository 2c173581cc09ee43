"""`peerline db backup FILE`: a copy of the SQLite database that opens with everything in it; PostgreSQL
and mistakes get one line that says what to do."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bot.app import App
from bot.people.enrolment import resolve
from config.settings import Settings
from tests.bot.cli.test_cli import _program, cli  # noqa: F401  (the fixture)


def test_backup_copies_the_database_and_refuses_to_overwrite(cli, db_url: str, tmp_path: Path) -> None:  # noqa: F811
    ids = _program(cli)
    target = tmp_path / "backup.db"
    if not db_url.startswith("sqlite"):
        assert "pg_dump" in cli("db", "backup", str(target), code=2)
        assert not target.exists()
        return
    done = json.loads(cli("db", "backup", str(target), "--json"))
    assert done["bytes"] == target.stat().st_size > 0
    assert "exists: choose a new file" in cli("db", "backup", str(target), code=2)
    assert "does not exist: create it first" in cli("db", "backup", str(tmp_path / "no" / "b.db"), code=2)

    async def alex_in_the_copy() -> int | None:
        copy = App.build(Settings(database_url=f"sqlite+aiosqlite:///{target}"), channels={})
        try:
            await copy.db.upgrade()
            async with copy.db.transaction() as s:
                return (await resolve(s, "Alex")).id
        finally:
            await copy.close()

    assert asyncio.run(alex_in_the_copy()) == ids["Alex"]
