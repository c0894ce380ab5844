"""MTTR figures for people: Block Kit (``/incident stats``, the App Home tab), plain text and CSV
for the CLI's ``report``, and JSON. Pure: takes a ``WindowReport`` (and a ``Trend``), returns text.

Rules every rendering keeps:

- every figure stands with its count ("n=12"); below ``min_count`` it reads
  "too few incidents (n=3, need 5)" instead of numbers (CSV and JSON keep the numbers and say
  ``enough``: they are read by programs, which can filter);
- wherever a mean is shown, the median stands beside it (mean after median, on the same line);
- figures are grouped by severity, service, detection method or working hours, never by person:
  nothing here takes or prints a user.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    ImageBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.analytics.stats import (
    Figure,
    Measures,
    OpenIncident,
    Share,
    Trend,
    Verdict,
    VerdictReason,
    WeekChange,
    WeekFigure,
    WindowReport,
    smallest_median_sample,
    too_few_text,
)
from bot.analytics.summary import TIER_EMOJI
from bot.core.command_text import DETECTION_LABELS
from bot.core.phases import PHASES, Phase
from bot.core.text_input import clip, escape, spreadsheet_cell
from bot.core.timefmt import human_duration, slack_time
from bot.slack.blocks import MAX_FIELD_TEXT, MAX_HEADER, MAX_SECTION_TEXT, SEVERITY_EMOJI, within_message_limits

MAX_HOME_BLOCKS = 100
# Lists (open incidents, services) stop here and say how many more there are.
MAX_LIST_LINES = 25


@dataclass(frozen=True)
class Grouping:
    segment: str  # the attribute of stats.Segments it reads
    title: str  # "By {title}:" above its table


# ``by`` for report_table / report_csv: the CLI's --by values, the segment each one reads and its title.
GROUPINGS: dict[str, Grouping] = {
    "severity": Grouping("severity", "severity"),
    "service": Grouping("service", "service"),
    "detection": Grouping("detection_method", "detection method"),
    "hours": Grouping("business_hours", "working hours"),
}
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,}")


# --------------------------------------------------------------------------------------------
# Words shared by every rendering (the digest uses them too)


@dataclass(frozen=True)
class TextStyle:
    """The same sentences as Slack mrkdwn or as plain text (CLI, ``--dry-run``, fallbacks)."""

    mrkdwn: bool

    def bold(self, text: str) -> str:
        return f"*{text}*" if self.mrkdwn else text

    def italic(self, text: str) -> str:
        return f"_{text}_" if self.mrkdwn else text

    def user_text(self, text: str) -> str:
        """Text someone typed (a title, a service name): escaped for mrkdwn, as is in plain text."""
        return escape(text) if self.mrkdwn else text

    def severity(self, severity: str) -> str:
        emoji = SEVERITY_EMOJI.get(severity)
        return f"{emoji} {escape(severity)}" if self.mrkdwn and emoji else self.user_text(severity)

    def incident(self, incident_id: int, war_rooms: Mapping[int, str] | None = None) -> str:
        """INC-42, linked to its war room (``<#C0123|INC-42>``) in mrkdwn when it has one."""
        reference = f"INC-{incident_id}"
        channel = (war_rooms or {}).get(incident_id)
        if self.mrkdwn and channel and _CHANNEL_ID.fullmatch(channel):
            return f"<#{channel}|{reference}>"
        return reference

    def date(self, moment: datetime) -> str:
        if self.mrkdwn:
            return slack_time(moment, "{date_short}")
        return moment.astimezone(UTC).strftime("%d %b %Y")


MRKDWN = TextStyle(mrkdwn=True)
PLAIN = TextStyle(mrkdwn=False)


def duration_text(seconds: float) -> str:
    return human_duration(timedelta(seconds=seconds))


def percent(fraction: float | None) -> str:
    return "—" if fraction is None else f"{fraction * 100:.0f}%"


def confidence_label(confidence: float) -> str:
    return f"{confidence * 100:g}%"


def interval_text(low: float, high: float) -> str:
    return f"{duration_text(low)} – {duration_text(high)}"


def median_text(figure: Figure, confidence: float) -> str:
    """ "median 42 min (95% interval 30 min – 1 h 05 min)"; assumes the figure is readable."""
    dist = figure.distribution
    assert dist is not None
    label = confidence_label(confidence)
    if dist.median_ci is not None:
        ci = f"{label} interval {interval_text(*dist.median_ci)}"
    else:
        ci = f"no {label} interval below {smallest_median_sample(confidence)} incidents"
    return f"median {duration_text(dist.median)} ({ci})"


def figure_text(figure: Figure, confidence: float, *, percentiles: bool = True, interval: bool = True) -> str:
    """One measure on one line: median (with its interval), mean beside it, p90, p95, n.
    Below min_count: "too few incidents (n=3, need 5)" and no numbers."""
    dist = figure.distribution
    if not figure.enough or dist is None:
        return too_few_text(figure.count, figure.min_count)
    median = median_text(figure, confidence) if interval else f"median {duration_text(dist.median)}"
    parts = [median, f"mean {duration_text(dist.mean)}"]
    if percentiles:
        parts += [f"p90 {duration_text(dist.p90)}", f"p95 {duration_text(dist.p95)}"]
    parts.append(f"n={figure.count}")
    return " · ".join(parts)


def share_text(share: Share, min_count: int, *, of: str = "incidents") -> str:
    """ "25% (3 of 12 incidents, n=12)", or too few below min_count."""
    if share.total == 0 or share.fraction is None:
        return f"no {of} (n=0)"
    if share.total < min_count:
        return too_few_text(share.total, min_count)
    return f"{percent(share.fraction)} ({share.count} of {share.total} {of}, n={share.total})"


def phase_line(phase: Phase, measures: Measures, confidence: float, style: TextStyle) -> str:
    """ "Diagnose: median 12 min · 45% of restore time · n=12"."""
    figure = measures.phases[phase]
    if not figure.enough or figure.distribution is None:
        return f"{style.bold(phase.label)}: {too_few_text(figure.count, figure.min_count)}"
    slowest = " ← slowest" if phase is measures.slowest_phase else ""
    return (
        f"{style.bold(phase.label)}: median {duration_text(figure.distribution.median)} · "
        f"{percent(measures.phase_share[phase])} of restore time · n={figure.count}{slowest}"
    )


def slowest_text(measures: Measures, min_count: int, style: TextStyle) -> str:
    """ "Diagnose (45% of restore time, n=12)": where most restore time went."""
    if not measures.enough or measures.slowest_phase is None:
        return too_few_text(measures.count, min_count)
    phase = measures.slowest_phase
    return f"{style.bold(phase.label)} ({percent(measures.phase_share[phase])} of restore time, n={measures.count})"


def open_incident_line(incident: OpenIncident, style: TextStyle, war_rooms: Mapping[int, str] | None = None) -> str:
    """ "INC-7 · P1 · payments · Diagnosing · open 2 h 10 min"; a private incident only "INC-7 · private"."""
    if incident.private:
        return f"{style.incident(incident.id, None)} · private"
    parts = [style.incident(incident.id, war_rooms), style.severity(incident.severity)]
    if incident.service:
        parts.append(style.user_text(incident.service))
    parts += [incident.current_phase.doing, f"open {human_duration(incident.age)}"]
    return " · ".join(parts)


def segment_label(key: str, grouping: str, style: TextStyle) -> str:
    if grouping == "severity":
        return style.severity(key)
    if grouping == "detection":
        return style.user_text(DETECTION_LABELS.get(key, key))
    return style.user_text(key)


def fit_lines(
    lines: Sequence[str], *, limit: int = MAX_SECTION_TEXT, max_lines: int = MAX_LIST_LINES, more: str = "more", count: int | None = None
) -> str:
    """Join lines up to Slack's text limit (and ``max_lines``), then "…and N more". ``count``: how
    many lines the list has when ``lines`` holds only its first ones (the others are counted in
    "…and N more"); given the first ``max_lines`` or more, the text is the whole list's, since no
    line past those is ever shown: a long list need not be written out."""
    clipped = [clip(line, limit) for line in lines]
    total = max(len(clipped), count or 0)
    text = "\n".join(clipped)
    if total <= max_lines and len(text) <= limit:
        return text
    kept = clipped[:max_lines]

    def with_tail(kept: list[str]) -> str:
        return "\n".join([*kept, f"…and {total - len(kept)} {more}"])

    while kept and len(with_tail(kept)) > limit:
        kept.pop()
    return with_tail(kept)


def window_text(report: WindowReport, style: TextStyle) -> str:
    days = (report.until - report.since) / timedelta(days=1)
    span = f"{days:g} days" if days == int(days) else human_duration(report.until - report.since)
    # until is exclusive: show the last day the window covers.
    last = report.until - timedelta(microseconds=1)
    zone = "" if style.mrkdwn else ", UTC"  # Slack shows each reader's own zone
    return f"{style.date(report.since)} – {style.date(last)} ({span}{zone})"


# --------------------------------------------------------------------------------------------
# Week over week


def completed_change(trend: Trend) -> tuple[WeekFigure, WeekFigure, WeekChange] | None:
    """The newest comparison of two complete weeks (the running week is not judged yet)."""
    weeks = {w.label: w for w in trend.weeks}
    for change in reversed(trend.changes):
        current = weeks[change.current]
        if current.complete:
            return weeks[change.previous], current, change
    return None


def change_for_week(trend: Trend, label: str) -> tuple[WeekFigure, WeekFigure, WeekChange] | None:
    weeks = {w.label: w for w in trend.weeks}
    for change in trend.changes:
        if change.current == label:
            return weeks[change.previous], weeks[change.current], change
    return None


def verdict_reason(previous: WeekFigure, current: WeekFigure, change: WeekChange, min_count: int, confidence: float) -> str:
    """Why the verdict is what it is, in words."""
    label = confidence_label(confidence)
    if change.reason is VerdictReason.TOO_FEW:
        return (
            f"too few incidents to compare ({previous.label} n={previous.count}, "
            f"{current.label} n={current.count}; need {min_count} a week)"
        )
    if change.reason is VerdictReason.NO_INTERVAL or previous.median_ci is None or current.median_ci is None:
        return (
            f"a week needs {smallest_median_sample(confidence)} incidents for a {label} median interval "
            f"({previous.label} n={previous.count}, {current.label} n={current.count})"
        )
    then = f"{previous.label} {interval_text(*previous.median_ci)}"
    now = f"{current.label} {interval_text(*current.median_ci)}"
    if change.verdict is Verdict.BETTER:
        return f"the {label} median intervals do not overlap: {now} lies wholly below {then}"
    if change.verdict is Verdict.WORSE:
        return f"the {label} median intervals do not overlap: {now} lies wholly above {then}"
    return f"the {label} median intervals overlap ({now}; {then})"


VERDICT_EMOJI = {Verdict.BETTER: "📉", Verdict.WORSE: "📈", Verdict.NO_CLEAR_CHANGE: "➖"}


def change_text(previous: WeekFigure, current: WeekFigure, change: WeekChange, min_count: int, confidence: float, style: TextStyle) -> str:
    """ "2026-W47 against 2026-W46: *no clear change*: the 95% median intervals overlap (…)"."""
    emoji = f"{VERDICT_EMOJI[change.verdict]} " if style.mrkdwn else ""
    return (
        f"{emoji}{current.label} against {previous.label}: {style.bold(change.verdict.value)}: "
        f"{verdict_reason(previous, current, change, min_count, confidence)}"
    )


def trend_lines(trend: Trend, min_count: int, confidence: float, style: TextStyle) -> list[str]:
    weeks = len(trend.weeks)
    lines = [f"{style.bold(f'Last {weeks} weeks')}: {figure_text(trend.overall, confidence, percentiles=False)}"]
    compared = completed_change(trend)
    if compared:
        lines.append(change_text(*compared, min_count, confidence, style))
    return lines


# --------------------------------------------------------------------------------------------
# Block Kit


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text[:MAX_SECTION_TEXT]))


