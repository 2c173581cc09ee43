"""`peerline` command line: administration, one-off operations, the demo and the server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.errors import UserError
from config.settings import Settings, SettingsError, load_settings
from storage.models import Alert, AlertStatus, AuditAction, Person, Role, ShareScope
from storage.repo import audit, history, people

if TYPE_CHECKING:
    from bot.app import App

# Each command imports what it needs, so `peerline people list` loads no flows, lexicons, aiogram or
# pipeline: a command that only reads the database starts in a fraction of a second.

T = TypeVar("T")

app = typer.Typer(
    help="Peerline: daily check-ins and crisis escalation for peer recovery programs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
people_app = typer.Typer(help="Enrol and list people.", no_args_is_help=True)
family_app = typer.Typer(help="Family links and consent.", no_args_is_help=True)
checkin_app = typer.Typer(help="Check-ins.", no_args_is_help=True)
scheduler_app = typer.Typer(help="The scheduler.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts.", no_args_is_help=True)
messages_app = typer.Typer(help="Message texts.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
schedule_app = typer.Typer(help="Check-in schedules.", no_args_is_help=True)
oncall_app = typer.Typer(
    help="The program's on-call: paged when nobody on a care team can be, and about strangers in crisis.",
    no_args_is_help=True,
)
app.add_typer(people_app, name="people")
app.add_typer(family_app, name="family")
app.add_typer(checkin_app, name="checkin")
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(alerts_app, name="alerts")
app.add_typer(messages_app, name="messages")
app.add_typer(db_app, name="db")
app.add_typer(schedule_app, name="schedule")
app.add_typer(oncall_app, name="oncall")

out = Console()
err = Console(stderr=True, soft_wrap=True)  # an error line must never be cut in two

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc))
        raise  # unreachable; keeps type checkers sure of the return


def run_with_app(work: Callable[[App], Awaitable[T]], *, upgrade: bool = True, channels: bool = True) -> T:
    """Build the app, apply migrations, run `work`, and turn operator mistakes into clear errors.

    Without `channels` no provider client is built (aiogram alone takes a second to import): for
    commands that queue nothing with buttons and ask no provider anything.
    """
    from bot.app import App  # noqa: PLC0415

    settings = _settings()

    async def main() -> T:
        application = App.build(settings, lazy=True, channels=None if channels else {})
        try:
            if upgrade:
                await application.db.upgrade()
            return await work(application)
        finally:
            await application.close()

    try:
        return asyncio.run(main())
    except ValueError as exc:
        fail_on_operator_error(exc)
        raise


def fail_on_operator_error(exc: ValueError) -> None:
    """Exit with one line for a mistake of the operator's or in the program's content; else return."""
    from bot.content import ContentError  # noqa: PLC0415  (only once something went wrong)
    from flows.loader import FlowError  # noqa: PLC0415
    from flows.triage import LexiconError  # noqa: PLC0415
    from storage.crypto import EncryptionError  # noqa: PLC0415
    from storage.db import DatabaseUrlError  # noqa: PLC0415

    operator = UserError | ContentError | FlowError | LexiconError | DatabaseUrlError | EncryptionError
    if isinstance(exc, operator):
        fail(str(exc))


def emit(as_json: bool, data: Any, table: Table | str | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, default=str, ensure_ascii=False) + "\n")
    elif table is not None:
        out.print(table)


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        fail(f"bad --now {value!r}: use ISO 8601, e.g. 2026-03-08T14:00:00Z")
        raise
    if not 2000 <= when.year <= 2199:  # every schedule and timer adds days to it
        fail(f"bad --now {value!r}: give a time between the years 2000 and 2199")
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


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
    peer: Annotated[str, typer.Option(help="Peer: id or name")],
    backup: Annotated[
        str | None, typer.Option(help="Backup peer (or supervisor), not the peer; `none` clears it")
    ] = None,
    supervisor: Annotated[str | None, typer.Option(help="Supervisor; `none` clears it")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Assign a PIR's care team (an omitted --backup or --supervisor stays as it was)."""
    from bot.people.enrolment import assign  # noqa: PLC0415

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
    from bot.people.enrolment import link_family  # noqa: PLC0415

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
    from bot.staff.names import resolve  # noqa: PLC0415

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


