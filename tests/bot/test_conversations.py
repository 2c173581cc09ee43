"""Conversation tests written as data (goflow style): "PIR says X → bot says Y".

Each YAML file under `conversations/` is a list of cases. A case runs the whole application on the
console channel (real pipeline, real outbox, real database on SQLite and PostgreSQL) against a small
program: peer Sam, PIR Alex, family member Jordan linked to Alex.

Steps:
- `start: {who, flow}`: start a check-in now.
- `say: TEXT` (Alex) or `say: {who, text, id, drain}`: an inbound message; `id` is the provider id;
  `drain: false` leaves the outbox undelivered (to test a restart in between).
- `press: LABEL` or `press: {who, label, step}`: press a button of the last question sent to who, or of
  the earlier question `step` (a stale keyboard).
- `expect: {who: [substring, ...]}`: exactly these messages (in order, each containing its substring)
  were delivered since the last `expect`; anyone not named must have received nothing.
- `advance: 3h`: move the clock and run a scheduler tick.  `restart: true`: rebuild the app on the same db.
- `check: {session, alerts, answers}`: state in the database.
- `enrol: {role, name}`: one more person, on the console at their lower-case name (dana, riley, pat).
- `oncall: [name, ...]`: the program's on-call (`peerline oncall set`).
- `unreachable: name`: every channel of that person fails from now on (a blocked bot, a dead number).
- `team: {backup, supervisor}`: Alex's care team beside Sam (people enrolled with `enrol`).
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
from sqlmodel import col, select

from bot.app import App
from bot.channels.base import Inbound, OutboundMessage
from bot.channels.console import ConsoleChannel
from bot.checkins import start_checkin
from bot.clock import ManualClock
from bot.oncall import set_oncall
from bot.people import add_person, assign, link_family, resolve
from bot.scheduler import tick
from config.settings import Settings
from storage.models import Alert, Answer, FlowSession, Role, ShareScope
from storage.repo import identities_of

CASES_DIR = Path(__file__).parent / "conversations"
ADDRESS = {
    "alex": "alex",
    "sam": "sam",
    "jordan": "jordan",
    "stranger": "stranger",
    "dana": "dana",
    "riley": "riley",
    "pat": "pat",
}


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

    def build(self) -> App:
        self.app = App.build(
            Settings(database_url=self.db_url), clock=self.clock, channels={"console": self.console}
        )
        return self.app

    async def seed(self, locale: str) -> None:
        app = self.build()
        await app.db.upgrade()
        now = self.clock.now()
        async with app.db.transaction() as s:
            await add_person(s, now, role=Role.PEER, name="Sam", console="sam")
            await add_person(s, now, role=Role.PIR, name="Alex", console="alex", locale=locale)
            await add_person(s, now, role=Role.FAMILY, name="Jordan", console="jordan", locale=locale)
            await assign(s, now, pir="Alex", peer="Sam")
            await link_family(s, now, family="Jordan", pir="Alex", share=ShareScope.STATUS)

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
                await add_person(s, self.clock.now(), role=Role(arg["role"]), name=name, console=name.lower())
        elif kind == "oncall":
            async with self.app.db.transaction() as s:
                await set_oncall(s, self.clock.now(), [str(name) for name in arg])
        elif kind == "team":
            async with self.app.db.transaction() as s:
                await assign(s, self.clock.now(), pir="Alex", peer="Sam", **arg)
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
                channel="console",
                address=ADDRESS[who],
                text=text,
                payload=payload,
                provider_id=provider_id or f"console:test:{self.counter}",
                received_at=self.clock.now(),
            )
        )
        if drain:
            await self.app.sender.drain()

    def expect(self, wanted: dict[str, list[str]]) -> None:
        for who, address in ADDRESS.items():
            got = self.console.take(address)
            for message in got:
                if message.buttons:
                    self.buttons_seen.setdefault(who, []).append(message)
            texts = [m.text for m in got]
            expected = [str(e) for e in wanted.get(who, [])]
            assert len(texts) == len(expected), f"{who} got {texts!r}, expected {expected!r}"
            for text, part in zip(texts, expected, strict=True):
                assert part.lower() in text.lower(), f"{who} got {text!r}, expected it to contain {part!r}"

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
    await harness.seed(case.get("locale", "en"))
    for number, step in enumerate(case["steps"], 1):
        try:
            await harness.run(step)
        except AssertionError as exc:
            raise AssertionError(f"step {number} {step!r}: {exc}") from exc