def context_block(markup: str) -> ContextBlock:
    """A line of small print (the digest's too), written by the bot: ``markup`` is mrkdwn as sent."""
    return ContextBlock(elements=[MarkdownTextObject(text=markup[:MAX_FIELD_TEXT])])


def header_block(text: str) -> HeaderBlock:
    """A report's or digest's title, clipped to Slack's header limit."""
    return HeaderBlock(text=PlainTextObject(text=clip(text, MAX_HEADER), emoji=True))


def tier_lines(report: WindowReport, style: TextStyle) -> list[str]:
    n = report.count
    if n == 0:
        return [f"{style.bold('Tiers')}: {too_few_text(0, report.settings.min_count)}"]

    def counts(mapping: Mapping[str, int]) -> str:
        def one(name: str, count: int) -> str:
            emoji = TIER_EMOJI.get(name) if style.mrkdwn else None
            return f"{emoji} {name} {count}" if emoji else f"{name} {count}"

        return " · ".join(one(name, count) for name, count in mapping.items() if count or name in TIER_EMOJI)

    return [
        f"{style.bold(f'DORA bands ({report.tiers.dora_year} report)')}: {counts(report.tiers.dora)} · n={n}",
        f"{style.bold('Severity targets')}: {counts(report.tiers.severity_target)} · n={n}",
    ]


