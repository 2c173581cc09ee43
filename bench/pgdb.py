"""A fresh PostgreSQL database per benchmark run, created beside the one a `--database-url` names.

Runs never share rows (the console channel numbers its provider ids from 1 in every run), and the
database is dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlparse

import asyncpg  # type: ignore[import-untyped]


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@asynccontextmanager
async def fresh_database(url: str | None) -> AsyncIterator[str | None]:
    """A URL of a new, empty database on the server of `url` (a PostgreSQL one); other URLs as given."""
    if url is None or not url.startswith("postgresql"):
        yield url
        return
    name = f"bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_plain(url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield urlparse(url)._replace(path=f"/{name}").geturl()
    finally:
        conn = await asyncpg.connect(_plain(url))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
