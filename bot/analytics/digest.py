"""The weekly digest: last week's incidents and what the figures say about them, posted to a team's
digest channel (and printed by ``--dry-run``). Pure: the caller reads the database and posts.

What the caller hands over, for an ISO week [start, end) from ``digest_week``:

    last_week_incidents  every incident whose impact started that week (``digest_incident``)
    report               ``build_report`` over [start, end): that week's figures
    trend                ``weekly_trend`` over the 12 weeks up to the digest's run
    detectable           ``detectable_change`` of the trend's restore times at
                         ``incidents_per_week(trend)`` a week (None when it cannot say)
    open_incidents       every incident still open, with its age
    war_rooms            incident id → war-room channel id, for links
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from slack_sdk.models.blocks import Block, DividerBlock, MarkdownTextObject, SectionBlock

from bot.analytics.digest_schedule import DigestChannel
from bot.analytics.stats import (
    EPOCH,
    MIN_RESAMPLE,
    IncidentFacts,
    OpenIncident,
    ReportSettings,
    RestoredIncidents,
    Trend,
    WindowReport,
    smallest_median_sample,
    too_few_text,
    trend_from_columns,
    week_start,
)
from bot.analytics.stats_view import (
    MAX_LIST_LINES,
    MRKDWN,
    PLAIN,
    TextStyle,
    acknowledge_line,
    assembly_lines,
    change_for_week,
    change_text,
    confidence_label,
    context_block,
    customer_lines,
    figure_text,
    fit_lines,
    header_block,
    interval_text,
    open_incident_line,
    percent,
    slowest_text,
)
from bot.analytics.summary import TIER_EMOJI
from bot.catalog.services import Catalog
from bot.core.phases import Phase
from bot.core.text_input import clip, escape
from bot.core.tiers import TierTables
from bot.core.timefmt import human_duration
from bot.slack.blocks import MAX_SECTION_TEXT, within_message_limits

UTC = UTC
SEVERITY_ORDER = {"P1": 0, "P2": 1, "P3": 2, "P4": 3}
# Incident lines per section, and sections of them, before "…and N more".
INCIDENT_SECTIONS = 3
MAX_TITLE_IN_DIGEST = 90
_ISO_WEEK = re.compile(r"(\d{4})-?W(\d{1,2})", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Which week


def iso_week_label(start: datetime) -> str:
    iso = start.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def weeks_in_iso_year(year: int) -> int:
    """52 or 53: 28 December always falls in the year's last ISO week."""
    return date(year, 12, 28).isocalendar().week


def digest_week(week: str | None, now: datetime) -> tuple[datetime, datetime]:
    """[Monday 00:00 UTC, next Monday) of an ISO week written like "2026-W47" (or "2026W47");
    None: the last complete week before ``now``. A week that has not ended by ``now`` is refused:
    a digest reports a whole week."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    last_complete = week_start(now) - timedelta(weeks=1)
    if week is None:
        return last_complete, last_complete + timedelta(weeks=1)
    match = _ISO_WEEK.fullmatch(week.strip())
    if not match:
        raise ValueError(f"'{week}' is not an ISO week; write it like 2026-W47")
    year, number = int(match.group(1)), int(match.group(2))
    if year < 1:
        raise ValueError(f"'{week}': there is no year {year}")
    last = weeks_in_iso_year(year)
    if not 1 <= number <= last:
        raise ValueError(f"'{week}': {year} has ISO weeks W01 to W{last:02d}")
    start = datetime.combine(date.fromisocalendar(year, number, 1), time(0), tzinfo=UTC)
    end = start + timedelta(weeks=1)
    if end > now:
        raise ValueError(
            f"{iso_week_label(start)} has not ended yet (it ends {end:%Y-%m-%d %H:%M} UTC); "
            f"the last complete week is {iso_week_label(last_complete)}"
        )
    return start, end


def digests_with_catalog(configured: Sequence[DigestChannel], catalog: Catalog) -> tuple[DigestChannel, ...]:
    """The config's digests, then one per ``digest_channel`` of the catalog that the config does
    not name: that channel's services (every service naming it), on the defaults of a ``digests``
    entry (Monday 09:00 UTC, every severity). A channel the config names is posted as the config
    says, so a team can change the day or the severities there."""
    named = {digest.channel for digest in configured}
    services_by_channel: dict[str, list[str]] = {}
    for service in catalog.services.values():
        if service.digest_channel and service.digest_channel not in named:
            services_by_channel.setdefault(service.digest_channel, []).append(service.name)
    from_catalog = (DigestChannel(channel=channel, services=sorted(names)) for channel, names in sorted(services_by_channel.items()))
    return (*configured, *from_catalog)


# --------------------------------------------------------------------------------------------
# What the digest lists


@dataclass(frozen=True)
class DigestIncident:
    """One of last week's incidents as the digest lists it."""

    id: int
    title: str
    severity: str
    service: str | None
    started_at: datetime
    time_to_restore: timedelta | None  # None while open
    current_phase: Phase | None  # the phase under way while open
    target_tier: str | None  # band against its severity's target; None while open or with no target
    target_label: str | None  # "P1 target"
    dora_tier: str | None  # DORA band; None while open
    private: bool = False  # listed by its number only

    @property
    def reference(self) -> str:
        return f"INC-{self.id}"


