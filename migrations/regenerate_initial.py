"""Development helper: rewrite 0001 from the models while nothing has been released.

    uv run python migrations/regenerate_initial.py

Once a release is deployed, add migrations with `alembic revision --autogenerate` style revisions instead.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from storage.db import MIGRATIONS_DIR, Database


async def main() -> None:
    for old in (MIGRATIONS_DIR / "versions").glob("*.py"):
        old.unlink()
    database = Database(f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'gen.db'}")

    def run(conn: Connection) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = conn
        command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")

    async with database.engine.begin() as conn:
        await conn.run_sync(run)
    await database.dispose()


if __name__ == "__main__":
    asyncio.run(main())
