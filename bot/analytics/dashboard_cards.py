"""The dashboard's figures as view models: pure, from the same ``WindowReport`` and ``Trend`` that
``incident-bot report`` prints, in the same words (bot.analytics.stats_view), so a page and the
report agree to the digit.

A card is one function of ``ScopeFigures`` returning a ``Card``; ``OVERVIEW_CARDS`` lists them in
the order the pages show them. Adding a figure is one such function here, and, if the generic
card does not suit it, one ``{% block %}`` named ``card_<key>`` in templates/dashboard/cards.html.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from bot.analytics.delivery_figures import DeliveryReport
from bot.analytics.delivery_view import delivery_sections, key_lines
from bot.analytics.key_trends import KeyTrend, Unit
from bot.analytics.key_trends import TrendPoint as KeyPoint
from bot.analytics.stats import Measures, RestoredIncidents, Trend, WindowReport, epoch_microseconds, percentile, too_few_text
from bot.analytics.stats_view import (
    PLAIN,
    acknowledge_line,
    completed_change,
    confidence_label,
    duration_text,
    figure_text,
    percent,
    restore_headers,
    restore_row,
    slowest_by_severity_line,
    slowest_text,
    trend_lines,
    verdict_reason,
)
from bot.core.phases import PHASES, Phase
from bot.core.records import IncidentRecord

_WEEK_US = 7 * 24 * 3600 * 1_000_000


@dataclass(frozen=True)
class ScopeFigures:
    """Everything one scope (all incidents, a service, a team) shows, from one database read."""

    title: str
    report: WindowReport
    trend: Trend
    restored: RestoredIncidents  # the restored incidents of the window and of the trend's weeks
    delivery: DeliveryReport | None = None  # DORA's four keys and detection coverage, on the scope pages


@dataclass(frozen=True)
class WeekBar:
    """One week of a card's trend, drawn as an HTML bar (its text is what a screen reader reads)."""

    label: str  # "W47"
    text: str  # "42 min", "n=3", "7"
    height: float  # 0 to 1, of the tallest week
    faint: bool  # too few incidents, or the week is still running


@dataclass(frozen=True)
class Card:
    key: str  # the template block ``card_<key>`` draws it when there is one; else the generic card
    title: str
    headline: str
    detail: Sequence[str]
    weeks: Sequence[WeekBar] = ()
    trend_note: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def _bars(labels: Sequence[str], values: Sequence[float | None], texts: Sequence[str], faint: Sequence[bool]) -> list[WeekBar]:
    top = max((v for v in values if v is not None), default=0.0)
    return [
        WeekBar(label, text, (value / top) if top and value is not None else 0.0, is_faint)
        for label, value, text, is_faint in zip(labels, values, texts, faint, strict=True)
    ]


def _week_labels(trend: Trend) -> list[str]:
    return [f"W{week.iso_week:02d}" for week in trend.weeks]


def time_to_restore_card(figures: ScopeFigures) -> Card:
    report, trend = figures.report, figures.trend
    confidence = report.settings.confidence
    figure = report.time_to_restore
    readable = figure.enough and figure.distribution is not None
    headline = (
        duration_text(figure.distribution.median) if readable and figure.distribution else too_few_text(figure.count, figure.min_count)
    )
    weeks = trend.weeks
    bars = _bars(
        _week_labels(trend),
        [w.median for w in weeks],
        [duration_text(w.median) if w.median is not None else "n=0" for w in weeks],
        [not (w.enough and w.complete) for w in weeks],
    )
    return Card(
        key="time_to_restore",
        title="Time to restore (median)",
        headline=headline,
        detail=[figure_text(figure, confidence)],
        weeks=bars,
        trend_note=" · ".join(trend_lines(trend, report.settings.min_count, confidence, PLAIN)),
    )


def weekly_acknowledge_medians(restored: RestoredIncidents, trend: Trend) -> list[tuple[int, float | None]]:
    """Per week of the trend: how many restored incidents started that week were acknowledged, and
    the median of their time to acknowledge in seconds (None when none was)."""
    since_us = epoch_microseconds(trend.since)
    in_range = restored.started_between(trend.since, trend.until) & restored.acknowledged
    week_of = (restored.started_us[in_range] - since_us) // _WEEK_US
    ack_us = restored.ack_us[in_range]
    out: list[tuple[int, float | None]] = []
    for index in range(len(trend.weeks)):
        values = np.sort(ack_us[week_of == index]) / 1_000_000
        out.append((len(values), percentile(values, 0.5) if len(values) else None))
    return out


