"""`peerline demo`: a small program on the console channel, so anyone can see the bot work end to end."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from bot.app import App
from bot.channels.base import Inbound, OutboundMessage
from bot.channels.console import ConsoleChannel
from bot.checkins.sessions import start_checkin
from bot.people.enrolment import add_person, assign, link_family, resolve
from config.settings import Settings
from storage.models import Role, ShareScope
from storage.repo import active_session

PIR, PEER, FAMILY = "alex", "sam", "jordan"
_WHO = {PIR: "Alex (PIR)", PEER: "Sam (peer)", FAMILY: "Jordan (family)"}


def _json_line(data: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


def _show(console: Console, *, as_json: bool = False) -> ConsoleChannel:
    def show(message: OutboundMessage) -> None:
        if as_json:
            buttons = [[b.label for b in row] for row in message.buttons]
            _json_line({"to": message.address, "text": message.text, "buttons": buttons})
            return
        style = "bold magenta" if message.address == PEER else "cyan"
        console.print(f"[{style}]bot → {_WHO.get(message.address, message.address)}:[/]")
        console.print("  " + escape(message.text).replace("\n", "\n  "))
        for row in message.buttons:
            console.print("  " + "  ".join(f"[reverse] {escape(b.label)} [/]" for b in row))

    return ConsoleChannel(show)


async def _seed(app: App) -> None:
    now = app.clock.now()
    async with app.db.transaction() as s:
        await add_person(s, now, role=Role.PEER, name="Sam", console=PEER, actor="demo")
        pir = await add_person(
            s, now, role=Role.PIR, name="Alex", console=PIR, checkin_time="09:00", actor="demo"
        )
        await add_person(s, now, role=Role.FAMILY, name="Jordan", console=FAMILY, actor="demo")
        await assign(s, now, pir="Alex", peer="Sam", actor="demo")
        await link_family(s, now, family="Jordan", pir="Alex", share=ShareScope.STATUS, actor="demo")
        await start_checkin(s, app.content, pir, "daily_checkin", now, app.buttons, actor="demo")


async def run_demo(
    settings: Settings, db_path: Path, script: Path | None, console: Console, *, as_json: bool = False
) -> None:
    """Seed a fresh demo database, start Alex's check-in and let the user answer as Alex.

    With `as_json` the conversation is JSON lines: `{"to", "text", "buttons"}` for what the bot sends,
    `{"from", "text"}` for Alex's messages and a last `{"checkin", "database"}`."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240  (start-up, nothing else runs yet)
    settings = settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{db_path}"})
    channel = _show(console, as_json=as_json)
    app = App.build(settings, channels={channel.name: channel})
    try:
        await app.db.upgrade()
        if not as_json:
            console.print(
                f"[bold]Peerline demo[/] (database: {db_path}). You are Alex, a person in recovery."
            )
            console.print("Sam is Alex's peer specialist; Jordan is family. Type answers; Ctrl-D to quit.\n")
        await _seed(app)
        await app.sender.drain()
        lines = script.read_text(encoding="utf-8").splitlines() if script is not None else None  # noqa: ASYNC240
        turn = 0
        while True:
            if lines is not None:
                if turn >= len(lines):
                    break
                text = lines[turn]
            elif as_json:
                read = sys.stdin.readline()
                if not read:
                    break
                text = read.rstrip("\n")
            else:
                try:
                    text = console.input("[green]Alex:[/] ")
                except EOFError:
                    break
            if as_json:
                _json_line({"from": PIR, "text": text})
            elif lines is not None:
                console.print(f"[green]Alex:[/] {escape(text)}")
            turn += 1
            await app.pipeline.handle(
                Inbound(
                    channel="console",
                    address=PIR,
                    text=text,
                    received_at=datetime.now(UTC),
                    provider_id=f"console:demo:{turn}",
                )
            )
            await app.sender.drain()
        async with app.db.transaction() as s:
            alex = await resolve(s, "Alex")
            session = await active_session(s, alex.id or 0)
        state = "still open" if session is not None else "finished"
        if as_json:
            _json_line({"checkin": state, "database": str(db_path)})
            return
        console.print(f"\n[bold]Demo over[/]: the check-in is {state}; every message is in {db_path}.")
        console.print(
            f"See it with: PEERLINE_DATABASE_URL=sqlite+aiosqlite:///{db_path} peerline history Alex"
        )
    finally:
        await app.close()
