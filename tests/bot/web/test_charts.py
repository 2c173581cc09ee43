"""The console's SVG: values placed on each scale's own range, labels escaped, text alternatives kept."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bot.web.charts import Mark, Point, chart, sparkline

START = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_sparkline_puts_the_scale_ends_at_the_bottom_and_top() -> None:
    svg = sparkline("mood", [1, 5, None, "x", True], "Mood <1, 5>", width=64, height=18)
    (points,) = re.findall(r'points="([^"]+)"', svg)
    assert points == "2.0,16.0 62.0,2.0"  # 1 is the bottom, 5 the top; skips and words are not points
    assert "<title>Mood &lt;1, 5&gt;</title>" in svg


def test_a_single_answer_draws_no_line_but_keeps_its_label() -> None:
    svg = sparkline("craving", [4], "Craving: 4")
    assert "polyline" not in svg and "<title>Craving: 4</title>" in svg


def test_the_chart_marks_alerts_and_escapes_every_label() -> None:
    end = START + timedelta(days=30)
    points = [Point(START + timedelta(days=d), "craving", v) for d, v in ((0, 0), (15, 10), (30, 5))]
    marks = [Mark(START + timedelta(days=15), "#3 <high>", "high")]
    svg = chart(points, marks, START, end, "A & B", "desc <x>", {"mood": "Mood", "craving": "Craving"})
    assert '<title id="chart-title">A &amp; B</title>' in svg and "desc &lt;x&gt;" in svg
    (line,) = re.findall(r'class="line-craving"[^>]*points="([^"]+)"', svg)
    xs = [float(p.split(",")[0]) for p in line.split()]
    ys = [float(p.split(",")[1]) for p in line.split()]
    assert xs[0] < xs[1] < xs[2] and xs[1] - xs[0] == xs[2] - xs[1]
    assert ys[1] < ys[2] < ys[0]  # 10 highest on the page, 0 lowest
    assert "line-mood" not in svg  # no mood answers: no line
    (mark,) = re.findall(r'<g class="alert-mark sev-high"><title>([^<]+)</title><line x1="([\d.]+)"', svg)
    assert mark == ("#3 &lt;high&gt;", str(xs[1]))