def customer_lines(report: WindowReport, style: TextStyle) -> list[str]:
    min_count = report.settings.min_count
    lines = [
        f"{style.bold('Customer-reported')}: {share_text(report.customer_reported, min_count, of='incidents started')}",
        f"{style.bold('Customer-reported P1s')}: {share_text(report.p1_customer_reported, min_count, of='P1s')}",
    ]
    if report.p1_customer_warning:
        p1 = report.p1_customer_reported
        warn = "⚠️ " if style.mrkdwn else "WARNING: "
        lines.append(f"{warn}{p1.count} of {p1.total} P1s were reported by customers: more than 20% means our monitoring missed them")
    return lines


def longest_line(report: WindowReport, style: TextStyle, war_rooms: Mapping[int, str] | None = None) -> str:
    longest = report.longest
    label = style.bold("Longest incident")
    if longest is None or report.count < report.settings.min_count or longest.share is None:
        return f"{label}: {too_few_text(report.count, report.settings.min_count)}"
    if longest.private:
        return f"{label}: a private incident (its figures are shown only in its war room)"
    return (
        f"{label}: {style.incident(longest.id, war_rooms)} took {duration_text(longest.time_to_restore)}, "
        f"{percent(longest.share)} of all restore time (n={report.count})"
    )


def acknowledge_line(report: WindowReport, style: TextStyle) -> str:
    """Time to acknowledge (acknowledged − detected), apart from the four phases."""
    acknowledged = report.acknowledged
    label = style.bold("Time to acknowledge")
    if acknowledged.count == 0:
        return f"{label}: no restored incident in the window was acknowledged"
    figure = figure_text(report.time_to_acknowledge, report.settings.confidence, percentiles=False, interval=False)
    return f"{label}: {figure} ({acknowledged.count} of {acknowledged.total} restored incidents were acknowledged)"


