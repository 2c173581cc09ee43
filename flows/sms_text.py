"""SMS text rules: which encoding a message needs, how many segments it costs, and fitting it into two.

A message that is all GSM-7 (3GPP TS 23.038 default alphabet) costs 160 characters in one segment or 153 per
segment once concatenated; characters of the extension table (`^{}\\[~]|€` and form feed) take two
septets each, and the escape pair is never split across segments. One character outside GSM-7 turns the
whole message into UCS-2: 70 UTF-16 code units in one segment, 67 per segment concatenated, and an emoji is
two code units that stay together. Twilio bills (and some phones show) each segment, so every typographic
quote that sneaks in from a text editor halves what fits.

`fit_sms` keeps a message within two segments where that is possible without losing meaning: typographic
punctuation becomes its GSM-7 twin, then (only when still too long) accents outside GSM-7 are folded and
emoji dropped. It never cuts words: a crisis reply that ends with "call 911" must arrive whole, even at the
price of a third segment.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("\f^{}\\[~]|€")

SINGLE_GSM7 = 160
MULTI_GSM7 = 153
SINGLE_UCS2 = 70
MULTI_UCS2 = 67
MAX_SEGMENTS = 2
MAX_SEPTETS = MAX_SEGMENTS * MULTI_GSM7  # 306: what two concatenated GSM-7 segments carry

# Characters word processors and phones put in text that have a plain GSM-7 equivalent (the same idea as
# Twilio's Smart Encoding, done here so the count we log is the count that is billed).
_PUNCTUATION = {
    "\u2018": "'",  # ‘
    "\u2019": "'",  # ’
    "\u201a": "'",  # ‚
    "\u201b": "'",  # ‛
    "\u2032": "'",  # ′
    "\u00b4": "'",  # ´
    "`": "'",
    "\u201c": '"',  # “
    "\u201d": '"',  # ”
    "\u201e": '"',  # „
    "\u201f": '"',  # ‟
    "\u2033": '"',  # ″
    "\u00ab": '"',  # «
    "\u00bb": '"',  # »
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2015": "-",  # horizontal bar
    "\u2212": "-",  # minus sign
    "\u2022": "-",  # bullet
    "\u00b7": "-",  # middle dot
    "\u2192": "->",  # →
    "\u2190": "<-",  # ←
    "\u2026": "...",  # ellipsis
    "\u00a0": " ",  # no-break space
    "\u2002": " ",
    "\u2003": " ",
    "\u2009": " ",  # thin space
    "\u202f": " ",  # narrow no-break space
    "\u200b": "",  # zero-width space
    "\u200c": "",
    "\u200d": "",
    "\u2060": "",
    "\ufeff": "",
    "\u2039": "<",  # ‹
    "\u203a": ">",  # ›
    "\u02c6": "^",
    "\u02dc": "~",
    "\t": " ",
}
_PUNCTUATION_TABLE = str.maketrans(_PUNCTUATION)


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """How a text travels as SMS: its encoding, length in that encoding's units, and segment count."""

    encoding: Encoding
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def encoding(text: str) -> Encoding:
    """GSM-7 when every character is in the default alphabet or its extension table, else UCS-2."""
    return Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2


def _units(ch: str, enc: Encoding) -> int:
    if enc is Encoding.GSM7:
        return 2 if ch in GSM7_EXTENDED else 1
    return 2 if ord(ch) > 0xFFFF else 1  # outside the BMP: a UTF-16 surrogate pair


def split_segments(text: str) -> list[str]:
    """The parts a phone network carries `text` in; characters that take two units are never split."""
    enc = encoding(text)
    single, multi = (SINGLE_GSM7, MULTI_GSM7) if enc is Encoding.GSM7 else (SINGLE_UCS2, MULTI_UCS2)
    if sum(_units(ch, enc) for ch in text) <= single:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        size = _units(ch, enc)
        if used + size > multi:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += size
    parts.append("".join(current))
    return parts


def segment_info(text: str) -> SegmentInfo:
    """Encoding, units and segments of `text` (an empty message still costs one segment)."""
    enc = encoding(text)
    return SegmentInfo(enc, sum(_units(ch, enc) for ch in text), len(split_segments(text)))


