"""Encryption at rest as an attacker with a copy of the files would see it, and as an operator runs it:
what people wrote and who they are is not in the SQLite file or its WAL; the bot still finds everyone by
phone and chat id; no process starts without the key that opens the database; `db encrypt` and
`db rotate-key` work in place and leave no old copy behind."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.app import App
from bot.channels.base import Inbound
from bot.channels.console import ConsoleChannel
from bot.checkins.sessions import start_checkin
from bot.cli.main import app as cli_app
from bot.clock import ManualClock
from bot.people.enrolment import add_person, assign, resolve
from config.settings import Settings
from storage.crypto import EncryptionError, Keyring, new_key
from storage.db import Database
from storage.keys import NO_KEY, PLAIN, WRONG_KEY, reencrypt
from storage.models import Alert, AuditEvent, ChannelIdentity, FlowSession, Message, Person, Role

KEY, NEW_KEY = new_key(), new_key()
PIR_NAME, PEER_NAME = "Marisol Quintanilla", "Bartholomew Okafor"
PHONE, CHAT = "+14155550177", "987654321"
STRANGER = "+14155550999"
SECRET = "I relapsed on fentanyl last night and I want to kill myself"
NOTE = "called her SAFE-AT-SISTERS tonight"
# Nothing of this may be readable in the database's files when a key is set.
NEEDLES = (
    "Quintanilla",
    "Marisol",
    "Okafor",
    "4155550177",
    "4155550999",
    CHAT,
    "fentanyl",
    "SAFE-AT-SISTERS",
)

runner = CliRunner()


def _file(db_url: str) -> Path:
    database = make_url(db_url).database
    assert database is not None
    return Path(database)


def _raw(db_url: str) -> bytes:
    """The SQLite file and its WAL, as bytes, as a copied backup would hold them."""
    path = _file(db_url)
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _leaks(db_url: str) -> list[str]:
    raw = _raw(db_url).lower()
    return [needle for needle in NEEDLES if needle.lower().encode() in raw]


def _build(db_url: str, key: str | None, clock: ManualClock, console: ConsoleChannel) -> App:
    return App.build(
        Settings(database_url=db_url, encryption_key=key), clock=clock, channels={"console": console}
    )


async def _live_a_day(application: App, console: ConsoleChannel) -> None:
    """Enrol, check in with a crisis in free text, page, ACK and DONE with a note, an SMS from the PIR and
    two from a stranger: every kind of value the bot stores."""
    now = application.clock.now()
    async with application.db.transaction() as s:
        pir = await add_person(
            s, now, role=Role.PIR, name=PIR_NAME, console="c-pir", phone=PHONE, telegram=CHAT
        )
        await add_person(s, now, role=Role.PEER, name=PEER_NAME, console="c-peer")
        await assign(s, now, pir=PIR_NAME, peer=PEER_NAME)
        await start_checkin(s, application.content, pir, "daily_checkin", now, application.buttons)
    for n, said in enumerate(["4", SECRET]):
        await application.pipeline.handle(Inbound("console", "c-pir", said, now, provider_id=f"c:pir:{n}"))
    await application.pipeline.handle(Inbound("console", "c-peer", "ACK 1", now, provider_id="c:peer:1"))
    await application.pipeline.handle(
        Inbound("console", "c-peer", f"DONE 1 {NOTE}", now, provider_id="c:peer:2")
    )
    for n, (address, said) in enumerate(
        [(PHONE, "thank you"), (STRANGER, "who is this"), (STRANGER, "hello?")]
    ):
        await application.pipeline.handle(Inbound("sms", address, said, now, provider_id=f"SM{n:032d}"))
    await application.sender.drain()


async def _found_by_their_addresses(application: App) -> None:
    """The bot still knows everyone by phone and chat id, and what they wrote reads back with the key."""
    async with application.db.transaction() as s:
        pir = await resolve(s, "marisol")
        identities = (
            await s.scalars(select(ChannelIdentity).where(col(ChannelIdentity.person_id) == pir.id))
        ).all()
        assert {(i.channel, i.address) for i in identities} == {
            ("console", "c-pir"),
            ("sms", PHONE),
            ("telegram", CHAT),
        }
        by_phone = await s.scalar(
            select(ChannelIdentity).where(
                col(ChannelIdentity.channel) == "sms", col(ChannelIdentity.address) == PHONE
            )
        )
        assert by_phone is not None and by_phone.person_id == pir.id
        inbound = (await s.scalars(select(Message).where(col(Message.person_id) == pir.id))).all()
        assert SECRET in {m.body for m in inbound} and "thank you" in {m.body for m in inbound}
        (alert,) = (await s.scalars(select(Alert))).all()
        assert alert.note == NOTE and alert.status == "resolved"
        details = [e.detail for e in (await s.scalars(select(AuditEvent))).all()]
        assert any(NOTE in str(detail) for detail in details)
        (session,) = (await s.scalars(select(FlowSession))).all()
        assert session.state  # the answers the engine keeps
        told = (
            await s.scalars(
                select(Message).where(col(Message.address) == STRANGER, col(Message.direction) == "out")
            )
        ).all()
        assert len(told) == 1  # the stranger was explained to once: found by their encrypted number


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'peerline.db'}"


@pytest.fixture
async def sealed(sqlite_url: str, clock: ManualClock, console: ConsoleChannel) -> AsyncIterator[App]:
    application = _build(sqlite_url, KEY, clock, console)
    await application.db.upgrade()
    yield application
    await application.close()


async def test_a_copied_file_and_wal_hold_no_name_number_or_word_anyone_wrote(
    sealed: App, sqlite_url: str, console: ConsoleChannel
) -> None:
    await _live_a_day(sealed, console)
    assert any("988" in m.text for m in console.sent["c-pir"])  # the crisis path works as ever
    assert any(PIR_NAME in m.text for m in console.sent["c-peer"])  # the peer reads the name
    assert _file(sqlite_url).with_name("peerline.db-wal").stat().st_size > 0  # the WAL is read too
    assert _leaks(sqlite_url) == []
    await _found_by_their_addresses(sealed)


async def test_session_state_audit_details_and_names_are_encrypted_columns(
    sealed: App, console: ConsoleChannel
) -> None:
    await _live_a_day(sealed, console)
    async with sealed.db.engine.connect() as conn:
        for query in (
            "SELECT state FROM flowsession",
            "SELECT detail FROM auditevent",
            "SELECT name FROM person",
            "SELECT note FROM alert",
        ):
            values = [str(v) for (v,) in (await conn.execute(text(query))).all() if v is not None]
            assert values and all(v.startswith("enc1:") for v in values), query
        for query in (
            "SELECT address FROM channelidentity",
            "SELECT address FROM message",
            "SELECT provider_id FROM message WHERE provider_id IS NOT NULL",
            "SELECT name_key FROM person",
        ):
            values = [str(v) for (v,) in (await conn.execute(text(query))).all()]
            assert values and all(v.startswith("det1:") for v in values), query


async def test_no_process_starts_without_the_key_or_with_a_wrong_one(
    sealed: App, sqlite_url: str, console: ConsoleChannel
) -> None:
    await _live_a_day(sealed, console)
    for key, reason in ((None, NO_KEY), (new_key(), WRONG_KEY)):
        database = Database(sqlite_url, encryption_key=key)
        try:
            with pytest.raises(EncryptionError) as refused:
                await database.upgrade()
            assert str(refused.value) == reason
        finally:
            await database.dispose()


def _cli(monkeypatch: pytest.MonkeyPatch, db_url: str, key: str | None, *args: str, code: int = 0) -> str:
    monkeypatch.setenv("PEERLINE_DATABASE_URL", db_url)
    if key is None:
        monkeypatch.delenv("PEERLINE_ENCRYPTION_KEY", raising=False)
    else:
        monkeypatch.setenv("PEERLINE_ENCRYPTION_KEY", key)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        result = runner.invoke(cli_app, list(args))
    finally:  # `serve` sets up logging into the runner's stream, which closes when it returns
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    assert result.exit_code == code, (args, result.output, result.exception)
    return result.output


async def _acli(
    monkeypatch: pytest.MonkeyPatch, db_url: str, key: str | None, *args: str, code: int = 0
) -> str:
    """`_cli` from a test on the event loop: the CLI runs its own loop, so it runs in a thread."""
    return await asyncio.to_thread(_cli, monkeypatch, db_url, key, *args, code=code)


async def test_the_cli_and_serve_refuse_in_one_line(
    sealed: App, sqlite_url: str, console: ConsoleChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _live_a_day(sealed, console)
    for key, words in ((None, "set PEERLINE_ENCRYPTION_KEY"), (new_key(), "does not open this database")):
        for args in (("people", "list"), ("history", "Marisol"), ("serve", "--port", "1")):
            out = await _acli(monkeypatch, sqlite_url, key, *args, code=2)
            assert words in out and "Traceback" not in out, (args, out)
            assert len(out.strip().splitlines()) <= 2, out  # one line, wrapped at most once by the terminal
    assert "Marisol Quintanilla" in await _acli(monkeypatch, sqlite_url, KEY, "people", "list")


async def test_a_key_on_a_database_that_holds_plaintext_says_to_encrypt_it(
    sqlite_url: str, clock: ManualClock, console: ConsoleChannel
) -> None:
    plain = _build(sqlite_url, None, clock, console)
    await plain.db.upgrade()
    await _live_a_day(plain, console)
    await plain.close()
    keyed = Database(sqlite_url, encryption_key=KEY)
    try:
        with pytest.raises(EncryptionError, match="peerline db encrypt") as refused:
            await keyed.upgrade()
        assert str(refused.value) == PLAIN
    finally:
        await keyed.dispose()


async def test_db_encrypt_then_rotate_key_in_place(
    sqlite_url: str, clock: ManualClock, console: ConsoleChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = _build(sqlite_url, None, clock, console)
    await plain.db.upgrade()
    await _live_a_day(plain, console)
    await plain.close()
    assert set(_leaks(sqlite_url)) == set(NEEDLES)  # the test can see plaintext when it is there

    out = await _acli(monkeypatch, sqlite_url, KEY, "db", "encrypt")
    assert out.startswith("encrypted ") and "Traceback" not in out
    assert _leaks(sqlite_url) == []  # not even in freed pages or the WAL
    assert "Marisol Quintanilla" in await _acli(monkeypatch, sqlite_url, KEY, "people", "list")
    assert "set PEERLINE_ENCRYPTION_KEY" in await _acli(
        monkeypatch, sqlite_url, None, "people", "list", code=2
    )
    again = await _acli(monkeypatch, sqlite_url, KEY, "db", "encrypt")  # running it twice is harmless
    assert again.startswith("encrypted ")

    # Rotation: the new key first, the old one after. Everything works before the rotation has run
    # (phone numbers are still found with the old key), and after it the old key can go.
    out = await _acli(monkeypatch, sqlite_url, NEW_KEY, "db", "encrypt", code=2)
    assert "does not open this database" in out
    out = await _acli(monkeypatch, sqlite_url, f"{NEW_KEY},{KEY}", "db", "encrypt", code=2)
    assert "rotate-key" in out
    both = _build(sqlite_url, f"{NEW_KEY},{KEY}", clock, console)
    await both.db.upgrade()
    await _found_by_their_addresses(both)
    await both.close()
    out = await _acli(monkeypatch, sqlite_url, f"{NEW_KEY},{KEY}", "db", "rotate-key")
    assert out.startswith("re-encrypted ") and "first key alone" in out
    assert _leaks(sqlite_url) == []

    rotated = _build(sqlite_url, NEW_KEY, clock, console)
    await rotated.db.upgrade()
    await _found_by_their_addresses(rotated)
    await rotated.pipeline.handle(Inbound("sms", PHONE, "still me", clock.now(), provider_id="SM-after"))
    async with rotated.db.transaction() as s:
        message = await s.scalar(select(Message).where(col(Message.provider_id) == "SM-after"))
        pir = await s.scalar(select(Person).where(col(Person.role) == Role.PIR))
    assert message is not None and pir is not None and message.person_id == pir.id
    await rotated.close()
    old = Database(sqlite_url, encryption_key=KEY)
    try:
        with pytest.raises(EncryptionError, match="does not open"):
            await old.upgrade()
    finally:
        await old.dispose()


def test_rotate_key_and_encrypt_need_a_key(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> None:
    out = _cli(monkeypatch, sqlite_url, None, "db", "encrypt", code=2)
    assert "set PEERLINE_ENCRYPTION_KEY first" in out and "db new-key" in out
    _cli(monkeypatch, sqlite_url, None, "people", "list")  # a plaintext database without a key is fine
    out = _cli(monkeypatch, sqlite_url, KEY, "db", "rotate-key", code=2)
    assert "not encrypted yet" in out


def test_looked_up_values_are_equal_for_equal_text_and_differ_by_purpose() -> None:
    ring = Keyring(KEY)
    assert ring.seal_lookup(PHONE, "address") == ring.seal_lookup(PHONE, "address")
    assert ring.seal_lookup(PHONE, "address") != ring.seal_lookup(PHONE, "name")
    assert ring.seal_lookup(PHONE, "address") != Keyring(NEW_KEY).seal_lookup(PHONE, "address")
    assert ring.open_lookup(ring.seal_lookup(PHONE, "address"), "address") == PHONE
    assert ring.decrypt(ring.seal_lookup(PHONE, "address")) == PHONE
    with pytest.raises(EncryptionError, match="does not hold"):
        Keyring(NEW_KEY).open_lookup(ring.seal_lookup(PHONE, "address"), "address")


async def test_db_encrypt_on_either_database_leaves_every_value_encrypted_and_readable(
    db_url: str, clock: ManualClock, console: ConsoleChannel
) -> None:
    plain = _build(db_url, None, clock, console)
    await plain.db.upgrade()
    await _live_a_day(plain, console)
    await plain.close()
    keyed = _build(db_url, KEY, clock, console)
    try:
        assert keyed.db.keyring is not None
        await keyed.db.upgrade(check_key=False)
        done = await reencrypt(keyed.db.engine, keyed.db.keyring, rotate=False)
        assert done.values > 50
        await keyed.db.upgrade()  # the key now opens it
        async with keyed.db.engine.connect() as conn:
            for query in (
                "SELECT name FROM person",
                "SELECT address FROM channelidentity",
                "SELECT body FROM message",
            ):
                values = [str(v) for (v,) in (await conn.execute(text(query))).all()]
                assert values and all(v.startswith(("enc1:", "det1:")) for v in values), query
        await _found_by_their_addresses(keyed)
    finally:
        await keyed.close()
