"""The digest's picture: one PNG, three panels, sized to be read in Slack's preview (~400 px wide).

    1. the weekly median time to restore over the trend's weeks, each week's median interval as a
       bar behind its dot; weeks with too few incidents (or still running) drawn hollow, labelled
    2. where the restore time went: the phases' shares as one stacked bar
    3. every restore time of the trend's weeks on a log scale (a histogram), median and p90 marked

Drawn with matplotlib's Agg backend through the object API (no pyplot: no window, no global
figure list), under a lock because rcParams are process-wide. Same input, same bytes: fixed size
and DPI, the bundled DejaVu Sans font, no timestamps or version in the PNG metadata.
Drawing takes about a hundred milliseconds of CPU, most of it holding the GIL: async code hands it
to the drawing process (bot/analytics/drawing.py).
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, time, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

# Only what the drawing process needs: the words of bot.analytics.stats_view would bring Slack's
# gateway and the database along (a second of imports, 70 MB).
from bot.analytics.stats import Measures, Trend, WindowReport, percentile, too_few_text
from bot.core.phases import PHASES

# matplotlib is imported where a chart is drawn, not here: it costs most of a second, and every
# process that imports the digest (the CLI's other commands, `serve` before its first digest)
# would pay it at start-up.
if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.transforms import Transform
    from matplotlib.typing import RcKeyType

WIDTH_IN, HEIGHT_IN, DPI = 6.4, 8.0, 125  # 800 × 1000 px: halves cleanly to Slack's ~400 px preview
_LOCK = threading.Lock()
_RC: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",  # ships with matplotlib: the same glyphs on every host
    "font.size": 13,
    "axes.titlesize": 15,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlepad": 8,
    "axes.labelsize": 13,
    "xtick.labelsize": 13,
    "ytick.labelsize": 13,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#555555",
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "svg.hashsalt": "incident-bot",
    "path.simplify": True,
}
# Okabe–Ito: tells apart for colour-blind readers.
BLUE, SKY, ORANGE, GREEN, VERMILLION, GREY = "#0072B2", "#56B4E9", "#E69F00", "#009E73", "#D55E00", "#8C8C8C"
PHASE_COLOURS = dict(zip(PHASES, (SKY, ORANGE, VERMILLION, GREEN), strict=True))
# Candidate ticks for durations, seconds → label. A few are picked to span the data.
DURATION_TICKS: tuple[tuple[float, str], ...] = (
    (60, "1 min"),
    (5 * 60, "5 min"),
    (15 * 60, "15 min"),
    (30 * 60, "30 min"),
    (3600, "1 h"),
    (2 * 3600, "2 h"),
    (4 * 3600, "4 h"),
    (8 * 3600, "8 h"),
    (86400, "1 d"),
    (2 * 86400, "2 d"),
    (7 * 86400, "1 w"),
    (28 * 86400, "4 w"),
)
FLOOR_SECONDS = 30.0  # a log axis has no zero: shorter restores are drawn at 30 s


def _short(seconds: float) -> str:
    """A compact duration for labels on the picture: "45 s", "53 min", "1 h 07 min", "2.5 d"."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h {rest:02d} min" if rest else f"{hours} h"
    return f"{seconds / 86400:.1f} d".replace(".0 d", " d")


