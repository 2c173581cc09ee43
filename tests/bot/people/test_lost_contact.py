"""Lost contact (`bot.people.lost_contact`): the texts for whoever hears exist for every role and
language. Who hears on each path is driven end to end in tests/bot/channels/test_sms_webhooks.py
(receipts, STOP) and the conversation cases (opt_out.yaml, audience.yaml)."""

from __future__ import annotations

import pytest

from bot.content import Content
from bot.people.lost_contact import _role_key
from config.settings import DEFAULT_CONFIG_DIR
from storage.models import Role

MESSAGES = Content.load(DEFAULT_CONFIG_DIR).messages


def test_every_staff_role_has_a_name_for_the_supervisors_notice() -> None:
    for role in (Role.PEER, Role.SUPERVISOR, Role.ADMIN):
        for locale in ("en", "es"):
            assert MESSAGES.text(_role_key(MESSAGES, role), locale)


@pytest.mark.parametrize("locale", ["en", "es"])
@pytest.mark.parametrize(
    "key",
    [
        "peer_told_opt_out",
        "peer_told_unreachable",
        "peer_told_family_opt_out",
        "peer_told_family_unreachable",
        "supervisor_told_staff_opt_out",
        "supervisor_told_staff_unreachable",
    ],
)
def test_each_notice_names_the_person_and_the_channel(locale: str, key: str) -> None:
    text = MESSAGES.text(key, locale, name="Jordan", pir="Alex", role="peer", channel="sms")
    assert "Jordan" in text and "sms" in text
    if "family" in key:
        assert "Alex" in text
