"""Inbound group commit (`bot.inbound.pipeline`): messages that arrive together share one transaction.

Bursts are real concurrency: `asyncio.gather` of `Pipeline.handle` calls, on SQLite and PostgreSQL.
Transactions are counted with a SQLAlchemy "commit" listener on the app's engine: it observes the real
COMMITs, it changes nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col, select

from bot.app import App
from bot.channels.base import Inbound
from bot.channels.console import ConsoleChannel
from bot.checkins.sessions import start_checkin
from bot.clock import ManualClock
from bot.inbound.turn import Outcome
from bot.people.enrolment import add_person, assign, resolve
from flows.severity import Severity
from storage.models import (
    Alert,
    Answer,
    AuditEvent,
    ChannelIdentity,
    Direction,
    FlowSession,
    Message,
    MessageStatus,
    Role,
)

_ids = itertools.count(1)


@contextmanager
def counting_commits(app: App) -> Iterator[list[object]]:
    """Every COMMIT on the app's (non-urgent) engine while inside; `len()` of the list is the count."""
    commits: list[object] = []

    def on_commit(conn: object) -> None:
        commits.append(conn)

    engine = app.db.engine.sync_engine
    event.listen(engine, "commit", on_commit)
    try:
        yield commits
    finally:
        event.remove(engine, "commit", on_commit)


def address(number: int) -> str:
    return f"pir{number:02d}"


async def enrol(app: App, count: int, *, start: bool = True, console: ConsoleChannel) -> dict[str, int]:
    """Peer Sam and `count` PIRs on the console (pir00, pir01, ...), each with a daily check-in open.

    Returns the person id of each PIR by address; inboxes are emptied.
    """
    now = app.clock.now()
    ids: dict[str, int] = {}
    async with app.db.transaction() as s:
        await add_person(s, now, role=Role.PEER, name="Sam", console="sam")
        for number in range(count):
            person = await add_person(s, now, role=Role.PIR, name=f"Pir{number:02d}", console=address(number))
            assert person.id is not None
            ids[address(number)] = person.id
            await assign(s, now, pir=f"Pir{number:02d}", peer="Sam")
    if start:
        await start_all(app, list(ids), console)
    return ids


async def start_all(app: App, addresses: Sequence[str], console: ConsoleChannel) -> None:
    async with app.db.transaction() as s:
        for who in addresses:
            person = await resolve(s, who)  # names are matched case-insensitively: pir00 is Pir00
            session = await start_checkin(
                s, app.content, person, "daily_checkin", app.clock.now(), app.buttons
            )
            assert session is not None
    await app.sender.drain()
    for who in [*addresses, "sam"]:
        console.take(who)


def inbound(app: App, who: str, body: str, provider_id: str | None = None) -> Inbound:
    return Inbound(
        channel="console",
        address=who,
        text=body,
        received_at=app.clock.now(),
        provider_id=provider_id or f"burst:{next(_ids)}",
    )


async def burst(app: App, messages: Sequence[Inbound]) -> list[Outcome]:
    """All at once, as concurrent webhooks would hand them over."""
    return list(await asyncio.gather(*(app.pipeline.handle(m) for m in messages)))


async def answers(app: App) -> list[tuple[int, str, Any, int]]:
    """(person, step, value, session) of every answer, in insertion order."""
    async with app.db.transaction() as s:
        rows = (await s.scalars(select(Answer).order_by(col(Answer.id)))).all()
    return [(a.person_id, a.step_id, a.value, a.session_id) for a in rows]


async def sessions(app: App) -> dict[int, int]:
    """The newest session of each person."""
    async with app.db.transaction() as s:
        rows = (await s.scalars(select(FlowSession).order_by(col(FlowSession.id)))).all()
    return {row.person_id: row.id for row in rows if row.id is not None}


def texts(console: ConsoleChannel, who: str) -> list[str]:
    return [m.text for m in console.take(who)]


# -- a burst shares transactions, and everyone still gets their own answer -------------------------------


