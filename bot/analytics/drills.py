"""The figures of drills, kept apart from the real ones: how long a rehearsed restore takes.

time to restore = verified - started (as for every incident); n, median and mean over the drills
restored in the window, in all and per service. Shown even for one drill (no minimum count): a
drill is asked for by name, and a team rehearsing its rollback wants that one figure. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from bot.analytics.stats import RestoredIncidents
from bot.core.text_input import escape
from bot.core.timefmt import human_duration


@dataclass(frozen=True)
class RestoreFigures:
    label: str  # "all drills" or a service name
    count: int
    median: timedelta
    mean: timedelta


@dataclass(frozen=True)
class DrillReport:
    overall: RestoreFigures | None  # None: no drill was restored in the window
    by_service: tuple[RestoreFigures, ...]
    still_open: int


def _figures(label: str, restore_us: np.ndarray) -> RestoreFigures:
    # Whole microseconds, rounded down: never a time that did not pass.
    return RestoreFigures(
        label,
        int(restore_us.size),
        timedelta(microseconds=int(np.floor(np.median(restore_us)))),
        timedelta(microseconds=int(restore_us.sum() // restore_us.size)),
    )


def drill_report(restored: RestoredIncidents, *, still_open: int) -> DrillReport:
    """``restored``: drills alone (bot.analytics.incident_reads.IncidentReads.columns with drills=True)."""
    if not len(restored):
        return DrillReport(None, (), still_open)
    restore = restored.restore_us
    services = tuple(_figures(name, restore[restored.service.mask(name)]) for name in sorted(restored.service.present()))
    return DrillReport(_figures("all drills", restore), services, still_open)


def drill_lines(report: DrillReport, *, mrkdwn: bool = False) -> list[str]:
    """The report's "Drills" section as lines: plain for the terminal, or (``mrkdwn``) for Slack,
    where a service name (an imported one may hold anything) is escaped."""
    lines = ["Drills (kept apart: counted in no figure above)"]
    if report.overall is None:
        lines.append("  no drill restored in this window")
    else:
        for figures in (report.overall, *report.by_service):
            label = escape(figures.label) if mrkdwn else figures.label
            lines.append(
                f"  {label:<24} n={figures.count:<4} median {human_duration(figures.median):<12} mean {human_duration(figures.mean)}"
            )
    if report.still_open:
        lines.append(f"  {report.still_open} drill{'s' if report.still_open > 1 else ''} still open")
    return lines


def drill_blocks(report: DrillReport, *, title: str) -> list[dict[str, Any]]:
    """``/incident stats drills``: the section as a message (figures in a code block, as the CLI prints them)."""
    body = "\n".join(line.strip() for line in drill_lines(report, mrkdwn=True)[1:])
    return [
        {"type": "header", "text": {"type": "plain_text", "text": f"🧪 {title}"[:150], "emoji": True}},  # plain text: shown as typed
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```{body}```"[:3000]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Drills are counted apart: no other figure includes them."}]},
    ]


def drill_json(report: DrillReport) -> dict[str, Any]:
    def one(figures: RestoreFigures) -> dict[str, Any]:
        return {
            "count": figures.count,
            "median_seconds": figures.median.total_seconds(),
            "mean_seconds": figures.mean.total_seconds(),
        }

    return {
        "overall": one(report.overall) if report.overall else None,
        "by_service": {figures.label: one(figures) for figures in report.by_service},
        "still_open": report.still_open,
    }
