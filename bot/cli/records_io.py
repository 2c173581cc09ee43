"""`peerline people import`, `people export` and `db purge`: records in and out in bulk, and retention."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.groups import JsonOpt, db_app, emit, fail, people_app, run_with_app
from bot.errors import UserError

if TYPE_CHECKING:
    from bot.app import App
    from bot.people.importing import Report


@people_app.command("import")
def people_import(
    file: Annotated[Path, typer.Argument(help="CSV; columns named as `people add`'s options + team")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row, enrol nobody")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Enrol everyone in a CSV file, or nobody: every row is checked first (as `people add` and
    `assign`); peer, backup and supervisor name staff enrolled already or on a line above."""
    from bot.people.importing import Defaults, check_rows, enrol_rows, load_known, read_csv  # noqa: PLC0415

    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
        return
    try:
        records = read_csv(text)
    except UserError as exc:
        fail(str(exc))
        return

    async def work(a: App) -> tuple[list[Report], bool]:
        defaults = Defaults(
            a.settings.default_timezone, a.settings.default_checkin_time, a.settings.quiet_window
        )
        async with a.db.transaction() as s:
            rows, reports = check_rows(records, await load_known(s), defaults)
            if dry_run or not all(r.ok for r in reports):
                return reports, False
            ids = await enrol_rows(
                s, a.clock.now(), rows, messages=a.content.messages, program=a.settings.sender_name
            )
            return [r.__class__(r.line, r.name, None, ids[r.line]) for r in reports], True

    reports, imported = run_with_app(work, channels=False)
    bad = [r for r in reports if not r.ok]
    if as_json:
        emit(
            True,
            {
                "imported": len(reports) if imported else 0,
                "dry_run": dry_run,
                "rows": [
                    {"line": r.line, "name": r.name, "ok": r.ok, "reason": r.reason, "id": r.id}
                    for r in reports
                ],
            },
        )
    else:
        for r in reports:
            sys.stdout.write(f"line {r.line}  {r.name or '-'}  {'ok' if r.ok else r.reason}\n")
        if bad:
            sys.stdout.write(f"{len(bad)} of {len(reports)} rows are bad: nobody was imported\n")
        elif imported:
            sys.stdout.write(
                f"imported {len(reports)} people (opt-in confirmations go out with `peerline serve`)\n"
            )
        else:
            sys.stdout.write(f"all {len(reports)} rows are good (dry run: nobody was imported)\n")
    if bad:
        raise typer.Exit(2)


@people_app.command("export")
def people_export(
    who: Annotated[str, typer.Argument(help="Person id or unique name")],
    out: Annotated[Path, typer.Option("--out", help="A new (or empty) folder for the files")],
    as_json: JsonOpt = False,
) -> None:
    """Export a person's own record (profile, channels, messages, answers, alerts, contact notes,
    consents, disclosures) as record.json and one CSV per table; audited."""
    from bot.family.accounting import (  # noqa: PLC0415
        CONSENT_COLUMNS,
        DISCLOSURE_COLUMNS,
        consent_rows,
        disclosure_rows,
    )
    from bot.people.export import Table, person_tables, write_record  # noqa: PLC0415
    from bot.people.names import resolve  # noqa: PLC0415
    from storage.models import AuditAction, Role  # noqa: PLC0415
    from storage.repo import audit  # noqa: PLC0415

    async def work(a: App) -> dict[str, Any]:
        async with a.db.transaction() as s:
            person = await resolve(s, who)
            record = await person_tables(s, person)
            record["consents"] = Table(CONSENT_COLUMNS, await consent_rows(s, person))
            disclosed = await disclosure_rows(s, person, None, None) if person.role == Role.PIR else []
            record["disclosures"] = Table(DISCLOSURE_COLUMNS, disclosed)
            files = write_record(record, out)
            counts = {name: len(table.rows) for name, table in record.items()}
            audit(s, a.clock.now(), "cli", AuditAction.PERSON_EXPORTED, person.id, counts=counts)
            return {
                "id": person.id,
                "name": person.name,
                "out": str(out),
                "files": [f.name for f in files],
                "counts": counts,
            }

    result = run_with_app(work, channels=False)
    listed = ", ".join(f"{n} {table.replace('_', ' ')}" for table, n in result["counts"].items())
    emit(as_json, result, f"exported {result['name']}'s record to {result['out']}: {listed}")


@db_app.command("purge")
def db_purge(
    before: Annotated[
        str | None,
        typer.Option(
            help="Remove what is older than this day, YYYY-MM-DD (default: the retention years ago)"
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be removed")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Remove it")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove messages, outbox rows, answers, sessions, resolved alerts, disclosures and audit events
    past the retention period (PEERLINE_RETENTION_YEARS); the purge itself is audited."""
    from bot.reports.period import parse_day  # noqa: PLC0415
    from storage.purge import PurgeError, default_cutoff, purge  # noqa: PLC0415

    if dry_run == yes:
        fail("give --dry-run to count what would be removed, or --yes to remove it")

    async def work(a: App) -> dict[str, Any]:
        now = a.clock.now()
        cutoff = (
            parse_day("--before", before, a.settings.default_timezone).start
            if before is not None
            else default_cutoff(now, a.settings.retention_years)
        )
        async with a.db.transaction() as s:
            try:
                counts = await purge(s, cutoff, now, dry_run=dry_run)
            except PurgeError as exc:
                fail(str(exc))
                raise
        return {"before": cutoff.isoformat(), "dry_run": dry_run, "counts": counts}

    result = run_with_app(work, channels=False)
    verb = "would remove" if dry_run else "removed"
    listed = ", ".join(f"{n} {table.replace('_', ' ')}" for table, n in result["counts"].items())
    emit(as_json, result, f"{verb} what is older than {result['before'][:16]} UTC: {listed}")