async def test_forty_concurrent_answers_share_few_transactions_and_each_gets_its_own_reply(
    app: App, console: ConsoleChannel
) -> None:
    ids = await enrol(app, 40, console=console)
    session_of = await sessions(app)
    mood = {who: 2 + number % 4 for number, who in enumerate(ids)}  # 2..5: no mood alert
    messages = [inbound(app, who, str(mood[who])) for who in ids]
    with counting_commits(app) as commits:
        outcomes = await burst(app, messages)
    assert 1 <= len(commits) <= 4, f"{len(commits)} transactions for 40 messages: not batched"

    assert [o.duplicate for o in outcomes] == [False] * 40
    assert len({o.message_id for o in outcomes}) == 40
    assert [o.queued for o in outcomes] == [1] * 40
    assert all(o.severity is Severity.NONE and o.alert_ids == [] for o in outcomes)

    assert sorted(await answers(app)) == sorted(
        (ids[who], "mood", mood[who], session_of[ids[who]]) for who in ids
    )
    async with app.db.transaction() as s:
        received = (await s.scalars(select(Message).where(col(Message.direction) == Direction.INBOUND))).all()
    by_id = {m.id: m for m in received}
    for message, outcome in zip(messages, outcomes, strict=True):
        row = by_id[outcome.message_id]  # the outcome names the row of its own message
        assert (row.address, row.body, row.provider_id) == (
            message.address,
            message.text,
            message.provider_id,
        )
        assert row.person_id == ids[message.address]
        assert row.status == MessageStatus.RECEIVED

    await app.sender.drain()
    for who in ids:
        (reply,) = texts(console, who)
        assert "cravings" in reply, (who, reply)
    assert texts(console, "sam") == []


async def test_messages_from_one_address_in_a_burst_are_handled_in_order_one_per_batch(
    app: App, console: ConsoleChannel
) -> None:
    ids = await enrol(app, 6, console=console)
    alex, others = "pir00", [address(n) for n in range(1, 6)]
    messages = [
        inbound(app, alex, "4"),
        *(inbound(app, who, "3") for who in others),
        inbound(app, alex, "2"),
        inbound(app, alex, "no"),
    ]
    with counting_commits(app) as commits:
        outcomes = await burst(app, messages)
    # Alex's second and third message each wait for the next batch; everyone else rides the first.
    assert len(commits) == 3
    alex_ids = [o.message_id or 0 for m, o in zip(messages, outcomes, strict=True) if m.address == alex]
    assert 0 not in alex_ids and alex_ids == sorted(alex_ids)  # recorded in arrival order

    got = [(step, value) for person, step, value, _ in await answers(app) if person == ids[alex]]
    assert got == [("mood", 4), ("craving", 2), ("used", False)]
    for who in others:
        assert [(s, v) for p, s, v, _ in await answers(app) if p == ids[who]] == [("mood", 3)]

    await app.sender.drain()
    replies = texts(console, alex)
    assert len(replies) == 3
    assert "cravings" in replies[0]
    assert "used alcohol or drugs" in replies[1]
    assert "thoughts of killing yourself" in replies[2]
    for who in others:
        (reply,) = texts(console, who)
        assert "cravings" in reply


async def test_messages_without_a_provider_id_in_one_batch_are_each_handled(
    app: App, console: ConsoleChannel
) -> None:
    """A channel may give no provider id (the console does not): no id is no duplicate."""
    ids = await enrol(app, 3, console=console)
    messages = [replace(inbound(app, who, "4"), provider_id=None) for who in ids]
    with counting_commits(app) as commits:
        outcomes = await burst(app, messages)
    assert len(commits) == 1  # one batch
    assert [o.duplicate for o in outcomes] == [False, False, False]
    got = {(p, s, v) for p, s, v, _ in await answers(app)}
    assert got == {(ids[who], "mood", 4) for who in ids}


