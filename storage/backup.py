"""`peerline db backup FILE`: a consistent copy of a SQLite database while the bot runs.

SQLite's online backup API copies the pages under a read lock, so `serve` may keep writing meanwhile; the
copy is a complete database that `PEERLINE_DATABASE_URL=sqlite+aiosqlite:///FILE` opens as it is
(encrypted columns stay encrypted under the same key). PostgreSQL has its own tool for this, `pg_dump`.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(ValueError):
    """A backup that cannot be made as asked; the message says what to do."""


def backup(database_url: str, target: Path) -> int:
    """Copy the SQLite database at `database_url` to `target` (a new file); returns its size in bytes."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite"):
        raise BackupError(
            f"{url.drivername} is backed up with its own tool: "
            "pg_dump --format=custom --file=FILE DATABASE (see README, Running in production)"
        )
    source = Path(url.database or "")
    if not source.is_file():
        raise BackupError(f"no database at {source}: check PEERLINE_DATABASE_URL")
    if target.exists():
        raise BackupError(f"{target} exists: choose a new file, a backup never overwrites one")
    if not target.parent.is_dir():
        raise BackupError(f"the folder {target.parent} does not exist: create it first")
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return target.stat().st_size
