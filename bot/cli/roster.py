"""`peerline people`, `oncall`, `assign`, `family` and `invite`: who is in the program and on whose team."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from bot.cli.groups import JsonOpt, app, emit, family_app, oncall_app, people_app, run_with_app
from storage.models import AuditAction, Person, Role, ShareScope
from storage.repo import audit, people

if TYPE_CHECKING:
    from bot.app import App


# -- people ---------------------------------------------------------------------------------------


@people_app.command("add")
def people_add(
    role: Annotated[Role, typer.Option(help="pir, family, peer, supervisor or admin")],
    name: Annotated[str, typer.Option(help="Display name (unique names make WHO arguments easy)")],
    telegram: Annotated[str | None, typer.Option(help="Telegram chat id")] = None,
    phone: Annotated[str | None, typer.Option(help="Phone number, E.164 (+15551234567)")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone, e.g. America/Chicago")] = None,
    locale: Annotated[str, typer.Option(help="en or es")] = "en",
    checkin_time: Annotated[str | None, typer.Option(help="Daily check-in time, HH:MM local")] = None,
    console: Annotated[str | None, typer.Option(help="Console address (demo and tests)")] = None,
    credential: Annotated[
        str | None, typer.Option(help="A staff member's certification, e.g. CPRS (on billing lines)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Enrol a person; prints the new id."""
    from bot.people.enrolment import add_person, confirm_opt_in  # noqa: PLC0415

    async def work(a: App) -> int:
        async with a.db.transaction() as s:
            person = await add_person(
                s,
                a.clock.now(),
                role=role,
                name=name,
                locale=locale,
                timezone=timezone or a.settings.default_timezone,
                telegram=telegram,
                phone=phone,
                console=console,
                checkin_time=checkin_time or a.settings.default_checkin_time,
                quiet=a.settings.quiet_window,
                credential=credential,
            )
            assert person.id is not None
            # Sent by the next `peerline serve`: the recorded opt-in, confirmed to the person (CTIA).
            await confirm_opt_in(s, a.content.messages, person, a.clock.now(), program=a.settings.sender_name)
            return person.id

    person_id = run_with_app(work, channels=False)
    if as_json:
        emit(True, {"id": person_id})
    else:
        sys.stdout.write(f"{person_id}\n")