async def test_a_message_repeated_within_a_burst_is_handled_once(app: App, console: ConsoleChannel) -> None:
    ids = await enrol(app, 5, console=console)
    alex = "pir00"
    twice = inbound(app, alex, "4", provider_id="tg:u:777")  # the provider delivered it twice, at once
    messages = [twice, *(inbound(app, address(n), "3") for n in range(1, 5)), twice]
    outcomes = await burst(app, messages)
    assert [o.duplicate for o in outcomes] == [False, False, False, False, False, True]
    assert outcomes[-1].message_id is None and outcomes[-1].queued == 0

    async with app.db.transaction() as s:
        rows = (await s.scalars(select(Message).where(col(Message.provider_id) == "tg:u:777"))).all()
    assert len(rows) == 1
    # Handled once: the repeat was not taken as the answer to the next question.
    assert [(s, v) for p, s, v, _ in await answers(app) if p == ids[alex]] == [("mood", 4)]
    await app.sender.drain()
    (reply,) = texts(console, alex)
    assert "cravings" in reply
    for number in range(1, 5):
        assert len(texts(console, address(number))) == 1


async def test_one_provider_id_twice_in_the_same_batch_is_a_duplicate_without_failing_the_batch(
    app: App, console: ConsoleChannel, caplog: pytest.LogCaptureFixture
) -> None:
    """Two addresses, one provider id (a replayed or forged id): the batch itself drops the repeat.

    Were the repeat inserted, the batch would fail on the unique provider id and be redone message by
    message: more transactions and a warning.
    """
    ids = await enrol(app, 5, console=console)
    messages = [
        inbound(app, "pir00", "4", provider_id="sms:SMsame"),
        inbound(app, "pir01", "3"),
        inbound(app, "pir02", "5", provider_id="sms:SMsame"),
        inbound(app, "pir03", "3"),
    ]
    caplog.set_level(logging.WARNING, logger="bot.inbound.pipeline")
    with counting_commits(app) as commits:
        outcomes = await burst(app, messages)
    assert [o.duplicate for o in outcomes] == [False, False, True, False]
    assert len(commits) == 1
    assert "failed" not in caplog.text
    got = {(p, s, v) for p, s, v, _ in await answers(app)}
    assert got == {(ids["pir00"], "mood", 4), (ids["pir01"], "mood", 3), (ids["pir03"], "mood", 3)}


# -- red flags skip the batch -----------------------------------------------------------------------------


async def test_a_crisis_amid_a_burst_gets_the_crisis_reply_and_the_others_are_unaffected(
    app: App, console: ConsoleChannel
) -> None:
    ids = await enrol(app, 12, console=console)
    crisis_at = 11  # the last to arrive: on SQLite it still goes first
    crisis = address(crisis_at)
    messages = [inbound(app, who, "I want to kill myself" if who == crisis else "3") for who in ids]
    outcomes = await burst(app, messages)

    for message, outcome in zip(messages, outcomes, strict=True):
        assert not outcome.duplicate
        if message.address == crisis:
            assert outcome.severity is Severity.CRITICAL
            assert len(outcome.alert_ids) == 1
        else:
            assert (outcome.severity, outcome.alert_ids, outcome.queued) == (Severity.NONE, [], 1)

    async with app.db.transaction() as s:
        (alert,) = (await s.scalars(select(Alert))).all()
        assert alert.message_id is not None
        cause = await s.get(Message, alert.message_id)
    assert (alert.person_id, alert.severity) == (ids[crisis], "critical")
    assert cause is not None and (cause.address, cause.body) == (crisis, "I want to kill myself")
    assert alert.id == outcomes[crisis_at].alert_ids[0]
    if app.db.is_sqlite:
        # One writer: the red flag took it before the batch that was already waiting for it.
        others = [o.message_id for o in outcomes[:crisis_at] if o.message_id is not None]
        first = outcomes[crisis_at].message_id
        assert first is not None and len(others) == crisis_at
        assert first < min(others)

    # The crisis is the answer: no answer recorded, the question waits; everyone else answered.
    got = {(p, s, v) for p, s, v, _ in await answers(app)}
    assert got == {(ids[who], "mood", 3) for who in ids if who != crisis}
    await app.sender.drain()
    (reply,) = texts(console, crisis)
    assert "988" in reply
    (page,) = texts(console, "sam")
    assert f"CRITICAL alert #{alert.id}: Pir{crisis_at:02d}" in page
    for who in ids:
        if who != crisis:
            (reply,) = texts(console, who)
            assert "cravings" in reply


