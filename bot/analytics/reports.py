"""MTTR reports from the database: the rows go straight into bot.analytics.stats, which does every figure."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.analytics.coverage import (
    TREND_MONTHS,
    CoverageReport,
    MonthlyTrend,
    RestoreClock,
    detection_coverage,
    month_start,
    monthly_trend,
    restore_clock,
)
from bot.analytics.digest import ListedIncident
from bot.analytics.dora import DeployColumns, DoraReport, dora_report
from bot.analytics.dora_bands import BANDS as DORA_BANDS
from bot.analytics.dora_bands import DEFAULT_YEAR
from bot.analytics.drills import DrillReport, drill_report
from bot.analytics.fresh_reads import FreshReads
from bot.analytics.key_trends import KeyTrend, key_trends, monthly_periods, weekly_periods
from bot.analytics.stats import (
    IncidentFacts,
    OpenIncident,
    ReportSettings,
    RestoredChunks,
    RestoredIncidents,
    Trend,
    WindowReport,
    open_incidents_of,
    report_from_columns,
    trend_from_columns,
    week_start,
)
from bot.core.clock import Clock
from bot.core.columns import records_from_rows
from bot.core.command_text import CommandTextError, parse_service, parse_severity
from bot.core.tiers import TierTables
from storage.db import Database
from storage.models import DEFAULT_DEPLOY_ENVIRONMENT
from storage.reports import (
    FACT_FIELDS,
    FactRow,
    RestoredBatch,
    data_version,
    deploy_columns,
    fact_rows,
    incident_columns,
    open_rows,
    private_incidents,
    shown_title,
    titled_rows,
    war_rooms,
)

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


@dataclass(frozen=True)
class IncidentScope:
    """Which incidents a read covers: these services and severities (None: all), the real
    incidents or (``drills``) the drills alone."""

    services: Sequence[str] | None = None
    severities: Sequence[str] | None = None
    drills: bool = False


EVERY_INCIDENT = IncidentScope()


@dataclass(frozen=True)
class IncidentsRead:
    """One read of the incidents: the restored ones as columns, those still open one object each."""

    restored: RestoredIncidents
    unrestored: list[IncidentFacts]
    open_war_rooms: dict[int, str]  # of the incidents still open that have one, never a private one


@dataclass(frozen=True)
class DeliveryReport:
    """DORA's four keys and detection coverage over a window, with restore time by the clock and
    by month: what ``incident-bot report``, ``/incident stats``, the digest and the dashboard show."""

    dora: DoraReport
    coverage: CoverageReport
    restore_clock: RestoreClock
    months: MonthlyTrend
    # Each key's weekly and monthly points (the dashboard's trends): read with the weekly trend only.
    trends: tuple[KeyTrend, ...] = ()


class Reports:
    def __init__(
        self, db: Database, clock: Clock, *, tiers: TierTables, settings: ReportSettings, teams: Mapping[str, str] | None = None
    ) -> None:
        self._db = db
        self._clock = clock
        self.tiers = tiers
        self.settings = settings
        # service -> its team in the catalog: the DORA keys and coverage per team.
        self.teams: Mapping[str, str] = dict(teams or {})
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

    async def delivery(
        self, since: datetime, until: datetime, scope: IncidentScope = EVERY_INCIDENT, *, year: int = DEFAULT_YEAR
    ) -> DeliveryReport:
        """The four keys and coverage of [since, until) (``year``: the DORA report whose bands to
        read), and the monthly trend of the months up to ``until``, from one read of the incidents."""
        read = await self.incidents_read(delivery_history(since, until), until, scope)
        return await self.delivery_from(read, since, until, year=year, services=scope.services)

    async def delivery_from(
        self, read: IncidentsRead, since: datetime, until: datetime, *, year: int = DEFAULT_YEAR, services: Sequence[str] | None = None
    ) -> DeliveryReport:
        """``delivery`` from incidents already read, from ``delivery_history(since, until)`` or earlier, up to ``until``."""
        return await self._delivery_of(read.restored, read.unrestored, since, until, year=year, services=services)

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

    async def _delivery_of(
        self,
        restored: RestoredIncidents,
        unrestored: list[IncidentFacts],
        since: datetime,
        until: datetime,
        *,
        year: int,
        services: Sequence[str] | None,
        trend: Trend | None = None,
    ) -> DeliveryReport:
        """With ``trend``, each key's points over its weeks and the monthly trend's months too
        (``restored`` then reaches back to the first of them, and so do the deploys read here)."""
        months = monthly_trend(restored, now=until, settings=self.settings)
        weeks = weekly_periods(trend, until) if trend is not None else []
        periods = [*weeks, *monthly_periods(months, until)] if trend is not None else []
        first = min([since, *(p.start for p in periods)])
        async with self._db.reading() as session:
            read = await deploy_columns(session, first, until, environment=DEFAULT_DEPLOY_ENVIRONMENT, services=services)
        deploys = DeployColumns.from_columns(read.service_keys, read.service_codes, read.deployed_us, read.commit_us, read.failed)
        trends = (
            key_trends(deploys, restored, unrestored, weeks=weeks, months=periods[len(weeks) :], settings=self.settings, year=year)
            if trend is not None
            else ()
        )
        return DeliveryReport(
            dora=dora_report(deploys, restored, since=since, until=until, teams=self.teams, year=year, settings=self.settings),
            coverage=detection_coverage(restored, unrestored, since=since, until=until, teams=self.teams),
            restore_clock=restore_clock(restored, since=since, until=until, settings=self.settings),
            months=months,
            trends=trends,
        )

    async def facts(
        self,
        since: datetime,
        until: datetime,
        *,
        services: Sequence[str] | None = None,
        severities: Sequence[str] | None = None,
        include_open: bool = True,
        drills: bool = False,
    ) -> tuple[list[IncidentFacts], dict[int, str]]:
        """The incidents a window report reads (without those still open unless ``include_open``),
        one object each, and the war-room channel of each that has one. Real incidents only, or
        (``drills``) drills alone. Nothing in the bot reads incidents this way any more (the reports
        read columns); it is the plain form tests/test_report_columns.py checks the columns against."""
        async with self._db.reading() as session:
            rows = fact_rows(
                session, since=since, until=until, services=services, severities=severities, include_open=include_open, drills=drills
            )
            read = [row async for row in rows]
        return _facts_of(read), _linked_war_rooms(read)

    async def listing(
        self,
        since: datetime,
        until: datetime,
        *,
        services: Sequence[str] | None = None,
        severities: Sequence[str] | None = None,
        ids: Sequence[int] | None = None,
    ) -> dict[int, ListedIncident]:
        """How the digest lists each real incident restored that started in [since, until) (with
        ``ids``: each incident with these ids): its title (never a private incident's), service
        and war room (never a private incident's). The figures of each come from the columns."""
        async with self._db.reading() as session:
            rows = await titled_rows(session, since=since, until=until, services=services, severities=severities, ids=ids)
        return {
            row.id: ListedIncident(
                title=shown_title(row.title, row.is_private),
                service=row.service,
                private=row.is_private,
                war_room=_linked_war_room(row.channel_id, row.is_private),
            )
            for row in rows
        }

    async def columns(
        self,
        since: datetime,
        until: datetime,
        *,
        services: Sequence[str] | None = None,
        severities: Sequence[str] | None = None,
        drills: bool = False,
    ) -> tuple[RestoredIncidents, list[IncidentFacts]]:
        """Restored incidents started in [since, until) as columns, and those still open (started
        before ``until``) one object each: the form a report over 100,000 incidents can afford.
        Real incidents only, or (``drills``) drills alone: a figure never mixes the two."""
        read = await self.incidents_read(since, until, IncidentScope(services, severities, drills))
        return read.restored, read.unrestored

    async def incidents_read(self, since: datetime, until: datetime, scope: IncidentScope) -> IncidentsRead:
        """``columns``, with the war rooms of the incidents still open, from the rows they were read from."""
        chunks = RestoredChunks()

        def add(batch: RestoredBatch) -> None:
            chunks.add(batch.ids, batch.severities, batch.services, batch.detection_methods, batch.deploys, batch.stamps_us)

        open_now = await incident_columns(
            self._db, since=since, until=until, add=add, services=scope.services, severities=scope.severities, drills=scope.drills
        )
        unrestored = _facts_of(open_now)
        open_war_rooms = {row.id: room for row in open_now if (room := _linked_war_room(row.channel_id, row.is_private)) is not None}
        return IncidentsRead(chunks.finish(), unrestored, open_war_rooms)

    async def drills(self, since: datetime, until: datetime, *, services: Sequence[str] | None = None) -> DrillReport:
        """The drills of the window, apart: their own figures, never in the real ones."""
        restored, unrestored = await self.columns(since, until, services=services, drills=True)
        return drill_report(restored, still_open=len(unrestored))

    async def window(
        self, since: datetime, until: datetime, *, services: Sequence[str] | None = None, severities: Sequence[str] | None = None
    ) -> tuple[WindowReport, dict[int, str]]:
        """The window report, and the war rooms of the incidents it names (open and longest)."""
        restored, unrestored = await self.columns(since, until, services=services, severities=severities)
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
        if delivery:
            history = min(history, _months_back(until, TREND_MONTHS))
        read = await self.incidents_read(history, until, IncidentScope(services, severities))
        restored, unrestored = read.restored, read.unrestored
        report, channels = await self._window_of(restored, unrestored, since, until, open_war_rooms=read.open_war_rooms)
        trend = self._trend_of(restored, unrestored, until)
        keys = await self._delivery_of(restored, unrestored, since, until, year=year, services=services, trend=trend) if delivery else None
        return WindowRead(report, channels, trend, restored, keys)

    async def trend(
        self, *, now: datetime | None = None, services: Sequence[str] | None = None, severities: Sequence[str] | None = None
    ) -> Trend:
        now = now or self._clock()
        since = week_start(now) - timedelta(weeks=TREND_WEEKS - 1)
        restored, unrestored = await self.columns(since, now, services=services, severities=severities)
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
        report = await self.hide_private_longest(report)
        longest = [report.longest.id] if report.longest else []
        if open_war_rooms is None:
            named, channels = [i.id for i in report.open_incidents] + longest, {}
        else:
            named = longest
            channels = {i.id: open_war_rooms[i.id] for i in report.open_incidents if i.id in open_war_rooms}
        async with self._db.reading() as session:
            channels |= await war_rooms(session, named)
        return report, channels

    async def open_incidents(self, *, services: Sequence[str] | None = None) -> tuple[OpenIncident, ...]:
        """The incidents open now, oldest first, as a report lists them (without reading the restored ones)."""
        now = self._clock()
        async with self._db.reading() as session:
            unrestored = _facts_of(await open_rows(session, until=now, services=services))
        return open_incidents_of(unrestored, until=now, now=now)

    async def war_rooms(self, incident_ids: Sequence[int]) -> dict[int, str]:
        """The war rooms of these incidents, for links: never a private incident's."""
        async with self._db.reading() as session:
            return await war_rooms(session, incident_ids)

    async def hide_private_longest(self, report: WindowReport) -> WindowReport:
        """The longest incident is named with its time to restore: not when it is private."""
        if report.longest is None:
            return report
        async with self._db.reading() as session:
            private = await private_incidents(session, [report.longest.id])
        if not private:
            return report
        return dataclasses.replace(report, longest=dataclasses.replace(report.longest, private=True))

    def _trend_of(self, restored: RestoredIncidents, unrestored: list[IncidentFacts], now: datetime) -> Trend:
        open_starts = [i.started_at for i in unrestored]
        return trend_from_columns(restored, open_starts, now=now, weeks=TREND_WEEKS, settings=self.settings)


def delivery_history(since: datetime, until: datetime) -> datetime:
    """Where the incidents ``Reports.delivery`` reads begin: its window, or its monthly trend's first month."""
    return min(since, _months_back(until, TREND_MONTHS))


def _months_back(at: datetime, months: int) -> datetime:
    """The first day of the month ``months - 1`` months before the one containing ``at``."""
    start = month_start(at)
    for _ in range(months - 1):
        start = month_start(start - timedelta(days=1))
    return start


def _linked_war_room(channel_id: str | None, is_private: bool) -> str | None:
    """An incident's war room as a report may link it: a private incident's never is (as
    storage.reports.war_rooms reads them)."""
    return channel_id if channel_id and not is_private else None


def _linked_war_rooms(rows: Sequence[FactRow]) -> dict[int, str]:
    """The war room of each incident that has one, as a report may link it."""
    return {row.id: room for row in rows if (room := _linked_war_room(row.channel_id, row.is_private)) is not None}


def _facts_of(rows: Sequence[FactRow]) -> list[IncidentFacts]:
    """Rows of FACT_COLUMNS as IncidentFacts (``is_private`` is a boolean column that is never NULL)."""
    return records_from_rows(IncidentFacts, FACT_FIELDS, rows, deploy_linked="deploy_found", private="is_private")


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
