"""Conversation tests written as data (goflow style): "PIR says X → bot says Y".

Each YAML file under `conversations/` is a list of cases. A case runs the whole application on the
console channel (real pipeline, real outbox, real database on SQLite and PostgreSQL) against a small
program: peer Sam, PIR Alex, family member Jordan linked to Alex.

Case keys besides `name` and `steps`: `locale` (Alex's and Jordan's, default en), `staff_locale` (Sam's
and the supervisors'), `channel: sms|telegram` (everyone is on that channel instead of the console: a
console-like mailbox registered under that name, without buttons for SMS, so the real pipeline and outbox
render for it), `supervisors: assigned|unassigned` (supervisors Dana and Riley; `assigned` puts Dana on
Alex's care team), `program` and `discreet` (PEERLINE_PROGRAM_NAME, PEERLINE_DISCREET_NAME).

Steps:
- `start: {who, flow}`: start a check-in now.
- `say: TEXT` (Alex) or `say: {who, text, id, drain}`: an inbound message; `id` is the provider id;
  `drain: false` leaves the outbox undelivered (to test a restart in between).
- `press: LABEL` or `press: {who, label, step}`: press a button of the last question sent to who, or of
  the earlier question `step` (a stale keyboard).
- `expect: {who: [substring, ...]}`: exactly these messages (in order, each containing its substring)
  were delivered since the last `expect`; anyone not named must have received nothing. An item may be
  `{has: substring, lacks: [words], preview_lacks: [words]}`: words the message, or the part of it a
  lock screen shows (its first 40 characters), must not say.
- `advance: 3h`: move the clock and run a scheduler tick.  `restart: true`: rebuild the app on the same db.
- `check: {session, alerts, answers, opted_out}`: state in the database (`opted_out`: who, by name).
- `enrol: {role, name}`: one more person (dana, riley, pat), on the case's channel.
- `oncall: [name, ...]`: the program's on-call (`peerline oncall set`).
- `unreachable: name`: every channel of that person fails from now on (a blocked bot, a dead number).
- `team: {backup, supervisor}`: Alex's care team beside Sam (people enrolled with `enrol`).

- `consent: {share, expires_on_discharge, purpose}`: `peerline family link` for Jordan and Alex: the
  consent request goes to Alex over Alex's channel.
- `discharge: name`: the person is discharged from the program.

A case may set `settings:` (e.g. `{quiet_hours: "22:00-07:00"}`) for the whole run, and `share:` the
scope of the paper consent Jordan is seeded with (default `status`; `nothing`: Jordan is enrolled and
linked by no consent at all, as before a `consent` step). `check` also takes `consent` (the state of
the newest consent for Jordan and Alex) and `disclosures` (how many were recorded about Alex).
`schedules: none`: nobody has a daily check-in (for cases that let days pass).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet
from sqlmodel import col, delete, select

from bot.app import App
from bot.channels.base import Inbound, OutboundMessage
from bot.channels.console import ConsoleChannel
from bot.checkins.sessions import start_checkin
from bot.checkins.tick import tick
from bot.clock import ManualClock
from bot.family.requests import request_consent
from bot.people.enrolment import add_person, assign, link_family, resolve
from bot.people.oncall import set_oncall
from config.settings import Settings
from storage.models import (
    Alert,
    Answer,
    ChannelIdentity,
    CheckinSchedule,
    Disclosure,
    FamilyLink,
    FlowSession,
    Person,
    PersonStatus,
    Role,
    ShareScope,
)
from storage.repo import identities_of

CASES_DIR = Path(__file__).parent / "conversations"
LOCK_SCREEN = 40  # characters of a message a phone's lock screen shows, about
PEOPLE = ("alex", "sam", "jordan", "dana", "riley", "pat", "stranger")
# Per channel: each person's address there (phone numbers for SMS, chat ids for Telegram).
ADDRESSES = {
    "console": {who: who for who in PEOPLE},
    "sms": {who: f"+120255501{number:02d}" for number, who in enumerate(PEOPLE, start=41)},
    "telegram": {who: str(1000 + number) for number, who in enumerate(PEOPLE, start=1)},
}


class MailboxChannel(ConsoleChannel):
    """The console's mailbox under another channel's name: what the pipeline and outbox queue for SMS
    (no buttons) or Telegram is delivered here, at the network edge, instead of to a provider."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.has_buttons = name != "sms"


def _cases() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8")):
            params.append(pytest.param(case, id=f"{path.stem}:{case['name']}"))
    return params


def _duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([smhd])", text)
    assert match, f"bad duration {text!r}"
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


