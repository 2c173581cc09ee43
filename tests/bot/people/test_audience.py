"""Keyword replies per audience and channel: the SMS terms only on SMS, no opener saying recovery."""

from __future__ import annotations

import pytest

from bot.content import Content
from bot.people.audience import audience_text, variants
from config.settings import DEFAULT_CONFIG_DIR
from storage.models import Role

MESSAGES = Content.load(DEFAULT_CONFIG_DIR).messages
ROLES = [Role.PIR, Role.FAMILY, Role.PEER, Role.SUPERVISOR]
RATES = {"en": "Msg & data rates may apply", "es": "Pueden aplicarse tarifas de mensajes y datos"}


def test_the_most_specific_variant_first() -> None:
    assert variants("opted_in", Role.FAMILY, "sms") == [
        "opted_in_family_sms",
        "opted_in_family",
        "opted_in_sms",
        "opted_in",
    ]
    assert variants("help", Role.PEER, "telegram") == ["help_staff", "help"]
    assert variants("opted_in", Role.PIR, "sms") == ["opted_in_sms", "opted_in"]
    assert variants("opted_in", Role.PIR, "console") == ["opted_in"]


@pytest.mark.parametrize("locale", ["en", "es"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("channel", ["sms", "telegram"])
def test_opt_in_carries_the_sms_terms_only_on_sms(locale: str, role: Role, channel: str) -> None:
    text = audience_text(MESSAGES, "opted_in", role, channel, locale, program="Harbor")
    assert text.startswith("Harbor: ")
    assert (RATES[locale] in text) is (channel == "sms")
    assert "recover" not in text.lower() and "recuperaci" not in text.lower()


@pytest.mark.parametrize("locale", ["en", "es"])
@pytest.mark.parametrize("channel", ["sms", "telegram"])
def test_staff_texts_are_about_alerts_and_never_send_them_to_988(locale: str, channel: str) -> None:
    for key in ("opted_in", "opted_out", "help"):
        text = audience_text(MESSAGES, key, Role.PEER, channel, locale, program="Harbor", support="Ana")
        assert "988" not in text
        assert "alert" in text.lower()


@pytest.mark.parametrize("locale", ["en", "es"])
def test_family_texts_are_about_their_own_support(locale: str) -> None:
    for key in ("opted_in", "help"):
        text = audience_text(MESSAGES, key, Role.FAMILY, "sms", locale, program="Harbor", support="Ana")
        assert ("how you are doing" if locale == "en" else "cómo estás tú") in text
