"""Field encryption at rest for what people write (PEERLINE_ENCRYPTION_KEY).

Message bodies, answers, alert reasons and contact notes are substance-use records (42 CFR Part 2): with
a key set they are stored as Fernet tokens (AES-128-CBC with an HMAC-SHA256 check), so a copied database
file or backup reads as noise without the key. Ids, times, statuses and categories stay plain, so every
query works unchanged.

The setting holds one key or several separated by commas: the first encrypts, all of them decrypt, so a
key is rotated by putting the new one first. Values stored before a key was set stay readable; a stored
value that no given key opens is an error that says so, never silently wrong text.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "enc1:"


class EncryptionError(RuntimeError):
    """Stored data cannot be read (or written) with the configured key(s)."""


def new_key() -> str:
    """A fresh key for PEERLINE_ENCRYPTION_KEY."""
    return Fernet.generate_key().decode("ascii")


class FieldCipher:
    def __init__(self, keys: str) -> None:
        parts = [part.strip() for part in keys.split(",") if part.strip()]
        if not parts:
            raise ValueError("no key given")
        try:
            self._fernet = MultiFernet([Fernet(part.encode("ascii")) for part in parts])
        except (ValueError, UnicodeEncodeError):
            raise ValueError(
                "each key must be 32 url-safe base64-encoded bytes; make one with `peerline db new-key`"
            ) from None

    def encrypt(self, text: str) -> str:
        return PREFIX + self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before encryption was turned on
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise EncryptionError(
                "stored data was encrypted with a key PEERLINE_ENCRYPTION_KEY does not hold "
                "(keep old keys after the new one while rotating)"
            ) from None


def read_plain(stored: str, cipher: FieldCipher | None) -> str:
    """A stored value as text: decrypted with `cipher`, or as it is when it was never encrypted."""
    if cipher is not None:
        return cipher.decrypt(stored)
    if stored.startswith(PREFIX):
        raise EncryptionError("stored data is encrypted: set PEERLINE_ENCRYPTION_KEY to read it")
    return stored
