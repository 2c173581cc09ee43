"""The message catalogue: every message text, per language x channel x audience, as its reader gets it.

`peerline messages catalogue` prints it for a human read-through; a test reads every entry for what
must never be in one (internal ids, SMS compliance words on Telegram, alert pages over two segments).
Each message is shown in the wording its reader gets (`bot.people.audience.variants`: `opted_in_family_sms`
for a family member on SMS), filled with sample values; composed staff texts (alert pages, MORE,
CASELOAD, the digest) are written by the same code as in production, from sample facts. SMS entries are
what the SMS channel sends (`fit_sms`), so their segment counts are what Twilio bills.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.catalogue_samples import SAMPLE_NOW, SAMPLES, sample_alert, sample_caseload
from bot.content import LOCALES, Content
from bot.people.audience import variants
from bot.staff.reader import Reader
from bot.staff.views import AlertFacts, StaffTexts
from flows.sms_text import fit_sms, segment_info
from storage.models import ChannelName, Role

CHANNELS = (ChannelName.SMS, ChannelName.TELEGRAM)


class Audience(StrEnum):
    PIR = "pir"
    FAMILY = "family"
    STAFF = "staff"
    ANYONE = "anyone"  # whoever writes: a PIR, a family member, a stranger, staff


# Who reads each template; every key not named here is a staff text.
_AUDIENCE: dict[str, Audience] = {
    **dict.fromkeys(
        (
            "unknown_sender",
            "relay_sent",
            "relay_no_peer",
            "relay_sent_team",
            "relay_unreachable",
            "maybe_stop",
            "opted_out",
            "opted_in",
            "help",
            "stale_button",
            "crisis",
            "crisis_overdose",
            "possible_crisis",
            "safety_unclear",
            "use_support",
            "alert_support",
            "promise_peer",
            "promise_team",
            "invite_invalid",
            "peer_command_refused",
            "command_start",
            "command_stop",
            "command_help",
        ),
        Audience.ANYONE,
    ),
    "peer_reply": Audience.PIR,
    **dict.fromkeys(
        (
            "crisis_other",
            "possible_crisis_other",
            "use_support_other",
            "alert_support_other",
            "peer_reply_family",
            "promise_peer_family",
        ),
        Audience.FAMILY,
    ),
}
_READERS = {Audience.PIR: Role.PIR, Audience.FAMILY: Role.FAMILY, Audience.STAFF: Role.PEER}
_VARIANTS = ("_staff_sms", "_family_sms", "_staff", "_family", "_sms")  # bot.people.audience.variants
# Named like a variant, chosen by name: a message of its own.
_OWN_MESSAGES = frozenset(
    {"alert_family", "peer_reply_family", "relay_to_peer_family", "promise_peer_family"}
)
# Staff texts other modules queue as written (the SMS channel still fits them to two segments if it can);
# the rest are written for the reader's channel (`Reader.shape`: plain GSM-7 over SMS).
SENT_AS_WRITTEN = frozenset(
    {
        "relay_to_peer",
        "relay_to_peer_family",
        "peer_told_opt_out",
        "peer_told_unreachable",
        "supervisor_told_staff_opt_out",
        "stranger_in_crisis",
        "maybe_stop",
        "opted_in",
        "opted_out",
        "help",
    }
)
# Sent unprompted, or to someone who may not know the sender: they open with the program's name.
HEADED = ("unknown_sender", "opted_out", "opted_in", "help")
# Pieces of other texts (words, labels, fragments), listed so they are read too.
_PART_PREFIXES = (
    "channel_",
    "tier_",
    "why_",
    "word_",
    "reach_",
    "status_",
    "category_",
    "severity_",
    "checkin_",
    "button_",
    "caseload_as_",
)
_PARTS = frozenset(
    {
        "never",
        "none",
        "nobody",
        "skipped_one",
        "promise_peer",
        "promise_peer_family",
        "promise_team",
        "team_note",
        "digest_acknowledged",
        "caseload_paused",
        "role_admin",
        "caseload_scales_sms",
        "caseload_ok_head_sms",
        "caseload_ok_sms",
        "alert_why",
        "alert_checkins",
        "alert_checkin_sms",
        "alert_no_checkins",
        "alert_streak",
        "alert_reach",
        "alert_actions_text",
        "alert_actions_buttons",
        "more_status",
        "more_acknowledged",
        "more_why",
        "more_checkins",
        "history_alert",
        "alert",
        "alert_family",
        "caseload_line",
        "caseload_line_sms",
    }
)


@dataclass(frozen=True, slots=True)
class Entry:
    key: str  # a message key, or `page:<name>` for a composed staff text
    audience: Audience
    locale: str
    channel: str
    text: str
    part: bool = False  # a piece of other texts (a word, a label, one line of a page)

    def as_dict(self) -> dict[str, Any]:
        info = segment_info(self.text)
        sms = self.channel == ChannelName.SMS
        return {
            "key": self.key,
            "audience": str(self.audience),
            "locale": self.locale,
            "channel": self.channel,
            "part": self.part,
            "text": self.text,
            "encoding": str(info.encoding) if sms else None,
            "segments": info.segments if sms else None,
        }


def audience(key: str) -> Audience:
    """Who reads `key` (a message whose variants are written for each audience: anyone)."""
    return _AUDIENCE.get(key, Audience.STAFF)


def base_of(key: str, keys: frozenset[str]) -> str | None:
    """The message `key` is a variant of (`opted_in` for `opted_in_family_sms`), or None."""
    if key in _OWN_MESSAGES:
        return None
    for suffix in _VARIANTS:
        if key.endswith(suffix) and key.removesuffix(suffix) in keys:
            return key.removesuffix(suffix)
    return None


def is_part(key: str) -> bool:
    return key in _PARTS or key.startswith(_PART_PREFIXES)


def _channels_of(key: str) -> tuple[str, ...]:
    if key.startswith(("command_", "button_")) or key == "alert_actions_buttons":
        return (ChannelName.TELEGRAM,)
    if key.endswith("_sms") or key == "alert_actions_text":  # an SMS-only piece of a page
        return (ChannelName.SMS,)
    return CHANNELS


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def catalogue(content: Content, *, program: str = "Peerline", support: str = "") -> list[Entry]:
    """Every template and composed staff text, in every language, on every channel it goes out on."""
    values = {**SAMPLES, "program": program, "support": support or SAMPLES["support"]}
    messages = content.messages
    entries: list[Entry] = []
    keys = frozenset(messages.by_locale["en"])
    for key in messages.by_locale["en"]:
        if base_of(key, keys) is not None:
            continue  # shown where its reader gets it, under the message it is a variant of
        whom = audience(key)
        readers = (Audience.PIR, Audience.FAMILY, Audience.STAFF) if whom is Audience.ANYONE else (whom,)
        for locale in LOCALES:
            for channel in _channels_of(key):
                reader = Reader(locale, "America/Chicago", channel, buttons=channel != ChannelName.SMS)
                for who in readers:
                    chosen = next(v for v in variants(key, _READERS[who], channel) if messages.has(v))
                    text = messages.text(chosen, locale, **values)
                    if who is Audience.STAFF and key not in SENT_AS_WRITTEN:
                        text = reader.shape(text)
                    entry = Entry(chosen, who, locale, channel, _sent(text, channel), is_part(key))
                    if entry not in entries[-len(readers) :]:
                        entries.append(entry)
    entries += list(_pages(content))
    return entries


def _sent(text: str, channel: str) -> str:
    return fit_sms(text) if channel == ChannelName.SMS else text


def _pages(content: Content) -> Iterator[Entry]:
    staff = StaffTexts(content)
    digest = AlertFacts(
        alert_id=9,
        severity="medium",
        status="open",
        subject="Blair",
        role="pir",
        reasons=("3 check-ins missed in a row",),
        created_at=SAMPLE_NOW,
    )
    for locale in LOCALES:
        for channel in CHANNELS:
            reader = Reader(locale, "America/Chicago", channel, buttons=channel != ChannelName.SMS)
            critical, family = sample_alert(content, locale), sample_alert(content, locale, family=True)
            tier = content.messages.text("tier_backup", locale)
            escalated = content.messages.text("alert_escalated", locale, tier=tier, minutes=5)
            texts = {
                "page:alert": staff.page(critical, reader),
                "page:alert_family": staff.page(family, reader),
                "page:alert_escalated": staff.page(critical, reader, [escalated]),
                "page:more": staff.full(critical, reader),
                "page:caseload": staff.caseload(sample_caseload(), reader),
                **({"page:caseload_2": staff.caseload(sample_caseload(), reader, 2)} if reader.sms else {}),
                "page:digest": staff.digest(
                    [(digest, "")] * 6, reader, footer=content.messages.text("digest_footer", locale)
                ),
            }
            for key, text in texts.items():
                yield Entry(key, Audience.STAFF, locale, channel, _sent(text, channel))


def render_text(entries: list[Entry]) -> str:
    """The catalogue for reading: one block per entry, SMS entries with their encoding and segments."""
    blocks = []
    for entry in entries:
        facts = entry.as_dict()
        cost = f", {facts['encoding']}, {facts['segments']} segment(s)" if facts["segments"] else ""
        part = ", part" if entry.part else ""
        head = f"== {entry.key} [{entry.audience}{part}] {entry.locale} {entry.channel}{cost}"
        blocks.append(f"{head}\n{entry.text}")
    return "\n\n".join(blocks) + "\n"
