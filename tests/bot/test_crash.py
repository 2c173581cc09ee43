"""The real `peerline serve`, killed with SIGKILL again and again under a burst of webhooks (issue 13).

`python -m bot serve` runs on a SQLite file, with SMS pointed at a local fake Twilio and Telegram in
webhook mode at a local fake Bot API server; people are enrolled with the command line (while it starts,
as an operator would, to save its start-up time), and a check-in is started for two of them. Each person's
messages are posted in order by a sender of their own, signed as the providers sign them, and each is
retried until it gets a 200, as Twilio and Telegram retry. Meanwhile the process is SIGKILLed at moments a
seeded RNG picks and started again on the same database and port. Once every sender has its 200s and the
last process has emptied the outbox, the database and the fakes must show every inbound message stored
and handled exactly once, every outbound message delivered, and at most one repeated send per kill and
channel (the message a kill can catch between the provider's accept and our record of it).
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import aiohttp
from typer.testing import CliRunner

from bot.cli.main import app as cli_app
from tests.bot.channels.fake_telegram import FakeTelegram
from tests.fakes.serve_process import RetryingSender, ServeProcess, free_port
from tests.fakes.sms_world import inbound_fields
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, sign

SEED = 13
KILLS = 4
TOKEN = "123456:TEST-token"
SECRET = "crash-test_secret"
FROM_NUMBER = "+15017122661"

CHECKIN = ("4", "2", "no", "no", "SKIP")  # mood, craving, used, safety, anything else: no alert
CRAVING = ("3", "9", "no", "no", "rough week")  # craving 9: a high alert, paged as the check-in ends
CRISIS = "I want to kill myself"
STEPS = ("mood", "craving", "used", "safety", "anything_else")


@dataclass(frozen=True)
class Person:
    name: str
    role: str
    address: str
    channel: str
    texts: tuple[str, ...]
    checkin: bool = False  # the CLI starts a daily check-in before serve runs


def _notes(who: str, count: int) -> tuple[str, ...]:
    return tuple(f"{who} here, note {i}: went to my meeting and had lunch" for i in range(count))


def _sms(name: str, number: str, texts: tuple[str, ...], *, checkin: bool = False) -> Person:
    return Person(name, "pir", number, "sms", texts, checkin)


def _telegram(name: str, chat: str, texts: tuple[str, ...]) -> Person:
    return Person(name, "pir", chat, "telegram", texts)


SAM = Person(
    "Sam",
    "peer",
    "+12025550100",
    "sms",
    tuple(
        f"REPLY {pir} thanks for the update, talk soon ({i})" for i in range(15) for pir in ("Alex", "Casey")
    ),
)
PIRS = (
    _sms("Alex", "+12025550143", (*CHECKIN, *_notes("Alex", 30), "HELP"), checkin=True),
    _sms("Blair", "+12025550144", (*CRAVING, *_notes("Blair", 30), CRISIS), checkin=True),
    _sms("Casey", "+12025550145", (*_notes("Casey", 31), "HELP")),
    # Telegram sends one message a second per chat: a few each, so every chat drains within seconds.
    _telegram("Drew", "7001", (*_notes("Drew", 3), "/help")),
    _telegram("Emery", "7002", (*_notes("Emery", 3), CRISIS)),
    _telegram("Frankie", "7003", _notes("Frankie", 4)),
    _telegram("Gray", "7004", _notes("Gray", 4)),
)
PEOPLE = (SAM, *PIRS)
INBOUND = sum(len(p.texts) for p in PEOPLE)  # 150


def _expected_outbound() -> Counter[tuple[str, str]]:
    """(recipient, kind) of every message that handling each inbound message once gives."""
    expected: Counter[tuple[str, str]] = Counter()
    for pir in PIRS:
        notes = sum(" here, note " in t for t in pir.texts)
        expected[(pir.name, "keyword")] = 1 + sum(t in ("HELP", "/help") for t in pir.texts)  # + opt-in
        expected[(pir.name, "relay")] = sum(t.startswith(f"REPLY {pir.name} ") for t in SAM.texts)
        expected[(pir.name, "crisis")] = pir.texts.count(CRISIS)
        # From the CLI, a check-in's intro and first question; then its four other questions and the
        # thank-you, and a "Thanks, I passed that to your peer Sam." for each note.
        expected[(pir.name, "checkin")] = 2 * pir.checkin
        expected[(pir.name, "reply")] = 5 * pir.checkin + notes
        expected[(SAM.name, "relay")] += notes + (CRAVING[-1] in pir.texts)  # the note for the peer
    expected[(SAM.name, "reply")] = len(SAM.texts)  # each REPLY confirmed
    expected[(SAM.name, "alert")] = 3  # Blair's craving and crisis, Emery's crisis: one page each
    return +expected


@dataclass
class Burst:
    serve: ServeProcess
    sender: RetryingSender
    telegram: FakeTelegram
    answered: list[tuple[str, str]] = field(default_factory=list)  # (provider id, text), each 200
    kills: list[int] = field(default_factory=list)  # how many webhooks had their 200 at each kill
    restarts: list[float] = field(default_factory=list)  # seconds from each kill to /healthz again
    progress: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def send_all(self, person: Person) -> None:
        """One person's messages, in order: the next only once the last one got its 200."""
        for number, text in enumerate(person.texts):
            if person.channel == "sms":
                sid = f"SM{PEOPLE.index(person):02x}{number:030x}"
                await self._sms(person.address, text, sid)
                provider_id = f"sms:{sid}"
            else:
                update = self.telegram.message_update(person.address, text, name=person.name)
                headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                await self.sender.post(f"{self.serve.url}/telegram/webhook", json=update, headers=headers)
                provider_id = f"tg:u:{update['update_id']}"
            async with self.progress:
                self.answered.append((provider_id, text))
                self.progress.notify_all()

    async def _sms(self, number: str, body: str, sid: str) -> None:
        params = inbound_fields(number, body, sid)
        url = f"{self.serve.url}/sms/inbound"  # PEERLINE_PUBLIC_URL + path: what Twilio signs
        await self.sender.post(url, data=params, headers={"X-Twilio-Signature": sign(url, params)})

    async def kill_and_restart(self, rng: random.Random) -> None:
        """Each time the running process has answered a few more webhooks (the RNG says how many, and
        how long after that), SIGKILL it and start another on the same database and port."""
        loop = asyncio.get_running_loop()
        for _ in range(KILLS):
            point = min(len(self.answered) + rng.randint(8, (INBOUND - 20) // KILLS), INBOUND)

            def reached(point: int = point) -> bool:
                return len(self.answered) >= point

            async with self.progress:
                await self.progress.wait_for(reached)
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            self.kills.append(len(self.answered))
            await self.serve.kill()
            began = loop.time()
            await self.serve.start()
            await self.serve.healthy()
            self.restarts.append(loop.time() - began)


def _env(tmp_path: Path, twilio: FakeTwilio, telegram: FakeTelegram, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEERLINE_")}
    # Five runs compile the sources once, not five times (where PYTHONDONTWRITEBYTECODE is set), into a
    # cache of their own: nothing is written beside the sources.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    return env | {
        "PEERLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'peerline.db'}",
        "PEERLINE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PEERLINE_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "PEERLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PEERLINE_TWILIO_FROM_NUMBER": FROM_NUMBER,
        "PEERLINE_TWILIO_API_URL": twilio.url,
        "PEERLINE_TWILIO_MESSAGES_PER_SECOND": "100",  # a short code's throughput
        "PEERLINE_TELEGRAM_TOKEN": TOKEN,
        "PEERLINE_TELEGRAM_API_URL": telegram.url,
        "PEERLINE_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "PEERLINE_QUIET_HOURS": "off",
        "PEERLINE_TICK_SECONDS": "1",
    }


def _peerline(env: dict[str, str], *args: str) -> None:
    """One command line, run in this process (a process of its own would cost 2 s more)."""
    result = CliRunner().invoke(cli_app, list(args), env=env)
    assert result.exit_code == 0, f"peerline {' '.join(args)}: {result.output}{result.exception!r}"


def _enrol(env: dict[str, str]) -> None:
    """Enrol everyone with the command line, as an operator would, while the first `serve` starts."""

    def peerline(*args: str) -> None:
        _peerline(env, *args)

    # Daily check-ins half a day away, so the scheduler starts none while the test runs.
    later = (datetime.now(ZoneInfo("America/New_York")) + timedelta(hours=12)).strftime("%H:%M")
    for person in PEOPLE:
        where = "--phone" if person.channel == "sms" else "--telegram"
        when = ["--checkin-time", later] if person.role == "pir" else []
        peerline("people", "add", "--role", person.role, "--name", person.name, where, person.address, *when)
    for pir in PIRS:
        peerline("assign", "--pir", pir.name, "--peer", SAM.name)
    for pir in PIRS:
        if pir.checkin:
            peerline("checkin", "send", pir.name)


def _rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute(query).fetchall()


async def _run(tmp_path: Path, rng: random.Random, twilio: FakeTwilio, telegram: FakeTelegram) -> Burst:
    port = free_port()
    env = _env(tmp_path, twilio, telegram, port)
    await asyncio.to_thread(_peerline, env, "db", "upgrade")
    serve = ServeProcess(tmp_path, env, port)
    connector = aiohttp.TCPConnector(force_close=True)  # each attempt on a new connection, as Twilio
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        burst = Burst(serve, RetryingSender(session), telegram)
        try:
            await serve.start()
            await asyncio.gather(serve.healthy(), asyncio.to_thread(_enrol, env))
            await asyncio.gather(burst.kill_and_restart(rng), *(burst.send_all(p) for p in PEOPLE))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while _rows(tmp_path / "peerline.db", "SELECT count(*) FROM outbox") != [(0,)]:
                assert loop.time() < deadline, f"the outbox was not emptied:\n{serve.tail()}"
                await asyncio.sleep(0.1)
            assert await serve.stop() == 0, serve.tail()
        finally:
            if serve.process is not None and serve.process.returncode is None:
                await serve.kill()
    return burst


async def _crash_run(tmp_path: Path, rng: random.Random) -> tuple[Burst, FakeTwilio, FakeTelegram]:
    twilio = FakeTwilio()
    await twilio.start()
    telegram = await FakeTelegram(TOKEN).start()
    try:
        return await _run(tmp_path, rng, twilio, telegram), twilio, telegram
    finally:
        await telegram.stop()
        await twilio.close()


def _sms_sends(twilio: FakeTwilio) -> Counter[int]:
    """How many times Twilio accepted each of our messages (the status callback carries our id)."""
    sends: Counter[int] = Counter()
    for created in twilio.created.values():
        assert created.status_callback is not None
        sends[int(parse_qs(urlparse(created.status_callback).query)["m"][0])] += 1
    return sends


def _telegram_sends(telegram: FakeTelegram) -> Counter[tuple[str, str]]:
    """How many times Telegram accepted each (chat, text): the fake keeps what every chat got."""
    chats = [p.address for p in PEOPLE if p.channel == "telegram"]
    return Counter((chat, message["text"]) for chat in chats for message in telegram.chat(chat))


def test_sigkill_under_a_webhook_burst_loses_nothing_and_does_nothing_twice(tmp_path: Path) -> None:
    burst, twilio, telegram = asyncio.run(_crash_run(tmp_path, random.Random(SEED)))
    db = tmp_path / "peerline.db"
    assert twilio.violations == [] and telegram.problems == []
    assert telegram.webhook is not None and telegram.webhook["url"] == f"{burst.serve.url}/telegram/webhook"
    assert len(burst.kills) == KILLS and burst.serve.runs == KILLS + 1
    assert burst.sender.failed_attempts > 0  # webhooks were refused or cut off, and retried

    # Every inbound message stored exactly once, by provider id (MessageSid, update_id).
    sent = [provider_id for provider_id, _ in burst.answered]
    assert len(set(sent)) == INBOUND
    inbound = _rows(db, "SELECT id, provider_id, error_code FROM message WHERE direction = 'in'")
    assert Counter(provider_id for _, provider_id, _ in inbound) == Counter(sent)
    assert [row for row in inbound if row[2] is not None] == []  # none stored as "unprocessed"

    # ... and handled exactly once: one `message.received` each, and exactly the replies, relays,
    # answers and alerts that handling each once gives.
    received = _rows(
        db, "SELECT json_extract(detail, '$.message_id') FROM auditevent WHERE action = 'message.received'"
    )
    assert Counter(message_id for (message_id,) in received) == Counter(row[0] for row in inbound)
    outbound = _rows(
        db,
        "SELECT m.id, m.channel, m.address, m.body, m.status, p.name, m.kind FROM message m"
        " JOIN person p ON p.id = m.person_id WHERE m.direction = 'out'",
    )
    assert Counter((name, kind) for *_, name, kind in outbound) == _expected_outbound()
    answers = _rows(db, "SELECT p.name, a.step_id FROM answer a JOIN person p ON p.id = a.person_id")
    assert Counter(answers) == Counter((p.name, step) for p in PIRS if p.checkin for step in STEPS)
    alerts = _rows(
        db,
        "SELECT p.name, a.severity, a.categories, m.provider_id FROM alert a"
        " JOIN person p ON p.id = a.person_id JOIN message m ON m.id = a.message_id",
    )
    assert sorted(alert[:3] for alert in alerts) == [
        ("Blair", "critical", '["suicide"]'),
        ("Blair", "high", '["craving"]'),
        ("Emery", "critical", '["suicide"]'),
    ]
    crises = {provider_id for provider_id, text in burst.answered if text == CRISIS}
    assert crises <= {alert[3] for alert in alerts}  # each crisis page is about its own message

    # No outbound message lost: all sent, each accepted by the fake provider at least once, and at
    # most one repeated send per kill on each channel.
    assert _rows(db, "SELECT count(*) FROM outbox") == [(0,)]
    assert {row[4] for row in outbound} == {"sent"}
    sms_sends = _sms_sends(twilio)
    assert set(sms_sends) == {row[0] for row in outbound if row[1] == "sms"}
    telegram_sends = _telegram_sends(telegram)
    queued = Counter((row[2], row[3]) for row in outbound if row[1] == "telegram")
    assert set(telegram_sends) == set(queued) and not queued - telegram_sends
    sms_repeats = sum(sms_sends.values()) - len(sms_sends)
    telegram_repeats = (telegram_sends - queued).total()
    print(
        f"\n{INBOUND} webhooks, {len(outbound)} messages out ({len(sms_sends)} SMS); SIGKILL after"
        f" {burst.kills} webhooks answered; back up in {[round(t, 1) for t in burst.restarts]} s;"
        f" {burst.sender.failed_attempts} webhook attempts failed and were retried; sent twice:"
        f" SMS {sms_repeats}, Telegram {telegram_repeats}"
    )
    assert sms_repeats <= KILLS
    assert telegram_repeats <= KILLS
