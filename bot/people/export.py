"""`peerline people export WHO --out DIR`: a person's own record, for a person who asks for theirs.

The record (`person_record`): their profile, channel identities, messages, answers, alerts about them,
contact notes about them, consents (about them, or given to them) and the disclosures about them, read
in one transaction. `write_record` lays it out as `record.json` and one CSV per table in a new folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select

from bot.errors import UserError
from bot.family.accounting import CONSENT_COLUMNS, DISCLOSURE_COLUMNS, consent_rows, disclosure_rows
from bot.reports.formats import table_csv
from storage.models import Alert, Answer, ChannelIdentity, ContactNote, Message, Person, Role

Record = dict[str, list[dict[str, Any]]]
TABLES = (
    "profile",
    "channel_identities",
    "messages",
    "answers",
    "alerts",
    "contact_notes",
    "consents",
    "disclosures",
)
_SKIP = {"name_key", "insert_sentinel"}  # derived columns, not part of what the person gave or got


def _rows(items: Sequence[SQLModel]) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.model_dump().items() if k not in _SKIP} for item in items]


async def person_record(s: AsyncSession, person: Person) -> Record:
    """Everything stored about `person`, table by table, oldest first."""
    assert person.id is not None

    async def of(model: type[SQLModel], column: Any, order: Any) -> list[dict[str, Any]]:
        found = (await s.scalars(select(model).where(column == person.id).order_by(order))).all()
        return _rows(found)

    return {
        "profile": _rows([person]),
        "channel_identities": await of(
            ChannelIdentity, col(ChannelIdentity.person_id), col(ChannelIdentity.id)
        ),
        "messages": await of(Message, col(Message.person_id), col(Message.id)),
        "answers": await of(Answer, col(Answer.person_id), col(Answer.id)),
        "alerts": await of(Alert, col(Alert.person_id), col(Alert.id)),
        "contact_notes": await of(ContactNote, col(ContactNote.pir_id), col(ContactNote.id)),
        "consents": await consent_rows(s, person),
        "disclosures": await disclosure_rows(s, person, None, None) if person.role == Role.PIR else [],
    }


_MODELS: Mapping[str, type[SQLModel]] = {
    "profile": Person,
    "channel_identities": ChannelIdentity,
    "messages": Message,
    "answers": Answer,
    "alerts": Alert,
    "contact_notes": ContactNote,
}


def columns_of(table: str) -> list[str]:
    """A table's CSV columns (the same whether or not it has rows)."""
    if table == "consents":
        return list(CONSENT_COLUMNS)
    if table == "disclosures":
        return list(DISCLOSURE_COLUMNS)
    return [c for c in _MODELS[table].model_fields if c not in _SKIP]


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def write_record(record: Record, folder: Path) -> list[Path]:
    """`record.json` and `<table>.csv` for each table in `folder` (created; an existing folder must be
    empty, so no earlier export is mixed in); returns the files written."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UserError(f"{folder} exists and is not an empty folder: choose a new one")
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "record.json"]
    written[0].write_text(
        json.dumps(record, default=str, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    for table in TABLES:
        path = folder / f"{table}.csv"
        rows = [{k: _cell(v) for k, v in row.items()} for row in record[table]]
        path.write_text(table_csv(columns_of(table), rows), encoding="utf-8")
        written.append(path)
    return written
