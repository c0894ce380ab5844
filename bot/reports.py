"""MTTR reports from the database: the rows go straight into bot.stats, which does every figure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.stats import IncidentFacts, ReportSettings, Trend, WindowReport, build_report, week_start, weekly_trend
from bot.tiers import TierTables
from storage.db import Database
from storage.reports import fact_rows

TREND_WEEKS = 12


class Reports:
    def __init__(self, db: Database, clock: Clock, *, tiers: TierTables, settings: ReportSettings) -> None:
        self._db = db
        self._clock = clock
        self.tiers = tiers
        self.settings = settings

    async def facts(
        self, since: datetime, until: datetime, *, services: Sequence[str] | None = None, severities: Sequence[str] | None = None
    ) -> tuple[list[IncidentFacts], dict[int, str]]:
        """The incidents a window report reads, and the war-room channel of each that has one."""
        facts: list[IncidentFacts] = []
        channels: dict[int, str] = {}
        async with self._db.sessions() as session:
            async for row in fact_rows(session, since=since, until=until, services=services, severities=severities):
                facts.append(
                    IncidentFacts(
                        id=row.id, severity=row.severity, service=row.service, detection_method=row.detection_method,
                        started_at=row.started_at, detected_at=row.detected_at, diagnosed_at=row.diagnosed_at,
                        mitigated_at=row.mitigated_at, verified_at=row.verified_at, deploy_linked=row.deploy_found,
                    )
                )
                if row.channel_id:
                    channels[row.id] = row.channel_id
        return facts, channels

    async def window(
        self, since: datetime, until: datetime, *, services: Sequence[str] | None = None, severities: Sequence[str] | None = None
    ) -> tuple[WindowReport, dict[int, str]]:
        facts, channels = await self.facts(since, until, services=services, severities=severities)
        report = build_report(facts, since=since, until=until, now=self._clock(), tiers=self.tiers, settings=self.settings)
        return report, channels

    async def trend(
        self, *, now: datetime | None = None, services: Sequence[str] | None = None, severities: Sequence[str] | None = None
    ) -> Trend:
        now = now or self._clock()
        since = week_start(now) - timedelta(weeks=TREND_WEEKS - 1)
        facts, _ = await self.facts(since, now, services=services, severities=severities)
        return weekly_trend(facts, now=now, weeks=TREND_WEEKS, settings=self.settings)
