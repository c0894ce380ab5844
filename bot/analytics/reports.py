"""MTTR reports from the database: the window report and its weekly trend, with the four keys when
asked, from one read of the incidents (bot.analytics.incident_reads); bot.analytics.stats does every
figure, bot.analytics.delivery_figures the four keys'."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.analytics.delivery_figures import DeliveryFigures, DeliveryReport, awaited_beside, delivery_history
from bot.analytics.dora_bands import BANDS as DORA_BANDS
from bot.analytics.dora_bands import DEFAULT_YEAR
from bot.analytics.drills import DrillReport, drill_report
from bot.analytics.fresh_reads import FreshReads
from bot.analytics.incident_reads import IncidentReads, IncidentsRead
from bot.analytics.stats import (
    IncidentFacts,
    OpenIncident,
    ReportSettings,
    RestoredIncidents,
    Trend,
    WindowReport,
    open_incidents_of,
    report_from_columns,
    trend_from_columns,
    week_start,
)
from bot.core.clock import Clock
from bot.core.command_text import CommandTextError, parse_service, parse_severity
from bot.core.tiers import TierTables
from storage.db import Database
from storage.reports import IncidentScope, data_version

TREND_WEEKS = 12


@dataclass(frozen=True)
class WindowRead:
    """One read of the database: the window report, the war rooms it names, the weekly trend, and
    the restored incidents of both (started in the window or in the trend's weeks)."""

    report: WindowReport
    war_rooms: dict[int, str]
    trend: Trend
    restored: RestoredIncidents
    delivery: DeliveryReport | None = None  # with ``delivery=True``: the four keys and coverage too


class Reports:
    def __init__(
        self, db: Database, clock: Clock, *, tiers: TierTables, settings: ReportSettings, teams: Mapping[str, str] | None = None
    ) -> None:
        self._db = db
        self._clock = clock
        self.tiers = tiers
        self.settings = settings
        self.reads = IncidentReads(db)
        self.delivery_figures = DeliveryFigures(db, self.reads, settings=settings, teams=dict(teams or {}))
        self._recent_reads: FreshReads[WindowRead] = FreshReads(clock)

    async def recent_window_read(
        self,
        days: int,
        *,
        services: Sequence[str] | None = None,
        severities: Sequence[str] | None = None,
        delivery: bool = False,
        year: int = DEFAULT_YEAR,
    ) -> WindowRead:
        """``window_trend_and_columns`` over the last ``days`` days, computed once while the data
        is unchanged and for up to a minute (bot/analytics/fresh_reads.py): what the dashboard's
        pages and ``/incident stats`` show, asked for again and again."""
        async with self._db.reading() as session:
            version = await data_version(session)
        key = (days, tuple(services or ()), tuple(severities or ()), delivery, year, version)

        async def compute(now: datetime) -> WindowRead:
            since = now - timedelta(days=days)
            return await self.window_trend_and_columns(since, now, services=services, severities=severities, delivery=delivery, year=year)

        return await self._recent_reads.get(key, compute)

    async def window_trend_and_delivery(
        self,
        since: datetime,
        until: datetime,
        *,
        year: int = DEFAULT_YEAR,
        services: Sequence[str] | None = None,
        severities: Sequence[str] | None = None,
    ) -> tuple[WindowReport, dict[int, str], Trend, DeliveryReport]:
        """``window_and_trend`` and ``delivery`` from one read of the incidents: the whole report."""
        read = await self.window_trend_and_columns(since, until, services=services, severities=severities, delivery=True, year=year)
        assert read.delivery is not None
        return read.report, read.war_rooms, read.trend, read.delivery

    async def drills(self, since: datetime, until: datetime, *, services: Sequence[str] | None = None) -> DrillReport:
        """The drills of the window, apart: their own figures, never in the real ones."""
        restored, unrestored = await self.reads.columns(since, until, services=services, drills=True)
        return drill_report(restored, still_open=len(unrestored))

    async def window(
        self, since: datetime, until: datetime, *, services: Sequence[str] | None = None, severities: Sequence[str] | None = None
    ) -> tuple[WindowReport, dict[int, str]]:
        """The window report, and the war rooms of the incidents it names (open and longest)."""
        restored, unrestored = await self.reads.columns(since, until, services=services, severities=severities)
        return await self._window_of(restored, unrestored, since, until)

    async def window_and_trend(
        self, since: datetime, until: datetime, *, services: Sequence[str] | None = None, severities: Sequence[str] | None = None
    ) -> tuple[WindowReport, dict[int, str], Trend]:
        """``window(since, until)`` and ``trend(now=until)`` from one read of the database."""
        read = await self.window_trend_and_columns(since, until, services=services, severities=severities)
        return read.report, read.war_rooms, read.trend

    async def window_trend_and_columns(
        self,
        since: datetime,
        until: datetime,
        *,
        services: Sequence[str] | None = None,
        severities: Sequence[str] | None = None,
        delivery: bool = False,
        year: int = DEFAULT_YEAR,
    ) -> WindowRead:
        """``window_and_trend``, with the restored incidents they were computed from (the dashboard
        draws its weekly acknowledgement times and its distribution from the same columns), and with
        ``delivery`` the four keys and coverage as ``incident-bot report`` computes them, from the
        same read of the incidents."""
        history = min(since, week_start(until) - timedelta(weeks=TREND_WEEKS - 1))
        incidents = self.reads.incidents_read
        if not delivery:
            read = await incidents(history, until, IncidentScope(services, severities))
            return WindowRead(*await self._window_and_trend(read, since, until), read.restored, None)
        history = delivery_history(history, until)  # as far back as the keys' weeks and months
        deploys = self.delivery_figures.reading_deploys(history, until, services=services)
        read = await awaited_beside(incidents(history, until, IncidentScope(services, severities)), deploys)
        report, channels, trend = await awaited_beside(self._window_and_trend(read, since, until), deploys)
        figures = self.delivery_figures.delivery_from
        keys = await figures(read, since, until, year=year, services=services, trend=trend, deploys=await deploys)
        return WindowRead(report, channels, trend, read.restored, keys)

    async def _window_and_trend(self, read: IncidentsRead, since: datetime, until: datetime) -> tuple[WindowReport, dict[int, str], Trend]:
        restored, unrestored = read.restored, read.unrestored
        report, channels = await self._window_of(restored, unrestored, since, until, open_war_rooms=read.open_war_rooms)
        return report, channels, self._trend_of(restored, unrestored, until)

    async def trend(
        self, *, now: datetime | None = None, services: Sequence[str] | None = None, severities: Sequence[str] | None = None
    ) -> Trend:
        now = now or self._clock()
        since = week_start(now) - timedelta(weeks=TREND_WEEKS - 1)
        restored, unrestored = await self.reads.columns(since, now, services=services, severities=severities)
        return self._trend_of(restored, unrestored, now)

    async def _window_of(
        self,
        restored: RestoredIncidents,
        unrestored: list[IncidentFacts],
        since: datetime,
        until: datetime,
        *,
        open_war_rooms: Mapping[int, str] | None = None,
    ) -> tuple[WindowReport, dict[int, str]]:
        """With ``open_war_rooms`` (read with the open incidents), only the longest incident's war room is still to read."""
        report = report_from_columns(
            restored, unrestored, since=since, until=until, now=self._clock(), tiers=self.tiers, settings=self.settings
        )
        report = await self.reads.hide_private_longest(report)
        longest = [report.longest.id] if report.longest else []
        if open_war_rooms is None:
            named, channels = [i.id for i in report.open_incidents] + longest, {}
        else:
            named = longest
            channels = {i.id: open_war_rooms[i.id] for i in report.open_incidents if i.id in open_war_rooms}
        channels |= await self.reads.war_rooms(named)
        return report, channels

    async def open_incidents(self, *, services: Sequence[str] | None = None) -> tuple[OpenIncident, ...]:
        """The incidents open now, oldest first, as a report lists them (without reading the restored ones)."""
        now = self._clock()
        unrestored = await self.reads.still_open(now, services=services)
        return open_incidents_of(unrestored, until=now, now=now)

    async def restored_before(self, moment: datetime) -> tuple[int, datetime | None]:
        """How many real incidents restored started before ``moment``, and when the earliest did
        (what a report over an empty window suggests widening it to)."""
        return await self.reads.restored_before(moment)

    def _trend_of(self, restored: RestoredIncidents, unrestored: list[IncidentFacts], now: datetime) -> Trend:
        open_starts = [i.started_at for i in unrestored]
        return trend_from_columns(restored, open_starts, now=now, weeks=TREND_WEEKS, settings=self.settings)


@dataclass(frozen=True)
class StatsQuery:
    days: int
    service: str | None
    severity: str | None
    drills: bool = False  # the drills' own figures, instead of the real incidents'
    dora_year: int = DEFAULT_YEAR  # whose bands the four keys are read against

    @property
    def label(self) -> str:
        parts = [f"last {self.days} days"]
        if self.service:
            parts.append(f"service {self.service}")
        if self.severity:
            parts.append(self.severity)
        return ", ".join(parts)


STATS_USAGE = "/incident stats [30d|90d] [service:NAME] [sev:P1] [dora:2023|2024] [drills]"
_PERIOD = re.compile(r"^(\d{1,3})d$")


def parse_stats_text(text: str) -> StatsQuery:
    """``/incident stats 90d service:payments-api sev:P1 dora:2023``; every part optional (default
    30 days, the 2024 bands). ``drills``: the drills' own figures (drills never count in the others)."""
    days, service, severity, drills, dora_year = 30, None, None, False, DEFAULT_YEAR
    for word in text.split():
        lowered = word.lower()
        if lowered == "drills":
            drills = True
        elif period := _PERIOD.match(lowered):
            days = int(period.group(1))
            if not 1 <= days <= 365:
                raise CommandTextError(f"`{word}`: look back between 1d and 365d. Usage: `{STATS_USAGE}`.")
        elif lowered.startswith("service:"):
            service = parse_service(word.split(":", 1)[1])
        elif lowered.startswith(("sev:", "severity:")):
            severity = parse_severity(word.split(":", 1)[1])
        elif lowered.startswith("dora:"):
            year = lowered.split(":", 1)[1]
            known = sorted(DORA_BANDS)
            if not year.isdigit() or int(year) not in known:
                raise CommandTextError(
                    f"`{word[:40]}`: the DORA bands are those of the {' or '.join(map(str, known))} report, "
                    f"e.g. `dora:{DEFAULT_YEAR}`. Usage: `{STATS_USAGE}`."
                )
            dora_year = int(year)
        else:
            raise CommandTextError(f"I can't read `{word}`. Usage: `{STATS_USAGE}`, e.g. `/incident stats 90d sev:P1`.")
    if drills and severity:
        raise CommandTextError(f"`drills` shows the drills by service; leave out `sev:`. Usage: `{STATS_USAGE}`.")
    return StatsQuery(days, service, severity, drills, dora_year)