def digest_incident(facts: IncidentFacts, *, title: str, tiers: TierTables) -> DigestIncident:
    """An incident's facts with its title, tiered by the tables in force."""
    restore = facts.time_to_restore
    target = tiers.severity.get(facts.severity)
    return DigestIncident(
        id=facts.id,
        title=title,
        severity=facts.severity,
        service=facts.service,
        started_at=facts.started_at,
        time_to_restore=restore,
        current_phase=facts.current_phase,
        target_tier=target.tier(restore).name if restore is not None and target is not None else None,
        target_label=target.label if target is not None else None,
        dora_tier=tiers.dora.tier(restore).name if restore is not None else None,
        private=facts.private,
    )


@dataclass(frozen=True)
class ListedIncident:
    """What the digest names a restored incident by, besides the figures its columns give."""

    title: str  # as shown: never a private incident's own
    service: str | None
    private: bool
    war_room: str | None  # never a private incident's


def digest_incidents(week: RestoredIncidents, listed: Mapping[int, ListedIncident], *, tiers: TierTables) -> list[DigestIncident]:
    """``digest_incident`` of every restored incident of ``week`` (its columns), each named as
    ``listed`` says: the same incidents, tiered the same way, without an object for each one's stamps."""
    severities = week.severity.keys
    incidents = []
    columns = (week.ids.tolist(), week.severity.codes.tolist(), week.started_us.tolist(), week.restore_us.tolist())
    for incident_id, severity_code, started_us, restore_us in zip(*columns, strict=True):
        severity, shown = severities[severity_code], listed[incident_id]
        restore = timedelta(microseconds=restore_us)
        target = tiers.severity.get(severity)
        incidents.append(
            DigestIncident(
                id=incident_id,
                title=shown.title,
                severity=severity,
                service=shown.service,
                started_at=EPOCH + timedelta(microseconds=started_us),
                time_to_restore=restore,
                current_phase=None,  # restored
                target_tier=target.tier(restore).name if target is not None else None,
                target_label=target.label if target is not None else None,
                dora_tier=tiers.dora.tier(restore).name,
                private=shown.private,
            )
        )
    return incidents


def digest_trend(
    restored: RestoredIncidents, open_starts: Sequence[datetime], *, week_end: datetime, weeks: int, settings: ReportSettings
) -> Trend:
    """The trend of the ``weeks`` ISO weeks that end with the digest's own week [.., week_end).

    The figures are those of ``trend_from_columns`` just inside the week; the digest's week is
    then marked complete, because it is: a digest is only made of a week that has ended. (Taken
    "as of" its last microsecond, it was drawn as a grey "so far" week and left out of the
    incidents a week.)"""
    trend = trend_from_columns(restored, open_starts, now=week_end - timedelta(microseconds=1), weeks=weeks, settings=settings)
    own = dataclasses.replace(trend.weeks[-1], complete=True)
    return dataclasses.replace(trend, weeks=trend.weeks[:-1] + (own,))