# -- trends, read once per batch --------------------------------------------------------------------------


async def test_check_ins_completed_in_one_batch_each_get_their_own_trend_result(
    app: App, clock: ManualClock, console: ConsoleChannel
) -> None:
    """Four PIRs finish their check-in in the same batch; each is judged against their OWN history.

    pir00: usual craving 2, today 6 -> craving spike. pir01: usual craving 6, today 6 -> nothing (pir00's
    history would make it a spike). pir02: usual mood 2, today 2 -> nothing (pir00's would make it a mood
    drop). pir03: no history at all, craving 6 -> nothing.
    """
    ids = await enrol(app, 4, start=False, console=console)
    usual = {"pir00": ["4", "2"], "pir01": ["4", "6"], "pir02": ["2", "1"]}
    today = {"pir00": ["4", "6"], "pir01": ["4", "6"], "pir02": ["2", "1"], "pir03": ["4", "6"]}
    rest = ["no", "no", "skip"]  # not used, no suicidal thoughts, nothing to add: five answers in all

    async def day(plan: dict[str, list[str]], *, last_step_commits: list[int] | None = None) -> None:
        await start_all(app, list(plan), console)
        for step in range(5):
            messages = [inbound(app, who, [*values, *rest][step]) for who, values in plan.items()]
            with counting_commits(app) as commits:
                outcomes = await burst(app, messages)
            assert not any(o.duplicate for o in outcomes)
            if last_step_commits is not None and step == 4:
                last_step_commits.append(len(commits))
        await app.sender.drain()
        for who in [*plan, "sam"]:
            console.take(who)

    for _ in range(4):
        await day(usual)
        clock.advance(timedelta(days=1))
    async with app.db.transaction() as s:
        assert (await s.scalars(select(Alert))).all() == []
    finishing: list[int] = []
    await day(today, last_step_commits=finishing)
    assert finishing == [1]  # all four check-ins were completed by one batch

    async with app.db.transaction() as s:
        alerts = (await s.scalars(select(Alert).order_by(col(Alert.id)))).all()
        completed = (await s.scalars(select(FlowSession).where(col(FlowSession.status) == "completed"))).all()
    assert [(a.person_id, a.severity, a.categories) for a in alerts] == [
        (ids["pir00"], "medium", ["craving_spike"])
    ]
    assert len(completed) == 4 * 3 + 4


# -- failures inside a batch ------------------------------------------------------------------------------


async def _wait_for_lock_waiter(url: str) -> None:
    """Until some backend of the database waits on a lock (our batch, on the other's uncommitted row)."""
    watcher = create_async_engine(url)
    try:
        async with asyncio.timeout(10):
            while True:
                async with watcher.connect() as conn:
                    waiting = await conn.scalar(
                        text(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                        )
                    )
                if waiting:
                    return
                await asyncio.sleep(0.02)
    finally:
        await watcher.dispose()


