"""The report's fast path reads stamps as epoch microseconds computed by the database. It must give
exactly the figures of the per-incident path (IncidentFacts built from the same rows), on SQLite
and on PostgreSQL, with microsecond stamps, implied stamps, open incidents and every segment."""

from __future__ import annotations

import random
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest

from bot.analytics.reports import Reports
from bot.analytics.stats import ReportSettings, build_report, weekly_trend
from bot.core.tiers import TierTables
from storage.db import Database
from tests.stored_incidents import random_incident_row

pytestmark = pytest.mark.both_databases

UTC = UTC
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SERVICES = ["payments-api", "checkout", None, "search"]


async def seed(db: Database, count: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    async with db.transaction() as session:
        session.add_all(random_incident_row(rng, n, now=NOW, services=SERVICES, days=120) for n in range(count))


@pytest.fixture
async def reports(db):
    await seed(db, 400)
    return Reports(db, lambda: NOW, tiers=TierTables.default(), settings=ReportSettings(min_count=3))


@pytest.mark.parametrize("days", [7, 30, 120])
async def test_report_from_database_columns_equals_the_per_incident_report(reports, days):
    since = NOW - timedelta(days=days)
    facts, _ = await reports.reads.facts(since, NOW)
    expected = build_report(facts, since=since, until=NOW, now=NOW, tiers=reports.tiers, settings=reports.settings)
    expected_trend = weekly_trend(*(await reports.reads.facts(since - timedelta(weeks=20), NOW))[:1], now=NOW, settings=reports.settings)

    report, war_rooms, trend = await reports.window_and_trend(since, NOW)

    assert report.count == expected.count > 0
    assert asdict(report) == asdict(expected)
    assert asdict(trend) == asdict(expected_trend)
    assert report.open_incidents and report.segments.service["(no service)"].count > 0
    assert 0 < report.acknowledged.count < report.count


async def test_report_scoped_to_a_service_and_severity_counts_only_those(reports):
    since = NOW - timedelta(days=120)
    report, _ = await reports.window(since, NOW, services=["checkout"], severities=["P1"])
    facts, _ = await reports.reads.facts(since, NOW, services=["checkout"], severities=["P1"])
    expected = build_report(facts, since=since, until=NOW, now=NOW, tiers=reports.tiers, settings=reports.settings)
    assert asdict(report) == asdict(expected)
    assert list(report.segments.service) == ["checkout"]
    assert all(incident.severity == "P1" for incident in report.open_incidents)
