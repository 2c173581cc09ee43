"""Encryption at rest for what identifies people and what they write (PEERLINE_ENCRYPTION_KEY).

Two kinds of value, both unreadable in a copied database file, its WAL or a backup without the key:

- **Sealed** (`enc1:`): message bodies, answers, session state, alert reasons and notes, contact notes,
  audit details, consent records and names. Fernet tokens (AES-128-CBC with an HMAC-SHA256 check), a
  fresh random IV each time, so two equal values look different.
- **Looked up** (`det1:`): phone numbers, Telegram chat ids and provider message ids, which the bot must
  find by value. AES-SIV (RFC 5297), deterministic authenticated encryption: the synthetic IV is a keyed
  PRF (CMAC) of the value, so the stored value is a keyed blind index and its ciphertext in one. Equal
  values are equal in the database (that is what makes `WHERE address = ?` work) and nothing else about
  them shows. Each kind of value (`purpose`) is sealed under its own associated data, so a phone number
  in one table cannot be matched against a name in another.

The setting holds one key or several separated by commas. New sealed values use the first; every key opens
them. Looked-up values use the key the database was indexed with (recorded by its fingerprint in the
`keycheck` table), until `peerline db rotate-key` has re-encrypted everything under the first key.
A stored value that no given key opens is an error that says so, never silently wrong text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "enc1:"
LOOKUP_PREFIX = "det1:"


class EncryptionError(ValueError):
    """Stored data cannot be read (or written) with the configured key(s); the message says what to do."""


def new_key() -> str:
    """A fresh key for PEERLINE_ENCRYPTION_KEY."""
    return Fernet.generate_key().decode("ascii")


def _derive(raw: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(raw)


class _Key:
    def __init__(self, text: str) -> None:
        self.fernet = Fernet(text.encode("ascii"))
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
        self.siv = AESSIV(_derive(raw, b"peerline lookup v1", 64))
        check = _derive(raw, b"peerline key check v1", 32)
        self.fingerprint = hmac.new(check, b"peerline", hashlib.sha256).hexdigest()[:16]


class Keyring:
    """The keys of PEERLINE_ENCRYPTION_KEY."""

    def __init__(self, keys: str) -> None:
        parts = [part.strip() for part in keys.split(",") if part.strip()]
        if not parts:
            raise ValueError("no key given")
        try:
            self._keys = [_Key(part) for part in parts]
        except (ValueError, UnicodeEncodeError):
            raise ValueError(
                "each key must be 32 url-safe base64-encoded bytes; make one with `peerline db new-key`"
            ) from None
        self._fernet = MultiFernet([key.fernet for key in self._keys])
        self._lookup = self._keys[0]

    # -- which key looks values up --------------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the first key: the one everything is encrypted with after a rotation."""
        return self._keys[0].fingerprint

    @property
    def lookup_fingerprint(self) -> str:
        return self._lookup.fingerprint

    def holds(self, fingerprint: str) -> bool:
        return any(key.fingerprint == fingerprint for key in self._keys)

    def look_up_with(self, fingerprint: str) -> None:
        """Find values by the key with this fingerprint (the one the database was indexed with)."""
        self._lookup = next(key for key in self._keys if key.fingerprint == fingerprint)

    # -- sealed values ----------------------------------------------------------------------------------

    def encrypt(self, text: str) -> str:
        return PREFIX + self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, stored: str) -> str:
        if stored.startswith(LOOKUP_PREFIX):
            return self.open_lookup(stored)
        if not stored.startswith(PREFIX):
            return stored  # written before encryption was turned on
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise _not_held() from None

    # -- looked-up values -------------------------------------------------------------------------------

    def seal_lookup(self, text: str, purpose: str, *, key: int | None = None) -> str:
        """`text` encrypted deterministically under the lookup key (or the `key`-th key)."""
        chosen = self._lookup if key is None else self._keys[key]
        token = chosen.siv.encrypt(text.encode("utf-8"), [purpose.encode("ascii")])
        return LOOKUP_PREFIX + base64.urlsafe_b64encode(token).decode("ascii").rstrip("=")

    def open_lookup(self, stored: str, purpose: str | None = None) -> str:
        if not stored.startswith(LOOKUP_PREFIX):
            return stored
        body = stored[len(LOOKUP_PREFIX) :]
        try:
            token = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:
            raise _not_held() from None
        ordered = [self._lookup, *(key for key in self._keys if key is not self._lookup)]
        purposes = [purpose] if purpose is not None else None
        for key in ordered:
            for tried in purposes or _PURPOSES:
                try:
                    return key.siv.decrypt(token, [tried.encode("ascii")]).decode("utf-8")
                except InvalidTag:
                    continue
        raise _not_held()

    def reencrypt(self, stored: str, purpose: str | None) -> str:
        """A value (plain or under any key) encrypted under the first key (`db encrypt`, `rotate-key`)."""
        plain = self.open_lookup(stored, purpose) if purpose is not None else self.decrypt(stored)
        return self.seal_lookup(plain, purpose, key=0) if purpose is not None else self.encrypt(plain)


# Every purpose a looked-up column is sealed for (storage.types.LookupText); decrypting a value without
# knowing its column tries each.
_PURPOSES = ("address", "provider", "name")


def _not_held() -> EncryptionError:
    return EncryptionError(
        "stored data was encrypted with a key PEERLINE_ENCRYPTION_KEY does not hold "
        "(keep old keys after the new one while rotating)"
    )


def read_plain(stored: str, keyring: Keyring | None) -> str:
    """A stored value as text: decrypted with `keyring`, or as it is when it was never encrypted."""
    if keyring is not None:
        return keyring.decrypt(stored)
    if stored.startswith((PREFIX, LOOKUP_PREFIX)):
        raise EncryptionError("stored data is encrypted: set PEERLINE_ENCRYPTION_KEY to read it")
    return stored