def incidents_per_week(trend: Trend) -> int:
    """Incidents restored in a typical complete week of the trend (the mean, rounded): the
    ``per_week`` to hand ``detectable_change`` so its answer matches the digest's words.
    Weeks before the first one with any incident are before the team's history, not weeks
    without incidents, and are left out."""
    weeks = list(trend.weeks)
    while weeks and not (weeks[0].count or weeks[0].open_count):
        weeks.pop(0)
    complete = [w.count for w in weeks if w.complete]
    return round(sum(complete) / len(complete)) if complete else 0


@dataclass(frozen=True, eq=False)
class Digest:
    week: str  # "2026-W47"
    blocks: list[dict[str, Any]]  # Block Kit, ≤ 50 blocks
    fallback: str  # notification text
    # The plain text (--dry-run), written when first read: it lists every incident of the week and
    # every open one, which the posted digest never needs (100,000 incidents: 4,000 lines, 13 ms).
    written: Callable[[], str] = dataclasses.field(repr=False, compare=False)

    @functools.cached_property
    def text(self) -> str:
        return self.written()

    def __eq__(self, other: object) -> bool:
        """Equal when everything it says is: the plain text too, however it is written."""
        if not isinstance(other, Digest):
            return NotImplemented
        return (self.week, self.blocks, self.fallback, self.text) == (other.week, other.blocks, other.fallback, other.text)

    def followed_by(self, more: Callable[[], str], blocks: list[dict[str, Any]]) -> Digest:
        """This digest with ``blocks``, and the text ``more`` writes after its plain text (on a line of its own)."""
        before = self.written
        return dataclasses.replace(self, written=lambda: before() + "\n" + more(), blocks=blocks)


# --------------------------------------------------------------------------------------------
# Sentences


def _incident_line(incident: DigestIncident, style: TextStyle, war_rooms: Mapping[int, str]) -> str:
    if incident.private:
        return f"{style.incident(incident.id, None)} {style.bold(style.user_text(incident.title))}"
    title = clip(incident.title, MAX_TITLE_IN_DIGEST)
    parts = [f"{style.incident(incident.id, war_rooms)} {style.severity(incident.severity)} {style.bold(style.user_text(title))}"]
    if incident.service:
        parts.append(style.user_text(incident.service))
    if incident.time_to_restore is None:
        doing = incident.current_phase.doing.lower() if incident.current_phase else "open"
        parts.append(f"still open ({doing})")
    else:
        parts.append(f"restored in {human_duration(incident.time_to_restore)}")
        tiers = []
        if incident.target_tier:
            emoji = TIER_EMOJI.get(incident.target_tier) if style.mrkdwn else None
            tier = f"{emoji} {incident.target_tier}" if emoji else incident.target_tier
            tiers.append(f"{tier} for the {incident.target_label}")
        if incident.dora_tier:
            tiers.append(f"DORA {incident.dora_tier}")
        if tiers:
            parts.append(", ".join(tiers))
    return " · ".join(parts)


def _ordered(incidents: Sequence[DigestIncident]) -> list[DigestIncident]:
    """Worst first: by severity, then by when the impact started."""
    return sorted(incidents, key=lambda i: (SEVERITY_ORDER.get(i.severity, len(SEVERITY_ORDER)), i.started_at, i.id))


def _incidents_heading(incidents: Sequence[DigestIncident], week: str, style: TextStyle) -> str:
    if not incidents:
        return f"{style.bold(f'No incidents in {week}.')}"
    still_open = sum(i.time_to_restore is None for i in incidents)
    plural = "incident" if len(incidents) == 1 else "incidents"
    tail = f" ({len(incidents) - still_open} restored, {still_open} still open)" if still_open else ""
    return style.bold(f"{len(incidents)} {plural} in {week}") + tail


