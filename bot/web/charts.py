"""Server-side SVG for the console: a caseload row's sparkline and a person's mood and craving chart
with alerts marked. Pure: values in, markup out; every label escaped; each chart carries its own text
alternative (`<title>`, `<desc>`) and the pages also print the numbers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup, escape

# The daily check-in's scales (config/flows/daily_checkin.yaml): mood 1-5, craving 0-10.
RANGES: Mapping[str, tuple[int, int]] = {"mood": (1, 5), "craving": (0, 10)}
COLOURS: Mapping[str, str] = {"mood": "#23395d", "craving": "#b4530f"}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _y(value: float, scale: str, top: float, height: float) -> float:
    lo, hi = RANGES.get(scale, (0, 10))
    share = (min(max(value, lo), hi) - lo) / ((hi - lo) or 1)
    return round(top + height - share * height, 1)


def sparkline(scale: str, values: Sequence[object], label: str, width: int = 64, height: int = 18) -> Markup:
    """A small trend line of one scale's values (oldest first); `label` is its text alternative."""
    numbers = [n for v in values if (n := _number(v)) is not None]
    step = (width - 4) / max(len(numbers) - 1, 1)
    points = " ".join(f"{2 + i * step:.1f},{_y(n, scale, 2, height - 4)}" for i, n in enumerate(numbers))
    line = (
        f'<polyline fill="none" stroke="{COLOURS.get(scale, "#333")}" stroke-width="1.5" points="{points}"/>'
        if len(numbers) > 1
        else ""
    )
    return Markup(  # noqa: S704  (numbers and escaped text only)
        f'<svg class="spark" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>{line}</svg>'
    )


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    scale: str
    value: object


@dataclass(frozen=True, slots=True)
class Mark:
    at: datetime
    label: str  # e.g. "Alert #12 (high)"
    severity: str


_W, _PANEL, _GAP, _LEFT, _TOP = 640, 90, 28, 34, 18


def chart(
    points: Sequence[Point],
    marks: Sequence[Mark],
    start: datetime,
    end: datetime,
    title: str,
    description: str,
    names: Mapping[str, str],
) -> Markup:
    """Mood above, craving below, over [start, end]; each alert a vertical line through both panels.
    `names`: each scale's label in the reader's language."""
    span = max((end - start).total_seconds(), 1.0)
    plot_w = _W - _LEFT - 8

    def x(at: datetime) -> float:
        return round(_LEFT + (at - start).total_seconds() / span * plot_w, 1)

    height = _TOP + len(RANGES) * (_PANEL + _GAP)
    parts = [
        f'<svg class="chart" role="img" aria-labelledby="chart-title chart-desc" viewBox="0 0 {_W} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{escape(title)}</title>'
        f'<desc id="chart-desc">{escape(description)}</desc>'
    ]
    for row, scale in enumerate(RANGES):
        top = _TOP + row * (_PANEL + _GAP)
        lo, hi = RANGES[scale]
        name = escape(names.get(scale, scale))
        parts.append(
            f'<text x="{_LEFT}" y="{top - 5}" font-size="12" fill="#333">{name}</text>'
            f'<rect x="{_LEFT}" y="{top}" width="{plot_w}" height="{_PANEL}" fill="#fff" stroke="#ccc"/>'
            f'<text x="{_LEFT - 4}" y="{top + 10}" font-size="10" text-anchor="end">{hi}</text>'
            f'<text x="{_LEFT - 4}" y="{top + _PANEL}" font-size="10" text-anchor="end">{lo}</text>'
        )
        own = sorted(
            ((p.at, n) for p in points if p.scale == scale and (n := _number(p.value)) is not None),
            key=lambda pair: pair[0],
        )
        coords = [(x(at), _y(n, scale, top + 4, _PANEL - 8)) for at, n in own]
        if len(coords) > 1:
            joined = " ".join(f"{a},{b}" for a, b in coords)
            parts.append(
                f'<polyline class="line-{scale}" fill="none" stroke="{COLOURS[scale]}" stroke-width="2" '
                f'points="{joined}"/>'
            )
        parts.extend(f'<circle cx="{a}" cy="{b}" r="2.5" fill="{COLOURS[scale]}"/>' for a, b in coords)
    bottom = height - _GAP + 4
    for mark in marks:
        at = x(mark.at)
        parts.append(
            f'<g class="alert-mark sev-{escape(mark.severity)}"><title>{escape(mark.label)}</title>'
            f'<line x1="{at}" y1="{_TOP}" x2="{at}" y2="{bottom}" stroke="#b00020" stroke-dasharray="3 2"/>'
            f'<path d="M{at - 5},{_TOP - 2} L{at + 5},{_TOP - 2} L{at},{_TOP + 6} Z" fill="#b00020"/></g>'
        )
    parts.append(
        f'<text x="{_LEFT}" y="{height - 6}" font-size="10">{start:%Y-%m-%d}</text>'
        f'<text x="{_W - 8}" y="{height - 6}" font-size="10" text-anchor="end">{end:%Y-%m-%d}</text></svg>'
    )
    return Markup("".join(parts))  # noqa: S704  (numbers and escaped text only)


def window(end: datetime, days: int) -> tuple[datetime, datetime]:
    return end - timedelta(days=days), end
