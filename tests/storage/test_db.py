"""Storage on both backends: migrations match the models, SQLite pragmas hold, UTC round-trips."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from storage.db import MIGRATIONS_DIR, Database, migration_heads
from storage.models import ChannelIdentity, Direction, Message, Person

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


async def test_migrations_create_exactly_the_models(db_url: str) -> None:
    database = Database(db_url)
    try:
        await database.upgrade()

        def diff(sync_conn):  # type: ignore[no-untyped-def]
            ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
            return compare_metadata(ctx, SQLModel.metadata)

        async with database.engine.connect() as conn:
            differences = await conn.run_sync(diff)
        assert differences == []
        await database.upgrade()  # idempotent
    finally:
        await database.dispose()


def test_heads_read_from_the_migration_files_are_alembics(tmp_path: Path) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert migration_heads() == set(ScriptDirectory.from_config(cfg).get_heads())
    (tmp_path / "0001_a.py").write_text('revision: str = "0001"\ndown_revision = None\n', encoding="utf-8")
    (tmp_path / "0002_b.py").write_text('revision = "0002"\ndown_revision = "0001"\n', encoding="utf-8")
    (tmp_path / "0003_c.py").write_text('revision = "0003"\ndown_revision = "0001"\n', encoding="utf-8")
    assert migration_heads(tmp_path) == {"0002", "0003"}  # two branches
    (tmp_path / "0004_d.py").write_text(
        'revision = "0004"\ndown_revision = ("0002", "0003")\n', encoding="utf-8"
    )
    assert migration_heads(tmp_path) == {"0004"}  # merged
    (tmp_path / "0005_e.py").write_text('revision = make_id()\ndown_revision = "0004"\n', encoding="utf-8")
    assert migration_heads(tmp_path) is None  # not a literal: alembic decides


_UPGRADE = """
import asyncio, sys
from storage.db import MIGRATIONS_DIR, Database, migration_heads

async def main() -> None:
    database = Database(sys.argv[1])
    await database.upgrade()
    await database.dispose()

asyncio.run(main())
print("alembic" in sys.modules)
"""


def test_a_current_database_is_upgraded_without_loading_alembic(db_url: str) -> None:
    def upgrade() -> str:
        done = subprocess.run(
            [sys.executable, "-c", _UPGRADE, db_url], capture_output=True, text=True, check=False, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert upgrade() == "True"  # an empty database: alembic migrates it
    assert upgrade() == "False"  # already current: nothing to do, decided without alembic


async def test_sqlite_pragmas(tmp_path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    try:
        async with database.transaction() as s:
            mode = (await s.execute(text("PRAGMA journal_mode"))).scalar()
            sync = (await s.execute(text("PRAGMA synchronous"))).scalar()
            fks = (await s.execute(text("PRAGMA foreign_keys"))).scalar()
            busy = (await s.execute(text("PRAGMA busy_timeout"))).scalar()
        assert (mode, sync, fks) == ("wal", 1, 1)  # synchronous NORMAL == 1
        assert busy == 10_000
    finally:
        await database.dispose()


def test_memory_sqlite_is_refused() -> None:
    with pytest.raises(ValueError, match="SQLite file"):
        Database("sqlite+aiosqlite:///:memory:")


async def test_datetimes_come_back_aware_utc(db: Database) -> None:
    madrid = timezone(timedelta(hours=1))
    async with db.transaction() as s:
        person = Person(role="pir", name="Ana", created_at=datetime(2026, 3, 2, 15, 0, tzinfo=madrid))
        s.add(person)
    async with db.transaction() as s:
        loaded = await s.get(Person, person.id)
    assert loaded is not None
    assert loaded.created_at == NOW
    assert loaded.created_at.tzinfo is not None
    assert loaded.created_at.utcoffset() == timedelta(0)


async def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with db.transaction() as s:
            s.add(Person(role="pir", name="Ana", created_at=datetime(2026, 3, 2, 15, 0)))  # noqa: DTZ001


async def test_provider_id_is_unique(db: Database) -> None:
    async with db.transaction() as s:
        s.add(
            Message(
                direction=Direction.INBOUND,
                channel="sms",
                address="+15550001111",
                body="hi",
                provider_id="sms:SM1",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    with pytest.raises(IntegrityError):
        async with db.transaction() as s:
            s.add(
                Message(
                    direction=Direction.INBOUND,
                    channel="sms",
                    address="+15550001111",
                    body="hi",
                    provider_id="sms:SM1",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )


async def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.transaction() as s:
            s.add(ChannelIdentity(person_id=999, channel="sms", address="+15550001111", created_at=NOW))


async def _add_then_fail(db: Database) -> None:
    async with db.transaction() as s:
        s.add(Person(role="pir", name="Gone", created_at=NOW))
        await s.flush()
        raise RuntimeError("boom")


async def test_failed_transaction_rolls_back(db: Database) -> None:
    with pytest.raises(RuntimeError):
        await _add_then_fail(db)
    async with db.transaction() as s:
        count = (await s.execute(text("SELECT count(*) FROM person"))).scalar()
    assert count == 0
