"""Column types shared by the tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from storage.crypto import LOOKUP_PREFIX, EncryptionError, Keyring, read_plain

CIPHER_ATTRIBUTE = "peerline_cipher"  # set on an engine's dialect by storage.db.Database


def _cipher(dialect: Dialect) -> Keyring | None:
    cipher = getattr(dialect, CIPHER_ATTRIBUTE, None)
    assert cipher is None or isinstance(cipher, Keyring)
    return cipher


class SecretText(TypeDecorator[str]):
    """Text that is encrypted at rest when the engine has a key (see `storage.crypto`)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        cipher = _cipher(dialect)
        return value if value is None or cipher is None else cipher.encrypt(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else read_plain(str(value), _cipher(dialect))


class LookupText(TypeDecorator[str]):
    """Text the bot finds by value (a phone number, a chat id), encrypted deterministically at rest when
    the engine has a key, so `column == value` and `column.in_(values)` still work (see `storage.crypto`).

    `purpose` names the kind of value; values of different kinds never compare equal encrypted.
    """

    impl = Text
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def __repr__(self) -> str:  # how migrations write the type
        return f"LookupText(purpose={self.purpose!r})"

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        cipher = _cipher(dialect)
        return value if value is None or cipher is None else cipher.seal_lookup(value, self.purpose)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        cipher = _cipher(dialect)
        if cipher is not None:
            return cipher.open_lookup(str(value), self.purpose)
        if str(value).startswith(LOOKUP_PREFIX):
            raise EncryptionError("stored data is encrypted: set PEERLINE_ENCRYPTION_KEY to read it")
        return str(value)


class SecretJSON(TypeDecorator[Any]):
    """A JSON value (an answer, a list of reasons) stored as text, encrypted at rest like `SecretText`."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        text = json.dumps(value, ensure_ascii=False)
        cipher = _cipher(dialect)
        return text if cipher is None else cipher.encrypt(text)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else json.loads(read_plain(str(value), _cipher(dialect)))


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC instants; hands back aware datetimes on SQLite and PostgreSQL alike.

    SQLite has no time zone support, so values are stored naive-in-UTC and re-tagged on load;
    refusing naive input keeps a local wall-clock time from ever sneaking in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
