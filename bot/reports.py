"""MTTR reports from the database: the rows go straight into bot.stats, which does every figure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.command_text import CommandTextError, parse_service, parse_severity
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
        async with self._db.reading() as session:
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


@dataclass(frozen=True)
class StatsQuery:
    days: int
    service: str | None
    severity: str | None

    @property
    def label(self) -> str:
        parts = [f"last {self.days} days"]
        if self.service:
            parts.append(f"service {self.service}")
        if self.severity:
            parts.append(self.severity)
        return ", ".join(parts)


STATS_USAGE = "/incident stats [30d|90d] [service:NAME] [sev:P1]"
_PERIOD = re.compile(r"^(\d{1,3})d$")


def parse_stats_text(text: str) -> StatsQuery:
    """``/incident stats 90d service:payments-api sev:P1``; every part optional (default 30 days)."""
    days, service, severity = 30, None, None
    for word in text.split():
        lowered = word.lower()
        if period := _PERIOD.match(lowered):
            days = int(period.group(1))
            if not 1 <= days <= 365:
                raise CommandTextError(f"`{word}`: look back between 1d and 365d. Usage: `{STATS_USAGE}`.")
        elif lowered.startswith("service:"):
            service = parse_service(word.split(":", 1)[1])
        elif lowered.startswith(("sev:", "severity:")):
            severity = parse_severity(word.split(":", 1)[1])
        else:
            raise CommandTextError(f"I can't read `{word}`. Usage: `{STATS_USAGE}`, e.g. `/incident stats 90d sev:P1`.")
    return StatsQuery(days, service, severity)
