"""Forgiving, locale-aware answer parsing.

People answer on phones, in a hurry, in English or Spanish, with emoji and stretched letters ("yesss",
"noooo", "7/10", "siete", "👍"). Parsers accept every locale whatever the session's locale is, because
bilingual people switch mid-sentence.

Forgiving is not the same as guessing: a reply is parsed only when every word in it is either the answer
or harmless filler ("about 7", "yeah I did"). Anything else ("7 but I want to die", "not sure", "1-5")
returns None, so the engine re-asks and hands the text to triage instead of silently filing a number.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from flows.model import Choice

_APOSTROPHES = re.compile(r"[\u2018\u2019\u02bc\u0060\u00b4']")
_NON_WORD = re.compile(r"[^\w]+|_")
_REPEATS = re.compile(r"(.)\1+")
_SCALE_TOKENS = re.compile(r"-?\d+(?:[.,]\d+)?|[^\W\d_]+|/")
_DROP_CATEGORIES = frozenset({"Mn", "Me", "Cf"})  # accents, keycap enclosures, zero-width joiners


def fold(text: str) -> str:
    """NFKC, casefold, strip accents and join apostrophes ("I'm" → "im", "Sí" → "si"), punctuation kept."""
    text = unicodedata.normalize("NFKC", text).casefold()
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) not in _DROP_CATEGORIES)
    return _APOSTROPHES.sub("", unicodedata.normalize("NFC", stripped))


def normalise(text: str) -> str:
    """`fold`, then punctuation and emoji become spaces and whitespace collapses: the form we match on."""
    return " ".join(_NON_WORD.sub(" ", fold(text)).split())


def _collapse(word: str) -> str:
    """Squash stretched letters ("yesss" → "yes", "noooo" → "no"); vocabularies are squashed the same way."""
    return _REPEATS.sub(r"\1", word)


def _vocab(words: Iterable[str]) -> frozenset[str]:
    return frozenset(_collapse(word) for word in words)


_NUMBER_WORDS: dict[str, int] = {
    word: number
    for number, words in enumerate(
        [
            ("zero", "cero"),
            ("one", "uno", "una"),
            ("two", "dos"),
            ("three", "tres"),
            ("four", "cuatro"),
            ("five", "cinco"),
            ("six", "seis"),
            ("seven", "siete"),
            ("eight", "ocho"),
            ("nine", "nueve"),
            ("ten", "diez"),
            ("eleven", "once"),
            ("twelve", "doce"),
            ("thirteen", "trece"),
            ("fourteen", "catorce"),
            ("fifteen", "quince"),
            ("sixteen", "dieciseis"),
            ("seventeen", "diecisiete"),
            ("eighteen", "dieciocho"),
            ("nineteen", "diecinueve"),
            ("twenty", "veinte"),
        ]
    )
    for word in words
}
# "None" on a craving scale means zero; on a 1-5 mood scale it is simply out of range.
_ZERO_WORDS = frozenset({"none", "nada", "nothing", "ninguno", "ninguna"})

_SCALE_FILLER = frozenset(
    {
        # English
        "a",
        "an",
        "about",
        "around",
        "approx",
        "approximately",
        "like",
        "maybe",
        "prob",
        "probably",
        "probs",
        "roughly",
        "i",
        "im",
        "id",
        "ive",
        "its",
        "it",
        "is",
        "was",
        "at",
        "say",
        "would",
        "feeling",
        "feel",
        "felt",
        "today",
        "now",
        "right",
        "rn",
        "honestly",
        "um",
        "uh",
        "hmm",
        "ok",
        "okay",
        "so",
        "pretty",
        "much",
        "my",
        "mood",
        "craving",
        "cravings",
        "stress",
        "level",
        "the",
        "number",
        "just",
        "solid",
        "def",
        "definitely",
        "guess",
        "think",
        "been",
        "has",
        "have",
        "be",
        "ish",
        "thanks",
        "thank",
        "you",
        "thx",
        "ty",
        # Spanish
        "un",
        "como",
        "unos",
        "mas",
        "o",
        "menos",
        "estoy",
        "en",
        "es",
        "hoy",
        "ahora",
        "diria",
        "yo",
        "creo",
        "que",
        "me",
        "siento",
        "pues",
        "mi",
        "el",
        "la",
        "nivel",
        "animo",
        "ganas",
        "tal",
        "vez",
        "quizas",
        "aproximadamente",
        "alrededor",
        "de",
        "seria",
        "pongo",
        "le",
        "doy",
        "numero",
        "gracias",
    }
)
_DENOMINATOR_SEPARATORS: tuple[tuple[str, ...], ...] = (("/",), ("out", "of"), ("of",), ("de",), ("sobre",))


def _number(token: str) -> int | None:
    if token.lstrip("-").isdecimal():  # isdigit() also admits "①"-style digits int() refuses
        return int(token)
    return _NUMBER_WORDS.get(token)


def _separator_length(tokens: Sequence[str], at: int) -> int:
    for separator in _DENOMINATOR_SEPARATORS:
        if tuple(tokens[at : at + len(separator)]) == separator:
            return len(separator)
    return 0


def parse_scale(text: str, lo: int, hi: int) -> int | None:
    """A number in lo..hi from "7", "7/10", "7 out of 10", "#7", "seven", "siete", "about 7", "7!".

    None for anything out of range, decimals, ranges ("1-5"), two numbers ("6 or 7") or a fraction over
    a different scale ("4/5" on 0-10), because those need a human reading, not a guess.
    """
    tokens = _SCALE_TOKENS.findall(fold(text))
    found: list[int] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if any(mark in token for mark in ".,"):
            return None
        number = _number(token)
        if number is None and token in _ZERO_WORDS:
            number = 0
        if number is None:
            if token not in _SCALE_FILLER:
                return None
            index += 1
            continue
        found.append(number)
        index += 1
        skip = _separator_length(tokens, index)
        if skip and index + skip < len(tokens):
            denominator = _number(tokens[index + skip])
            if denominator is not None:
                if denominator != hi:
                    return None
                index += skip + 1
    if len(found) != 1:
        return None
    value = found[0]
    return value if lo <= value <= hi else None


_YES_EMOJI = ("👍", "✅", "✔", "☑", "👌", "🙆")
_NO_EMOJI = ("👎", "❌", "✖", "🚫", "🙅", "⛔")

_YES_WORDS = _vocab(
    {
        "y",
        "yes",
        "ya",
        "yah",
        "yea",
        "yeah",
        "ye",
        "yep",
        "yup",
        "yas",
        "sure",
        "ok",
        "okay",
        "okey",
        "affirmative",
        "correct",
        "definitely",
        "absolutely",
        "totally",
        "indeed",
        "true",
        "si",
        "sip",
        "claro",
        "vale",
        "dale",
        "aja",
        "cierto",
        "exacto",
    }
)
_NO_WORDS = _vocab(
    {
        "n",
        "no",
        "nah",
        "naw",
        "na",
        "nope",
        "nop",
        "never",
        "not",
        "negative",
        "none",
        "nothing",
        "nothin",
        "didnt",
        "havent",
        "hasnt",
        "dont",
        "doesnt",
        "wasnt",
        "werent",
        "isnt",
        "aint",
        "false",
        "nada",
        "nunca",
        "nel",
        "tampoco",
        "ninguno",
        "ninguna",
    }
)
_YESNO_FILLER = _vocab(
    {
        "i",
        "im",
        "ive",
        "me",
        "have",
        "had",
        "did",
        "do",
        "am",
        "was",
        "really",
        "please",
        "pls",
        "plz",
        "thanks",
        "thank",
        "you",
        "u",
        "thx",
        "ty",
        "at",
        "all",
        "today",
        "it",
        "yet",
        "so",
        "sir",
        "just",
        "lol",
        "haha",
        "hm",
        "hmm",
        "um",
        "uh",
        "well",
        "actually",
        "honestly",
        "been",
        "thankfully",
        "por",
        "favor",
        "gracias",
        "lo",
        "que",
        "tengo",
        "he",
        "hoy",
        "todavia",
        "aun",
        "pues",
        "eso",
    }
)
# Whole phrases whose words would otherwise cancel out ("of course not" has a yes word and a no word),
# negatives first so "i did not" is read before "i did".
_RAW_PHRASES: tuple[tuple[str, str], ...] = (
    ("por supuesto que no", "no"),
    ("i did not", "no"),
    ("i have not", "no"),
    ("did not", "no"),
    ("have not", "no"),
    ("has not", "no"),
    ("do not", "no"),
    ("was not", "no"),
    ("claro que no", "no"),
    ("of course not", "no"),
    ("no way", "no"),
    ("claro que si", "yes"),
    ("por supuesto", "yes"),
    ("of course", "yes"),
    ("uh huh", "yes"),
    ("mm hm", "yes"),
    ("mhm", "yes"),
    ("i did", "yes"),
    ("i have", "yes"),
)
_YESNO_PHRASES = tuple(
    (" ".join(_collapse(word) for word in phrase.split()), meaning) for phrase, meaning in _RAW_PHRASES
)


def _words(text: str) -> list[str]:
    return [_collapse(word) for word in normalise(text).split()]


def parse_yesno(text: str) -> bool | None:
    """True/False from "yeah", "yep", "sí", "claro", "👍", "nope", "not really", "nada", "👎" and the like.

    None when the reply is empty, mixes yes and no ("yes and no", "not sure") or carries other words
    ("sometimes", "no but I'm scared"): those deserve a re-ask and a human look, not a coin toss.
    """
    for emoji in _YES_EMOJI:
        text = text.replace(emoji, " yes ")
    for emoji in _NO_EMOJI:
        text = text.replace(emoji, " no ")
    joined = " ".join(_words(text))
    for phrase, meaning in _YESNO_PHRASES:
        joined = re.sub(rf"\b{phrase}\b", meaning, joined)
    words = joined.split()
    if not words or any(word not in _YES_WORDS | _NO_WORDS | _YESNO_FILLER for word in words):
        return None
    said_yes = any(word in _YES_WORDS for word in words)
    said_no = any(word in _NO_WORDS for word in words)
    if said_yes == said_no:
        return None
    return said_yes


# Words that leave a "no" less than clear: "not really", "not yet", "um no", "lol no".
_HEDGES = _vocab(
    {"really", "yet", "hm", "hmm", "um", "umm", "uh", "well", "lol", "haha", "jaja", "todavia", "aun"}
)


def parse_clear_yesno(text: str) -> bool | None:
    """Like `parse_yesno`, but a hedged no ("not really", "not yet", "hmm no") is not a clear no: None.

    For the questions where anything but a clear no must be taken as a possible yes (the safety question).
    """
    answer = parse_yesno(text)
    if answer is False and any(word in _HEDGES for word in _words(text)):
        return None
    return answer


_CHOICE_FILLER = frozenset(
    {
        "option",
        "choice",
        "number",
        "no",
        "nr",
        "num",
        "opcion",
        "numero",
        "la",
        "el",
        "the",
        "i",
        "pick",
        "choose",
        "elijo",
        "want",
        "quiero",
        "please",
        "por",
        "favor",
    }
)
_NEGATIONS = _vocab({"not", "no", "never", "isnt", "dont", "nunca", "ni", "tampoco", "nada", "aint"})


def _lone_number(words: Sequence[str], filler: frozenset[str]) -> int | None:
    numbers = [_number(word) for word in words if _number(word) is not None]
    if len(numbers) != 1 or any(_number(word) is None and word not in filler for word in words):
        return None
    return numbers[0]


def _choice_forms(choice: Choice) -> tuple[set[str], set[str]]:
    """(exact forms incl. the stored value, forms allowed to appear inside a longer reply)."""
    inside = {normalise(label) for label in choice.labels.values()}
    for synonyms in choice.synonyms.values():
        inside.update(normalise(synonym) for synonym in synonyms)
    inside.discard("")
    return inside | {normalise(choice.value)}, inside


def _contains(words: Sequence[str], phrase: Sequence[str]) -> bool:
    size = len(phrase)
    return any(list(words[start : start + size]) == list(phrase) for start in range(len(words) - size + 1))


def parse_choice(text: str, choices: Sequence[Choice]) -> str | None:
    """The chosen value from an option number ("2", "#2", "two", "dos"), a label or synonym in any
    locale, or the value itself; also a label inside a short reply ("I'm struggling") unless negated."""
    folded = normalise(text)
    if not folded:
        return None
    forms = [_choice_forms(choice) for choice in choices]
    exact = {choice.value for choice, (every, _) in zip(choices, forms, strict=True) if folded in every}
    if exact:
        return exact.pop() if len(exact) == 1 else None
    words = folded.split()
    index = _lone_number(words, _CHOICE_FILLER)
    if index is not None:
        return choices[index - 1].value if 1 <= index <= len(choices) else None
    if any(_collapse(word) in _NEGATIONS for word in words):
        return None
    inside = {
        choice.value
        for choice, (_, contained) in zip(choices, forms, strict=True)
        if any(_contains(words, form.split()) for form in contained)
    }
    return inside.pop() if len(inside) == 1 else None


def parse_option_number(text: str, count: int) -> int | None:
    """1-based option number typed in reply to a numbered SMS menu ("1", "#2", "two"), or None."""
    number = _lone_number(normalise(text).split(), _CHOICE_FILLER)
    return number if number is not None and 1 <= number <= count else None


_SKIP_WORDS = frozenset(
    {
        "skip",
        "skip it",
        "skip this",
        "skip please",
        "pass",
        "next",
        "saltar",
        "salta",
        "omitir",
        "paso",
        "siguiente",
    }
)
_DECLINE_WORDS = frozenset(
    {
        "nothing",
        "nothing else",
        "nada",
        "nada mas",
        "none",
        "no",
        "n a",
        "na",
        "nope",
        "nah",
        "not really",
        "no thanks",
        "no gracias",
        "thats all",
        "thats it",
        "eso es todo",
        "all good",
        "im good",
        "im ok",
        "estoy bien",
        "no comment",
    }
)


def is_skip(text: str, *, free_text: bool) -> bool:
    """Whether a reply asks to skip an optional step.

    On free-text steps a plain "no"/"nothing" also skips ("anything else?" → "nope"); on yes/no steps
    "no" is an answer, so only explicit skip words count there.
    """
    words = normalise(text)
    squashed = " ".join(_collapse(word) for word in words.split())
    if words in _SKIP_WORDS or squashed in _SKIP_WORDS:
        return True
    if not free_text:
        return False
    return words in _DECLINE_WORDS or squashed in _DECLINE_WORDS or parse_yesno(text) is False


MESSAGE_MIN_WORDS = 3  # a reply of this many words that is not an answer is a message


def reads_as_message(text: str) -> bool:
    """Whether a reply that is not an answer reads as something said to a person: a question or a sentence.

    A check-in reply that does not parse is asked again; one that reads as a message also goes to the
    peer, so "can you call me later" written in the middle of a check-in is not lost. One or two words
    ("purple", "no idea") are a wrong answer, not a message.
    """
    return "?" in text or "¿" in text or len(text.split()) >= MESSAGE_MIN_WORDS
