"""Every message template, rendered for every language x channel x audience, read for what must never
be in it: internal ids, raw payloads, an alert page over SMS that is not GSM-7 within two segments,
SMS compliance words on Telegram; and the program's name where a text opens a conversation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.catalogue import HEADED, SENT_AS_WRITTEN, Audience, Entry, audience, base_of, catalogue, placeholders
from bot.catalogue_samples import SAMPLES
from bot.content import LOCALES, Content
from flows.sms_text import MAX_SEGMENTS, segment_info
from flows.trends import assess_trends

CONFIG = Path(__file__).resolve().parents[2] / "config"
PROGRAM = "Sunrise Peers"  # not the default: a text that hard-codes "Peerline" is caught
# The carrier disclosure CTIA asks of an SMS program: it means nothing on Telegram. (STOP and START work
# on Telegram too, as /stop and /start, so a reply naming them is no compliance text.)
COMPLIANCE = ("Msg & data", "message and data rates", "tarifas de mensajes", "tarifas de mensajes y datos")


@pytest.fixture(scope="module")
def content() -> Content:
    return Content.load(CONFIG)


@pytest.fixture(scope="module")
def entries(content: Content) -> list[Entry]:
    return catalogue(content, program=PROGRAM)


def internal_ids(content: Content) -> set[str]:
    """Ids staff must never read: flow and step ids and category ids that are not plain words."""
    ids = set(content.flows)
    categories = {"possible_crisis", "missed_checkins", "abandoned_checkins", "mood_drop"}
    for flow in content.flows.values():
        for step in flow.steps:
            ids.add(step.id)
            categories |= {rule.category for rule in step.rules}
    for lexicon in content.triage.lexicons.values():
        categories |= {category.name for category in lexicon.categories}
    trend = assess_trends(
        craving_today=10, mood_today=None, history=[], recent_outcomes=[], thresholds=content.trends
    )
    categories |= set(trend.categories)
    return {name for name in ids | categories if "_" in name}  # "mood" is a word as well as an id


def test_every_template_is_rendered_in_every_language_on_its_channels(
    content: Content, entries: list[Entry]
) -> None:
    keys = set(content.messages.by_locale["en"])
    rendered = {(e.key, e.locale) for e in entries}  # every variant is some reader's wording
    assert {(key, locale) for key in keys for locale in LOCALES} <= rendered
    for locale in LOCALES:
        for key, template in content.messages.by_locale[locale].items():
            assert placeholders(template) <= set(SAMPLES), (locale, key)  # a new placeholder needs a sample
    composed = {(e.key, e.locale, e.channel) for e in entries if e.key.startswith("page:")}
    for name in ("alert", "alert_family", "alert_escalated", "more", "caseload", "digest"):
        for locale in LOCALES:
            assert {(f"page:{name}", locale, "sms"), (f"page:{name}", locale, "telegram")} <= composed
    assert {e.audience for e in entries} == {Audience.PIR, Audience.FAMILY, Audience.STAFF}


def test_no_internal_ids_reach_anyone(content: Content, entries: list[Entry]) -> None:
    ids = internal_ids(content)
    assert {"use_more", "anything_else", "craving_spike", "self_harm", "daily_checkin"} <= ids
    leaks = [
        (e.key, e.locale, e.channel, found)
        for e in entries
        for found in ids
        if re.search(rf"\b{re.escape(found)}\b", e.text)
    ]
    assert leaks == []
    payload = re.compile(r"\[[\w.-]+:[^\]\s]*\]|alert:(ack|done)")
    assert [(e.key, e.text) for e in entries if payload.search(e.text)] == []
    people = re.compile(r"@\d|\bperson \d|\bpeer \d|\bbackup (\d|None)")
    # who_ambiguous_same: two people who share a full name have nothing else to tell them apart by
    assert [(e.key, e.text) for e in entries if people.search(e.text) and e.key != "who_ambiguous_same"] == []


def test_alert_pages_over_sms_are_gsm7_within_two_segments(entries: list[Entry]) -> None:
    pages = [e for e in entries if e.channel == "sms" and e.key.startswith(("page:alert", "page:digest"))]
    assert len(pages) == 4 * len(LOCALES)
    for entry in pages:
        info = segment_info(entry.text)
        assert (str(info.encoding), entry.key, entry.locale) == ("GSM-7", entry.key, entry.locale)
        assert info.segments <= MAX_SEGMENTS, (entry.key, entry.locale, entry.text)
    for entry in pages:
        assert "MORE 12" in entry.text or entry.key == "page:digest"


def test_staff_texts_over_sms_are_gsm7_and_within_two_segments_where_the_content_allows(
    entries: list[Entry],
) -> None:
    keys = frozenset(e.key for e in entries)
    staff = [
        e
        for e in entries
        if e.channel == "sms"
        and e.audience is Audience.STAFF
        and audience(base_of(e.key, keys) or e.key) is Audience.STAFF
        and (base_of(e.key, keys) or e.key) not in SENT_AS_WRITTEN
    ]
    assert [(e.key, e.locale) for e in staff if str(segment_info(e.text).encoding) != "GSM-7"] == []
    longer = {e.key for e in staff if segment_info(e.text).segments > MAX_SEGMENTS}
    assert longer == {"page:more"}  # the whole alert, asked for


def test_texts_that_open_a_conversation_name_the_program(entries: list[Entry]) -> None:
    keys = frozenset(e.key for e in entries)
    headed = [e for e in entries if (base_of(e.key, keys) or e.key) in HEADED]
    assert len(headed) == len(HEADED) * 3 * 2 * len(LOCALES)  # PIR, family, staff; SMS and Telegram
    assert [(e.key, e.locale) for e in headed if PROGRAM not in e.text] == []
    assert not any("Peerline" in e.text for e in entries)


def test_no_sms_compliance_text_on_telegram(entries: list[Entry]) -> None:
    telegram = [e for e in entries if e.channel == "telegram"]
    assert [(e.key, e.locale, word) for e in telegram for word in COMPLIANCE if word in e.text] == []
    sms = {e.key: e.text for e in entries if e.channel == "sms" and e.locale == "en"}
    assert "Msg & data rates may apply" in sms["opted_in_sms"]  # where it is due, it is there


def test_no_emoji_on_sms_staff_texts_and_they_stay_on_telegram(entries: list[Entry]) -> None:
    page = {(e.channel, e.locale): e.text for e in entries if e.key == "page:alert"}
    assert page[("telegram", "en")].startswith("🚨 CRITICAL alert #12: Alex (PIR)")
    assert page[("sms", "en")].startswith("CRITICAL alert #12: Alex (PIR)")
    assert page[("sms", "es")].startswith("Alerta CRITICA #12: Alex (PIR)")  # Í is not GSM-7: folded