@dataclass
class Harness:
    db_url: str
    clock: ManualClock
    console: ConsoleChannel
    app: App | None = None
    buttons_seen: dict[str, list[OutboundMessage]] = field(default_factory=dict)
    counter: int = 0
    channel: str = "console"
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> dict[str, str]:
        return ADDRESSES[self.channel]

    def on(self, who: str) -> dict[str, str]:
        """`add_person` keywords for who's address on the case's channel."""
        key = {"console": "console", "sms": "phone", "telegram": "telegram"}[self.channel]
        return {key: self.address[who]}

    def build(self) -> App:
        self.app = App.build(
            Settings(database_url=self.db_url, **self.settings),  # type: ignore[arg-type]
            clock=self.clock,
            channels={self.channel: self.console},
        )
        return self.app

    async def seed(self, case: dict[str, Any]) -> None:
        self.channel = case.get("channel", "console")
        if self.channel != "console":
            self.console = MailboxChannel(self.channel)
        self.settings = {
            key: case[name]
            for name, key in (("program", "program_name"), ("discreet", "discreet_name"))
            if name in case
        } | case.get("settings", {})
        locale, staff_locale = case.get("locale", "en"), case.get("staff_locale", "en")
        app = self.build()
        await app.db.upgrade()
        now = self.clock.now()

        async with app.db.transaction() as s:
            await add_person(s, now, role=Role.PEER, name="Sam", locale=staff_locale, **self.on("sam"))
            await add_person(s, now, role=Role.PIR, name="Alex", locale=locale, **self.on("alex"))
            await add_person(s, now, role=Role.FAMILY, name="Jordan", locale=locale, **self.on("jordan"))
            supervisors = case.get("supervisors")
            if supervisors is not None:
                for name in ("Dana", "Riley"):
                    role, who = Role.SUPERVISOR, name.lower()
                    await add_person(s, now, role=role, name=name, locale=staff_locale, **self.on(who))
            supervisor = "Dana" if supervisors == "assigned" else None
            await assign(s, now, pir="Alex", peer="Sam", supervisor=supervisor)
            share = case.get("share", "status")
            if share != "nothing":
                await link_family(s, now, family="Jordan", pir="Alex", share=ShareScope(share))
            if case.get("schedules") == "none":
                await s.execute(delete(CheckinSchedule))

    async def run(self, step: dict[str, Any]) -> None:
        assert self.app is not None
        ((kind, arg),) = step.items()
        if kind == "start":
            async with self.app.db.transaction() as s:
                person = await resolve(s, arg["who"].capitalize())
                await start_checkin(
                    s, self.app.content, person, arg["flow"], self.clock.now(), self.app.buttons
                )
            await self.app.sender.drain()
        elif kind == "say":
            arg = {"text": arg} if isinstance(arg, str) else arg
            await self.send(
                arg.get("who", "alex"), str(arg["text"]), None, arg.get("id"), arg.get("drain", True)
            )
        elif kind == "press":
            arg = {"label": arg} if isinstance(arg, str) else arg
            who = arg.get("who", "alex")
            seen = self.buttons_seen[who]
            message = seen[-1]
            if "step" in arg:  # an old question's keyboard, still on the person's screen
                message = next(m for m in seen if m.buttons[0][0].payload.startswith(f"{arg['step']}:"))
            labels = {b.label: b.payload for row in message.buttons for b in row}
            assert str(arg["label"]) in labels, f"no button {arg['label']!r} in {list(labels)}"
            await self.send(who, str(arg["label"]), labels[str(arg["label"])], None, True)
        elif kind == "expect":
            self.expect(arg)
        elif kind == "advance":
            self.clock.advance(_duration(arg))
            await tick(self.app)
            await self.app.sender.drain()
        elif kind == "restart":
            await self.app.close()
            self.build()
            await self.app.sender.drain()
        elif kind == "check":
            await self.check(arg)
        elif kind == "enrol":
            async with self.app.db.transaction() as s:
                name = str(arg["name"])
                await add_person(
                    s, self.clock.now(), role=Role(arg["role"]), name=name, **self.on(name.lower())
                )
        elif kind == "oncall":
            async with self.app.db.transaction() as s:
                await set_oncall(s, self.clock.now(), [str(name) for name in arg])
        elif kind == "team":
            async with self.app.db.transaction() as s:
                await assign(s, self.clock.now(), pir="Alex", peer="Sam", **arg)
        elif kind == "consent":
            async with self.app.db.transaction() as s:
                await request_consent(
                    s,
                    self.app.content.messages,
                    self.clock.now(),
                    family=await resolve(s, "Jordan"),
                    pir=await resolve(s, "Alex"),
                    share=ShareScope(arg.get("share", "status")),
                    program=self.app.settings.sender_name,
                    answer_within=timedelta(hours=self.app.settings.consent_timeout_hours),
                    on_discharge=bool(arg.get("expires_on_discharge", False)),
                    purpose=str(arg.get("purpose", "family support")),
                    buttons=self.app.buttons,
                )
            await self.app.sender.drain()
        elif kind == "discharge":
            async with self.app.db.transaction() as s:
                person = await resolve(s, str(arg).capitalize())
                person.status = PersonStatus.DISCHARGED
        elif kind == "unreachable":
            async with self.app.db.transaction() as s:
                person = await resolve(s, str(arg).capitalize())
                for identity in await identities_of(s, person.id):
                    identity.unreachable_at = self.clock.now()
        else:
            raise AssertionError(f"unknown step {kind}")

    async def send(
        self, who: str, text: str, payload: str | None, provider_id: str | None, drain: bool
    ) -> None:
        assert self.app is not None
        self.counter += 1
        await self.app.pipeline.handle(
            Inbound(
                channel=self.channel,
                address=self.address[who],
                text=text,
                payload=payload,
                provider_id=provider_id or f"console:test:{self.counter}",
                received_at=self.clock.now(),
            )
        )
        if drain:
            await self.app.sender.drain()

    def expect(self, wanted: dict[str, list[str]]) -> None:
        for who, address in self.address.items():
            got = self.console.take(address)
            for message in got:
                if message.buttons:
                    self.buttons_seen.setdefault(who, []).append(message)
            texts = [m.text for m in got]
            expected = [e if isinstance(e, dict) else {"has": e} for e in wanted.get(who, [])]
            assert len(texts) == len(expected), f"{who} got {texts!r}, expected {expected!r}"
            for text, want in zip(texts, expected, strict=True):
                part = str(want.get("has", ""))
                assert part.lower() in text.lower(), f"{who} got {text!r}, expected it to contain {part!r}"
                for word in want.get("lacks", []):
                    assert word.lower() not in text.lower(), f"{who} got {text!r}, which says {word!r}"
                for word in want.get("preview_lacks", []):  # what a lock screen shows of it
                    preview = text[:LOCK_SCREEN]
                    assert word.lower() not in preview.lower(), f"{who}'s lock screen shows {preview!r}"

    async def check(self, wanted: dict[str, Any]) -> None:
        assert self.app is not None
        async with self.app.db.transaction() as s:
            alex = await resolve(s, "Alex")
            if "session" in wanted:
                session = (
                    await s.scalars(
                        select(FlowSession)
                        .where(FlowSession.person_id == alex.id)
                        .order_by(col(FlowSession.id).desc())
                    )
                ).first()
                assert (session.status if session else "none") == wanted["session"]
            if "alerts" in wanted:
                alerts = (await s.scalars(select(Alert).order_by(col(Alert.id)))).all()
                got = [{"severity": a.severity, "categories": sorted(a.categories)} for a in alerts]
                assert got == [
                    {"severity": a["severity"], "categories": sorted(a["categories"])}
                    for a in wanted["alerts"]
                ]
            if "opted_out" in wanted:
                found = await s.scalars(
                    select(Person.name)
                    .join(ChannelIdentity, col(ChannelIdentity.person_id) == col(Person.id))
                    .where(col(ChannelIdentity.opted_out_at).is_not(None))
                )
                assert sorted(name.lower() for name in found) == sorted(wanted["opted_out"])
            if "consent" in wanted:
                link = (await s.scalars(select(FamilyLink).order_by(col(FamilyLink.id).desc()))).first()
                assert (link.state if link else "none") == wanted["consent"]
            if "disclosures" in wanted:
                found = (await s.scalars(select(Disclosure).where(col(Disclosure.pir_id) == alex.id))).all()
                assert len(found) == wanted["disclosures"], [d.what for d in found]
            if "answers" in wanted:
                answers = (await s.scalars(select(Answer).order_by(col(Answer.id)))).all()
                assert {a.step_id: a.value for a in answers} == wanted["answers"]