async def test_a_provider_id_raced_by_another_process_is_a_duplicate_and_the_rest_of_the_batch_is_handled(
    app: App, console: ConsoleChannel, caplog: pytest.LogCaptureFixture
) -> None:
    if app.db.is_sqlite:
        pytest.skip("one SQLite writer at a time: another process cannot hold an insert open meanwhile")
    ids = await enrol(app, 6, console=console)
    raced = "sms:SMraced"
    now = app.clock.now()
    other = create_async_engine(app.db.url)  # another process: its own connections
    caplog.set_level(logging.WARNING, logger="bot.inbound.pipeline")
    try:
        async with other.connect() as conn:
            await conn.execute(
                insert(Message).values(
                    direction=Direction.INBOUND,
                    channel="console",
                    address="pir02",
                    body="4",
                    kind="text",
                    provider_id=raced,
                    status=MessageStatus.RECEIVED,
                    created_at=now,
                    updated_at=now,
                )
            )  # not committed yet: our batch cannot see it, and its INSERT has to wait for it
            messages = [inbound(app, who, "4", provider_id=raced if who == "pir02" else None) for who in ids]
            handling = asyncio.ensure_future(burst(app, messages))
            await _wait_for_lock_waiter(app.db.url)
            assert not handling.done()
            await conn.commit()
            outcomes = await asyncio.wait_for(handling, timeout=30)
    finally:
        await other.dispose()

    assert "a batch of 6 messages failed" in caplog.text  # the whole batch was in it, and was redone
    assert [o.duplicate for o in outcomes] == [who == "pir02" for who in ids]
    async with app.db.transaction() as s:
        rows = (await s.scalars(select(Message).where(col(Message.provider_id) == raced))).all()
    assert [(r.person_id, r.body) for r in rows] == [(None, "4")]  # only the other process's row
    got = {(p, s, v) for p, s, v, _ in await answers(app)}
    assert got == {(ids[who], "mood", 4) for who in ids if who != "pir02"}
    await app.sender.drain()
    assert texts(console, "pir02") == []  # the other process answers it, not us
    for who in ids:
        if who != "pir02":
            (reply,) = texts(console, who)
            assert "cravings" in reply


async def test_a_message_that_cannot_be_handled_fails_alone(
    app: App, console: ConsoleChannel, caplog: pytest.LogCaptureFixture
) -> None:
    """One PIR's stored session is damaged: their message fails, the rest of its batch does not; the
    failed one is still stored and answered, and a repeat delivery of it is a duplicate (issue 13)."""
    ids = await enrol(app, 5, console=console)
    async with app.db.transaction() as s:
        session = (
            await s.scalars(select(FlowSession).where(col(FlowSession.person_id) == ids["pir01"]))
        ).one()
        session.state = {"flow_id": "daily_checkin", "step_id": 7}  # not a shape the engine wrote
    messages = [inbound(app, who, "3") for who in ids]
    caplog.set_level(logging.WARNING, logger="bot.inbound.pipeline")
    results = await asyncio.gather(*(app.pipeline.handle(m) for m in messages), return_exceptions=True)
    assert "a batch of 5 messages failed" in caplog.text
    assert "handling message" in caplog.text and "EngineError" in caplog.text
    for who, result in zip(ids, results, strict=True):
        assert isinstance(result, Outcome) and not result.duplicate
        assert result.queued == (2 if who == "pir01" else 1)  # the failed one: a reply, and its peer told
    failed = results[list(ids).index("pir01")]
    assert isinstance(failed, Outcome) and failed.message_id is not None
    async with app.db.transaction() as s:
        stored = await s.get(Message, failed.message_id)
        assert stored is not None
        assert (stored.body, stored.error_code, stored.person_id) == ("3", "unprocessed", ids["pir01"])
        audits = (await s.scalars(select(AuditEvent).where(AuditEvent.action == "message.unprocessed"))).all()
        assert [(a.person_id, a.detail["error"]) for a in audits] == [(ids["pir01"], "EngineError")]
    got = {(p, s, v) for p, s, v, _ in await answers(app)}
    assert got == {(ids[who], "mood", 3) for who in ids if who != "pir01"}
    await app.sender.drain()
    for who in ids:
        got_texts = texts(console, who)
        assert len(got_texts) == 1
        assert (
            "something went wrong reading that message. It is saved, and your peer can see it" in got_texts[0]
        ) == (who == "pir01")
    again = await app.pipeline.handle(messages[list(ids).index("pir01")])  # the provider retries
    assert again.duplicate


async def test_characters_a_database_cannot_store_are_replaced_not_refused(
    app: App, console: ConsoleChannel
) -> None:
    """NUL (legal in Telegram JSON and Twilio form data, refused by PostgreSQL) and a lone surrogate."""
    ids = await enrol(app, 1, console=console)
    outcome = await app.pipeline.handle(inbound(app, "pir00", "call me\x00 please \ud800"))
    assert outcome.message_id is not None and outcome.person_id == ids["pir00"]
    async with app.db.transaction() as s:
        stored = await s.get(Message, outcome.message_id)
    assert stored is not None and stored.body == "call me\ufffd please ?"