def time_to_acknowledge_card(figures: ScopeFigures) -> Card:
    report, trend = figures.report, figures.trend
    figure = report.time_to_acknowledge
    readable = figure.enough and figure.distribution is not None
    headline = (
        duration_text(figure.distribution.median) if readable and figure.distribution else too_few_text(figure.count, figure.min_count)
    )
    weekly = weekly_acknowledge_medians(figures.restored, trend)
    min_count = report.settings.min_count
    bars = _bars(
        _week_labels(trend),
        [median for _, median in weekly],
        [duration_text(median) if median is not None else "n=0" for _, median in weekly],
        [count < min_count or not week.complete for (count, _), week in zip(weekly, trend.weeks, strict=True)],
    )
    return Card(
        key="time_to_acknowledge",
        title="Time to acknowledge (median)",
        headline=headline,
        detail=[acknowledge_line(report, PLAIN).removeprefix("Time to acknowledge: ")],
        weeks=bars,
        trend_note="weekly median of acknowledged − detected; a faint week had fewer than "
        f"{min_count} acknowledged incidents or is still running",
    )


def incident_count_card(figures: ScopeFigures) -> Card:
    report, trend = figures.report, figures.trend
    weeks = trend.weeks
    counts = [w.count + w.open_count for w in weeks]
    bars = _bars(_week_labels(trend), [float(c) for c in counts], [str(c) for c in counts], [not w.complete for w in weeks])
    return Card(
        key="incident_count",
        title="Incidents",
        headline=str(report.count),
        detail=[
            f"{report.count} restored incidents started in the window",
            f"{len(report.open_incidents)} open (in no figure until verified)",
        ],
        weeks=bars,
        trend_note="incidents started each week, restored or still open",
    )


# The overview's cards, in order; every scope page (service, team) shows the same.
OVERVIEW_CARDS: tuple[Callable[[ScopeFigures], Card], ...] = (time_to_restore_card, time_to_acknowledge_card, incident_count_card)


def cards(figures: ScopeFigures) -> list[Card]:
    return [card(figures) for card in OVERVIEW_CARDS]


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]


def restore_table(report: WindowReport) -> Table:
    """The report's first table: time to restore over every restored incident of the window."""
    confidence = report.settings.confidence
    return Table(restore_headers("", confidence), [restore_row("all", report.overall, confidence)])


@dataclass(frozen=True)
class PhaseSlice:
    phase: Phase
    share: float  # 0 to 1 of all restore time
    text: str  # "45%"
    slowest: bool


@dataclass(frozen=True)
class PhaseBreakdown:
    table: Table
    slices: Sequence[PhaseSlice]  # empty below min_count
    slowest: str
    slowest_by_severity: str


def phase_breakdown_of_measures(measures: Measures, min_count: int) -> PhaseBreakdown:
    """Where restore time went in one group: the report's phase table (its rows as the report
    prints them), the slowest phase, and the shares as one bar."""
    rows: list[list[str]] = []
    for phase in PHASES:
        figure = measures.phases[phase]
        if not figure.enough or figure.distribution is None:
            rows.append([phase.label, str(figure.count), too_few_text(figure.count, figure.min_count), ""])
        else:
            rows.append([phase.label, str(figure.count), duration_text(figure.distribution.median), percent(measures.phase_share[phase])])
    slices: list[PhaseSlice] = []
    if measures.enough and measures.slowest_phase is not None:
        slices = [
            PhaseSlice(phase, measures.phase_share[phase] or 0.0, percent(measures.phase_share[phase]), phase is measures.slowest_phase)
            for phase in PHASES
        ]
    return PhaseBreakdown(
        table=Table(["phase", "n", "median", "share of restore time"], rows),
        slices=slices,
        slowest=f"Slowest phase: {slowest_text(measures, min_count, PLAIN)}",
        slowest_by_severity="",
    )