def assembly_lines(report: WindowReport, style: TextStyle) -> list[str]:
    """Time to assemble: detection until a second person joined the war room, and until a person
    held command; like time to acknowledge, apart from the four phases."""
    settings = report.settings
    lines = []
    for label, figure, share, none, counted in (
        (
            "Time to assemble",
            report.time_to_assemble,
            report.assembled,
            "no restored incident in the window had a second person join its war room",
            "had a second person join",
        ),
        (
            "Time to command",
            report.time_to_command,
            report.command_taken,
            "no restored incident in the window recorded when a person took command",
            "had a person in command",
        ),
    ):
        if share.count == 0:
            lines.append(f"{style.bold(label)}: {none}")
            continue
        text = figure_text(figure, settings.confidence, percentiles=False, interval=False)
        lines.append(f"{style.bold(label)}: {text} ({share.count} of {share.total} restored incidents {counted})")
    return lines


def recovery_fields(report: WindowReport, style: TextStyle) -> tuple[str, str]:
    """Time to restore beside failed deployment recovery time (DORA's two recovery measures)."""
    recovery = report.recovery
    confidence = report.settings.confidence
    restore = figure_text(recovery.time_to_restore, confidence, percentiles=False, interval=False)
    left = f"{style.bold('Time to restore')}\n{restore}"
    if recovery.no_deploy_data or recovery.failed_deployment_recovery is None:
        right_value = "no deploy data yet"
    else:
        right_value = (
            f"{figure_text(recovery.failed_deployment_recovery, confidence, percentiles=False, interval=False)}\n"
            f"linked to a deploy {recovery.deploy_linked} · not {recovery.not_deploy_linked} · "
            f"unknown {recovery.deploy_unknown}"
        )
    right = f"{style.bold('Failed deployment recovery')}\n{right_value}"
    return left, right


