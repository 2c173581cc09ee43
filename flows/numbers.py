"""Numbers people and operators type (alert numbers, ids, counts), read strictly.

`str.isdigit()` accepts "²" and "١٢", which `int()` then refuses or reads as something else; an id
past 2**63 overflows the database's integer. Every id the bot takes from outside goes through here.
"""

from __future__ import annotations

import re

MAX_ID = 2**63 - 1  # the largest INTEGER / BIGINT either database stores
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_id(text: str) -> int | None:
    """A positive id written in ASCII digits and within the database's range, else None."""
    text = text.strip()
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