async def test_a_caller_that_stops_waiting_does_not_unhandle_its_message(
    app: App, console: ConsoleChannel
) -> None:
    ids = await enrol(app, 2, console=console)
    dropped = asyncio.ensure_future(app.pipeline.handle(inbound(app, "pir00", "4")))
    await asyncio.sleep(0)  # queued for the next batch
    dropped.cancel()  # a webhook whose client hung up
    with pytest.raises(asyncio.CancelledError):
        await dropped
    later = await app.pipeline.handle(inbound(app, "pir01", "5"))  # a later message: handled after it
    assert not later.duplicate
    got = {(p, s, v) for p, s, v, _ in await answers(app)}
    assert got == {(ids["pir00"], "mood", 4), (ids["pir01"], "mood", 5)}
    await app.sender.drain()
    assert "cravings" in texts(console, "pir00")[0]


async def test_one_person_on_two_addresses_in_one_batch_answers_two_questions_in_turn(
    app: App, console: ConsoleChannel
) -> None:
    """Both addresses lead to the same open session: the second message answers the next question."""
    ids = await enrol(app, 2, console=console)
    async with app.db.transaction() as s:
        s.add(
            ChannelIdentity(
                person_id=ids["pir00"],
                channel="console",
                address="pir00-tablet",
                consent_at=app.clock.now(),
                created_at=app.clock.now(),
            )
        )
    with counting_commits(app) as commits:
        outcomes = await burst(
            app, [inbound(app, "pir00", "4"), inbound(app, "pir00-tablet", "2"), inbound(app, "pir01", "3")]
        )
    assert len(commits) == 1  # different addresses: one batch
    assert [o.queued for o in outcomes] == [1, 1, 1]
    got = [(p, s, v) for p, s, v, _ in await answers(app)]
    assert got == [(ids["pir00"], "mood", 4), (ids["pir00"], "craving", 2), (ids["pir01"], "mood", 3)]
    await app.sender.drain()
    assert ["cravings" in t for t in texts(console, "pir00")] == [True]
    assert ["used alcohol" in t for t in texts(console, "pir00-tablet")] == [True]


async def test_a_crisis_delivered_twice_at_once_is_handled_once(app: App, console: ConsoleChannel) -> None:
    """Red flags skip the batch and its duplicate check: the urgent lane must still drop the repeat."""
    ids = await enrol(app, 3, console=console)
    crisis = inbound(app, "pir00", "I want to kill myself", provider_id="sms:SMcrisis")
    outcomes = await burst(app, [crisis, inbound(app, "pir01", "3"), crisis])
    assert sorted(o.duplicate for o in (outcomes[0], outcomes[2])) == [False, True]
    assert not outcomes[1].duplicate
    async with app.db.transaction() as s:
        alerts = (await s.scalars(select(Alert))).all()
        rows = (await s.scalars(select(Message).where(col(Message.provider_id) == "sms:SMcrisis"))).all()
    assert [(a.person_id, a.severity) for a in alerts] == [(ids["pir00"], "critical")]
    assert len(rows) == 1
    await app.sender.drain()
    (reply,) = texts(console, "pir00")
    assert "988" in reply
    assert len(texts(console, "sam")) == 1


async def test_a_crisis_caller_that_stops_waiting_does_not_unhandle_its_message(
    app: App, console: ConsoleChannel
) -> None:
    ids = await enrol(app, 1, console=console)
    dropped = asyncio.ensure_future(app.pipeline.handle(inbound(app, "pir00", "I want to kill myself")))
    await asyncio.sleep(0)  # handed over, and under way
    dropped.cancel()  # a webhook whose client hung up, or a shutdown
    with pytest.raises(asyncio.CancelledError):
        await dropped
    alerts: list[Alert] = []
    async with asyncio.timeout(2):
        while not alerts:  # handled in the background, if at all
            await asyncio.sleep(0.05)
            async with app.db.transaction() as s:
                alerts = list((await s.scalars(select(Alert))).all())
    assert [(a.person_id, a.severity) for a in alerts] == [(ids["pir00"], "critical")]