def detectable_text(detectable: float | None, per_week: int, trend: Trend, report: WindowReport) -> str:
    """The smallest change in the median a week-over-week comparison could reveal, in words."""
    settings = report.settings
    needed = max(settings.min_count, smallest_median_sample(settings.confidence))
    about = f"With ~{per_week} incident{'s' if per_week != 1 else ''} a week"
    if per_week < needed:
        return f"{about}, week-over-week changes in the median cannot be judged: that takes {needed} incidents in each week."
    if detectable is None and trend.overall.count < MIN_RESAMPLE:
        return f"Too few restore times so far (n={trend.overall.count}) to say how big a change the data could reveal."
    if detectable is None:
        return f"{about}, even a 90% drop in the median would usually not show as better: each week's median interval is too wide."
    return (
        f"{about}, a change smaller than {percent(detectable)} in the median would not show: "
        f"it would usually read as no clear change (from {trend.overall.count} restore times, resampled)."
    )


def _restore_lines(report: WindowReport, trend: Trend, week: str, detectable: float | None, per_week: int, style: TextStyle) -> list[str]:
    settings = report.settings
    confidence = settings.confidence
    lines = [f"{style.bold(f'Time to restore in {week}')}: {figure_text(report.time_to_restore, confidence, percentiles=False)}"]
    compared = change_for_week(trend, week)
    if compared is None:
        lines.append(f"No week before {week} in the trend to compare with.")
    else:
        previous, current, change = compared
        if previous.enough and previous.median is not None:
            ci = f" ({confidence_label(confidence)} interval {interval_text(*previous.median_ci)})" if previous.median_ci else ""
            before = f"median {human_duration(timedelta(seconds=previous.median))}{ci} · n={previous.count}"
        else:
            before = too_few_text(previous.count, settings.min_count)
        lines.append(f"{previous.label}: {before}")
        lines.append(change_text(previous, current, change, settings.min_count, confidence, style))
    lines.append(acknowledge_line(report, style))
    lines.extend(assembly_lines(report, style))
    weeks = len(trend.weeks)
    lines.append(f"{style.bold(f'Last {weeks} weeks')}: {figure_text(trend.overall, confidence, percentiles=False)}")
    lines.append(detectable_text(detectable, per_week, trend, report))
    return lines


def _where_lines(report: WindowReport, style: TextStyle) -> list[str]:
    return [
        f"{style.bold('Slowest phase')}: {slowest_text(report.overall, report.settings.min_count, style)}",
        *customer_lines(report, style),
    ]


def _open_lines(
    open_incidents: Sequence[OpenIncident], war_rooms: Mapping[int, str], style: TextStyle, *, first: int | None = None
) -> list[str]:
    """The heading and a line for each open incident (the ``first`` of them only, when given)."""
    if not open_incidents:
        return [f"{style.bold('Open incidents')}: none"]
    bullet = "•" if style.mrkdwn else "-"
    return [
        style.bold(f"Open incidents ({len(open_incidents)})"),
        *(f"{bullet} {open_incident_line(i, style, war_rooms)}" for i in open_incidents[:first]),
    ]


FOOTNOTE = (
    "Weeks run Monday 00:00 to Monday 00:00 UTC; an incident counts in the week its impact started. "
    "Better or worse only when the two weeks' median intervals do not overlap. "
    "Figures by severity and service, never by person."
)


# --------------------------------------------------------------------------------------------
# The digest


