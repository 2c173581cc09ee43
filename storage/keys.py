"""Which key opens a database, and encrypting or re-keying one in place (`peerline db encrypt`,
`peerline db rotate-key`).

A database is plaintext until it is first written with a key, or until `db encrypt` has run; from then
on its `keycheck` row holds the fingerprint of the key its looked-up values are encrypted with. Every
process checks before it does anything else, and refuses to start, with one line that says what to do:

- on an encrypted database without PEERLINE_ENCRYPTION_KEY (it would write new values in plaintext and
  fail on every value it reads);
- with keys none of which is the database's (a wrong key);
- with a key on a database that already holds plaintext (it could not find its phone numbers; `db
  encrypt` first).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, Text, bindparam, exists, select, text, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import SQLModel, col

from storage.crypto import EncryptionError, Keyring
from storage.models import KeyCheck, Message, Person
from storage.types import LookupText, SecretJSON, SecretText

BATCH = 500

NO_KEY = (
    "this database is encrypted: set PEERLINE_ENCRYPTION_KEY to the key that opens it "
    "(a copy of the key is the only way in)"
)
WRONG_KEY = (
    "PEERLINE_ENCRYPTION_KEY does not open this database: none of its keys is the one the data was "
    "encrypted with (while rotating, keep the old key after the new one)"
)
PLAIN = (
    "this database holds unencrypted data: run `peerline db encrypt` to encrypt it in place with "
    "PEERLINE_ENCRYPTION_KEY, or unset the key"
)


async def _fingerprint(conn: AsyncConnection) -> str | None:
    found = await conn.execute(select(col(KeyCheck.fingerprint)).where(col(KeyCheck.id) == 1))
    return found.scalar_one_or_none()


async def check(engine: AsyncEngine, keyring: Keyring | None) -> None:
    """Refuse (EncryptionError) unless `keyring` opens the database; mark a new database encrypted."""
    async with engine.begin() as conn:
        fingerprint = await _fingerprint(conn)
        if fingerprint is not None:
            if keyring is None:
                raise EncryptionError(NO_KEY)
            if not keyring.holds(fingerprint):
                raise EncryptionError(WRONG_KEY)
            keyring.look_up_with(fingerprint)
            return
        if keyring is None:
            return
        held = select(exists().select_from(Person)).union_all(select(exists().select_from(Message)))
        if any((await conn.execute(held)).scalars()):
            raise EncryptionError(PLAIN)
    try:
        async with engine.begin() as conn:  # a new database: encrypted from its first row
            await conn.execute(
                KeyCheck.__table__.insert().values(  # type: ignore[attr-defined]
                    id=1, fingerprint=keyring.fingerprint, set_at=datetime.now(UTC)
                )
            )
    except IntegrityError:  # another process marked it first
        await check(engine, keyring)


@dataclass(frozen=True, slots=True)
class Rekeyed:
    rows: int
    values: int
    fingerprint: str


def _secret_columns(table: Table) -> list[tuple[str, str | None]]:
    """(column, lookup purpose or None for a sealed value) of every encrypted column of `table`."""
    found: list[tuple[str, str | None]] = []
    for column in table.columns:
        if isinstance(column.type, LookupText):
            found.append((column.name, column.type.purpose))
        elif isinstance(column.type, SecretText | SecretJSON):
            found.append((column.name, None))
    return found


async def reencrypt(engine: AsyncEngine, keyring: Keyring, *, rotate: bool) -> Rekeyed:
    """Every encrypted column of every row, plaintext or under any of the keys, encrypted under the first
    key, in one transaction; then the database is marked as under the first key.

    `rotate` is `db rotate-key` (the database must be encrypted already); otherwise `db encrypt` (it must
    not be encrypted under a key other than the first).
    """
    rows = values = 0
    async with engine.begin() as conn:
        fingerprint = await _fingerprint(conn)
        if fingerprint is not None and not keyring.holds(fingerprint):
            raise EncryptionError(WRONG_KEY)
        if rotate and fingerprint is None:
            raise EncryptionError("this database is not encrypted yet: run `peerline db encrypt` instead")
        if not rotate and fingerprint not in (None, keyring.fingerprint):
            raise EncryptionError(
                "this database is encrypted under another key: to move it to the first key of "
                "PEERLINE_ENCRYPTION_KEY run `peerline db rotate-key`"
            )
        if fingerprint is not None:
            keyring.look_up_with(fingerprint)
        for table in SQLModel.metadata.sorted_tables:
            columns = _secret_columns(table)
            if not columns:
                continue
            (pk,) = table.primary_key.columns
            raw = [type_coerce(table.c[name], Text()).label(name) for name, _ in columns]
            change = (
                update(table)
                .where(pk == bindparam("_pk"))
                .values({name: bindparam(f"_{name}", type_=Text()) for name, _ in columns})
            )
            last: Any = None
            while True:
                query = select(pk, *raw).order_by(pk).limit(BATCH)
                if last is not None:
                    query = query.where(pk > last)
                batch = (await conn.execute(query)).all()
                if not batch:
                    break
                params = []
                for row in batch:
                    values += sum(row._mapping[name] is not None for name, _ in columns)
                    params.append(
                        {"_pk": row[0]}
                        | {
                            f"_{name}": None
                            if row._mapping[name] is None
                            else keyring.reencrypt(str(row._mapping[name]), purpose)
                            for name, purpose in columns
                        }
                    )
                await conn.execute(change, params)
                rows += len(batch)
                last = batch[-1][0]
        marks = KeyCheck.__table__  # type: ignore[attr-defined]
        await conn.execute(marks.delete())
        await conn.execute(
            marks.insert().values(id=1, fingerprint=keyring.fingerprint, set_at=datetime.now(UTC))
        )
    keyring.look_up_with(keyring.fingerprint)
    await scrub(engine)
    return Rekeyed(rows=rows, values=values, fingerprint=keyring.fingerprint)


async def scrub(engine: AsyncEngine) -> None:
    """Leave no old copy of a re-encrypted value in the database's own files.

    An UPDATE leaves the old row in a freed page (SQLite) or a dead tuple (PostgreSQL), and SQLite's WAL
    holds the pages written since the last checkpoint. SQLite is rebuilt with VACUUM and its WAL
    truncated; PostgreSQL's tables are rewritten with VACUUM FULL. Backups, replicas and archived
    PostgreSQL WAL made before are beyond reach: the README says so.
    """
    tables = [table.name for table in SQLModel.metadata.sorted_tables if _secret_columns(table)]
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        assert path is not None

        def vacuum() -> None:
            with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
                conn.execute("VACUUM")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        await engine.dispose()  # no pooled connection holds an old snapshot of the file
        await asyncio.to_thread(vacuum)
        return
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for name in tables:
            await auto.execute(text(f'VACUUM FULL "{name}"'))