def _duration_axis(ax: Axes, low: float, high: float, *, axis: str, max_ticks: int = 4) -> None:
    """Log scale from low to high seconds, with at most ``max_ticks`` labelled round durations."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    low, high = max(low, FLOOR_SECONDS), max(high, FLOOR_SECONDS * 2)
    lo, hi = low / 1.6, high * 1.6
    inside = [(s, label) for s, label in DURATION_TICKS if lo <= s <= hi]
    if len(inside) < 2:
        # Widen to the nearest candidates on both sides.
        below = [t for t in DURATION_TICKS if t[0] < lo][-1:]
        above = [t for t in DURATION_TICKS if t[0] > hi][:1]
        inside = below + inside + above
        lo = min(lo, inside[0][0] / 1.2)
        hi = max(hi, inside[-1][0] * 1.2)
    step = max(1, math.ceil(len(inside) / max_ticks))
    picked = inside[::-1][::step][::-1]  # keep the largest, thin from there
    values, labels = [s for s, _ in picked], [label for _, label in picked]
    set_scale, set_limits, line = (ax.set_yscale, ax.set_ylim, ax.yaxis) if axis == "y" else (ax.set_xscale, ax.set_xlim, ax.xaxis)
    set_scale("log")
    set_limits(lo, hi)
    line.set_major_locator(FixedLocator(values))
    line.set_ticklabels(labels)
    line.set_minor_locator(NullLocator())
    line.set_minor_formatter(NullFormatter())


def _note(ax: Axes, x: float, y: float, text: str, *, transform: Transform) -> None:
    """A grey message where a panel has nothing (or too little) to draw."""
    ax.text(x, y, text, transform=transform, ha="center", va="center", fontsize=13, color="#555555")


@dataclass(frozen=True)
class TrendPoint:
    """One week of the first panel, as drawn: the numbers come from the trend the digest's words
    come from, and nothing else."""

    week: str  # "2026-W47"
    count: int
    median: float | None  # seconds; None when nothing was restored that week
    readable: bool  # a solid blue dot: enough incidents in a week that has ended
    note: str | None  # the grey label under a week that is not readable


def trend_points(trend: Trend) -> list[TrendPoint]:
    points = []
    for week in trend.weeks:
        readable = week.enough and week.complete and week.median is not None
        note = None
        if not readable:
            note = "so far" if not week.complete else f"n={week.count}"
            if not week.complete and not week.enough:
                note = f"so far\nn={week.count}"
        points.append(TrendPoint(week.label, week.count, week.median, readable, note))
    return points


def headline_seconds(points: Sequence[TrendPoint]) -> float | None:
    """The bold figure of the first panel: the newest readable week's median."""
    readable = [p.median for p in points if p.readable and p.median is not None]
    return readable[-1] if readable else None


def _trend_panel(ax: Axes, trend: Trend, min_count: int) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.patheffects import withStroke
    from matplotlib.transforms import blended_transform_factory

    weeks = trend.weeks
    xs = list(range(len(weeks)))
    values = [v for w in weeks for v in (w.median_ci or ()) if w.enough] + [w.median for w in weeks if w.median is not None]
    if trend.overall.distribution is not None:
        values.append(trend.overall.distribution.median)
    _duration_axis(ax, min(values, default=600), max(values, default=7200), axis="y")
    low, high = ax.get_ylim()
    ax.set_ylim(low / 3, high)  # a strip at the bottom for the "n=3" labels, below every dot
    label_y = blended_transform_factory(ax.transData, ax.transAxes)

    solid_x: list[int] = []
    solid_y: list[float] = []
    intervals: list[tuple[int, float, float]] = []  # (x, bottom, height): drawn in one call, as one set of bars
    for x, week, point in zip(xs, weeks, trend_points(trend), strict=True):
        if point.readable:
            assert week.median is not None
            if week.median_ci:
                low, high = week.median_ci
                intervals.append((x, max(low, FLOOR_SECONDS), high - low))
            solid_x.append(x)
            solid_y.append(max(week.median, FLOOR_SECONDS))
            continue
        if week.median is not None:
            ax.plot(x, max(week.median, FLOOR_SECONDS), "o", ms=9, mfc="white", mec=GREY, mew=2, zorder=3)
        assert point.note is not None  # every week that is not readable says why
        ax.text(x, 0.02, point.note, transform=label_y, ha="center", va="bottom", fontsize=12, color="#555555", zorder=4)
    if intervals:
        bar_x, bottoms, heights = (np.asarray(column, dtype=np.float64) for column in zip(*intervals, strict=True))
        _bars(ax, bar_x - 0.31, np.full(len(bar_x), 0.62), bottoms, heights, color=SKY, alpha=0.35, linewidth=0, zorder=1)
    if solid_x:
        # The line joins neighbouring readable weeks only: a gap stays a gap.
        run_x, run_y = [solid_x[0]], [solid_y[0]]
        for x, y in zip(solid_x[1:], solid_y[1:], strict=True):
            if x == run_x[-1] + 1:
                run_x.append(x)
                run_y.append(y)
                continue
            ax.plot(run_x, run_y, "-", color=BLUE, lw=2.2, zorder=2)
            run_x, run_y = [x], [y]
        ax.plot(run_x, run_y, "-", color=BLUE, lw=2.2, zorder=2)
        ax.plot(solid_x, solid_y, "o", color=BLUE, ms=8, zorder=3)
        at_edge = solid_x[-1] >= len(xs) - 1.5
        ax.annotate(
            _short(solid_y[-1]),
            (solid_x[-1], solid_y[-1]),
            xytext=(6 if at_edge else 0, 10),
            textcoords="offset points",
            ha="right" if at_edge else "center",
            va="bottom",
            fontsize=13,
            fontweight="bold",
            color=BLUE,
            zorder=5,
            path_effects=[withStroke(linewidth=4, foreground="white")],  # legible over the lines it crosses
        )
    if not any(w.count for w in weeks):
        _note(ax, 0.5, 0.55, "no restored incidents in these weeks", transform=ax.transAxes)
    handles = [
        Line2D([], [], color=BLUE, marker="o", lw=2.2, label="weekly median"),
        Patch(color=SKY, alpha=0.35, label="95% interval"),
        Line2D([], [], color=GREY, marker="o", mfc="white", mew=2, lw=0, label=f"too few (n<{min_count})"),
    ]
    overall = trend.overall
    if overall.enough and overall.distribution is not None:
        median = max(overall.distribution.median, FLOOR_SECONDS)
        ax.axhline(median, color="#333333", lw=1.2, ls=(0, (4, 3)), zorder=1)
        label = f"{len(weeks)}-week median {_short(median)}"
        handles.append(Line2D([], [], color="#333333", lw=1.2, ls=(0, (4, 3)), label=label))

    # Few week labels: every third, always the newest.
    ticks = [x for x in xs if (len(xs) - 1 - x) % 3 == 0]
    ax.set_xticks(ticks, [f"W{weeks[x].iso_week:02d}" for x in ticks])
    ax.set_xlim(-0.6, len(xs) - 0.4)
    ax.set_title("Median time to restore, week by week", pad=52)
    ax.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(-0.02, 1.0),
        fontsize=12,
        frameon=False,
        ncol=2,
        handlelength=1.6,
        columnspacing=1.2,
        borderaxespad=0.2,
    )
    ax.grid(axis="y", color="#DDDDDD", lw=0.8, zorder=0)
    ax.set_axisbelow(True)