@people_app.command("list")
def people_list(
    role: Annotated[Role | None, typer.Option(help="Only this role")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List enrolled people."""

    async def work(a: App) -> list[dict[str, Any]]:
        async with a.db.transaction() as s:
            rows = await people(s, role)
            audit(s, a.clock.now(), "cli", AuditAction.PEOPLE_LISTED, None, count=len(rows))
            return [p.model_dump(exclude={"created_at"}) for p in rows]

    rows = run_with_app(work, channels=False)
    table = Table("id", "role", "name", "locale", "timezone", "status")
    for r in rows:
        table.add_row(str(r["id"]), r["role"], r["name"], r["locale"], r["timezone"], r["status"])
    emit(as_json, rows, table)


# -- care team and family -------------------------------------------------------------------------


@oncall_app.command("set")
def oncall_set(
    who: Annotated[list[str], typer.Argument(help="Supervisors or admins, in order (id or unique name)")],
    as_json: JsonOpt = False,
) -> None:
    """Set the program's on-call (replaces the list). When nobody on call can be reached either, every
    supervisor and admin is paged."""
    from bot.people.oncall import set_oncall  # noqa: PLC0415

    async def work(a: App) -> list[dict[str, Any]]:
        async with a.db.transaction() as s:
            chosen = await set_oncall(s, a.clock.now(), who)
            return [{"id": p.id, "name": p.name, "role": p.role} for p in chosen]

    rows = run_with_app(work, channels=False)
    emit(as_json, rows, "on call: " + ", ".join(f"{r['name']} ({r['role']})" for r in rows))


@oncall_app.command("list")
def oncall_list(as_json: JsonOpt = False) -> None:
    """Who is on call, in order."""
    from bot.people.oncall import oncall  # noqa: PLC0415

    async def work(a: App) -> list[dict[str, Any]]:
        async with a.db.transaction() as s:
            return [{"id": p.id, "name": p.name, "role": p.role} for p in await oncall(s)]

    rows = run_with_app(work, channels=False)
    fallback = "nobody set: every supervisor and admin is paged when a care team cannot be reached"
    emit(
        as_json,
        rows,
        "on call: " + ", ".join(f"{r['name']} ({r['role']})" for r in rows) if rows else fallback,
    )


@app.command("assign")
def assign_cmd(
    pir: Annotated[str, typer.Option(help="PIR: id or name")],
    peer: Annotated[str | None, typer.Option(help="Peer: id or name (required for a new team)")] = None,
    backup: Annotated[
        str | None, typer.Option(help="Backup peer (or supervisor), not the peer; `none` clears it")
    ] = None,
    supervisor: Annotated[str | None, typer.Option(help="Supervisor; `none` clears it")] = None,
    remove_backup: Annotated[bool, typer.Option("--remove-backup", help="Clear the backup")] = False,
    remove_supervisor: Annotated[
        bool, typer.Option("--remove-supervisor", help="Clear the supervisor")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Assign or change a PIR's care team (an omitted tier stays as it was)."""
    from bot.people.enrolment import NOBODY, assign  # noqa: PLC0415

    backup = NOBODY if remove_backup else backup
    supervisor = NOBODY if remove_supervisor else supervisor

    async def work(a: App) -> tuple[dict[str, Any], str]:
        async with a.db.transaction() as s:
            team = await assign(s, a.clock.now(), pir=pir, peer=peer, backup=backup, supervisor=supervisor)

            async def name(person_id: int | None) -> str:
                person = await s.get(Person, person_id) if person_id is not None else None
                return f"{person.name} (id {person.id})" if person is not None else "none"

            text = (
                f"care team of {await name(team.pir_id)}: peer {await name(team.peer_id)}, "
                f"backup {await name(team.backup_id)}, supervisor {await name(team.supervisor_id)}"
            )
            return team.model_dump(exclude={"updated_at"}), text

    team, text = run_with_app(work, channels=False)
    emit(as_json, team, text)


@family_app.command("link")
def family_link(
    family: Annotated[str, typer.Option(help="Family member id or unique name")],
    pir: Annotated[str, typer.Option(help="PIR id or unique name")],
    share: Annotated[ShareScope, typer.Option(help="What the PIR consents to share: none, status or alerts")],
    as_json: JsonOpt = False,
) -> None:
    """Link a family member to a PIR, recording the PIR's consent."""
    from bot.family.requests import link_family  # noqa: PLC0415

    async def work(a: App) -> dict[str, Any]:
        async with a.db.transaction() as s:
            link = await link_family(s, a.clock.now(), family=family, pir=pir, share=share)
            await s.flush()
            return {"id": link.id, "family_id": link.family_id, "pir_id": link.pir_id, "scope": link.scope}

    link = run_with_app(work, channels=False)
    emit(as_json, link, f"linked family {link['family_id']} to PIR {link['pir_id']} (share: {link['scope']})")


@app.command("invite")
def invite_cmd(
    who: Annotated[str, typer.Argument(help="Person id or unique name")],
    hours: Annotated[
        float, typer.Option(min=0.1, max=24 * 90, help="Hours until the link expires (at most 90 days)")
    ] = 72,
    bot_username: Annotated[
        str | None, typer.Option(help="The bot's @username (default: asked from Telegram with getMe)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a single-use Telegram link (t.me/<bot>?start=<code>) that links the person's account."""
    from bot.people.invites import create_invite, invite_link  # noqa: PLC0415
    from bot.people.names import resolve  # noqa: PLC0415

    async def work(a: App) -> dict[str, Any]:
        username = bot_username
        if username is None:
            from bot.channels.telegram.runtime import bot_username as ask_username  # noqa: PLC0415  (aiogram)

            username = await ask_username(a)
        async with a.db.transaction() as s:
            person = await resolve(s, who)
            invite = await create_invite(s, person, a.clock.now(), hours=hours)
            return {
                "person_id": person.id,
                "code": invite.code,
                "link": invite_link(username, invite.code),
                "expires_at": invite.expires_at.isoformat(),
            }

    result = run_with_app(work, channels=bot_username is None)
    emit(as_json, result, f"{result['link']}  (single use, expires {result['expires_at'][:16]} UTC)")