# -- check-ins and scheduler ----------------------------------------------------------------------


@checkin_app.command("send")
def checkin_send(
    who: Annotated[str, typer.Argument(help="Person id or unique name")],
    flow: Annotated[str | None, typer.Option(help="Flow id (default by role)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a check-in now."""
    from bot.checkins.sessions import start_checkin  # noqa: PLC0415
    from bot.people.enrolment import FLOW_FOR_ROLE, resolve  # noqa: PLC0415

    async def work(a: App) -> dict[str, Any]:
        async with a.db.transaction() as s:
            person = await resolve(s, who)
            flow_id = flow or FLOW_FOR_ROLE.get(Role(person.role))
            if flow_id is None:
                raise UserError(f"{person.name} is a {person.role}; pass --flow to choose a flow")
            session = await start_checkin(
                s, a.content, person, flow_id, a.clock.now(), a.buttons, actor="cli"
            )
            if session is None:
                raise UserError(f"{person.name} has no channel we may write to (opted out or unreachable)")
            return {"session_id": session.id, "person_id": person.id, "flow": flow_id}

    result = run_with_app(work)
    emit(
        as_json,
        result,
        f"started {result['flow']} for person {result['person_id']} (session {result['session_id']})",
    )


@scheduler_app.command("tick")
def scheduler_tick(
    now: Annotated[
        str | None, typer.Option(help="Run the tick as if it were this instant (ISO 8601)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run one scheduler tick."""
    from bot.checkins.tick import tick  # noqa: PLC0415

    when = _parse_now(now)

    async def work(a: App) -> dict[str, int]:
        report = await tick(a, when)
        return {
            "started": report.started,
            "reminded": report.reminded,
            "expired": report.expired,
            "missed": report.missed,
            "skipped": report.skipped,
            "deferred": report.deferred,
            "escalated": report.escalated,
        }

    result = run_with_app(work)
    emit(as_json, result, ", ".join(f"{k}: {v}" for k, v in result.items()))


@schedule_app.command("set")
def schedule_set(
    who: Annotated[str, typer.Argument(help="Person id or unique name")],
    time: Annotated[str | None, typer.Option("--time", help="Check-in time, HH:MM local")] = None,
    days: Annotated[str | None, typer.Option(help="Days, e.g. mon,tue,wed,thu,fri")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone")] = None,
    pause: Annotated[bool | None, typer.Option("--pause/--resume", help="Pause or resume check-ins")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change when a person's check-ins come (from the next occurrence on)."""
    from bot.checkins.schedule_changes import update_schedule  # noqa: PLC0415

    async def work(a: App) -> dict[str, Any]:
        async with a.db.transaction() as s:
            schedule = await update_schedule(
                s,
                a.clock.now(),
                who,
                time=time,
                days=days,
                timezone=timezone,
                paused=pause,
                quiet=a.settings.quiet_window,
            )
            return schedule.model_dump()

    result = run_with_app(work, channels=False)
    emit(
        as_json,
        result,
        f"{result['flow_id']} at {result['local_time']} on {result['days']}"
        f"{' (paused)' if result['paused'] else ''}; next: {result['next_due_at']}",
    )


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
    zone = _settings().default_timezone
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
    from bot.staff.names import resolve  # noqa: PLC0415

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

    settings = _settings()
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


# -- triage ---------------------------------------------------------------------------------------


@app.command("triage")
def triage_cmd(
    text: Annotated[list[str] | None, typer.Argument(help="Texts to assess")] = None,
    jsonl: Annotated[
        Path | None, typer.Option(help="File of JSON lines with 'text' and optional 'lang'")
    ] = None,
    lang: Annotated[str | None, typer.Option(help="en or es (default: both)")] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="With `train`: where to write the model")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON (assessments are JSON lines anyway; `train`: one object)")
    ] = False,
) -> None:
    """Assess texts for red flags; one JSON object per input.

    `peerline triage train` instead rebuilds the model (triage/model.json) from the corpus
    (triage/corpus/*.jsonl) and prints its development-set figures."""
    from flows.triage import LexiconError, Triage  # noqa: PLC0415

    if text == ["train"] and jsonl is None and lang is None:
        _train_model(out_file, as_json=as_json)
        return
    if out_file is not None:
        fail("--out goes with `peerline triage train`")
    if lang is not None and lang not in ("en", "es"):
        fail(f"bad --lang {lang!r}: use en or es")
    items: list[tuple[str, str | None]] = [(t, lang) for t in (text or [])]
    if jsonl is not None:
        items.extend(_read_jsonl(jsonl, lang))
    if not items:
        fail("give TEXT arguments or --jsonl FILE")
    try:
        triage = Triage.load(_settings().config_dir)
    except LexiconError as exc:
        fail(str(exc))
        raise
    for body, item_lang in items:
        result = triage.assess(body, item_lang)
        sys.stdout.write(json.dumps({"text": body, **result.to_json()}, ensure_ascii=False) + "\n")


def _train_model(out_file: Path | None, *, as_json: bool = False) -> None:
    from flows.triage import LexiconError, Triage  # noqa: PLC0415
    from flows.triage_model import TriageModel  # noqa: PLC0415
    from flows.triage_training import (  # noqa: PLC0415  (scikit-learn: only when training)
        CorpusError,
        dumps,
        figures,
        is_dev,
        load_corpus,
        report_lines,
        train,
    )

    triage_dir = _settings().config_dir / "triage"
    target = out_file or triage_dir / "model.json"
    try:
        corpus = load_corpus(triage_dir / "corpus")
        model = train(corpus.rows, corpus_sha256=corpus.sha256)
        rules = Triage.load(triage_dir.parent, use_model=False)
    except (CorpusError, LexiconError) as exc:
        fail(str(exc))
        raise
    combined = Triage(rules.lexicons, rules.thresholds, rules.concepts, TriageModel.from_json(model))
    dev = [r for r in corpus.rows if is_dev(r.text)]
    others = {
        "rules alone": figures(lambda r: rules.assess(r.text, r.lang).severity, dev),
        "rules + model": figures(lambda r: combined.assess(r.text, r.lang).severity, dev),
    }
    partial = target.with_name(target.name + ".partial")
    try:
        partial.write_text(dumps(model), encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror}")
    if as_json:
        summary = {
            "corpus": {
                "rows": len(corpus.rows),
                "files": [p.name for p in corpus.files],
                "sha256": corpus.sha256,
            },
            "version": model["version"],
            "training": model["training"],
            "development": {"model alone": model["development"], **others},
            "wrote": str(target),
        }
        emit(True, summary)
        return
    files = ", ".join(p.name for p in corpus.files)
    typer.echo(f"corpus: {len(corpus.rows)} rows from {files} (sha256 {corpus.sha256[:12]})")
    for line in report_lines(model, others):
        typer.echo(line)
    typer.echo(f"wrote {target}")


def _read_jsonl(path: Path, lang: str | None) -> list[tuple[str, str | None]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
        raise
    except UnicodeDecodeError as exc:
        fail(f"{path} is not UTF-8 text (byte {exc.start}): save it as UTF-8")
        raise
    items: list[tuple[str, str | None]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            fail(f"{path}:{number}: not JSON ({exc.msg})")
            raise
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            fail(f'{path}:{number}: each line must be an object with a "text" string')
        item_lang = obj.get("lang", lang)
        if item_lang not in (None, "en", "es"):
            fail(f'{path}:{number}: "lang" must be "en" or "es"')
        items.append((obj["text"], item_lang))
    return items


# -- database, demo and server --------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOpt = False) -> None:
    """Apply database migrations (serve and demo do this by themselves)."""
    from storage.db import migration_heads  # noqa: PLC0415

    async def work(a: App) -> None:
        await a.db.upgrade()

    run_with_app(work, upgrade=False, channels=False)
    emit(
        as_json,
        {"status": "up to date", "revisions": sorted(migration_heads() or [])},
        "database is up to date",
    )


@db_app.command("new-key")
def db_new_key(as_json: JsonOpt = False) -> None:
    """Print a new key for PEERLINE_ENCRYPTION_KEY (to rotate: the new key, a comma, then the old)."""
    from storage.crypto import new_key  # noqa: PLC0415

    key = new_key()
    if as_json:
        emit(True, {"key": key})
    else:
        typer.echo(key)


@db_app.command("encrypt")
def db_encrypt(as_json: JsonOpt = False) -> None:
    """Encrypt a plaintext database in place with PEERLINE_ENCRYPTION_KEY (stop `serve` first)."""
    _rekey(rotate=False, as_json=as_json)


@db_app.command("rotate-key")
def db_rotate_key(as_json: JsonOpt = False) -> None:
    """Re-encrypt everything under the first key of PEERLINE_ENCRYPTION_KEY (set it to NEW,OLD; stop `serve`
    first). Afterwards the old key can be dropped."""
    _rekey(rotate=True, as_json=as_json)


def _rekey(*, rotate: bool, as_json: bool) -> None:
    from storage.crypto import EncryptionError  # noqa: PLC0415
    from storage.keys import Rekeyed, reencrypt  # noqa: PLC0415

    async def work(a: App) -> Rekeyed:
        if a.db.keyring is None:
            raise EncryptionError("set PEERLINE_ENCRYPTION_KEY first; make a key with `peerline db new-key`")
        await a.db.upgrade(check_key=False)
        return await reencrypt(a.db.engine, a.db.keyring, rotate=rotate)

    done = run_with_app(work, upgrade=False, channels=False)
    verb = "re-encrypted" if rotate else "encrypted"
    after = "; PEERLINE_ENCRYPTION_KEY may now hold the first key alone" if rotate else ""
    emit(
        as_json,
        {"status": verb, "rows": done.rows, "values": done.values, "key": done.fingerprint},
        f"{verb} {done.values} values in {done.rows} rows under key {done.fingerprint}{after}",
    )


@app.command("demo")
def demo_cmd(
    script: Annotated[
        Path | None, typer.Option(help="Run without a terminal: one PIR message per line")
    ] = None,
    db: Annotated[Path, typer.Option(help="SQLite file for the demo (recreated each run)")] = Path(
        "peerline-demo.db"
    ),
    as_json: Annotated[
        bool, typer.Option("--json", help="The conversation as JSON lines, one per message")
    ] = False,
) -> None:
    """The whole bot over the console channel: answer a check-in as the PIR and see what the peer gets."""
    from bot.demo import run_demo  # noqa: PLC0415

    if script is not None and not script.is_file():
        fail(f"script {script} not found: give a text file with one PIR message per line")
    settings = _settings()
    try:
        asyncio.run(run_demo(settings, db, script, out, as_json=as_json))
    except ValueError as exc:
        fail_on_operator_error(exc)
        raise


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on")] = 8080,
    as_json: Annotated[bool, typer.Option("--json", help="Log as JSON lines, one object per line")] = False,
) -> None:
    """Run the HTTP app, the scheduler and the outbox sender until interrupted."""
    from bot.server import serve  # noqa: PLC0415

    settings = _settings()
    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(serve(settings, host, port, json_logs=as_json))
        except SettingsError as exc:
            fail(str(exc))
        except ValueError as exc:  # a database URL that cannot work, bad program content
            fail_on_operator_error(exc)
            raise


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    app(args=list(argv) if argv is not None else None, prog_name="peerline")