def build_digest(
    *,
    channel_label: str,
    week_start: datetime,
    last_week_incidents: Sequence[DigestIncident],
    report: WindowReport,
    trend: Trend,
    detectable: float | None,
    open_incidents: Sequence[OpenIncident],
    war_rooms: Mapping[int, str],
    per_week: int | None = None,
) -> Digest:
    """The digest of the ISO week starting at ``week_start`` for ``channel_label`` (a team or the
    services it covers). ``per_week`` defaults to ``incidents_per_week(trend)``."""
    week = iso_week_label(week_start)
    per_week = incidents_per_week(trend) if per_week is None else per_week
    incidents = _ordered(last_week_incidents)
    last_day = week_start + timedelta(days=6)
    dates = f"{week_start:%a %d %b} – {last_day:%a %d %b %Y}"
    title = f"📊 Incident digest {week} · {channel_label}"

    def plain_text() -> str:  # the dry run's
        style = PLAIN
        text_parts = [
            f"Incident digest {week} ({dates}, UTC) · {channel_label}",
            "\n".join([_incidents_heading(incidents, week, style), *(f"- {_incident_line(i, style, war_rooms)}" for i in incidents)]),
            "\n".join(_restore_lines(report, trend, week, detectable, per_week, style)),
            "\n".join(_where_lines(report, style)),
            "\n".join(_open_lines(open_incidents, war_rooms, style)),
            FOOTNOTE,
        ]
        return "\n\n".join(text_parts) + "\n"

    # Block Kit.
    style = MRKDWN
    blocks: list[Block] = [
        header_block(title),
        context_block(f"{dates} (UTC weeks)"),
        *_incident_sections(incidents, week, style, war_rooms),
        DividerBlock(),
        _section("\n".join(_restore_lines(report, trend, week, detectable, per_week, style))),
        _section("\n".join(_where_lines(report, style))),
        DividerBlock(),
        _section(
            fit_lines(
                _open_lines(open_incidents, war_rooms, style, first=MAX_LIST_LINES),
                more="more open incidents",
                count=1 + len(open_incidents) if open_incidents else 1,
            )
        ),
        context_block(FOOTNOTE),
    ]
    return Digest(
        week=week,
        blocks=within_message_limits([b.to_dict() for b in blocks]),
        fallback=_fallback(week, channel_label, incidents, report, trend),
        written=plain_text,
    )


def _incident_sections(
    incidents: Sequence[DigestIncident], week: str, style: TextStyle, war_rooms: Mapping[int, str]
) -> list[SectionBlock]:
    """The incident list in up to INCIDENT_SECTIONS sections of ≤ 3000 characters, then "…and N more"."""
    # Each line is written when its turn comes: a busy week's list ends long before its last incident.
    lines = (f"• {_incident_line(i, style, war_rooms)}" for i in incidents)

    def more(hidden: int) -> str:
        return f"…and {hidden} more (`incident-bot report` lists them all)"

    # Room for the "…and N more" line is kept in every section: N is at most len(incidents).
    room = MAX_SECTION_TEXT - len(more(len(incidents))) - 1
    sections: list[list[str]] = [[_incidents_heading(incidents, week, style)]]
    sizes = [len(sections[0][0])]
    shown = 0
    for line in lines:
        line = clip(line, room)
        if sizes[-1] + len(line) + 1 > room:
            if len(sections) == INCIDENT_SECTIONS:
                break
            sections.append([])
            sizes.append(-1)
        sections[-1].append(line)
        sizes[-1] += len(line) + 1
        shown += 1
    if shown < len(incidents):
        sections[-1].append(more(len(incidents) - shown))
    return [_section("\n".join(s)) for s in sections]


def _fallback(week: str, channel_label: str, incidents: Sequence[DigestIncident], report: WindowReport, trend: Trend) -> str:
    plural = "incident" if len(incidents) == 1 else "incidents"
    head = f"Incident digest {week} ({escape(channel_label)}): {len(incidents)} {plural}"
    figure = report.time_to_restore
    dist = figure.distribution
    if figure.enough and dist is not None:
        restore = (
            f"median time to restore {human_duration(timedelta(seconds=dist.median))} "
            f"(mean {human_duration(timedelta(seconds=dist.mean))}, n={figure.count})"
        )
    else:
        restore = f"time to restore: {too_few_text(figure.count, figure.min_count)}"
    compared = change_for_week(trend, week)
    verdict = f"; {compared[2].verdict.value} against {compared[0].label}" if compared else ""
    return f"{head}; {restore}{verdict}"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, MAX_SECTION_TEXT)))
