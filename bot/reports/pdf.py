"""The outcomes report as a few pages a director can hand to a payer, and its charts as PNG images.

Made with matplotlib's own PDF backend (no pyplot, no global state): TrueType fonts embedded (type 42),
the program name and the period on every page, and page numbers.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from bot.reports.formats import headline
from bot.reports.rows import Outcomes

PAGE = (8.5, 11.0)  # US letter, inches
SEVERITY_COLOURS = {"critical": "#b3261e", "high": "#e8871e", "medium": "#f2c94c", "low": "#9e9e9e"}


@contextmanager
def _style() -> Iterator[None]:
    with mpl.rc_context({"pdf.fonttype": 42, "font.family": "DejaVu Sans", "font.size": 10}):
        yield


def _engagement(ax: Axes, f: dict[str, Any]) -> None:
    weekly = f["checkins"]["weekly"]["pirs_each_week"]
    ax.bar([f"week {n + 1}" for n in range(len(weekly))], weekly, color="#2f6f8f")
    ax.set_title("PIRs who answered a check-in, each week")
    ax.set_ylabel("PIRs")


def _alerts(ax: Axes, f: dict[str, Any]) -> None:
    by = f["alerts"]["by_severity"]
    names = [n for n in ("critical", "high", "medium", "low") if n in by]
    ax.bar(names, [by[n] for n in names], color=[SEVERITY_COLOURS[n] for n in names])
    ax.set_title("Alerts by severity")
    ax.set_ylabel("alerts")


def _response(ax: Axes, f: dict[str, Any]) -> None:
    waits = f["alerts"]["time_to_ack_seconds_by_severity"]
    names = [n for n in ("critical", "high", "medium", "low") if n in waits]
    p50 = [(waits[n]["p50"] or 0) / 60 for n in names]
    p90 = [(waits[n]["p90"] or 0) / 60 for n in names]
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], p50, width=0.4, label="p50", color="#2f6f8f")
    ax.bar([x + 0.2 for x in xs], p90, width=0.4, label="p90", color="#9ab8c8")
    ax.set_xticks(list(xs), names)
    ax.set_title("Time from alert to a human's acknowledgement")
    ax.set_ylabel("minutes")
    ax.legend()


def _change(ax: Axes, f: dict[str, Any]) -> None:
    steps = [s for s in ("mood", "craving") if f["change"][s]["pirs"]]
    first = [f["change"][s]["first_two_weeks"] for s in steps]
    last = [f["change"][s]["last_two_weeks"] for s in steps]
    xs = range(len(steps))
    ax.bar([x - 0.2 for x in xs], first, width=0.4, label="first two weeks", color="#9ab8c8")
    ax.bar([x + 0.2 for x in xs], last, width=0.4, label="last two weeks", color="#2f6f8f")
    ax.set_xticks(list(xs), [f"{s} (n={f['change'][s]['pirs']})" for s in steps])
    ax.set_title("Mood (1-5) and craving (0-10): change over the period")
    ax.legend()


CHARTS: dict[str, Callable[[Axes, dict[str, Any]], None]] = {
    "engagement": _engagement,
    "alerts": _alerts,
    "response": _response,
    "change": _change,
}


def chart_pngs(report: Outcomes) -> dict[str, bytes]:
    """Each chart as a PNG image (for the console's reports page and for checking)."""
    images = {}
    with _style():
        for name, draw in CHARTS.items():
            figure = Figure(figsize=(6.5, 3.5))
            FigureCanvasAgg(figure)
            draw(figure.add_subplot(), report.figures)
            figure.tight_layout()
            out = io.BytesIO()
            figure.savefig(out, format="png", dpi=120)
            images[name] = out.getvalue()
    return images


def outcomes_pdf(report: Outcomes) -> bytes:
    f = report.figures
    title = f"{f['program']} · outcomes {f['period']['from']} to {f['period']['to']}" + (
        f" · caseload of {f['peer']}" if f["peer"] else ""
    )
    pages: list[Figure] = []
    with _style():
        first = Figure(figsize=PAGE)
        first.text(0.08, 0.93, f"{f['program']}: outcomes report", fontsize=18, weight="bold")
        first.text(
            0.08,
            0.905,
            f"{f['period']['from']} to {f['period']['to']} ({f['period']['timezone']})",
            fontsize=11,
        )
        y = 0.86
        for measure, value in headline(report):
            first.text(0.08, y, measure, fontsize=10.5)
            first.text(0.62, y, value, fontsize=10.5, weight="bold")
            y -= 0.03
        pages.append(first)
        for names in (("engagement", "alerts"), ("response", "change")):
            page = Figure(figsize=PAGE)
            for n, name in enumerate(names):
                ax = page.add_axes((0.12, 0.55 - n * 0.45, 0.78, 0.33))
                CHARTS[name](ax, f)
            pages.append(page)
        out = io.BytesIO()
        with PdfPages(out, metadata={"Title": title, "Creator": "Peerline"}) as pdf:
            for number, page in enumerate(pages, 1):
                page.text(0.08, 0.97, title, fontsize=8, color="#555555")
                page.text(
                    0.92, 0.02, f"page {number} of {len(pages)}", fontsize=8, ha="right", color="#555555"
                )
                pdf.savefig(page)
    return out.getvalue()
