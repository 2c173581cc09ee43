"""`peerline people export WHO --out DIR`: a person's own record, for a person who asks for theirs.

The record: their profile, channel identities, messages, answers, alerts about them and contact notes
about them (`person_tables`), with the consents and disclosures the caller adds from
`bot.family.accounting` (which depends on this package, so not the other way round). `write_record` lays
it out as `record.json` and one CSV per table in a new folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select

from bot.errors import UserError
from bot.reports.formats import table_csv
from storage.models import Alert, Answer, ChannelIdentity, ContactNote, Message, Person


@dataclass(frozen=True, slots=True)
class Table:
    """One table of the record: its CSV columns (the same with no rows) and its rows."""

    columns: tuple[str, ...]
    rows: list[dict[str, Any]]


_SKIP = {"name_key", "insert_sentinel"}  # derived columns, not part of what the person gave or got


def _rows(items: Sequence[SQLModel]) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.model_dump().items() if k not in _SKIP} for item in items]


_MODELS: Mapping[str, tuple[type[SQLModel], Any]] = {
    "profile": (Person, col(Person.id)),
    "channel_identities": (ChannelIdentity, col(ChannelIdentity.person_id)),
    "messages": (Message, col(Message.person_id)),
    "answers": (Answer, col(Answer.person_id)),
    "alerts": (Alert, col(Alert.person_id)),  # alerts about them
    "contact_notes": (ContactNote, col(ContactNote.pir_id)),  # notes of contacts with them
}


async def person_tables(s: AsyncSession, person: Person) -> dict[str, Table]:
    """Every row stored about `person` in these tables, oldest first."""
    assert person.id is not None
    tables = {}
    for name, (model, owner) in _MODELS.items():
        key = model.__table__.primary_key.columns.values()[0]  # type: ignore[attr-defined]
        found = (await s.scalars(select(model).where(owner == person.id).order_by(key))).all()
        columns = tuple(c for c in model.model_fields if c not in _SKIP)
        tables[name] = Table(columns, _rows(found))
    return tables


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def write_record(record: Mapping[str, Table], folder: Path) -> list[Path]:
    """`record.json` and `<table>.csv` for each table in `folder` (created; an existing folder must be
    empty, so no earlier export is mixed in); returns the files written."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UserError(f"{folder} exists and is not an empty folder: choose a new one")
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "record.json"]
    written[0].write_text(
        json.dumps(
            {name: table.rows for name, table in record.items()}, default=str, ensure_ascii=False, indent=2
        )
        + "\n",
        encoding="utf-8",
    )
    for name, table in record.items():
        path = folder / f"{name}.csv"
        rows = [{k: _cell(v) for k, v in row.items()} for row in table.rows]
        path.write_text(table_csv(table.columns, rows), encoding="utf-8")
        written.append(path)
    return written
