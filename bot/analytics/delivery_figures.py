"""DORA's four keys and detection coverage over a window, with restore time by the clock and by
month, from a read of the incidents (bot.analytics.incident_reads) and of the deploys."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

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

T = TypeVar("T")


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


@dataclass(frozen=True)
class DeploysRead:
    """The deploys of [since, until) (the default environment), as columns: read on a connection of
    their own while the incidents are read (``DeliveryFigures.reading_deploys``)."""

    since: datetime
    columns: DeployColumns


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
        history = delivery_history(since, until)
        deploys = self.reading_deploys(history, until, services=scope.services)
        read = await awaited_beside(self._reads.incidents_read(history, until, scope), deploys)
        return await self.delivery_from(read, since, until, year=year, services=scope.services, deploys=await deploys)

    def reading_deploys(self, since: datetime, until: datetime, *, services: Sequence[str] | None) -> asyncio.Task[DeploysRead]:
        """The deploys of [since, until), read on a connection of their own from now on, for
        ``delivery_from``: a year of them (500,000 deploys beside 100,000 incidents) took as long
        to read as the incidents, one read after the other."""
        return asyncio.create_task(self._read_deploys(since, until, services), name="deploys read")

    async def _read_deploys(self, since: datetime, until: datetime, services: Sequence[str] | None) -> DeploysRead:
        async with self._db.reading() as session:
            columns = await deploy_columns(session, since, until, environment=DEFAULT_DEPLOY_ENVIRONMENT, services=services)
        deploys = DeployColumns.from_columns(
            columns.service_keys, columns.service_codes, columns.deployed_us, columns.commit_us, columns.failed
        )
        return DeploysRead(since, deploys)

    async def delivery_from(
        self,
        read: IncidentsRead,
        since: datetime,
        until: datetime,
        *,
        year: int = DEFAULT_YEAR,
        services: Sequence[str] | None = None,
        trend: Trend | None = None,
        deploys: DeploysRead | None = None,
    ) -> DeliveryReport:
        """``delivery`` from incidents already read, from ``delivery_history(since, until)`` or
        earlier, up to ``until``. With ``trend``, each key's points over its weeks and the monthly
        trend's months too (the read then reaches back to the first of them, and so do the deploys).
        ``deploys``: read already (``reading_deploys``) for ``services`` up to ``until``, used when
        they reach back far enough; else they are read here."""
        restored, unrestored = read.restored, read.unrestored
        months = monthly_trend(restored, now=until, settings=self._settings)
        weeks = weekly_periods(trend, until) if trend is not None else []
        periods = [*weeks, *monthly_periods(months, until)] if trend is not None else []
        first = min([since, *(p.start for p in periods)])
        if deploys is None or deploys.since > first:
            deploys = await self._read_deploys(first, until, services)
        columns = deploys.columns  # earlier deploys are harmless: each figure takes its own window's
        trends = (
            key_trends(columns, restored, unrestored, weeks=weeks, months=periods[len(weeks) :], settings=self._settings, year=year)
            if trend is not None
            else ()
        )
        return DeliveryReport(
            dora=dora_report(columns, restored, since=since, until=until, teams=self._teams, year=year, settings=self._settings),
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


async def awaited_beside(work: Awaitable[T], beside: asyncio.Task[object]) -> T:
    """``work``'s result, ``beside`` running meanwhile; should ``work`` fail, ``beside`` does not
    outlive it (cancelled, and waited for)."""
    try:
        return await work
    except BaseException:
        beside.cancel()
        await asyncio.gather(beside, return_exceptions=True)
        raise
