"""Reports as a reader gets them: a terminal table, JSON with stable keys, or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

from bot.reports.period import Pseudonyms
from bot.reports.rows import Outcomes, PirRow

PIR_COLUMNS = (
    "pir",
    "peer",
    "enrolled",
    "status",
    "checkins_started",
    "checkins_completed",
    "checkins_partial",
    "checkins_missed",
    "checkins_stopped",
    "completion_rate",
    "alerts",
    "alerts_critical",
    "notes",
    "units",
    "mood_first_two_weeks",
    "mood_last_two_weeks",
    "craving_first_two_weeks",
    "craving_last_two_weeks",
    "recovery_capital_baseline",
    "recovery_capital_latest",
)


def pir_row(row: PirRow, pseudonyms: Pseudonyms | None) -> dict[str, Any]:
    return {
        "pir": row.name if pseudonyms is None else pseudonyms("pir", row.id),
        "peer": row.peer,
        "enrolled": row.enrolled,
        "status": row.status,
        "checkins_started": row.started,
        "checkins_completed": row.completed,
        "checkins_partial": row.partial,
        "checkins_missed": row.missed,
        "checkins_stopped": row.stopped,
        "completion_rate": row.completion_rate,
        "alerts": row.alerts,
        "alerts_critical": row.critical,
        "notes": row.notes,
        "units": row.units,
        "mood_first_two_weeks": row.first.get("mood"),
        "mood_last_two_weeks": row.last.get("mood"),
        "craving_first_two_weeks": row.first.get("craving"),
        "craving_last_two_weeks": row.last.get("craving"),
        "recovery_capital_baseline": row.capital_baseline,
        "recovery_capital_latest": row.capital_latest,
    }


def outcomes_json(report: Outcomes, pseudonyms: Pseudonyms | None) -> str:
    data = dict(report.figures) | {"pirs": [pir_row(r, pseudonyms) for r in report.pirs]}
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def outcomes_csv(report: Outcomes, pseudonyms: Pseudonyms | None) -> str:
    """One row per PIR enrolled at any time in the period, then a totals row."""
    rows = [pir_row(r, pseudonyms) for r in report.pirs]
    checkins = report.figures["checkins"]
    notes = report.figures["notes"]
    totals = dict.fromkeys(PIR_COLUMNS, "") | {
        "pir": "TOTAL",
        "checkins_started": checkins["started"],
        "checkins_completed": checkins["completed"],
        "checkins_partial": checkins["partial"],
        "checkins_missed": checkins["missed"],
        "checkins_stopped": checkins["stopped"],
        "completion_rate": checkins["completion_rate"],
        "alerts": report.figures["alerts"]["total"],
        "alerts_critical": report.figures["alerts"]["by_severity"].get("critical", 0),
        "notes": notes["count"],
        "units": notes["units"],
    }
    return table_csv(PIR_COLUMNS, [*rows, totals])


def table_csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return out.getvalue()


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {sec:02d}s"


def headline(report: Outcomes) -> list[tuple[str, str]]:
    """The headline figures as (measure, value) lines: the terminal table and the PDF's first page."""
    f = report.figures
    people, checkins, alerts, work = f["people"], f["checkins"], f["alerts"], f["peer_work"]
    ack = alerts["time_to_ack_seconds"]
    severity = alerts["by_severity"]
    rows = [
        (
            "PIRs enrolled / active / new",
            f"{people['pirs_enrolled']} / {people['pirs_active']} / {people['pirs_new']}",
        ),
        ("family members enrolled", str(people["family_enrolled"])),
        ("check-ins started", str(checkins["started"])),
        (
            "completed / partial / missed / stopped",
            f"{checkins['completed']} / {checkins['partial']} / {checkins['missed']} / {checkins['stopped']}",
        ),
        ("completion rate", _share(checkins["completion_rate"])),
        (
            "PIRs checking in every week",
            f"{checkins['weekly']['pirs_every_week']} of {people['pirs_enrolled']}",
        ),
        ("alerts (critical / high)", f"{alerts['total']} ({severity['critical']} / {severity['high']})"),
        (
            "time to acknowledge p50 / p90 / max",
            f"{_duration(ack['p50'])} / {_duration(ack['p90'])} / {_duration(ack['max'])}",
        ),
        ("acknowledged within the first step", _share(alerts["acknowledged_within_first_step"])),
        ("crisis replies sent", str(alerts["crisis_replies"])),
        ("relays to staff / peer replies", f"{work['relays_to_staff']} / {work['peer_replies']}"),
        ("contact notes (H0038 units)", f"{work['notes']['count']} ({work['notes']['units']})"),
    ]
    capital = f["change"]["recovery_capital"]
    if capital["pirs"]:
        rows.append(
            (
                "recovery capital (BARC-10, 10-60): baseline -> latest",
                f"{capital['baseline']} -> {capital['latest']} ({capital['pirs']} PIRs)",
            )
        )
    for step in ("mood", "craving"):
        change = f["change"][step]
        if change["pirs"]:
            rows.append(
                (
                    f"{step}: first two weeks -> last two",
                    f"{change['first_two_weeks']} -> {change['last_two_weeks']} ({change['pirs']} PIRs)",
                )
            )
    return rows


def outcomes_table(report: Outcomes) -> Table:
    """The headline figures for a terminal."""
    f = report.figures
    title = f"{f['program']}: {f['period']['from']} to {f['period']['to']}" + (
        f", caseload of {f['peer']}" if f["peer"] else ""
    )
    table = Table("measure", "value", title=title)
    for name, value in headline(report):
        table.add_row(name, value)
    return table