def _window_label(report: WindowReport) -> str:
    if report.until - report.since == timedelta(weeks=1) and report.since.astimezone(UTC).weekday() == 0:
        iso = report.since.astimezone(UTC).isocalendar()
        if report.since.astimezone(UTC).time() == time(0):
            return f"{iso.year}-W{iso.week:02d}"
    days = (report.until - report.since) / timedelta(days=1)
    return f"{days:g} days" if days == int(days) else "the window"


def _phase_panel(ax: Axes, overall: Measures, window: str, min_count: int) -> None:
    from matplotlib.patches import Patch
    from matplotlib.ticker import NullLocator

    ax.set_xlim(0, 1)
    ax.set_ylim(-0.5, 0.5)
    ax.xaxis.set_major_locator(NullLocator())
    ax.yaxis.set_major_locator(NullLocator())
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"Where restore time went, {window} (n={overall.count})")
    if not overall.enough or overall.slowest_phase is None:
        ax.barh(0, 1, height=0.8, color="#EEEEEE")
        _note(ax, 0.5, 0, too_few_text(overall.count, min_count), transform=ax.transData)
        return
    left = 0.0
    for phase in PHASES:
        share = overall.phase_share[phase] or 0.0
        ax.barh(0, share, left=left, height=0.8, color=PHASE_COLOURS[phase], edgecolor="white", linewidth=1.5)
        centre = left + share / 2
        bold = "bold" if phase is overall.slowest_phase else "normal"
        if share >= 0.17:
            ax.text(centre, 0, f"{phase.label}\n{share * 100:.0f}%", ha="center", va="center", fontsize=12, fontweight=bold)
        elif share >= 0.07:
            ax.text(centre, 0, f"{share * 100:.0f}%", ha="center", va="center", fontsize=12, fontweight=bold)
        left += share
    small = [p for p in PHASES if (overall.phase_share[p] or 0) < 0.17]
    if small:
        # Narrow segments are named underneath.
        ax.legend(
            handles=[Patch(color=PHASE_COLOURS[p], label=f"{p.label} {(overall.phase_share[p] or 0) * 100:.0f}%") for p in small],
            loc="upper left",
            bbox_to_anchor=(-0.01, 0.02),
            ncol=len(small),
            fontsize=12,
            frameon=False,
            handlelength=1.0,
            columnspacing=1.2,
            borderaxespad=0.0,
        )