def segments(text: str) -> int:
    return segment_info(text).segments


def gsm_punctuation(text: str) -> str:
    """Typographic quotes, dashes, ellipses and odd spaces replaced by their GSM-7 equivalents."""
    return text.translate(_PUNCTUATION_TABLE)


def _fold_char(ch: str) -> str:
    if ch in GSM7_BASIC or ch in GSM7_EXTENDED:
        return ch
    base = "".join(c for c in unicodedata.normalize("NFD", ch) if unicodedata.category(c) != "Mn")
    if base and is_gsm7(base):
        return base
    if ch.lower() in GSM7_BASIC:  # ç is not GSM-7 but Ç is
        return ch.lower()
    if ch.upper() in GSM7_BASIC:
        return ch.upper()
    return ch


def fold_accents(text: str) -> str:
    """Accented letters outside GSM-7 (á, í, ó, ú, ç …) folded to their base letter; é, ñ, ü stay."""
    return "".join(_fold_char(ch) for ch in text)


def _is_symbol(ch: str) -> bool:
    return unicodedata.category(ch) in ("So", "Sk", "Cs", "Co", "Mn", "Cf") or ch == "\ufe0f"


def drop_symbols(text: str) -> str:
    """Emoji and pictographs outside GSM-7 removed, with the space they leave behind.

    A character followed by the emoji presentation selector (U+FE0F) is an emoji whatever its
    category: ℹ️ is a letter to Unicode ("information source", Ll) and an icon to its reader.
    """
    kept = "".join(
        ch
        for ch, after in zip(text, [*text[1:], ""], strict=True)
        if ch in GSM7_BASIC or ch in GSM7_EXTENDED or not (_is_symbol(ch) or after == "\ufe0f")
    )
    return "\n".join(re.sub(r" {2,}", " ", line).strip(" ") for line in kept.split("\n"))


def fit_sms(text: str, max_segments: int = MAX_SEGMENTS) -> str:
    """`text` made as cheap as it can be without changing what it says, within `max_segments` if possible.

    Punctuation is always made GSM-7 (it costs nothing to read). Accents and emoji are only touched when
    that is what brings the message within `max_segments`; otherwise the text keeps them, because a longer
    message is better than a mangled one. Nothing is ever cut.
    """
    plain = gsm_punctuation(text)
    if segments(plain) <= max_segments:
        return plain
    for candidate in (fold_accents(plain), drop_symbols(fold_accents(plain))):
        if is_gsm7(candidate) and segments(candidate) <= max_segments:
            return candidate
    return plain


def plain_gsm7(text: str) -> str:
    """`text` with what GSM-7 cannot carry taken out where that loses nothing a reader needs: punctuation
    made plain, accents folded, emoji dropped. Letters of other scripts stay (the text then stays UCS-2).

    For texts the program writes to staff over SMS: an emoji there says nothing the words do not.
    """
    return drop_symbols(fold_accents(gsm_punctuation(text)))


def force_gsm7(text: str) -> str:
    """`plain_gsm7`, then any character still outside GSM-7 shown as '?': for texts that must be GSM-7
    (an alert page over SMS, whose whole content is one MORE away)."""
    return "".join(ch if ch in GSM7_BASIC or ch in GSM7_EXTENDED else "?" for ch in plain_gsm7(text))


def septets(text: str) -> int:
    """Length of a GSM-7 `text` in septets (extension characters count two)."""
    return sum(_units(ch, Encoding.GSM7) for ch in text)


def cut_to_septets(text: str, limit: int, more: str = "...") -> str:
    """`text` cut at a word to at most `limit` septets, ending in `more` when it was cut."""
    if septets(text) <= limit:
        return text
    room = limit - septets(more)
    kept: list[str] = []
    used = 0
    for ch in text:
        used += _units(ch, Encoding.GSM7)
        if used > room:
            break
        kept.append(ch)
    head = "".join(kept)
    if " " in head[len(head) // 2 :]:
        head = head[: head.rindex(" ")]
    return head.rstrip(" ,;:") + more if room > 0 else ""
