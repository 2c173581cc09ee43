"""Who reads a text, and so how it is written: their language, their time zone, their channel.

Every date and time a person is shown goes through `when`, in the reader's zone and with the zone's
name ('Mon 2 Mar 9:30 AM CST', 'lun 2 mar 14:05 CET'): a peer in Chicago reading about a PIR in New
York must never have to guess whose clock a time is on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flows.sms_text import force_gsm7, plain_gsm7
from storage.models import ChannelName, Person

_DAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "es": ("lun", "mar", "mié", "jue", "vie", "sáb", "dom"),
}
_MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "es": ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"),
}
_TWELVE_HOUR = frozenset({"en"})  # the rest read a 24-hour clock


@dataclass(frozen=True, slots=True)
class Reader:
    """The person a text is written for, on the channel it goes out on."""

    locale: str
    timezone: str
    channel: str = ChannelName.TELEGRAM
    buttons: bool = False

    @classmethod
    def of(cls, person: Person, channel: str, buttons: Mapping[str, bool]) -> Reader:
        return cls(person.locale, person.timezone, channel, buttons.get(channel, False))

    @property
    def sms(self) -> bool:
        return self.channel == ChannelName.SMS

    def shape(self, text: str) -> str:
        """`text` as this reader's channel carries it: over SMS without emoji or anything else that
        would turn it into UCS-2 (a segment then holds 67 characters, not 153); elsewhere unchanged."""
        return plain_gsm7(text) if self.sms else text

    def shape_page(self, text: str) -> str:
        """An alert page: over SMS it must be GSM-7, whatever a quoted message holds."""
        return force_gsm7(text) if self.sms else text


Viewer = Person | Reader


def zone_name(local: datetime) -> str:
    """'CST', 'CEST', 'UTC'; zones without a letter abbreviation read 'UTC-03'."""
    name = local.tzname() or "UTC"
    return f"UTC{name}" if name[:1] in "+-" else name


def clock_time(instant: datetime, timezone: str, locale: str) -> str:
    """'9:30 AM CST' (English) or '14:05 CET': the time in `timezone`, with the zone's name."""
    local = instant.astimezone(ZoneInfo(timezone))
    if locale in _TWELVE_HOUR:
        hour = local.hour % 12 or 12
        text = f"{hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"
    else:
        text = f"{local:%H:%M}"
    return f"{text} {zone_name(local)}"


def when(instant: datetime, viewer: Viewer, *, time: bool = False) -> str:
    """'Mon 2 Mar' (or 'Mon 2 Mar 9:30 AM CST') in the viewer's time zone and language."""
    local = instant.astimezone(ZoneInfo(viewer.timezone))
    locale = viewer.locale if viewer.locale in _DAYS else "en"
    text = f"{_DAYS[locale][local.weekday()]} {local.day} {_MONTHS[locale][local.month - 1]}"
    return f"{text} {clock_time(instant, viewer.timezone, locale)}" if time else text