@pytest.fixture
async def harness(db_url: str, clock: ManualClock) -> AsyncIterator[Harness]:
    h = Harness(db_url, clock, ConsoleChannel())
    yield h
    if h.app is not None:
        await h.app.close()


@pytest.mark.parametrize("case", _cases())
async def test_conversation(harness: Harness, case: dict[str, Any]) -> None:
    await _run_case(harness, case)


# The safety path, opt-outs and the staff side once more with names, numbers and what people write
# encrypted at rest (storage.crypto): every lookup by phone or chat id must still find its person.
ENCRYPTED = ("safety", "opt_out", "peer_side")
KEY = Fernet.generate_key().decode("ascii")


@pytest.mark.parametrize("case", [c for c in _cases() if str(c.id).split(":")[0] in ENCRYPTED])
async def test_conversation_encrypted(harness: Harness, case: dict[str, Any], db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("encryption is the same on both databases; once is enough")
    await _run_case(harness, case | {"settings": case.get("settings", {}) | {"encryption_key": KEY}})


async def _run_case(harness: Harness, case: dict[str, Any]) -> None:
    await harness.seed(case)
    for number, step in enumerate(case["steps"], 1):
        try:
            await harness.run(step)
        except AssertionError as exc:
            raise AssertionError(f"step {number} {step!r}: {exc}") from exc
