"""`peerline people`, `oncall`, `assign`, `family` and `invite`: who is in the program and on whose team."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from bot.cli.groups import JsonOpt, app, emit, fail, family_app, oncall_app, people_app, run_with_app
from storage.models import AuditAction, ConsentState, Person, Role, ShareScope
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
    fallback = "nobody set: every supervisor is paged when a care team cannot be reached"
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
    expires: Annotated[
        str | None, typer.Option(help="Last day the consent holds, YYYY-MM-DD (the PIR's time zone)")
    ] = None,
    expires_on_discharge: Annotated[
        bool, typer.Option("--expires-on-discharge", help="The consent ends when the PIR is discharged")
    ] = False,
    purpose: Annotated[str, typer.Option(help="Why the family member gets this, in plain words")] = (
        "family support"
    ),
    on_paper: Annotated[
        bool, typer.Option("--on-paper", help="The PIR signed a paper form: record it, active at once")
    ] = False,
    recorded_by: Annotated[
        str | None, typer.Option(help="With --on-paper: the staff member who holds the form (id or name)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask the PIR, over their own channel, to agree to share with a family member (YES activates it)."""
    from bot.family.requests import request_consent  # noqa: PLC0415
    from bot.people.audience import STAFF  # noqa: PLC0415
    from bot.people.names import resolve  # noqa: PLC0415
    from bot.reports.period import parse_day  # noqa: PLC0415

    if recorded_by is not None and not on_paper:
        fail("--recorded-by goes with --on-paper (a consent the PIR signed on paper)")
    if not purpose.strip():
        fail("--purpose is empty: say why the family member gets this, e.g. --purpose 'family support'")

    async def work(a: App) -> dict[str, Any]:
        now = a.clock.now()
        async with a.db.transaction() as s:
            pir_p = await resolve(s, pir, Role.PIR)
            fam = await resolve(s, family, Role.FAMILY)
            until = parse_day("--expires", expires, pir_p.timezone).end if expires is not None else None
            recorder = None
            if on_paper:
                recorder = "cli"
                if recorded_by is not None:
                    staff = await resolve(s, recorded_by, STAFF)
                    recorder = f"person:{staff.id} ({staff.name})"
            link = await request_consent(
                s,
                a.content.messages,
                now,
                family=fam,
                pir=pir_p,
                share=share,
                program=a.settings.sender_name,
                answer_within=timedelta(hours=a.settings.consent_timeout_hours),
                expires_at=until,
                on_discharge=expires_on_discharge,
                purpose=purpose.strip(),
                recorded_by=recorder,
                buttons=a.buttons,
            )
            await s.flush()
            return {
                "id": link.id,
                "family_id": link.family_id,
                "pir_id": link.pir_id,
                "family": fam.name,
                "pir": pir_p.name,
                "scope": link.scope,
                "state": link.state,
                "answer_by": link.answer_by,
                "expires_at": link.expires_at,
                "expires_on_discharge": link.expires_on_discharge,
                "purpose": link.purpose,
            }

    link = run_with_app(work)
    if link["state"] == ConsentState.ACTIVE:
        text = (
            f"recorded {link['pir']}'s paper consent: {link['family']} gets {link['scope']} "
            f"(link {link['id']}, active)"
        )
    else:
        text = (
            f"asked {link['pir']} to agree to share {link['scope']} with {link['family']} "
            f"(link {link['id']}, waiting for YES until {link['answer_by']:%Y-%m-%d %H:%M} UTC; "
            "the request goes out with the next `peerline serve`)"
        )
    emit(as_json, link, text)


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
