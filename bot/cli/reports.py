"""`peerline report outcomes` and `report billing`: what the program did, for payers and for billing."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from bot.cli.groups import JsonOpt, fail, out, report_app, run_with_app
from storage.models import AuditAction, Role
from storage.repo import audit

if TYPE_CHECKING:
    from bot.app import App
    from bot.reports.period import Pseudonyms


# -- reports --------------------------------------------------------------------------------------


class ReportFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    PDF = "pdf"


class BillingFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


PeerOpt = Annotated[str | None, typer.Option("--peer", help="Only this peer's caseload (id or name)")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write to this file instead of standard output")]
DeidentifyOpt = Annotated[
    bool, typer.Option("--deidentify", help="Pseudonyms for people; nothing anyone wrote")
]


def _write(text: str | bytes, out_file: Path | None) -> None:
    if out_file is None:
        assert isinstance(text, str)
        sys.stdout.write(text)
        return
    try:
        if isinstance(text, bytes):
            out_file.write_bytes(text)
        else:
            out_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write --out {out_file}: {exc.strerror or exc}")


def _pseudonyms(a: App, deidentify: bool) -> Pseudonyms | None:
    from bot.reports.period import Pseudonyms  # noqa: PLC0415

    if not deidentify:
        return None
    key = a.settings.encryption_key
    return Pseudonyms(key.get_secret_value() if key is not None else a.settings.sender_name)


@report_app.command("outcomes")
def report_outcomes(
    first: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (program time zone)")],
    last: Annotated[str, typer.Option("--to", help="Last day, inclusive")],
    peer: PeerOpt = None,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", help="table, json, csv or pdf (pdf needs --out)")
    ] = ReportFormat.TABLE,
    out_file: OutOpt = None,
    deidentify: DeidentifyOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """What the program did over a period, and what changed for its people (access is audited)."""
    from bot.people.names import resolve  # noqa: PLC0415
    from bot.reports.formats import outcomes_csv, outcomes_json, outcomes_table  # noqa: PLC0415
    from bot.reports.outcomes import outcomes  # noqa: PLC0415
    from bot.reports.period import parse_period  # noqa: PLC0415

    chosen = ReportFormat.JSON if as_json else fmt
    if chosen is ReportFormat.PDF and out_file is None:
        fail("--format pdf writes a file: give --out FILE.pdf")

    async def work(a: App) -> str | bytes | Table:
        period = parse_period(first, last, a.settings.default_timezone)
        async with a.db.transaction() as s:
            who = await resolve(s, peer, Role.PEER) if peer is not None else None
            report = await outcomes(s, period, a.content.escalation, program=a.settings.sender_name, peer=who)
            audit(
                s,
                a.clock.now(),
                "cli",
                AuditAction.REPORT_OUTCOMES,
                None,
                period=[period.first.isoformat(), period.last.isoformat()],
                peer=who.id if who is not None else None,
                pirs=len(report.pirs),
                deidentified=deidentify,
            )
        names = _pseudonyms(a, deidentify)  # staff names stay: they are not the people served
        if chosen is ReportFormat.JSON:
            return outcomes_json(report, names)
        if chosen is ReportFormat.CSV:
            return outcomes_csv(report, names)
        if chosen is ReportFormat.PDF:
            from bot.reports.pdf import outcomes_pdf  # noqa: PLC0415  (matplotlib loads in a second)

            return outcomes_pdf(report)
        return outcomes_table(report)

    result = run_with_app(work, channels=False)
    if isinstance(result, Table):
        if out_file is not None:
            fail("--out takes --format json, csv or pdf")
        out.print(result)
        return
    _write(result, out_file)


@report_app.command("billing")
def report_billing(
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    peer: PeerOpt = None,
    fmt: Annotated[BillingFormat, typer.Option("--format", help="csv or json")] = BillingFormat.CSV,
    out_file: OutOpt = None,
    deidentify: DeidentifyOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """The H0038 claim lines of a month, one per contact note (access is audited)."""
    from bot.people.names import resolve  # noqa: PLC0415
    from bot.reports.billing import COLUMNS, claim_lines  # noqa: PLC0415
    from bot.reports.formats import table_csv  # noqa: PLC0415
    from bot.reports.period import parse_month  # noqa: PLC0415

    async def work(a: App) -> list[dict[str, Any]]:
        period = parse_month(month, a.settings.default_timezone)
        async with a.db.transaction() as s:
            who = await resolve(s, peer, Role.PEER) if peer is not None else None
            lines = await claim_lines(s, period, peer=who, pseudonyms=_pseudonyms(a, deidentify))
            audit(
                s,
                a.clock.now(),
                "cli",
                AuditAction.REPORT_BILLING,
                None,
                month=month,
                peer=who.id if who is not None else None,
                lines=len(lines),
                deidentified=deidentify,
            )
        return lines

    lines = run_with_app(work, channels=False)
    if as_json or fmt is BillingFormat.JSON:
        _write(json.dumps(lines, ensure_ascii=False, indent=2) + "\n", out_file)
    else:
        _write(table_csv(COLUMNS, lines), out_file)
