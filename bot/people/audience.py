"""Which wording of a message a person gets: written for their audience and fitted to their channel.

A key names the message (`opted_in`, `opted_out`, `help`); its variants add the audience and the
channel: `opted_in_family_sms`, `opted_in_staff`, `help_family`, `opted_in_sms`. The plain key is the
PIR's text on a chat channel (Telegram, console). SMS variants carry what CTIA asks of an SMS program
(message frequency, "Msg & data rates may apply", HELP/STOP), which means nothing on Telegram; family
texts are about the family member's own support; staff texts are about their alerts, not a subscription.
The most specific variant that exists wins: audience and channel, then audience, then channel, then the
plain key.
"""

from __future__ import annotations

from bot.content import Messages
from storage.models import Role

STAFF = (Role.PEER, Role.SUPERVISOR, Role.ADMIN)
"""The roles that work alerts: they get staff texts and staff commands."""


def audience(role: str) -> str:
    """`staff`, `family` or `pir`: whom a text is written for."""
    if role in STAFF:
        return "staff"
    return "family" if role == Role.FAMILY else "pir"


def variants(key: str, role: str, channel: str) -> list[str]:
    """Keys to try for `key`, most specific first."""
    group = audience(role)
    sms = channel == "sms"
    names = [] if group == "pir" else [f"{key}_{group}_sms"] * sms + [f"{key}_{group}"]
    return [*names, *[f"{key}_sms"] * sms, key]


def audience_text(
    messages: Messages, key: str, role: str, channel: str, locale: str, **values: object
) -> str:
    """Message `key` as written for this audience and channel, in `locale`."""
    chosen = next(name for name in variants(key, role, channel) if messages.has(name))
    return messages.text(chosen, locale, **values)