def phase_breakdown(report: WindowReport) -> PhaseBreakdown:
    """The window's breakdown, with the report's slowest-phase-by-severity line."""
    breakdown = phase_breakdown_of_measures(report.overall, report.settings.min_count)
    return PhaseBreakdown(breakdown.table, breakdown.slices, breakdown.slowest, slowest_by_severity_line(report, PLAIN))


@dataclass(frozen=True)
class IncidentPhase:
    label: str
    took: str  # "12 min", "under way", "not reached"


def incident_phases(incident: IncidentRecord, now: datetime) -> list[IncidentPhase]:
    """One incident's four phases: how long each took, the one under way and how long so far."""
    timeline = incident.timeline
    out = []
    for phase in PHASES:
        took = timeline.duration(phase)
        if took is not None:
            out.append(IncidentPhase(phase.label, duration_text(took / timedelta(seconds=1))))
        elif phase is timeline.current_phase and (start := timeline.phase_start(phase)) is not None:
            out.append(IncidentPhase(phase.label, f"under way for {age_text(start, now)}"))
        else:
            out.append(IncidentPhase(phase.label, "not reached"))
    return out


@dataclass(frozen=True)
class DistributionSummary:
    restore_seconds: np.ndarray  # every restore time of the trend's weeks, seconds
    weeks: int
    lines: Sequence[str]


def distribution_summary(figures: ScopeFigures) -> DistributionSummary:
    """The restore times the distribution chart draws (the trend's weeks, as the digest's chart)
    and the figures printed beside it: the trend's pooled line, as the report prints it."""
    trend, report = figures.trend, figures.report
    in_range = figures.restored.started_between(trend.since, trend.until)
    seconds = figures.restored.restore_us[in_range] / 1_000_000
    confidence = report.settings.confidence
    lines = [
        f"Last {len(trend.weeks)} weeks: {figure_text(trend.overall, confidence)}",
        f"Intervals are {confidence_label(confidence)} median intervals; figures need {report.settings.min_count} incidents.",
    ]
    return DistributionSummary(seconds, len(trend.weeks), lines)


def week_change_text(trend: Trend, min_count: int, confidence: float) -> str | None:
    compared = completed_change(trend)
    if compared is None:
        return None
    previous, current, change = compared
    return f"{current.label} against {previous.label}: {change.verdict.value}: {verdict_reason(previous, current, change, min_count, confidence)}"


def age_text(started_at: datetime, now: datetime) -> str:
    return duration_text(max((now - started_at) / timedelta(seconds=1), 0.0))


@dataclass(frozen=True)
class KeyTrendView:
    """One key beside its trend: the window's figure and band in the report's words, the trend
    (drawn as a chart), and every point as a table row (the chart's text alternative)."""

    key: str
    name: str
    figure: str
    trend: KeyTrend
    table: Table


def _point_text(point: KeyPoint, unit: Unit) -> str:
    if point.value is None:
        return "—"
    if unit is Unit.SHARE:
        return percent(point.value)
    if unit is Unit.PER_WEEK:
        return f"{point.value:.2f}/week"
    return duration_text(point.value)


def _point_note(point: KeyPoint) -> str:
    notes = [] if point.enough else ["too few for a band"]
    if not point.period.complete:
        notes.append("so far")
    return ", ".join(notes)


def key_trend_views(figures: ScopeFigures) -> list[KeyTrendView]:
    """The four keys (with failed deployment recovery time, as the report lists them), time to
    acknowledge and the share detected by an alert, in that order; none without the delivery figures."""
    delivery = figures.delivery
    if delivery is None or not delivery.trends:
        return []
    texts = dict(key_lines(delivery.dora.overall, delivery.dora.confidence))
    texts["Time to acknowledge"] = acknowledge_line(figures.report, PLAIN).removeprefix("Time to acknowledge: ")
    texts["Detected by an alert"] = delivery_sections(delivery).coverage_title
    views = []
    for trend in delivery.trends:
        value_header = "deploys/week" if trend.unit is Unit.PER_WEEK else "rate" if trend.unit is Unit.SHARE else "median"
        rows = [
            [f"{which} {p.period.label}", _point_text(p, trend.unit), str(p.count), _point_note(p)]
            for which, points in (("week", trend.weekly), ("month", trend.monthly))
            for p in points
        ]
        table = Table(["period", value_header, "n", "note"], rows)
        views.append(KeyTrendView(trend.key, trend.name, texts[trend.name], trend, table))
    return views