def segment_lines(report: WindowReport, grouping: str, style: TextStyle) -> list[str]:
    confidence = report.settings.confidence
    segments: Mapping[str, Measures] = getattr(report.segments, GROUPINGS[grouping].segment)
    lines = []
    for key, measures in segments.items():
        if grouping != "severity" and measures.count == 0:
            continue
        text = figure_text(measures.time_to_restore, confidence, percentiles=False, interval=False)
        lines.append(f"{segment_label(key, grouping, style)}: {text}")
    return lines


def slowest_by_severity_line(report: WindowReport, style: TextStyle) -> str:
    min_count = report.settings.min_count
    parts = [f"{style.severity(sev)} {slowest_text(m, min_count, style)}" for sev, m in report.by_severity.items()]
    return f"{style.bold('Slowest phase by severity')}: " + "; ".join(parts)


def _report_body(report: WindowReport, trend: Trend | None, war_rooms: Mapping[int, str] | None, *, with_open: bool) -> list[Block]:
    style = MRKDWN
    settings = report.settings
    confidence = settings.confidence
    blocks: list[Block] = [
        context_block(
            f"{window_text(report, style)} · {report.count} restored incidents · "
            f"figures need {settings.min_count} incidents · intervals are {confidence_label(confidence)}"
        ),
        _section(f"{style.bold('Time to restore')}\n{figure_text(report.time_to_restore, confidence)}"),
        _section("\n".join([acknowledge_line(report, style), *assembly_lines(report, style)])),
        _section(
            "\n".join(
                [style.bold("Phases"), *(phase_line(p, report.overall, confidence, style) for p in PHASES)]
                + [
                    f"{style.bold('Slowest phase')}: {slowest_text(report.overall, settings.min_count, style)}",
                    slowest_by_severity_line(report, style),
                ]
            )
        ),
        _section("\n".join(customer_lines(report, style) + [longest_line(report, style, war_rooms)])),
        _section("\n".join(tier_lines(report, style))),
        SectionBlock(fields=[MarkdownTextObject(text=text[:MAX_FIELD_TEXT]) for text in recovery_fields(report, style)]),
    ]
    if trend is not None:
        blocks.append(_section("\n".join(trend_lines(trend, settings.min_count, confidence, style))))
    blocks.append(DividerBlock())
    blocks.append(_section(fit_lines([style.bold("By severity"), *segment_lines(report, "severity", style)])))
    services = segment_lines(report, "service", style)
    if services:
        blocks.append(_section(fit_lines([style.bold("By service"), *services], more="more services")))
    if with_open:
        blocks.append(DividerBlock())
        blocks.append(_section(open_section_text(report.open_incidents, war_rooms)))
    blocks.append(
        context_block(
            "Time to restore = verified − impact started, for incidents whose impact started in the window. "
            "Open incidents count in no figure. Grouped by severity and service, never by person."
        )
    )
    return blocks


def open_section_text(open_incidents: Sequence[OpenIncident], war_rooms: Mapping[int, str] | None = None) -> str:
    style = MRKDWN
    if not open_incidents:
        return f"{style.bold('Open incidents')}: none"
    lines = [f"{style.bold(f'Open incidents ({len(open_incidents)})')} (in no figure until verified)"]
    lines += [f"• {open_incident_line(i, style, war_rooms)}" for i in open_incidents[:MAX_LIST_LINES]]
    return fit_lines(lines, more="more open incidents", count=1 + len(open_incidents))


def report_blocks(
    report: WindowReport, trend: Trend | None = None, *, title: str, war_rooms: Mapping[int, str] | None = None
) -> list[dict[str, Any]]:
    """The report as a message (``/incident stats``): ≤ 50 blocks, every text within Slack's limits.
    ``war_rooms`` (incident id → channel id) links open incidents to their war rooms."""
    blocks: list[Block] = [header_block(title), *_report_body(report, trend, war_rooms, with_open=True)]
    return within_message_limits([b.to_dict() for b in blocks])


_HOME_OPEN_LINES = 40


