"""A key's trend as a small SVG written directly: the weekly points (left, two thirds of the width)
and the monthly points (right), beside each of the four keys and time to acknowledge on the
dashboard.

Not matplotlib, unlike the page's other charts: six of these on a page cost 0.5 to 0.9 s to draw
with matplotlib on the shared 2-CPU machine (about 80 ms each when idle), more than the rest of a
page with 100,000 incidents, against the issue's one second a page. Written directly they cost well
under a millisecond, and look the same: the colours, the log scale of durations with round ticks,
the labels of bot/analytics/chart.py.

    a point     a solid blue dot where the period has the n its key's band needs and has ended,
                a hollow grey one otherwise; a line joins neighbouring solid dots only
    durations   a log scale (a duration's spread is multiplicative), at least FLOOR_SECONDS;
                rates and deploys per week a linear scale from 0

Every word is the bot's (period labels, numbers), escaped all the same. Pure: same points, same text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from bot.analytics.chart import BLUE, DURATION_TICKS, FLOOR_SECONDS, GREY, _short
from bot.analytics.key_trends import KeyTrend, TrendPoint, Unit

# Drawn narrow with large type: a phone shows it about 330 px wide, which keeps its 15 px labels
# legible (about 9 px), and a desktop's grid cell about 450 px.
WIDTH, HEIGHT = 560, 200
TOP, BOTTOM = 36, 156  # the plotting area's vertical extent
PANELS = ((58, 350, "week by week"), (404, 550, "month by month"))


def _axis_label(point: TrendPoint) -> str:
    """ "W47" for a week; a month by its short name ("Nov"): "2026-11" does not fit six abreast."""
    label = point.period.label
    return label if label.startswith("W") else f"{point.period.start:%b}"


def value_text(value: float, unit: Unit) -> str:
    if unit is Unit.SHARE:
        return f"{value * 100:.0f}%"
    if unit is Unit.PER_WEEK:
        return f"{value:.1f}/wk"
    return _short(value)


def _round_step(top: float) -> float:
    """The smallest round step (1, 2, 2.5 or 5 times a power of ten) of which two reach ``top``."""
    if top <= 0:
        return 0.5
    power = 10.0 ** math.floor(math.log10(top / 2))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if 2 * m * power >= top)


class _Scale:
    """Value → y, and the ticks to label, for one panel."""

    def __init__(self, values: Sequence[float], unit: Unit) -> None:
        self.unit = unit
        if unit is Unit.DURATION:
            low = max(min(values, default=600.0), FLOOR_SECONDS)
            high = max(max(values, default=7200.0), low * 2)
            self.low, self.high = math.log10(low / 1.6), math.log10(high * 1.6)
            inside = [t for t in DURATION_TICKS if self.low <= math.log10(t[0]) <= self.high]
            self.ticks = [(seconds, label) for seconds, label in inside[:: max(1, math.ceil(len(inside) / 3))]]
        else:
            step = _round_step(max(values, default=0.0) * 1.1)
            top = step * 2
            if unit is Unit.SHARE and top > 1:
                step, top = 0.5, 1.0  # a rate never passes 100%
            self.low, self.high = 0.0, top
            self.ticks = [(step * k, value_text(step * k, unit)) for k in range(3)]

    def y(self, value: float) -> float:
        if self.unit is Unit.DURATION:
            position = (math.log10(max(value, FLOOR_SECONDS)) - self.low) / (self.high - self.low)
        else:
            position = (value - self.low) / (self.high - self.low)
        return BOTTOM - position * (BOTTOM - TOP)


def _panel(points: Sequence[TrendPoint], unit: Unit, left: float, right: float, title: str) -> list[str]:
    values = [p.value for p in points if p.value is not None]
    scale = _Scale(values, unit)
    step = (right - left) / max(len(points), 1)
    xs = [left + step * (index + 0.5) for index in range(len(points))]
    parts = [f'<text x="{left}" y="{TOP - 14}" class="kt-title">{escape(title)}</text>']
    for value, label in scale.ticks:
        y = scale.y(value)
        parts.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" class="kt-grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="kt-tick">{escape(label)}</text>')
    every = 3 if len(points) > 6 else 2  # every third week, every other month: labels that do not touch
    for index, (x, point) in enumerate(zip(xs, points, strict=True)):
        if (len(points) - 1 - index) % every == 0:
            parts.append(f'<text x="{x:.1f}" y="{BOTTOM + 20}" text-anchor="middle" class="kt-tick">{escape(_axis_label(point))}</text>')
    solid = [(x, scale.y(p.value)) for x, p in zip(xs, points, strict=True) if p.value is not None and not p.faint]
    runs: list[list[tuple[float, float]]] = []
    for x, y in solid:
        if runs and abs(x - runs[-1][-1][0] - step) < 0.01:
            runs[-1].append((x, y))
        else:
            runs.append([(x, y)])
    for run in runs:
        if len(run) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{BLUE}" stroke-width="2.2"/>')
    for x, point in zip(xs, points, strict=True):
        if point.value is None:
            continue
        y = scale.y(point.value)
        if point.faint:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#fff" stroke="{GREY}" stroke-width="1.8"/>')
        else:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{BLUE}"/>')
    if solid:
        x, y = solid[-1]
        last = next(p for p in reversed(points) if p.value is not None and not p.faint)
        assert last.value is not None
        anchor = "end" if x > right - step * 1.5 else "middle"
        parts.append(
            f'<text x="{x + (6 if anchor == "end" else 0):.1f}" y="{y - 9:.1f}" text-anchor="{anchor}" class="kt-last">'
            f"{escape(value_text(last.value, unit))}</text>"
        )
    if not values:
        parts.append(
            f'<text x="{(left + right) / 2:.1f}" y="{(TOP + BOTTOM) / 2:.1f}" text-anchor="middle" class="kt-tick">nothing yet</text>'
        )
    return parts


def key_trend_svg(trend: KeyTrend) -> str:
    """The chart, an ``<svg>`` element sized by the page (its viewBox keeps the proportions)."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}">',
        "<style>.kt-title{font:600 15px 'DejaVu Sans',sans-serif;fill:#333}.kt-tick{font:14px 'DejaVu Sans',sans-serif;fill:#333}"
        f".kt-last{{font:700 15px 'DejaVu Sans',sans-serif;fill:{BLUE};paint-order:stroke;stroke:#fff;stroke-width:4px}}"
        ".kt-grid{stroke:#ddd;stroke-width:1}</style>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
    ]
    for (left, right, title), points in zip(PANELS, (trend.weekly, trend.monthly), strict=True):
        parts += _panel(points, trend.unit, left, right, title)
    parts.append("</svg>")
    return "".join(parts)


def key_trend_alt_text(trend: KeyTrend) -> str:
    """What the chart shows, for screen readers (the table beside it has every point)."""

    def latest(points: Sequence[TrendPoint]) -> str:
        readable = [p for p in points if not p.faint and p.value is not None]
        if not readable:
            return "none with enough data yet"
        point = readable[-1]
        assert point.value is not None
        return f"latest {point.period.label} {value_text(point.value, trend.unit)} (n={point.count})"

    return (
        f"{trend.name}: weekly over {len(trend.weekly)} weeks, {latest(trend.weekly)}; "
        f"monthly over {len(trend.monthly)} months, {latest(trend.monthly)}."
    )
