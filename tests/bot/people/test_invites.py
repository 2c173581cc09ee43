"""Invite codes through the real pipeline, on SQLite and PostgreSQL: one code, one chat; one person, one
chat per channel linked by invite; a new code retires the earlier ones."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.channels.base import Inbound
from bot.clock import ManualClock
from bot.people.enrolment import UserError, add_person
from bot.people.invites import create_invite, redeem_invite
from storage.models import AuditEvent, ChannelIdentity, Invite, Outbox, Person, Role

CHATS = ("111", "222", "333")


async def _jo(app: App) -> Person:
    async with app.db.transaction() as s:
        return await add_person(s, app.clock.now(), role=Role.PIR, name="Jo")


async def _invite(app: App, person: Person) -> str:
    async with app.db.transaction() as s:
        return (await create_invite(s, person, app.clock.now())).code


async def _start(app: App, chat: str, code: str) -> None:
    await app.pipeline.handle(
        Inbound(
            channel="telegram",
            address=chat,
            text=f"/start {code}",
            provider_id=f"telegram:{chat}:{code}",
            received_at=app.clock.now(),
        )
    )


async def _linked(app: App) -> list[tuple[str, int]]:
    async with app.db.transaction() as s:
        rows = await s.scalars(
            select(ChannelIdentity)
            .where(col(ChannelIdentity.channel) == "telegram")
            .order_by(col(ChannelIdentity.id))
        )
        return [(i.address, i.person_id) for i in rows]


async def _replies(app: App, chat: str) -> list[str]:
    async with app.db.transaction() as s:
        rows = await s.scalars(select(Outbox).where(col(Outbox.address) == chat).order_by(col(Outbox.id)))
        return [r.body for r in rows]


async def test_two_codes_for_one_person_link_one_chat(app: App, clock: ManualClock) -> None:
    jo = await _jo(app)
    first = await _invite(app, jo)
    clock.advance(timedelta(minutes=5))
    second = await _invite(app, jo)  # retires the first
    await _start(app, "111", first)
    await _start(app, "222", second)
    assert await _linked(app) == [("222", jo.id)]
    invalid = app.content.messages.text("invite_invalid", "en", program=app.settings.program_name)
    assert await _replies(app, "111") == [invalid]
    assert await _replies(app, "222") == [
        app.content.messages.text("opted_in", "en", program=app.settings.program_name)
    ]
    async with app.db.transaction() as s:
        retired = (
            await s.scalars(select(AuditEvent).where(col(AuditEvent.action) == "invite.retired"))
        ).all()
    assert [e.detail["invites"] for e in retired] == [[1]]


async def test_a_person_linked_by_invite_gets_no_second_chat(app: App, clock: ManualClock) -> None:
    """Codes left live side by side (as before retirement existed) still link one chat, even at once."""
    jo = await _jo(app)
    now = clock.now()
    codes = [f"legacy-code-{n}" for n in range(len(CHATS))]
    async with app.db.transaction() as s:
        for code in codes:
            s.add(Invite(code=code, person_id=jo.id or 0, created_at=now, expires_at=now + timedelta(days=1)))
    await asyncio.gather(*(_start(app, chat, code) for chat, code in zip(CHATS, codes, strict=True)))
    linked = await _linked(app)
    assert len(linked) == 1 and linked[0][1] == jo.id
    async with app.db.transaction() as s:
        refused = (
            await s.scalars(select(AuditEvent).where(col(AuditEvent.action) == "invite.refused"))
        ).all()
    assert sorted(e.detail.get("reason") for e in refused) == ["already_linked", "already_linked"]


async def test_one_code_tapped_in_several_chats_at_once_links_one(app: App) -> None:
    jo = await _jo(app)
    code = await _invite(app, jo)
    await asyncio.gather(*(_start(app, chat, code) for chat in CHATS))
    linked = await _linked(app)
    assert len(linked) == 1 and linked[0][1] == jo.id


async def test_no_invite_for_someone_whose_telegram_is_linked(app: App) -> None:
    jo = await _jo(app)
    await _start(app, "111", await _invite(app, jo))
    async with app.db.transaction() as s:
        person = await s.get(Person, jo.id)
        assert person is not None
        expected = (
            f"Jo (id {jo.id}) already has a Telegram chat linked (111): a new invite would link a second"
        )
        with pytest.raises(UserError, match=re.escape(expected)):
            await create_invite(s, person, app.clock.now())


async def test_two_chats_redeeming_two_live_codes_at_once_link_one(app: App, clock: ManualClock) -> None:
    """The second redemption waits for the first to commit (the person row is locked), then sees its chat."""
    jo = await _jo(app)
    now = clock.now()
    async with app.db.transaction() as s:
        for code in ("code-a", "code-b"):
            s.add(Invite(code=code, person_id=jo.id or 0, created_at=now, expires_at=now + timedelta(days=1)))

    async def redeem(code: str, chat: str) -> bool:
        async with app.db.transaction() as s:
            return await redeem_invite(s, code, "telegram", chat, now) is not None

    async with app.db.transaction() as s:
        assert await redeem_invite(s, "code-a", "telegram", "111", now) is not None
        second = asyncio.create_task(redeem("code-b", "222"))
        await asyncio.sleep(0.5)
        assert not second.done()  # held until the first commits
    assert await second is False
    assert await _linked(app) == [("111", jo.id)]
