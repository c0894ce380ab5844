"""Each key's trend (bot/analytics/key_trends.py), the dashboard's small charts: every point of
every key, weekly and monthly, is the figure the report computes over that period alone, and time
to restore's points are the report's own weekly and monthly trends, to the digit. Over seeded
random histories (deploys, links, acknowledgements, periods with nothing in them), not one example.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from bot.analytics.coverage import detection_coverage, monthly_trend
from bot.analytics.dora import DeployFact, dora_report
from bot.analytics.key_trends import KEY_ORDER, key_trends, monthly_periods, weekly_periods
from bot.analytics.stats import IncidentFacts, ReportSettings, RestoredIncidents, report_from_columns, trend_from_columns
from bot.core.tiers import TierTables

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
SERVICES = ("payments-api", "ledger", "search", None)


def random_history(seed: int) -> tuple[list[DeployFact], list[IncidentFacts]]:
    """About 200 days of deploys and restored incidents, with quiet weeks where nothing happened."""
    rng = random.Random(seed)
    quiet = {rng.randrange(0, 30) for _ in range(4)}  # weeks (counted back from now) with nothing in them
    deploys, incidents = [], []
    for _ in range(rng.randrange(50, 400)):
        at = NOW - timedelta(minutes=rng.randrange(1, 200 * 24 * 60))
        if (NOW - at) // timedelta(weeks=1) in quiet:
            continue
        commit = at - timedelta(minutes=rng.randrange(5, 5000)) if rng.random() < 0.6 else None
        deploys.append(DeployFact(rng.choice(SERVICES[:3]), at, commit, rng.random() < 0.15))
    for k in range(rng.randrange(30, 600)):
        started = NOW - timedelta(minutes=rng.randrange(60, 200 * 24 * 60))
        if (NOW - started) // timedelta(weeks=1) in quiet:
            continue
        detected = started + timedelta(minutes=rng.randrange(0, 30))
        verified = min(detected + timedelta(minutes=rng.randrange(1, 3000)), NOW)
        acknowledged = detected + timedelta(seconds=rng.randrange(0, 3600)) if rng.random() < 0.7 else None
        incidents.append(
            IncidentFacts(
                id=k + 1,
                severity=rng.choice(("P1", "P2", "P3", "P4")),
                service=rng.choice(SERVICES),
                detection_method=rng.choice(("alert", "alert", "customer_report", "engineer", "synthetic")),
                started_at=started,
                detected_at=detected,
                # One in twenty still open: in the coverage, in no duration.
                verified_at=verified if rng.random() > 0.05 else None,
                deploy_linked=rng.choice((None, False, True)),
                acknowledged_at=acknowledged if acknowledged is None or acknowledged <= verified else verified,
            )
        )
    return deploys, incidents


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("year", [2023, 2024])
def test_every_point_of_every_key_is_the_reports_figure_over_that_period(seed, year):
    from bot.analytics.dora import DeployColumns

    settings = ReportSettings()
    deploy_list, incidents = random_history(seed)
    restored = RestoredIncidents.from_facts(i for i in incidents if i.restored)
    still_open = [i for i in incidents if not i.restored]
    trend = trend_from_columns(restored, [], now=NOW, weeks=12, settings=settings)
    months = monthly_trend(restored, now=NOW, settings=settings)
    weeks, month_periods = weekly_periods(trend, NOW), monthly_periods(months, NOW)
    trends = key_trends(
        DeployColumns.from_facts(deploy_list), restored, still_open, weeks=weeks, months=month_periods, settings=settings, year=year
    )
    assert [t.key for t in trends] == list(KEY_ORDER)
    by_key = {t.key: t for t in trends}

    # The report's own periods; one still running is read up to now, as the report reads a window.
    bounds = {
        "weekly": [(w.start, min(w.end, NOW)) for w in trend.weeks],
        "monthly": [(m.start, min(m.end, NOW)) for m in months.months],
    }
    for points, periods in bounds.items():
        for index, (since, until) in enumerate(periods):
            keys = dora_report(deploy_list, restored, since=since, until=until, teams={}, year=year, settings=settings).overall
            report = report_from_columns(restored, [], since=since, until=until, now=NOW, tiers=TierTables.default(), settings=settings)
            coverage = detection_coverage(restored, still_open, since=since, until=until, teams={}).overall
            expected = {
                "deployment_frequency": (keys.deployment_frequency.per_week, keys.deployment_frequency.deploys),
                "change_failure_rate": (keys.change_failure_rate.rate, keys.change_failure_rate.deploys),
                "lead_time": _median_and_n(keys.lead_time.figure),
                "failed_recovery": _median_and_n(keys.failed_recovery.figure),
                "time_to_restore": _median_and_n(report.time_to_restore),
                "time_to_acknowledge": _median_and_n(report.time_to_acknowledge),
                "alert_coverage": (coverage.share("alert"), coverage.incidents),
            }
            for key, (value, count) in expected.items():
                point = getattr(by_key[key], points)[index]
                assert (point.value, point.count) == (value, count), (seed, key, points, point.period.label)

    restore = by_key["time_to_restore"]
    assert [(p.value, p.count) for p in restore.weekly] == [(w.median, w.count) for w in trend.weeks]
    assert [(p.value, p.count) for p in restore.monthly] == [
        (m.figure.distribution.median if m.figure.distribution else None, m.figure.count) for m in months.months
    ]
    # A point is faint exactly when its period runs or its n is below what the key's band needs.
    for t in trends:
        for p in (*t.weekly, *t.monthly):
            needed = {"deployment_frequency": 1, "change_failure_rate": 20}.get(t.key, settings.min_count)
            assert p.faint == (p.count < needed or not p.period.complete), (t.key, p)


def _median_and_n(figure) -> tuple[float | None, int]:
    return (figure.distribution.median if figure.distribution else None, figure.count)


def test_a_week_starting_now_is_still_a_window():
    """Monday 00:00 exactly: the running week has no time yet, and still gives points (zero deploys)."""
    from bot.analytics.dora import DeployColumns

    monday = datetime(2026, 11, 23, tzinfo=UTC)
    restored = RestoredIncidents.from_facts([])
    trend = trend_from_columns(restored, [], now=monday, weeks=12)
    months = monthly_trend(restored, now=monday, settings=ReportSettings())
    trends = key_trends(
        DeployColumns.from_facts([]),
        restored,
        weeks=weekly_periods(trend, monday),
        months=monthly_periods(months, monday),
        settings=ReportSettings(),
    )
    assert all(p.count == 0 and p.faint for t in trends for p in (*t.weekly, *t.monthly))


@pytest.mark.parametrize("seed", range(4))
def test_the_chart_draws_every_point_solid_or_hollow_as_its_n_and_period_say(seed):
    """The dashboard's small chart of each key: a dot for every point with a value, solid exactly
    where the point is not faint, and well-formed SVG."""
    from xml.etree import ElementTree

    from bot.analytics.chart import BLUE
    from bot.analytics.dora import DeployColumns
    from bot.analytics.key_trend_svg import key_trend_svg

    settings = ReportSettings()
    deploy_list, incidents = random_history(seed)
    restored = RestoredIncidents.from_facts(i for i in incidents if i.restored)
    trend = trend_from_columns(restored, [], now=NOW, weeks=12, settings=settings)
    months = monthly_trend(restored, now=NOW, settings=settings)
    trends = key_trends(
        DeployColumns.from_facts(deploy_list),
        restored,
        [i for i in incidents if not i.restored],
        weeks=weekly_periods(trend, NOW),
        months=monthly_periods(months, NOW),
        settings=settings,
    )
    for key_trend in trends:
        svg = ElementTree.fromstring(key_trend_svg(key_trend))
        dots = [e for e in svg.iter() if e.tag.endswith("circle")]
        points = [p for p in (*key_trend.weekly, *key_trend.monthly) if p.value is not None]
        assert len(dots) == len(points), key_trend.key
        assert sum(dot.get("fill") == BLUE for dot in dots) == sum(not p.faint for p in points), key_trend.key
