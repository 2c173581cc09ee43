"""Shared fixtures: every storage-touching test runs on a real SQLite file and a real PostgreSQL.

PostgreSQL comes from `PEERLINE_TEST_DATABASE_URL` when set, otherwise from the `pgserver` package,
which bundles a server and is started once per test session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import asyncpg
import pytest

from bot.app import App
from bot.channels.console import ConsoleChannel
from bot.clock import ManualClock
from config.settings import Settings
from storage.db import Database

START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # a Monday, 09:00 in New York


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """An asyncpg URL of a server where tests may create databases."""
    configured = os.environ.get("PEERLINE_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    import pgserver  # noqa: PLC0415  (only when PostgreSQL tests run)

    # Not under pytest's basetemp: concurrent pytest runs prune each other's old basetemps.
    pgdata = Path(tempfile.mkdtemp(prefix="peerline-pg-"))
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    uri = urlparse(server.get_uri())
    host = parse_qs(uri.query)["host"][0]
    yield f"postgresql+asyncpg://postgres@/postgres?host={host}"
    server.cleanup()
    shutil.rmtree(pgdata, ignore_errors=True)


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'peerline.db'}"
        return
    admin = request.getfixturevalue("pg_admin_url")
    name = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(_plain(admin))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parsed = urlparse(admin)
    yield parsed._replace(path=f"/{name}").geturl()
    conn = await asyncpg.connect(_plain(admin))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await database.create_all()
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def console() -> ConsoleChannel:
    return ConsoleChannel()


@pytest.fixture
async def app(db_url: str, clock: ManualClock, console: ConsoleChannel) -> AsyncIterator[App]:
    """The whole application on the console channel, with a manual clock and an empty database."""
    application = App.build(Settings(database_url=db_url), clock=clock, channels={"console": console})
    await application.db.create_all()
    yield application
    await application.close()
