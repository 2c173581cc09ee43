"""Field encryption at rest: what people write is unreadable in the database without the key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlmodel import select

from bot.app import App
from bot.channels.base import Inbound
from bot.channels.console import ConsoleChannel
from bot.checkins.sessions import start_checkin
from bot.clock import ManualClock
from bot.people.enrolment import resolve
from config.settings import Settings
from storage.crypto import EncryptionError, Keyring, new_key, read_plain
from storage.db import Database
from storage.models import Alert, Answer, Message
from tests.bot.careteam import seed

KEY, OLD_KEY = new_key(), new_key()
SECRET = "I relapsed last night and I want to kill myself"


def test_round_trip_and_rotation() -> None:
    old = Keyring(OLD_KEY)
    stored = old.encrypt("my secret")
    assert stored.startswith("enc1:") and "secret" not in stored
    assert old.decrypt(stored) == "my secret"
    rotated = Keyring(f"{KEY}, {OLD_KEY}")  # new key first: encrypts with it, still opens the old
    assert rotated.decrypt(stored) == "my secret"
    assert Keyring(KEY).decrypt(rotated.encrypt("x")) == "x"
    with pytest.raises(EncryptionError, match="does not hold"):
        Keyring(KEY).decrypt(stored)


def test_plain_values_stay_readable_and_encrypted_ones_need_a_key() -> None:
    assert Keyring(KEY).decrypt("written before the key") == "written before the key"
    assert read_plain("plain", None) == "plain"
    with pytest.raises(EncryptionError, match="set PEERLINE_ENCRYPTION_KEY"):
        read_plain(Keyring(KEY).encrypt("x"), None)


@pytest.mark.parametrize("bad", ["nope", "short,", f"{KEY},not-a-key"])
def test_a_bad_key_is_refused_with_how_to_make_one(bad: str) -> None:
    with pytest.raises(ValueError, match="peerline db new-key"):
        Keyring(bad)


@pytest.fixture
async def sealed(db_url: str, clock: ManualClock, console: ConsoleChannel) -> AsyncIterator[App]:
    settings = Settings(database_url=db_url, encryption_key=KEY)
    application = App.build(settings, clock=clock, channels={"console": console})
    await application.db.create_all()
    yield application
    await application.close()


async def test_what_people_write_is_stored_encrypted_and_read_back_with_the_key(
    sealed: App, db_url: str, console: ConsoleChannel
) -> None:
    await seed(sealed)
    async with sealed.db.transaction() as s:
        alex = await resolve(s, "Alex")
        await start_checkin(s, sealed.content, alex, "daily_checkin", sealed.clock.now(), sealed.buttons)
    for n, answer in enumerate(["4", SECRET]):
        await sealed.pipeline.handle(
            Inbound("console", "alex", answer, sealed.clock.now(), provider_id=f"c:{n}")
        )
    await sealed.sender.drain()
    assert any("988" in m.text for m in console.sent["alex"])  # the crisis path works as ever

    # With the key, the application reads everything back.
    async with sealed.db.transaction() as s:
        bodies = [m.body for m in (await s.scalars(select(Message))).all()]
        (alert,) = (await s.scalars(select(Alert))).all()
        raws = [a.raw for a in (await s.scalars(select(Answer))).all()]
    assert SECRET in bodies and "4" in raws
    assert any("kill myself" in reason for reason in alert.reasons)

    # In the database itself, none of it is there to read.
    async with sealed.db.engine.connect() as conn:
        stored = [
            str(value)
            for query in (
                "SELECT body FROM message",
                "SELECT body FROM outbox",
                "SELECT raw FROM answer",
                "SELECT value FROM answer",
                "SELECT reasons FROM alert",
            )
            for (value,) in (await conn.execute(text(query))).all()
            if value is not None
        ]
    assert stored and all(value.startswith("enc1:") for value in stored)
    assert not any("kill" in value or "relapsed" in value for value in stored)

    # Without the key the same database says what is missing instead of showing noise.
    keyless = Database(db_url)
    try:
        async with keyless.transaction() as s:
            with pytest.raises(EncryptionError, match="set PEERLINE_ENCRYPTION_KEY"):
                await s.scalars(select(Message))
    finally:
        await keyless.dispose()
