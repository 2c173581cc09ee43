"""`peerline family consents` and `peerline disclosures`: the consent records and the accounting of
disclosures, for the program and its auditors (each listing is itself audited)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from bot.cli.groups import JsonOpt, app, emit, fail, family_app, run_with_app
from storage.models import AuditAction, Role
from storage.repo import audit

if TYPE_CHECKING:
    from bot.app import App


def _table(title: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    return table


@family_app.command("consents")
def family_consents(
    who: Annotated[
        str | None, typer.Argument(help="A PIR or family member (id or name); default: all")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List consents and consent requests with their state and signature."""
    from bot.family.accounting import CONSENT_COLUMNS, consent_rows  # noqa: PLC0415
    from bot.people.names import resolve  # noqa: PLC0415

    async def work(a: App) -> list[dict[str, Any]]:
        async with a.db.transaction() as s:
            person = await resolve(s, who, (Role.PIR, Role.FAMILY)) if who is not None else None
            rows = await consent_rows(s, person)
            audit(
                s,
                a.clock.now(),
                "cli",
                AuditAction.CONSENT_LISTED,
                person.id if person is not None else None,
                count=len(rows),
            )
            return rows

    rows = run_with_app(work, channels=False)
    emit(as_json, rows, _table("consents", CONSENT_COLUMNS, rows) if rows else "no consents")


@app.command("disclosures")
def disclosures(
    who: Annotated[str, typer.Argument(help="The PIR (id or name)")],
    first: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (program time zone)")
    ] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day, inclusive")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV, one row per disclosure")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The accounting of disclosures about a PIR: who was told what, when, under which consent."""
    from bot.family.accounting import DISCLOSURE_COLUMNS, disclosure_rows  # noqa: PLC0415
    from bot.people.names import resolve  # noqa: PLC0415
    from bot.reports.formats import table_csv  # noqa: PLC0415
    from bot.reports.period import parse_day  # noqa: PLC0415

    if as_csv and as_json:
        fail("give --csv or --json, not both")

    async def work(a: App) -> list[dict[str, Any]]:
        zone = a.settings.default_timezone
        start = parse_day("--from", first, zone).start if first is not None else None
        end = parse_day("--to", last, zone).end if last is not None else None
        if start is not None and end is not None and end <= start:
            fail(f"--to {last} is before --from {first}: the period runs from --from to --to, inclusive")
        async with a.db.transaction() as s:
            pir = await resolve(s, who, Role.PIR)
            rows = await disclosure_rows(s, pir, start, end)
            audit(s, a.clock.now(), "cli", AuditAction.DISCLOSURES_LISTED, pir.id, count=len(rows))
            return rows

    rows = run_with_app(work, channels=False)
    if as_csv:
        sys.stdout.write(table_csv(DISCLOSURE_COLUMNS, rows))
        return
    emit(as_json, rows, _table("disclosures", DISCLOSURE_COLUMNS, rows) if rows else "no disclosures")
