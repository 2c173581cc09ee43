"""`peerline alerts`, `history` and `messages`: what happened, and every message text."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.cli.groups import JsonOpt, alerts_app, app, cli_settings, emit, fail, messages_app, run_with_app
from storage.models import Alert, AlertStatus, AuditAction, Person
from storage.repo import audit, history

if TYPE_CHECKING:
    from bot.app import App


# -- alerts and history ---------------------------------------------------------------------------


async def _name_of(s: AsyncSession, person_id: int | None) -> str:
    """A person as the CLI shows them: by name ('none' when nobody is assigned)."""
    person = await s.get(Person, person_id) if person_id is not None else None
    return person.name if person is not None else "none"


@alerts_app.command("list")
def alerts_list(
    all_: Annotated[bool, typer.Option("--all", help="Include resolved alerts")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List open and acknowledged alerts (newest first), people by name, times in the program's zone."""
    from bot.staff.reader import clock_time  # noqa: PLC0415

    async def work(a: App) -> list[dict[str, Any]]:
        async with a.db.transaction() as s:
            query = select(Alert).order_by(col(Alert.id).desc())
            if not all_:
                query = query.where(col(Alert.status) != AlertStatus.RESOLVED)
            rows = (await s.scalars(query)).all()
            audit(s, a.clock.now(), "cli", AuditAction.ALERTS_LISTED, None, count=len(rows))
            return [{**r.model_dump(), "person": await _name_of(s, r.person_id)} for r in rows]

    rows = run_with_app(work, channels=False)
    zone = cli_settings().default_timezone
    table = Table("id", "person", "severity", "status", "level", "categories", f"created ({zone})")
    for r in rows:
        local = r["created_at"].astimezone(ZoneInfo(zone))
        table.add_row(
            str(r["id"]),
            r["person"],
            r["severity"],
            r["status"],
            str(r["escalation_level"]),
            ", ".join(r["categories"]),
            f"{local:%Y-%m-%d} {clock_time(r['created_at'], zone, 'en')}",
        )
    emit(as_json, rows, table)


@app.command("history")
def history_cmd(
    who: Annotated[str, typer.Argument(help="Person id or unique name")],
    limit: Annotated[int, typer.Option(min=1, help="How many messages")] = 200,
    as_json: JsonOpt = False,
) -> None:
    """Contact history of one person, oldest first (access is audited)."""
    from bot.people.names import resolve  # noqa: PLC0415

    async def work(a: App) -> list[dict[str, Any]]:
        async with a.db.transaction() as s:
            person = await resolve(s, who)
            rows = list(reversed(await history(s, person.id or 0, limit)))
            audit(s, a.clock.now(), "cli", AuditAction.HISTORY_VIEWED, person.id, count=len(rows))
            return [m.model_dump() for m in rows]

    rows = run_with_app(work, channels=False)
    table = Table("time", "dir", "channel", "kind", "status", "body")
    for r in rows:
        table.add_row(
            str(r["created_at"])[:19], r["direction"], r["channel"], r["kind"], r["status"], r["body"]
        )
    emit(as_json, rows, table)


# -- message texts --------------------------------------------------------------------------------


@messages_app.command("catalogue")
def messages_catalogue(as_json: JsonOpt = False) -> None:
    """Every message text, per language x channel x audience, as its reader gets it."""
    from bot.catalogue import catalogue, render_text  # noqa: PLC0415
    from bot.content import Content, ContentError  # noqa: PLC0415

    settings = cli_settings()
    try:
        content = Content.load(settings.config_dir)
    except ContentError as exc:
        fail(str(exc))
        raise
    entries = catalogue(content, program=settings.program_name, support=settings.support_contact)
    if as_json:
        emit(True, [entry.as_dict() for entry in entries])
    else:
        sys.stdout.write(render_text(entries))
