"""Async engine and transactions for SQLite (default) and PostgreSQL.

SQLite is tuned for a single busy process: WAL so readers never block the writer, synchronous=NORMAL
(durable across process crashes, and WAL keeps the file consistent on power loss), a busy timeout so a
second writer waits instead of failing, foreign keys on, and `BEGIN IMMEDIATE` so a write transaction
takes the write lock up front instead of failing half-way with "database is locked".
"""

from __future__ import annotations

import ast
import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.appends import install, write_appends
from storage.crypto import Keyring
from storage.types import CIPHER_ATTRIBUTE

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the driver so the "begin" hook below decides how to begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
        "PRAGMA foreign_keys=ON",
    ):
        cursor.execute(pragma)
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def migration_heads(versions: Path = MIGRATIONS_DIR / "versions") -> set[str] | None:
    """The head revisions of the migration files, read as Python literals without importing alembic.

    None when a file does not state its `revision` and `down_revision` as plain literals: then alembic
    decides.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(versions.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        except (OSError, SyntaxError, ValueError):
            return None
        values: dict[str, object] = {}
        for node in tree.body:
            target: ast.expr
            if isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            else:
                continue
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                try:
                    values[target.id] = ast.literal_eval(value)
                except ValueError:
                    return None
        revision, down = values.get("revision"), values.get("down_revision")
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        downs = down if isinstance(down, tuple | list) else (down,)
        parents.update(d for d in downs if isinstance(d, str))
    return revisions - parents or None


def _current_revisions(sync_conn: Connection) -> set[str]:
    if not inspect(sync_conn).has_table("alembic_version"):
        return set()
    return {str(v) for v in sync_conn.execute(text("SELECT version_num FROM alembic_version")).scalars()}


class _Session(Session):
    """Our sessions: rows appended in bulk (`storage.appends`) are written before any query runs."""


install(_Session)


class _WriterQueue:
    """At most `slots` transactions at a time, in arrival order, except that urgent work goes first.

    Urgent: raising and delivering alerts, and the outbox sender's bookkeeping (small, and what stands
    between a committed alert and its page). Without it a red flag waits behind every queued answer.
    """

    def __init__(self, slots: int = 1) -> None:
        self._free = slots
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    async def acquire(self, *, urgent: bool) -> None:
        if self._free and not self._urgent and not self._normal:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._normal
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the lock was handed over just as we were cancelled: pass it on
            elif waiter in queue:
                queue.remove(waiter)
            raise

    def release(self) -> None:
        for queue in (self._urgent, self._normal):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the slot passes straight to the next writer
                    return
        self._free += 1


class DatabaseUrlError(ValueError):
    """A database URL that cannot work (a SQLite file in a folder that does not exist, `:memory:`)."""


class Database:
    """Owns the engine; hands out transactions. Built once in the composition root."""

    def __init__(self, url: str, *, echo: bool = False, encryption_key: str | None = None) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000}
            if ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:"):
                raise DatabaseUrlError(
                    "use a SQLite file, not :memory: (every connection would see its own database)"
                )
            folder = Path(make_url(url).database or ".").expanduser().parent
            if not folder.is_dir():
                raise DatabaseUrlError(
                    f"the database folder {folder} does not exist: create it, or point "
                    "PEERLINE_DATABASE_URL at a file in a folder that does"
                )
        else:
            kwargs["pool_size"] = 10
            kwargs["max_overflow"] = 10
            kwargs["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self.keyring = cipher = Keyring(encryption_key) if encryption_key else None
        setattr(self.engine.dialect, CIPHER_ATTRIBUTE, cipher)  # read by storage.types.SecretText
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, sync_session_class=_Session, expire_on_commit=False
        )
        # PostgreSQL's urgent lane: a small pool of its own, so alerts and the outbox sender never wait
        # for a connection behind a burst of ordinary inbound work.
        self._urgent_engine: AsyncEngine | None = None
        self._urgent_sessions = self._sessions
        if not self.is_sqlite:
            self._urgent_engine = create_async_engine(
                url, echo=echo, pool_size=2, max_overflow=4, pool_pre_ping=True
            )
            setattr(self._urgent_engine.dialect, CIPHER_ATTRIBUTE, cipher)
            self._urgent_sessions = async_sessionmaker(
                self._urgent_engine, class_=AsyncSession, sync_session_class=_Session, expire_on_commit=False
            )
        # SQLite has one writer at a time. Queuing writers here, in order, is far cheaper than letting
        # them collide in SQLite's busy handler, which sleeps and retries; other processes still rely on
        # busy_timeout. On PostgreSQL ordinary work is queued at the pool's size, so a burst cannot
        # starve the event loop of time for the urgent lane.
        self._writer = _WriterQueue(1 if self.is_sqlite else kwargs["pool_size"])

    @asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits on success, rolls back on any exception.

        `urgent` (alerts, the outbox sender) jumps the queue of SQLite writers in this process, and on
        PostgreSQL takes a connection from a pool of its own.
        """
        if urgent and self._urgent_engine is not None:
            async with self._urgent_sessions() as session, session.begin():
                yield session
                await write_appends(session)
            return
        await self._writer.acquire(urgent=urgent)
        try:
            async with self._sessions() as session, session.begin():
                yield session
                await write_appends(session)
        finally:
            self._writer.release()

    async def create_all(self) -> None:
        """Create tables straight from the models (tests); deployments use `upgrade`."""
        async with self.engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
        await self.check_key()

    async def check_key(self) -> None:
        """Refuse (`storage.crypto.EncryptionError`, one line) unless the key opens the database."""
        from storage.keys import check  # noqa: PLC0415

        await check(self.engine, self.keyring)

    async def upgrade(self, revision: str = "head", *, check_key: bool = True) -> None:
        """Apply Alembic migrations on this engine's connection (a cheap no-op when already current), then
        check the key (`check_key`).

        Every CLI command upgrades first, so "already current" is decided without loading alembic: the
        heads named in the migration files against the database's `alembic_version`.
        """
        await self._migrate(revision)
        if check_key:
            await self.check_key()

    async def _migrate(self, revision: str) -> None:
        heads = migration_heads() if revision == "head" else None
        if heads:
            async with self.engine.connect() as conn:
                if await conn.run_sync(_current_revisions) == heads:
                    return
        from alembic import command  # noqa: PLC0415  (only migrations need alembic loaded)
        from alembic.config import Config  # noqa: PLC0415
        from alembic.migration import MigrationContext  # noqa: PLC0415
        from alembic.script import ScriptDirectory  # noqa: PLC0415

        def run(sync_conn: Connection) -> None:
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
            cfg.attributes["connection"] = sync_conn
            wanted = set(ScriptDirectory.from_config(cfg).get_heads()) if revision == "head" else {revision}
            if set(MigrationContext.configure(sync_conn).get_current_heads()) == wanted:
                return
            command.upgrade(cfg, revision)

        async with self.engine.begin() as conn:
            await conn.run_sync(run)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._urgent_engine is not None:
            await self._urgent_engine.dispose()
