"""DORA's four keys and detection coverage over a window, with restore time by the clock and by
month, from a read of the incidents (bot.analytics.incident_reads) and of the deploys."""

from __future__ import annotations

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
from bot.analytics.dora import DeployColumns, DoraReport, dora_report
from bot.analytics.dora_bands import DEFAULT_YEAR
from bot.analytics.incident_reads import IncidentReads, IncidentsRead
from bot.analytics.key_trends import KeyTrend, key_trends, monthly_periods, weekly_periods
from bot.analytics.stats import ReportSettings, Trend
from storage.db import Database
from storage.models import DEFAULT_DEPLOY_ENVIRONMENT
from storage.reports import EVERY_INCIDENT, IncidentScope, deploy_columns


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


class DeliveryFigures:
    """``DeliveryReport``s: over a window read for them, or from incidents a report already read."""

    def __init__(self, db: Database, reads: IncidentReads, *, settings: ReportSettings, teams: Mapping[str, str]) -> None:
        self._db = db
        self._reads = reads
        self._settings = settings
        # service -> its team in the catalog: the DORA keys and coverage per team.
        self._teams = teams

    async def delivery(
        self, since: datetime, until: datetime, scope: IncidentScope = EVERY_INCIDENT, *, year: int = DEFAULT_YEAR
    ) -> DeliveryReport:
        """The four keys and coverage of [since, until) (``year``: the DORA report whose bands to
        read), and the monthly trend of the months up to ``until``, from one read of the incidents."""
        read = await self._reads.incidents_read(delivery_history(since, until), until, scope)
        return await self.delivery_from(read, since, until, year=year, services=scope.services)

    async def delivery_from(
        self,
        read: IncidentsRead,
        since: datetime,
        until: datetime,
        *,
        year: int = DEFAULT_YEAR,
        services: Sequence[str] | None = None,
        trend: Trend | None = None,
    ) -> DeliveryReport:
        """``delivery`` from incidents already read, from ``delivery_history(since, until)`` or
        earlier, up to ``until``. With ``trend``, each key's points over its weeks and the monthly
        trend's months too (the read then reaches back to the first of them, and so do the deploys
        read here)."""
        restored, unrestored = read.restored, read.unrestored
        months = monthly_trend(restored, now=until, settings=self._settings)
        weeks = weekly_periods(trend, until) if trend is not None else []
        periods = [*weeks, *monthly_periods(months, until)] if trend is not None else []
        first = min([since, *(p.start for p in periods)])
        async with self._db.reading() as session:
            columns = await deploy_columns(session, first, until, environment=DEFAULT_DEPLOY_ENVIRONMENT, services=services)
        deploys = DeployColumns.from_columns(
            columns.service_keys, columns.service_codes, columns.deployed_us, columns.commit_us, columns.failed
        )
        trends = (
            key_trends(deploys, restored, unrestored, weeks=weeks, months=periods[len(weeks) :], settings=self._settings, year=year)
            if trend is not None
            else ()
        )
        return DeliveryReport(
            dora=dora_report(deploys, restored, since=since, until=until, teams=self._teams, year=year, settings=self._settings),
            coverage=detection_coverage(restored, unrestored, since=since, until=until, teams=self._teams),
            restore_clock=restore_clock(restored, since=since, until=until, settings=self._settings),
            months=months,
            trends=trends,
        )


def delivery_history(since: datetime, until: datetime) -> datetime:
    """Where the incidents ``DeliveryFigures.delivery`` reads begin: its window, or its monthly trend's first month."""
    return min(since, _months_back(until, TREND_MONTHS))


def _months_back(at: datetime, months: int) -> datetime:
    """The first day of the month ``months - 1`` months before the one containing ``at``."""
    start = month_start(at)
    for _ in range(months - 1):
        start = month_start(start - timedelta(days=1))
    return start