def home_view(
    open_incidents: Sequence[OpenIncident],
    report: WindowReport,
    *,
    war_rooms: Mapping[int, str] | None = None,
    trend: Trend | None = None,
    chart: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The App Home tab: open incidents first (phase, age, war room), then the window's figures.
    ``chart``: the Slack file ID and alt text of the weekly trend's picture (bot/interactions/home_chart.py)."""
    style = MRKDWN
    blocks: list[Block] = [header_block("🚨 Open incidents")]
    if not open_incidents:
        blocks.append(_section("No open incidents."))
    else:
        lines = [f"• {open_incident_line(i, style, war_rooms)}" for i in open_incidents[:_HOME_OPEN_LINES]]
        blocks.append(_section(fit_lines(lines, max_lines=_HOME_OPEN_LINES, more="more open incidents", count=len(open_incidents))))
    blocks += [DividerBlock(), header_block(f"📊 Time to restore, {_span_title(report)}")]
    if chart is not None:
        file_id, alt_text = chart
        blocks.append(ImageBlock(slack_file={"id": file_id}, alt_text=alt_text[:2000]))
    blocks += _report_body(report, trend, war_rooms, with_open=False)
    view = View(type="home", blocks=blocks).to_dict()
    if len(view["blocks"]) > MAX_HOME_BLOCKS:
        raise ValueError(f"{len(view['blocks'])} blocks; Slack allows {MAX_HOME_BLOCKS} in a Home tab")
    # The same per-block limits as a message (headers, sections, fields).
    within_message_limits(view["blocks"][:50])
    within_message_limits(view["blocks"][50:])
    return view


def _span_title(report: WindowReport) -> str:
    days = (report.until - report.since) / timedelta(days=1)
    if days == int(days):
        return f"last {int(days)} days" if report.until >= report.now - timedelta(days=1) else f"{int(days)} days"
    return "the window"


# --------------------------------------------------------------------------------------------
# Plain text, CSV and JSON


def _segments_for(report: WindowReport, by: str) -> Mapping[str, Measures]:
    if by not in GROUPINGS:
        raise ValueError(f"cannot group by '{by}'; use one of: {', '.join(GROUPINGS)}")
    segments: Mapping[str, Measures] = getattr(report.segments, GROUPINGS[by].segment)
    return segments


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Fixed-width columns; the first column left-aligned, the others right-aligned. A row with
    fewer cells than headers lets its last cell run on (used for "too few incidents …")."""
    widths = [len(h) for h in headers]
    for row in rows:
        if len(row) == len(headers):
            widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = []
        for index, cell in enumerate(cells):
            spans = len(cells) < len(headers) and index == len(cells) - 1
            if spans:
                out.append(cell)
            elif index == 0:
                out.append(cell.ljust(widths[0]))
            else:
                out.append(cell.rjust(widths[index]))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def restore_row(label: str, measures: Measures, confidence: float) -> list[str]:
    figure = measures.time_to_restore
    dist = figure.distribution
    if not figure.enough or dist is None:
        return [label, str(figure.count), too_few_text(figure.count, figure.min_count)]
    ci = interval_text(*dist.median_ci) if dist.median_ci else "—"
    slowest = measures.slowest_phase.label if measures.slowest_phase else "—"
    return [
        label,
        str(figure.count),
        duration_text(dist.median),
        ci,
        duration_text(dist.mean),
        duration_text(dist.p90),
        duration_text(dist.p95),
        slowest,
    ]


def restore_headers(first: str, confidence: float) -> list[str]:
    return [first, "n", "median", f"{confidence_label(confidence)} interval", "mean", "p90", "p95", "slowest phase"]


def report_table(report: WindowReport, *, by: str | None = None, trend: Trend | None = None) -> str:
    """Plain text for the CLI. ``by`` None: the whole report; "severity", "service", "detection"
    or "hours": one time-to-restore row per group, and all incidents at the bottom."""
    style = PLAIN
    settings = report.settings
    confidence = settings.confidence
    head = f"Time to restore, {window_text(report, style)}: {report.count} restored incidents; figures need {settings.min_count} incidents"
    if by is not None:
        segments = _segments_for(report, by)
        rows = [restore_row(segment_label(key, by, style), m, confidence) for key, m in segments.items() if m.count or by == "severity"]
        rows.append(restore_row("all", report.overall, confidence))
        title = GROUPINGS[by].title
        return f"{head}\nBy {title}:\n\n{render_table(restore_headers(title, confidence), rows)}\n"

    parts = [head, "", render_table(restore_headers("", confidence), [restore_row("all", report.overall, confidence)])]
    phase_rows: list[list[str]] = []
    for phase in PHASES:
        figure = report.phases[phase]
        if not figure.enough or figure.distribution is None:
            phase_rows.append([phase.label, str(figure.count), too_few_text(figure.count, figure.min_count)])
        else:
            phase_rows.append(
                [phase.label, str(figure.count), duration_text(figure.distribution.median), percent(report.phase_share[phase])]
            )
    parts += ["", render_table(["phase", "n", "median", "share of restore time"], phase_rows)]
    parts += [
        "",
        f"Slowest phase: {slowest_text(report.overall, settings.min_count, style)}",
        slowest_by_severity_line(report, style),
        *customer_lines(report, style),
        longest_line(report, style),
        *tier_lines(report, style),
        acknowledge_line(report, style),
        *assembly_lines(report, style),
    ]
    left, right = recovery_fields(report, style)
    parts += [left.replace("\n", ": ", 1), right.replace("\n", ": ", 1).replace("\n", "; ")]
    if trend is not None:
        parts += trend_lines(trend, settings.min_count, confidence, style)
    if report.open_incidents:
        parts += ["", f"Open incidents ({len(report.open_incidents)}), in no figure until verified:"]
    else:
        parts += ["", "Open incidents: none"]
    parts += [f"  {open_incident_line(i, style)}" for i in report.open_incidents]
    return "\n".join(parts) + "\n"


CSV_COLUMNS = (
    "group_by",
    "group",
    "count",
    "enough",
    "min_count",
    "median_s",
    "median_ci_low_s",
    "median_ci_high_s",
    "mean_s",
    "p90_s",
    "p95_s",
    "slowest_phase",
    *(f"{p.value}_median_s" for p in PHASES),
    *(f"{p.value}_share" for p in PHASES),
)


def _csv_row(group_by: str, group: str, measures: Measures) -> dict[str, Any]:
    figure = measures.time_to_restore
    dist = figure.distribution
    row: dict[str, Any] = {
        "group_by": group_by,
        "group": group,
        "count": figure.count,
        "enough": str(figure.enough).lower(),
        "min_count": figure.min_count,
        "slowest_phase": measures.slowest_phase.value if measures.slowest_phase else "",
    }
    if dist is not None:
        row.update(
            median_s=_num(dist.median),
            mean_s=_num(dist.mean),
            p90_s=_num(dist.p90),
            p95_s=_num(dist.p95),
            median_ci_low_s=_num(dist.median_ci[0]) if dist.median_ci else "",
            median_ci_high_s=_num(dist.median_ci[1]) if dist.median_ci else "",
        )
    for phase in PHASES:
        phase_dist = measures.phases[phase].distribution
        row[f"{phase.value}_median_s"] = _num(phase_dist.median) if phase_dist else ""
        share = measures.phase_share[phase]
        row[f"{phase.value}_share"] = "" if share is None else round(share, 4)
    return row


def _num(seconds: float) -> float | int:
    rounded = round(seconds, 3)
    return int(rounded) if rounded == int(rounded) else rounded


def _spreadsheet_safe(row: dict[str, Any]) -> dict[str, Any]:
    """Text cells (a service or team name) quoted against formulas; numbers stay numbers."""
    return {column: spreadsheet_cell(value) if isinstance(value, str) else value for column, value in row.items()}


def report_csv(report: WindowReport, by: str | None = None) -> str:
    """One row per group (and an "all" row), seconds as numbers; ``enough`` says whether a row
    has min_count incidents. Numbers are kept below min_count: filter on ``enough``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    if by is not None:
        for key, measures in _segments_for(report, by).items():
            writer.writerow(_spreadsheet_safe(_csv_row(by, key, measures)))
    writer.writerow(_spreadsheet_safe(_csv_row("all", "all", report.overall)))
    return buffer.getvalue()


def figure_json(figure: Figure | None) -> dict[str, Any] | None:
    if figure is None:
        return None
    dist = figure.distribution
    out: dict[str, Any] = {"count": figure.count, "enough": figure.enough, "min_count": figure.min_count}
    keys = ("median", "median_ci", "median_ci_coverage", "mean", "p90", "p95", "minimum", "maximum", "stdev")
    out.update({key: getattr(dist, key) if dist else None for key in keys})
    if dist is not None and dist.median_ci:
        out["median_ci"] = list(dist.median_ci)  # a list, as JSON reads it back
    return out


def measures_json(measures: Measures) -> dict[str, Any]:
    return {
        "count": measures.count,
        "enough": measures.enough,
        "time_to_restore": figure_json(measures.time_to_restore),
        "phases": {
            p.value: {
                **(figure_json(measures.phases[p]) or {}),
                "share": measures.phase_share[p],
                "total_seconds": measures.phase_total_seconds[p],
            }
            for p in PHASES
        },
        "total_restore_seconds": measures.total_restore_seconds,
        "slowest_phase": measures.slowest_phase.value if measures.slowest_phase else None,
    }


def _share_json(share: Share, min_count: int) -> dict[str, Any]:
    return {"count": share.count, "total": share.total, "fraction": share.fraction, "enough": share.total >= min_count}


def _week_json(week: WeekFigure) -> dict[str, Any]:
    return {
        "week": week.label,
        "start": week.start.isoformat(),
        "end": week.end.isoformat(),
        "count": week.count,
        "enough": week.enough,
        "median": week.median,
        "median_ci": list(week.median_ci) if week.median_ci else None,
        "median_ci_coverage": week.median_ci_coverage,
        "open_count": week.open_count,
        "complete": week.complete,
    }


def trend_json(trend: Trend) -> dict[str, Any]:
    return {
        "since": trend.since.isoformat(),
        "until": trend.until.isoformat(),
        "weeks": [_week_json(w) for w in trend.weeks],
        "changes": [
            {"previous": c.previous, "current": c.current, "verdict": c.verdict.value, "reason": c.reason.value} for c in trend.changes
        ],
        "overall": figure_json(trend.overall),
    }


def report_json(report: WindowReport, trend: Trend | None = None) -> dict[str, Any]:
    """Everything in the report as JSON types: durations in seconds, every figure with its count
    and ``enough`` flag (the numbers are there even when not enough), times in ISO 8601 UTC."""
    settings = report.settings
    min_count = settings.min_count
    recovery = report.recovery
    longest = report.longest
    return {
        "window": {"since": report.since.isoformat(), "until": report.until.isoformat(), "now": report.now.isoformat()},
        "settings": {"min_count": min_count, "confidence": settings.confidence},
        "count": report.count,
        "incident_ids": list(report.incident_ids),
        "overall": measures_json(report.overall),
        "slowest_phase_by_severity": {k: (v.value if v else None) for k, v in report.slowest_phase_by_severity.items()},
        "by": {by: {key: measures_json(m) for key, m in _segments_for(report, by).items()} for by in GROUPINGS},
        "customer_reported": _share_json(report.customer_reported, min_count),
        "p1_customer_reported": _share_json(report.p1_customer_reported, min_count),
        "p1_customer_warning": report.p1_customer_warning,
        "longest": None
        if longest is None
        else {
            "id": longest.id,
            "time_to_restore": longest.time_to_restore,
            "share": longest.share,
            "count": report.count,
            "enough": report.count >= min_count,
        },
        "tiers": {
            "dora_year": report.tiers.dora_year,
            "dora": dict(report.tiers.dora),
            "severity_target": dict(report.tiers.severity_target),
            "severity_target_by_severity": {k: dict(v) for k, v in report.tiers.severity_target_by_severity.items()},
            "count": report.count,
        },
        "recovery": {
            "time_to_restore": figure_json(recovery.time_to_restore),
            "failed_deployment_recovery": figure_json(recovery.failed_deployment_recovery),
            "no_deploy_data": recovery.no_deploy_data,
            "deploy_linked": recovery.deploy_linked,
            "not_deploy_linked": recovery.not_deploy_linked,
            "deploy_unknown": recovery.deploy_unknown,
        },
        "time_to_acknowledge": {
            **(figure_json(report.time_to_acknowledge) or {}),
            "acknowledged": report.acknowledged.count,
            "of_restored": report.acknowledged.total,
        },
        "time_to_assemble": {
            **(figure_json(report.time_to_assemble) or {}),
            "assembled": report.assembled.count,
            "of_restored": report.assembled.total,
        },
        "time_to_command": {
            **(figure_json(report.time_to_command) or {}),
            "command_taken": report.command_taken.count,
            "of_restored": report.command_taken.total,
        },
        "open_incidents": [
            {
                "id": i.id,
                "severity": i.severity,
                "service": i.service,
                "detection_method": i.detection_method,
                "started_at": i.started_at.isoformat(),
                "age_seconds": i.age.total_seconds(),
                "current_phase": i.current_phase.value,
            }
            for i in report.open_incidents
        ],
        "trend": trend_json(trend) if trend is not None else None,
    }