def _bars(ax: Axes, lefts: np.ndarray, widths: np.ndarray, bottoms: np.ndarray, heights: np.ndarray, *, color: str, **style: Any) -> None:
    """Rectangles drawn as one collection: ``ax.bar`` makes a patch of each, and each patch costs
    its own limits update and draw call (about half a millisecond each in the digest's chart)."""
    from matplotlib.collections import PolyCollection

    rights, tops = lefts + widths, bottoms + heights
    corners = np.stack([np.stack(pair, axis=-1) for pair in ((lefts, bottoms), (lefts, tops), (rights, tops), (rights, bottoms))], axis=1)
    ax.add_collection(PolyCollection(list(corners), facecolors=color, **style), autolim=False)


def _distribution_panel(ax: Axes, restore_seconds: Sequence[float] | np.ndarray, weeks: int) -> None:
    from matplotlib.ticker import MaxNLocator, NullLocator

    values = np.sort(np.maximum(np.asarray(restore_seconds, dtype=np.float64), FLOOR_SECONDS))
    ax.set_title(f"Every restore time, last {weeks} weeks (n={len(values)})")
    if not len(values):
        _duration_axis(ax, 600, 7200, axis="x")
        ax.yaxis.set_major_locator(NullLocator())
        _note(ax, 0.5, 0.5, "no restored incidents yet", transform=ax.transAxes)
        return
    low, high = float(values[0]), float(values[-1])
    _duration_axis(ax, low, high, axis="x")
    lo, hi = ax.get_xlim()
    bins = max(6, min(24, round(3 * math.log10(hi / lo) * 2)))
    edges = np.array([lo * (hi / lo) ** (k / bins) for k in range(bins + 1)])
    counts, _ = np.histogram(values, bins=edges)
    _bars(ax, edges[:-1], np.diff(edges), np.zeros(len(counts)), counts, color=BLUE, alpha=0.85, edgecolor="white", linewidth=1)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
    ax.set_ylabel("incidents")
    top = max(1, int(counts.max())) * 1.05  # where ax.hist's autoscaling put it: 5% above the tallest bar
    ax.set_ylim(0, top * 1.25)
    median = percentile(values, 0.5)
    p90 = percentile(values, 0.9)

    def place(value: float) -> float:  # where the value sits across the axis, 0 to 1
        return math.log(value / lo) / math.log(hi / lo)

    for value, label, align in ((median, f"median\n{_short(median)}", "right"), (p90, f"p90\n{_short(p90)}", "left")):
        ax.axvline(value, color="#222222", lw=1.6, ls=(0, (4, 2)))
        if align == "left" and place(value) > 0.8:
            align = "right"  # no room on the right: write it on the left of its line
        if align == "right" and place(value) < 0.2:
            align = "left"
        offset = 0.94 if align == "right" else 1.06
        ax.text(value * offset, top * 1.2, label, ha=align, va="top", fontsize=12, color="#222222")
    ax.grid(axis="y", color="#DDDDDD", lw=0.8)
    ax.set_axisbelow(True)


