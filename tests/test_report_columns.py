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
from tests.stored_incidents import incident_row

pytestmark = pytest.mark.both_databases

UTC = UTC
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SERVICES = ["payments-api", "checkout", None, "search"]


async def seed(db: Database, count: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    async with db.transaction() as session:
        for n in range(count):
            start = NOW - timedelta(days=rng.uniform(0, 120), microseconds=rng.randrange(10**6))
            stamps, at = [], start
            for _ in range(4):
                at = at + timedelta(seconds=rng.lognormvariate(6, 1.2), microseconds=rng.randrange(10**6))
                stamps.append(at)
            detected, diagnosed, mitigated, verified = stamps
            if n % 50 == 0:
                # Fractions SQLite would round if it read them (it keeps milliseconds): .999999 and .9995.
                detected = detected.replace(microsecond=999_999)
                verified = verified.replace(microsecond=999_500)
            # Skipped phases leave implied stamps (None here: the next present stamp stands in);
            # some incidents are still open, some in mid-flight.
            shape = rng.random()
            if shape < 0.15:
                diagnosed = None
            elif shape < 0.25:
                diagnosed = mitigated = None
            elif shape < 0.3:
                mitigated = None
            if rng.random() < 0.08:
                verified = None
                if rng.random() < 0.5:
                    mitigated = None
            acknowledged = None
            if rng.random() < 0.7:  # acknowledged some seconds after detection, or (rarely) before it
                acknowledged = detected + timedelta(seconds=rng.uniform(-30, 900), microseconds=rng.randrange(10**6))
            session.add(
                incident_row(
                    f"Incident {n}",
                    start,
                    severity=rng.choice(["P1", "P2", "P3", "P4"]),
                    service=rng.choice(SERVICES),
                    detection_method=rng.choice(["alert", "customer_report", "engineer", "synthetic"]),
                    detected_at=detected,
                    diagnosed_at=diagnosed,
                    mitigated_at=mitigated,
                    verified_at=verified,
                    deploy_found=rng.choice([None, True, False]),
                    acknowledged_at=acknowledged,
                    acknowledged_by="U_BOB" if acknowledged else None,
                )
            )


@pytest.fixture
async def reports(db):
    await seed(db, 400)
    return Reports(db, lambda: NOW, tiers=TierTables.default(), settings=ReportSettings(min_count=3))


@pytest.mark.parametrize("days", [7, 30, 120])
async def test_report_from_database_columns_equals_the_per_incident_report(reports, days):
    since = NOW - timedelta(days=days)
    facts, _ = await reports.facts(since, NOW)
    expected = build_report(facts, since=since, until=NOW, now=NOW, tiers=reports.tiers, settings=reports.settings)
    expected_trend = weekly_trend(*(await reports.facts(since - timedelta(weeks=20), NOW))[:1], now=NOW, settings=reports.settings)

    report, war_rooms, trend = await reports.window_and_trend(since, NOW)

    assert report.count == expected.count > 0
    assert asdict(report) == asdict(expected)
    assert asdict(trend) == asdict(expected_trend)
    assert report.open_incidents and report.segments.service["(no service)"].count > 0
    assert 0 < report.acknowledged.count < report.count


async def test_report_scoped_to_a_service_and_severity_counts_only_those(reports):
    since = NOW - timedelta(days=120)
    report, _ = await reports.window(since, NOW, services=["checkout"], severities=["P1"])
    facts, _ = await reports.facts(since, NOW, services=["checkout"], severities=["P1"])
    expected = build_report(facts, since=since, until=NOW, now=NOW, tiers=reports.tiers, settings=reports.settings)
    assert asdict(report) == asdict(expected)
    assert list(report.segments.service) == ["checkout"]
    assert all(incident.severity == "P1" for incident in report.open_incidents)