def _restore_seconds(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Restore times as the distribution panel takes them; refused when one is not a duration."""
    seconds = np.asarray(values, dtype=np.float64)
    if not (np.isfinite(seconds).all() and (seconds >= 0).all()):
        raise ValueError("restore times must be finite and non-negative")
    return seconds


@dataclass(frozen=True)
class DigestChart:
    """What the digest's picture shows, and nothing more: what the drawing process is handed
    (bot/analytics/drawing.py). The whole window report pickles to about 230 KB at 100,000
    incidents (its open incidents and segments), these figures to a few KB beside the restore times."""

    trend: Trend
    overall: Measures  # the covered window's: where its restore time went
    window: str  # the covered window as its panel names it: "2026-W47", "30 days"
    min_count: int
    restore_seconds: np.ndarray  # float64: what the distribution panel shows (the trend's weeks, usually)

    @classmethod
    def of(cls, trend: Trend, report: WindowReport, restore_seconds: Sequence[float] | np.ndarray) -> DigestChart:
        return cls(trend, report.overall, _window_label(report), report.settings.min_count, _restore_seconds(restore_seconds))


def render_digest_chart(trend: Trend, report: WindowReport, restore_seconds: Sequence[float] | np.ndarray) -> bytes:
    """The digest's three-panel PNG (800 × 1000 px). ``restore_seconds``: the restore times the
    distribution panel shows (the trend's weeks, usually)."""
    return draw_digest_chart(DigestChart.of(trend, report, restore_seconds))


def draw_digest_chart(chart: DigestChart) -> bytes:
    """``render_digest_chart`` from the figures alone."""
    import matplotlib
    import matplotlib.style

    matplotlib.use("Agg")  # before anything draws: never a window
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _LOCK, matplotlib.style.context("default"), matplotlib.rc_context(_RC):
        figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor="white")
        FigureCanvasAgg(figure)
        grid = figure.add_gridspec(3, 1, height_ratios=(3.1, 0.75, 2.4), hspace=0.6, left=0.15, right=0.97, top=0.865, bottom=0.065)
        _trend_panel(figure.add_subplot(grid[0]), chart.trend, chart.min_count)
        _phase_panel(figure.add_subplot(grid[1]), chart.overall, chart.window, chart.min_count)
        _distribution_panel(figure.add_subplot(grid[2]), chart.restore_seconds, len(chart.trend.weeks))
        raw = io.BytesIO()
        figure.savefig(raw, format="raw", dpi=DPI, facecolor="white")
    return _png_of(np.frombuffer(raw.getbuffer(), dtype=np.uint8).reshape(round(HEIGHT_IN * DPI), round(WIDTH_IN * DPI), 4))


def _png_of(rgba: np.ndarray) -> bytes:
    """The drawn picture as an RGB PNG with nothing but its pixels: on a white face the alpha
    channel is 255 everywhere. Without it, and at zlib's fastest level, the 800 × 1000 picture
    encodes in 11 ms instead of savefig's 19 (RGBA, level 6), and comes out smaller (82 KB, not 84)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba[..., :3]), "RGB").save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def chart_alt_text(trend: Trend, report: WindowReport) -> str:
    """What the picture shows, for screen readers (files.uploadV2's alt_txt)."""
    overall = trend.overall
    parts = [f"Weekly median time to restore over {len(trend.weeks)} weeks"]
    if overall.enough and overall.distribution is not None:
        parts.append(f"overall median {_short(overall.distribution.median)} (n={overall.count})")
    if report.overall.enough and report.overall.slowest_phase is not None:
        phase = report.overall.slowest_phase
        parts.append(f"most restore time went to {phase.label.lower()} ({(report.phase_share[phase] or 0) * 100:.0f}%)")
    return "; ".join(parts) + "."


def _render_one(draw: Callable[[Axes], None], *, height_in: float, fmt: str) -> bytes:
    """One panel as its own picture: PNG (App Home) or SVG (the dashboard)."""
    import matplotlib
    import matplotlib.style

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # In SVG the words stay text (a screen reader and a search find them; a tenth of the size of glyph outlines).
    with _LOCK, matplotlib.style.context("default"), matplotlib.rc_context({**_RC, "svg.fonttype": "none"}):
        figure = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, facecolor="white")
        FigureCanvasAgg(figure)
        figure.subplots_adjust(left=0.15, right=0.97, top=0.72 if height_in < 4 else 0.8, bottom=0.14)
        draw(figure.add_subplot())
        buffer = io.BytesIO()
        # No date, no version: the same figures give the same bytes (an unchanged chart is not uploaded again).
        metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
        figure.savefig(buffer, format=fmt, dpi=DPI, facecolor="white", metadata=metadata)
    return buffer.getvalue()


def render_trend_chart(trend: Trend, min_count: int, *, fmt: str = "svg") -> bytes:
    """The weekly median time to restore (the digest's first panel) on its own: the dashboard
    overview's main chart, and App Home's picture."""
    return _render_one(lambda ax: _trend_panel(ax, trend, min_count), height_in=3.6, fmt=fmt)


def render_distribution_chart(restore_seconds: Sequence[float] | np.ndarray, weeks: int, *, fmt: str = "svg") -> bytes:
    """Every restore time of the trend's weeks on a log scale (the digest's third panel)."""
    seconds = _restore_seconds(restore_seconds)
    return _render_one(lambda ax: _distribution_panel(ax, seconds, weeks), height_in=3.4, fmt=fmt)


def trend_alt_text(trend: Trend) -> str:
    """What the trend chart shows, for screen readers."""
    overall = trend.overall
    parts = [f"Weekly median time to restore over {len(trend.weeks)} weeks"]
    if overall.enough and overall.distribution is not None:
        parts.append(f"overall median {_short(overall.distribution.median)} (n={overall.count})")
    readable = headline_seconds(trend_points(trend))
    if readable is not None:
        parts.append(f"latest complete week's median {_short(readable)}")
    return "; ".join(parts) + "."
