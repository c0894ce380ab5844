"""DORA's four keys and detection coverage (issue 20): exact figures on a hand-built history, worked
out by hand below; the bands at their edges for both report years; a deploy's commit_time refused,
with nothing written, through the webhook, the command line and `/incident deploy`; and
`incident-bot report` printing the figures to the digit.

The history (window Monday 2026-11-02 00:00 – Monday 2026-11-30 00:00 UTC, 28 days):

    deploys to production   payments-api: 20, on days 0-19 at 10:00; those of days 0, 5, 10, 15
                            linked to an incident (failed); days 0-4 carry a commit 30 min, 1 h,
                            2 h, 3 h, 25 h before the deploy. ledger: 2, days 3 and 17, 12:00.
                            Ignored: a staging deploy, a deploy the day before the window.
    restored incidents      payments-api (team payments), P1, linked to a deploy, days 1-5 at 09:00,
                            restored after 30, 45, 60, 120, 180 min; the first two
                            customer-reported, the others by alert.
                            ledger (in no team), P2, not linked, days 8-10 at 22:00, restored after
                            600, 1200, 1800 min, found by an engineer.
    open incident           ledger, P1, alert, day 20.

By hand:
    deployment frequency    payments-api 20 × 7 / 28 = 5.00 a week, 28 d / 20 = 1.4 d between
                            deploys: high (≤ 1 week, not < 1 day); ledger 2 × 7 / 28 = 0.50,
                            14 d: medium; all 22: 5.50 a week, 1.27 d: high
    change failure rate     payments-api 4 / 20 = 20%: 2024 high (its rate), 2023 medium (15% is
                            nearer than 64%); all 4 / 22 = 18.2%: 2024 high (20% nearer than 10%),
                            2023 medium; ledger 0 / 2: n too small
    lead time               1800, 3600, 7200, 10800, 90000 s: median 2 h (elite), mean
                            113400 / 5 s = 6 h 18 min, n=5, no p90 (needs 10)
    failed deploy recovery  30, 45, 60, 120, 180 min: median 1 h, not under 1 h: high;
                            mean 435 / 5 = 87 min
    time to restore         the eight: median (120 + 180) / 2 = 150 min (high), mean 4035 / 8 min
                            = 8 h 24 min 22.5 s; 95% interval at n=8 is (x₁, x₈) = (30 min, 30 h)
    coverage                9 incidents started in the window: alert 4 (44%), customer 2 (22%),
                            engineer 3 (33%); P1s 6, customer 2 (33%): flagged; payments-api
                            2 of 5 P1s (40%): flagged; ledger 0 of 1: not
"""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pydantic import ValidationError

from bot.analytics.coverage import Coverage, detection_coverage, monthly_trend, restore_clock
from bot.analytics.dora import BandRules, DeployFact, band_of_duration, band_of_rate, dora_report, wilson_interval
from bot.analytics.dora_bands import BANDS
from bot.analytics.reports import parse_stats_text
from bot.analytics.stats import IncidentFacts, ReportSettings, RestoredIncidents
from bot.core.command_text import CommandTextError
from bot.integrations.deploys import parse_deploy, parse_deploy_text, validation_reason
from storage.deploys import count as count_deploys
from storage.models import Deploy, IncidentDeploy
from tests.incident_facts import stamp_times
from tests.stored_incidents import incident_row
from tests.test_cli_commands import args, offline, run_report
from tests.test_deploys import hook_bot, post, sqlite_rows  # noqa: F401  (hook_bot: a fixture)
from tests.waiting import HANG_SECONDS

SINCE = datetime(2026, 11, 2, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=28)
TEAMS = {"payments-api": "payments"}
LEADS_MIN = (30, 60, 120, 180, 1500)
PAYMENTS_RESTORE_MIN = (30, 45, 60, 120, 180)
LEDGER_RESTORE_MIN = (600, 1200, 1800)
FAILED_DAYS = (0, 5, 10, 15)


def day(n: int, hour: int, minute: int = 0) -> datetime:
    return SINCE + timedelta(days=n, hours=hour, minutes=minute)


def deploy_facts() -> list[DeployFact]:
    payments = [
        DeployFact("payments-api", day(k, 10), day(k, 10) - timedelta(minutes=LEADS_MIN[k]) if k < 5 else None, k in FAILED_DAYS)
        for k in range(20)
    ]
    return payments + [DeployFact("ledger", day(k, 12), None, False) for k in (3, 17)]


def incident_facts() -> list[IncidentFacts]:
    def restored(id: int, start: datetime, minutes: float, **facts: Any) -> IncidentFacts:
        """Detected 5 minutes after ``start``, verified ``minutes`` after it."""
        detected, verified = start + timedelta(minutes=5), start + timedelta(minutes=minutes)
        return IncidentFacts(id=id, started_at=start, detected_at=detected, verified_at=verified, **facts)

    payments = [
        restored(
            1 + i,
            day(1 + i, 9),
            minutes,
            severity="P1",
            service="payments-api",
            detection_method="customer_report" if i < 2 else "alert",
            deploy_linked=True,
        )
        for i, minutes in enumerate(PAYMENTS_RESTORE_MIN)
    ]
    ledger = [
        restored(10 + i, day(8 + i, 22), minutes, severity="P2", service="ledger", detection_method="engineer", deploy_linked=False)
        for i, minutes in enumerate(LEDGER_RESTORE_MIN)
    ]
    still_open = IncidentFacts(
        id=20, severity="P1", service="ledger", detection_method="alert", started_at=day(20, 8), detected_at=day(20, 8)
    )
    return [*payments, *ledger, still_open]


def restored_columns() -> RestoredIncidents:
    return RestoredIncidents.from_facts(f for f in incident_facts() if f.restored)


# --------------------------------------------------------------------------------------------
# Exact figures, segmented


@pytest.mark.parametrize("year", [2023, 2024])
def test_the_four_keys_overall_and_per_service_and_team_are_the_hand_computed_ones(year):
    report = dora_report(
        deploy_facts() + [DeployFact("payments-api", day(-1, 10), None, True)],
        restored_columns(),
        since=SINCE,
        until=UNTIL,
        teams=TEAMS,
        year=year,
    )
    overall = report.overall
    frequency = overall.deployment_frequency
    assert (frequency.deploys, frequency.window_days, frequency.per_week, frequency.band.level) == (22, 28, 5.5, "high")
    assert [(w.label, w.deploys) for w in frequency.weeks] == [("2026-W45", 8), ("2026-W46", 7), ("2026-W47", 7), ("2026-W48", 0)]
    rate = overall.change_failure_rate
    assert (rate.failed, rate.deploys, rate.rate) == (4, 22, 4 / 22)
    assert rate.band.level == {2023: "medium", 2024: "high"}[year]
    lead = overall.lead_time
    assert (lead.count, lead.figure.distribution.median, lead.figure.distribution.mean) == (5, 7200, 113400 / 5)
    assert (lead.p90, lead.p95, lead.p99, lead.band.level) == (None, None, None, "elite")
    recovery = overall.failed_recovery
    assert (recovery.count, recovery.figure.distribution.median, recovery.figure.distribution.mean, recovery.band.level) == (
        5,
        3600,
        87 * 60,
        "high",
    )
    restore = overall.time_to_restore
    dist = restore.figure.distribution
    assert (restore.count, dist.median, dist.mean, dist.median_ci, restore.band.level) == (
        8,
        150 * 60,
        4035 * 60 / 8,
        (1800, 108000),
        "high",
    )
    assert report.deploys_without_commit_time == 17

    payments, ledger = report.by_service["payments-api"], report.by_service["ledger"]
    assert list(report.by_service) == ["ledger", "payments-api"]
    assert (payments.deployment_frequency.per_week, payments.deployment_frequency.band.level) == (5.0, "high")
    assert (ledger.deployment_frequency.per_week, ledger.deployment_frequency.band.level) == (0.5, "medium")
    assert (payments.change_failure_rate.rate, payments.change_failure_rate.band.level) == (0.2, {2023: "medium", 2024: "high"}[year])
    assert ledger.change_failure_rate.band == ledger.change_failure_rate.band.__class__(
        None, year, "n too small: a band needs 20 deploys, n=2"
    )
    assert (ledger.time_to_restore.count, ledger.time_to_restore.figure.distribution.median) == (3, 1200 * 60)
    assert ledger.time_to_restore.band.reason == "n too small: a band needs 5 values, n=3"
    assert ledger.failed_recovery.count == 0 and ledger.lead_time.count == 0
    # Teams: payments-api is the payments team's; ledger is in no team.
    assert list(report.by_team) == ["payments", "(no team)"]
    assert report.by_team["payments"] == payments and report.by_team["(no team)"] == ledger


def test_the_change_failure_interval_is_wilsons():
    z = 1.959963984540054  # the standard normal's 97.5% quantile
    n, failed = 22, 4
    p = failed / n
    centre, half, scale = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)), 1 + z * z / n
    low, high = wilson_interval(failed, n, 0.95)
    assert low == pytest.approx((centre - half) / scale, abs=1e-12) and high == pytest.approx((centre + half) / scale, abs=1e-12)
    assert (round(low * 100, 1), round(high * 100, 1)) == (7.3, 38.5)
    assert wilson_interval(0, 0, 0.95) is None
    assert wilson_interval(0, 10, 0.95)[0] == 0.0 and wilson_interval(10, 10, 0.95)[1] == 1.0


def test_detection_coverage_per_service_and_team_and_the_p1_flag():
    restored = restored_columns()
    still_open = [f for f in incident_facts() if not f.restored]
    coverage = detection_coverage(restored, still_open, since=SINCE, until=UNTIL, teams=TEAMS)
    overall = coverage.overall
    assert (overall.incidents, dict(overall.by_method)) == (9, {"alert": 4, "customer_report": 2, "engineer": 3, "synthetic": 0})
    assert (overall.p1s, overall.p1_customer, overall.flagged) == (6, 2, True)
    assert overall.share("engineer") == 3 / 9
    payments, ledger = coverage.by_service["payments-api"], coverage.by_service["ledger"]
    assert (payments.incidents, payments.p1s, payments.p1_customer, payments.flagged) == (5, 5, 2, True)
    assert (ledger.incidents, ledger.p1s, ledger.p1_customer, ledger.flagged) == (4, 1, 0, False)
    assert coverage.flagged_services == ["payments-api"] and coverage.flagged_teams == ["payments"]
    assert coverage.by_team["(no team)"] == ledger
    # Outside the window counts nowhere.
    assert detection_coverage(restored, still_open, since=UNTIL, until=UNTIL + timedelta(days=1), teams=TEAMS).overall.incidents == 0


@pytest.mark.parametrize("customer, p1s, flagged", [(1, 5, False), (2, 10, False), (2, 9, True), (1, 4, True), (0, 0, False), (1, 1, True)])
def test_the_p1_flag_is_strictly_more_than_a_fifth(customer, p1s, flagged):
    coverage = Coverage(incidents=p1s, by_method={"customer_report": customer}, p1s=p1s, p1_customer=customer)
    assert coverage.flagged is flagged


def test_restore_time_by_hour_and_weekday_is_read_in_the_report_time_zone():
    restored = restored_columns()
    utc = restore_clock(restored, since=SINCE, until=UNTIL, settings=ReportSettings())
    by_hour = {b.label: b for b in utc.by_hour}
    assert (by_hour["09:00"].count, by_hour["09:00"].median) == (5, 3600)
    assert (by_hour["22:00"].count, by_hour["22:00"].median) == (3, 1200 * 60)
    assert sum(b.count for b in utc.by_hour) == 8 and len(utc.by_hour) == 24
    by_day = {b.label: (b.count, b.median) for b in utc.by_weekday}
    assert by_day == {
        "Monday": (0, None),
        "Tuesday": (2, (30 + 600) * 60 / 2),
        "Wednesday": (2, (45 + 1200) * 60 / 2),
        "Thursday": (2, (60 + 1800) * 60 / 2),
        "Friday": (1, 120 * 60),
        "Saturday": (1, 180 * 60),
        "Sunday": (0, None),
    }
    # In Paris (UTC+1 in November) 22:00 UTC is 23:00, and 09:00 is 10:00; the days do not move.
    paris = restore_clock(restored, since=SINCE, until=UNTIL, settings=ReportSettings(time_zone=ZoneInfo("Europe/Paris")))
    assert paris.time_zone == "Europe/Paris"
    assert {b.label: b.count for b in paris.by_hour if b.count} == {"10:00": 5, "23:00": 3}
    # In Tokyo (UTC+9) 22:00 UTC is 07:00 the next day: Tuesday's ledger incident is Wednesday's.
    tokyo = restore_clock(restored, since=SINCE, until=UNTIL, settings=ReportSettings(time_zone=ZoneInfo("Asia/Tokyo")))
    assert {b.label: b.count for b in tokyo.by_weekday if b.count} == {
        "Tuesday": 1,
        "Wednesday": 2,
        "Thursday": 2,
        "Friday": 2,
        "Saturday": 1,
    }


@pytest.mark.parametrize(
    "n, shown", [(9, ()), (10, ("p90",)), (19, ("p90",)), (20, ("p90", "p95")), (99, ("p90", "p95")), (100, ("p90", "p95", "p99"))]
)
def test_percentiles_appear_only_where_n_allows(n, shown):
    facts = [
        IncidentFacts(
            id=k,
            severity="P2",
            service="ledger",
            detection_method="alert",
            started_at=day(1, 9),
            detected_at=day(1, 9),
            verified_at=day(1, 9) + timedelta(minutes=k),
        )
        for k in range(1, n + 1)
    ]
    restored = RestoredIncidents.from_facts(facts)
    bucket = next(b for b in restore_clock(restored, since=SINCE, until=UNTIL, settings=ReportSettings()).by_hour if b.count)
    present = tuple(name for name in ("p90", "p95", "p99") if getattr(bucket, name) is not None)
    assert present == shown
    ttr = dora_report([], restored, since=SINCE, until=UNTIL, teams={}).overall.time_to_restore
    assert tuple(name for name in ("p90", "p95", "p99") if getattr(ttr, name) is not None) == shown
    if n == 100:  # h = 99 × 0.99 = 98.01: x[98] + 0.01 (x[99] - x[98]) = 99.01 min
        assert bucket.p99 == pytest.approx(99.01 * 60)


def test_the_monthly_trend_beside_the_weekly_one():
    months = monthly_trend(restored_columns(), now=UNTIL, settings=ReportSettings())
    assert [m.label for m in months.months] == ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
    november = months.months[-1]
    assert (november.figure.count, november.figure.distribution.median, november.complete) == (8, 150 * 60, False)
    assert all(m.figure.count == 0 and m.complete for m in months.months[:-1])
    assert months.changes[-1].verdict.value == "no clear change" and months.changes[-1].reason.value == "too few incidents"


# --------------------------------------------------------------------------------------------
# Bands at their edges


SECOND = timedelta(seconds=1)
H, D, W, MONTH = timedelta(hours=1), timedelta(days=1), timedelta(weeks=1), timedelta(days=30)


@pytest.mark.parametrize(
    "year, value, level",
    [
        (2023, H - SECOND, "elite"),
        (2023, H, "high"),
        (2023, D - SECOND, "high"),
        (2023, D, "medium"),
        (2023, W - SECOND, "medium"),
        (2023, W, "low"),  # exclusive, as the per-incident bands (bot/core/tiers.py) read it
        (2024, H - SECOND, "elite"),
        (2024, H, "high"),
        (2024, D - SECOND, "high"),
        (2024, D, "low"),  # 2024's medium shares high's "less than one day"; the next stated range is low's
        (2024, 40 * D, "low"),
    ],
)
def test_recovery_bands_at_their_edges(year, value, level):
    bands = BANDS[year]
    assert band_of_duration(bands.recovery, value, bands.slowest) == level


@pytest.mark.parametrize("year", [2023, 2024])
@pytest.mark.parametrize(
    "value, level",
    [(D - SECOND, "elite"), (D, "high"), (W, "high"), (W + SECOND, "medium"), (MONTH, "medium"), (MONTH + SECOND, "low")],
)
def test_lead_time_and_deploy_interval_bands_at_their_edges(year, value, level):
    bands = BANDS[year]
    assert band_of_duration(bands.lead_time, value, bands.slowest) == level
    assert band_of_duration(bands.deploy_interval, value, bands.slowest) == level


@pytest.mark.parametrize(
    "year, percent, level",
    [
        (2023, "7.5", "elite"),  # halfway between 5% and 10%: the better level
        (2023, "7.51", "high"),
        (2023, "12.5", "high"),
        (2023, "12.51", "medium"),
        (2023, "39.5", "medium"),
        (2023, "39.51", "low"),
        (2024, "7.5", "elite"),
        (2024, "7.51", "medium"),  # 2024's medium level failed less often (10%) than its high (20%)
        (2024, "14.99", "medium"),
        (2024, "15", "high"),  # halfway between medium's 10% and high's 20%: the better level
        (2024, "30", "high"),
        (2024, "30.01", "low"),
        (2024, "100", "low"),
        (2024, "0", "elite"),
    ],
)
def test_change_failure_rate_bands_at_their_edges(year, percent, level):
    from fractions import Fraction

    assert band_of_rate(BANDS[year].change_failure_rate, Fraction(percent) / 100) == level


def test_no_band_from_too_little_data():
    facts = [f for f in incident_facts() if f.restored][:4]
    short = dora_report(deploy_facts()[:19], RestoredIncidents.from_facts(facts), since=SINCE, until=SINCE + timedelta(days=27), teams={})
    keys = short.overall
    assert keys.deployment_frequency.band.reason == "window too short: a band needs 28 days, this one is 27"
    assert keys.change_failure_rate.band.reason == "n too small: a band needs 20 deploys, n=19"
    assert keys.time_to_restore.band.reason == "n too small: a band needs 5 values, n=4"
    assert keys.lead_time.band.level == "elite"  # five leads: enough
    empty = dora_report([], RestoredIncidents.from_facts([]), since=SINCE, until=UNTIL, teams={}).overall
    assert empty.deployment_frequency.band.reason == "no deploys recorded"
    assert empty.change_failure_rate.rate is None and empty.time_to_restore.band.reason == "n too small: a band needs 5 values, n=0"
    # The rules are the report's: a team that asks for 3 incidents gets its band from 4 (median 52.5 min).
    loose = dora_report([], RestoredIncidents.from_facts(facts), since=SINCE, until=UNTIL, teams={}, rules=BandRules(min_count=3))
    assert loose.overall.time_to_restore.band.level == "elite"


def test_an_unknown_report_year_is_refused():
    with pytest.raises(ValueError, match="known years: 2023, 2024"):
        dora_report([], restored_columns(), since=SINCE, until=UNTIL, teams={}, year=2019)
    assert parse_stats_text("dora:2023").dora_year == 2023 and parse_stats_text("").dora_year == 2024
    for text in ("dora:2019", "dora:latest", "dora:"):
        with pytest.raises(CommandTextError, match="2023 or 2024 report"):
            parse_stats_text(text)


# --------------------------------------------------------------------------------------------
# commit_time: accepted, and refused with nothing written through every door


NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
BAD_COMMIT_TIMES = [
    ("yesterday", "commit_time: 'yesterday' is not an ISO 8601 time"),
    ("2026-11-23T09:30", "commit_time: '2026-11-23T09:30' has no time zone"),
    ("AFTER", "is after the deploy"),
    ("2025-11-01T09:30Z", "more than 365 days before the deploy"),
    ("0001-01-01T00:00+01:00", "is not a time a commit was made"),
]


def _commit(text: str, deployed: datetime) -> str:
    return (deployed + timedelta(minutes=1)).isoformat() if text == "AFTER" else text


def test_commit_time_is_kept_and_checked_against_the_deploy():
    deploy = parse_deploy(
        {"service": "ledger", "version": "v1", "time": "2026-11-23T12:00Z", "commit_time": "2026-11-23T10:30+01:00"}, now=NOW
    )
    assert deploy.commit_time == datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    assert parse_deploy({"service": "ledger", "version": "v1", "commit_time": NOW.isoformat()}, now=NOW).commit_time == NOW  # a lead of 0
    for text, words in BAD_COMMIT_TIMES:
        with pytest.raises(ValidationError) as caught:
            parse_deploy({"service": "ledger", "version": "v1", "commit_time": _commit(text, NOW)}, now=NOW)
        reason = validation_reason(caught.value)
        assert words in reason and "ISO 8601 with a zone" in reason, reason
    with pytest.raises(ValidationError) as caught:
        parse_deploy({"service": "ledger", "version": "v1", "commit_time": 1700000000}, now=NOW)
    assert "commit_time: should be a JSON string" in validation_reason(caught.value)


def test_deploy_command_text_takes_an_optional_commit_time():
    deploy = parse_deploy_text("ledger v2 commit:2026-11-23T09:30Z", now=NOW)
    assert (deploy.service, deploy.version, deploy.commit_time) == ("ledger", "v2", datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
    assert parse_deploy_text("ledger v2", now=NOW).commit_time is None
    for text, words in [*BAD_COMMIT_TIMES, ("v3", "takes a service and a version (got 3 words)")]:
        with pytest.raises(CommandTextError) as caught:
            parse_deploy_text(f"ledger v2 {'commit:' + _commit(text, NOW) if text != 'v3' else text}", now=NOW)
        assert words in str(caught.value), str(caught.value)


async def test_the_webhook_refuses_a_bad_commit_time_and_writes_nothing(hook_bot):
    deployed = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    for text, words in BAD_COMMIT_TIMES:
        status, answer = await post(
            hook_bot, {"service": "payments-api", "version": "v1", "time": deployed.isoformat(), "commit_time": _commit(text, deployed)}
        )
        assert (status, answer["ok"]) == (422, False), answer
        assert words in answer["error"], answer
    assert await count_deploys_of(hook_bot) == 0
    commit = deployed - timedelta(hours=3)
    status, answer = await post(
        hook_bot, {"service": "payments-api", "version": "v1", "time": deployed.isoformat(), "commit_time": commit.isoformat()}
    )
    assert status == 201, answer
    stored = await hook_bot.runtime.deploys.get(answer["deploy_id"])
    assert stored.commit_time == commit


async def count_deploys_of(bot) -> int:
    async with bot.runtime.db.reading() as session:
        return await count_deploys(session)


def _cli_deploy(incident, tmp_path, commit_time) -> tuple[datetime, Any]:
    """``incident-bot deploy ledger v1`` ten minutes ago, with ``commit_time(deployed)`` as its --commit-time."""
    deployed = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    at = deployed.isoformat()
    result = incident(
        tmp_path, "deploy", "ledger", "v1", "--at", at, "--commit-time", commit_time(deployed), DATABASE_URL="sqlite:///incidents.db"
    )
    return deployed, result


@pytest.mark.parametrize("text, words", BAD_COMMIT_TIMES)
def test_the_cli_refuses_a_bad_commit_time_and_writes_nothing(tmp_path, migrated_sqlite, incident, text, words):
    _, result = _cli_deploy(incident, tmp_path, lambda deployed: _commit(text, deployed))
    assert result.returncode == 2, result
    [line] = result.stderr.splitlines()
    assert line.startswith("incident-bot: ") and words in line, line
    assert sqlite_rows(migrated_sqlite, "SELECT count(*) FROM deploys") == [(0,)]


def test_the_cli_stores_the_commit_time(tmp_path, migrated_sqlite, incident):
    # Five hours before the deploy, so the test never turns into a skip as the calendar moves on.
    deployed, result = _cli_deploy(incident, tmp_path, lambda deployed: (deployed - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert result.returncode == 0, result.stderr
    stored = f"{deployed - timedelta(hours=5):%Y-%m-%d %H:%M:%S}.000000"
    assert sqlite_rows(migrated_sqlite, "SELECT commit_time FROM deploys") == [(stored,)]


async def test_the_command_refuses_a_bad_commit_time_and_writes_nothing(bot, fake_slack):
    for text, words in BAD_COMMIT_TIMES:
        await bot.slack.command(f"deploy payments-api v9 commit:{_commit(text, datetime.now(UTC))}")
        await bot.settle()
        assert words in fake_slack.responses[-1]["text"], fake_slack.responses[-1]
    assert await count_deploys_of(bot) == 0
    await bot.slack.command("deploy payments-api v9 commit:" + (datetime.now(UTC) - timedelta(hours=2)).isoformat())
    await bot.settle()
    assert await count_deploys_of(bot) == 1


# --------------------------------------------------------------------------------------------
# The figures where people read them


async def store_history(db) -> None:
    """The module's history, as the bot stores it: deploys, incidents and their links."""
    async with db.transaction() as session:
        deploys = []
        for fact in deploy_facts():
            row = Deploy(
                service=fact.service,
                version=f"v{len(deploys)}",
                environment="production",
                deployed_at=fact.deployed_at,
                commit_time=fact.commit_time,
                source="cli",
                recorded_at=fact.deployed_at,
            )
            session.add(row)
            deploys.append((fact, row))
        session.add(
            Deploy(
                service="payments-api", version="s1", environment="staging", deployed_at=day(2, 11), source="cli", recorded_at=day(2, 11)
            )
        )
        session.add(
            Deploy(
                service="payments-api",
                version="old",
                environment="production",
                deployed_at=day(-1, 11),
                source="cli",
                recorded_at=day(-1, 11),
            )
        )
        incidents = []
        for fact in incident_facts():
            minutes = None if not fact.restored else (fact.verified_at - fact.started_at) / timedelta(minutes=1)
            stamps = stamp_times(fact.started_at, (5, 10, 5, minutes - 20)) if minutes else {"detected_at": fact.detected_at}
            row = incident_row(
                f"Incident {fact.id}",
                fact.started_at,
                severity=fact.severity,
                service=fact.service,
                detection_method=fact.detection_method,
                deploy_found=fact.deploy_linked,
                **stamps,
            )
            session.add(row)
            incidents.append(row)
        await session.flush()
        failed = [row for fact, row in deploys if fact.failed]
        for deploy_row, incident in zip(failed, incidents, strict=False):
            session.add(IncidentDeploy(incident_id=incident.id, deploy_id=deploy_row.id))


@pytest.mark.both_databases
async def test_the_report_prints_the_four_keys_and_coverage_to_the_digit(db, database_url, capsys):
    await store_history(db)
    window = ("report", "--since", "2026-11-02", "--until", "2026-11-30")
    assert await run_report(offline(database_url), args(*window)) == 0
    out = capsys.readouterr().out
    section = out[out.index("DORA's four keys") :]
    assert section.splitlines()[:7] == [
        "DORA's four keys, 2026-11-02 00:00 – 2026-11-30 00:00 UTC (DORA 2024 report bands; deploys to production):",
        "  Deployment frequency: 5.50 deploys/week (n=22 deploys over 28 days) · band: high",
        "  Change failure rate: 18.2% (4 of 22 deploys; 95% interval 7.3% – 38.5%) · band: high",
        "  Lead time for changes: median 2 h · mean 6 h 18 min · n=5 · band: elite",
        "  Failed deployment recovery time: median 1 h · mean 1 h 27 min · n=5 · band: high",
        "  Time to restore: median 2 h 30 min (95% interval 30 min – 1 d 6 h) · mean 8 h 24 min · n=8 · band: high",
        "  (17 deploys without commit_time are not in the lead time)",
    ]
    assert (
        "Detection coverage (incidents whose impact started in the window): n=9 · alert 44% · customer 22% · engineer 33% · "
        "synthetic 0% · P1s customer-reported 2 of 6 (33%) · FLAGGED: more than 20% of P1s customer-reported"
    ) in section
    assert "WARNING: service payments-api: 2 of 5 P1s (40%) customer-reported, more than 20%" in section
    assert "WARNING: team payments: 2 of 5 P1s (40%) customer-reported, more than 20%" in section
    assert "ledger" not in "".join(line for line in section.splitlines() if line.startswith("WARNING"))
    assert "2026-11 (so far): median 2 h 30 min (95% interval 30 min – 1 d 6 h) · n=8" in section

    assert await run_report(offline(database_url), args(*window, "--dora-year", "2023")) == 0
    older = capsys.readouterr().out
    assert "  Change failure rate: 18.2% (4 of 22 deploys; 95% interval 7.3% – 38.5%) · band: medium" in older
    assert "(DORA 2023 report bands; deploys to production)" in older

    assert await run_report(offline(database_url), args(*window, "--format", "json")) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["count"] == 8  # the report as before, with the keys beside it
    keys = data["dora"]["by_team"]["payments"]
    assert keys["deployment_frequency"]["per_week"] == 5.0 and keys["change_failure_rate"]["rate"] == 0.2
    assert keys["time_to_restore"]["median_s"] == 3600 and keys["time_to_restore"]["band"]["level"] == "high"
    assert data["dora"]["by_service"]["ledger"]["change_failure_rate"]["band"] == {
        "level": None,
        "year": 2024,
        "reason": "n too small: a band needs 20 deploys, n=2",
    }
    assert data["coverage"]["flagged_services"] == ["payments-api"] and data["coverage"]["flagged_teams"] == ["payments"]


async def test_stats_and_the_digest_show_the_keys_and_the_warning(bot, fake_slack):
    await store_history(bot.runtime.db)
    await bot.slack.command("stats 365d")
    await bot.settle()
    shown = json.dumps(fake_slack.responses[-1]["blocks"], ensure_ascii=False)
    assert "DORA's four keys (DORA 2024 report bands)" in shown
    assert "Change failure rate: 17.4% (4 of 23 deploys" in shown  # the day before the window counts here: 4 / 23
    assert "*WARNING*: service payments-api: 2 of 5 P1s (40%) customer-reported, more than 20%" in shown
    assert "payments (team)" in shown
    await bot.slack.command("stats dora:2023")
    await bot.settle()
    assert "DORA 2023 report bands" in json.dumps(fake_slack.responses[-1]["blocks"], ensure_ascii=False)
    await bot.slack.command("stats dora:1999")
    await bot.settle()
    assert "the DORA bands are those of the 2023 or 2024 report" in fake_slack.responses[-1]["text"]

    from bot.analytics.digest_schedule import DigestChannel

    composed = await bot.runtime.digests.compose(DigestChannel(channel="C0DIGEST1"), "2026-W48")
    assert "WARNING: service payments-api: 2 of 5 P1s (40%) customer-reported, more than 20%" in composed.digest.text
    assert "The last 4 weeks:\nDORA's four keys, 2026-11-02 00:00 – 2026-11-30 00:00 UTC" in composed.digest.text
    blocks = json.dumps(composed.digest.blocks, ensure_ascii=False)
    assert "DORA's four keys" in blocks and "*WARNING*: service payments-api" in blocks
    assert len(composed.digest.blocks) <= 50


@pytest.mark.both_databases
async def test_the_row_by_row_read_of_deploys_gives_the_aggregated_columns(db, monkeypatch):
    """The fallback for a part whose joined text is not in the expected form reads the same values."""
    from storage import reports as report_rows

    await store_history(db)

    async def read():
        async with db.reading() as session:
            got = await report_rows.deploy_columns(session, SINCE, UNTIL, environment="production")
        order = np.lexsort((got.commit_us, got.deployed_us))
        return (
            [got.service_keys[got.service_codes[i]] for i in order],
            got.deployed_us[order].tolist(),
            got.commit_us[order].tolist(),
            got.failed[order].tolist(),
        )

    aggregated = await read()
    monkeypatch.setattr(report_rows, "_deploy_batch", lambda *_, **__: None)
    assert await read() == aggregated
    services, deployed, committed, failed = aggregated
    assert (len(services), sum(failed), sum(c != np.iinfo(np.int64).min for c in committed)) == (22, 4, 5)
    assert min(deployed) == (day(0, 10) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def test_the_recovery_keys_are_the_reports_own_figures():
    """Failed deployment recovery time and time to restore existed before the four keys: the keys
    read the very same figures the MTTR report shows."""
    from bot.analytics.stats import report_from_columns
    from bot.core.tiers import DORA_BANDS, TierTables

    restored = restored_columns()
    report = report_from_columns(restored, [], since=SINCE, until=UNTIL, now=UNTIL, tiers=TierTables.default())
    keys = dora_report(deploy_facts(), restored, since=SINCE, until=UNTIL, teams=TEAMS).overall
    assert keys.failed_recovery.figure == report.recovery.failed_deployment_recovery
    assert keys.time_to_restore.figure == report.recovery.time_to_restore == report.time_to_restore
    # The per-incident band table of each year agrees with the keys' recovery bands, edge for edge.
    for year in (2023, 2024):
        for minutes in (59, 60, 1439, 1440, 10079, 10080, 10081, 50000):
            value = timedelta(minutes=minutes)
            expected = band_of_duration(BANDS[year].recovery, value, BANDS[year].slowest)
            assert DORA_BANDS[year].tier(value).name == expected, (year, minutes)


async def _with_the_keys(db, path: str) -> object:
    """The four keys through each of their readers: the whole report (``incident-bot report``,
    ``/incident stats``, the dashboard), ``DeliveryFigures.delivery`` and the digest's."""
    from bot.analytics.digest_publisher import DELIVERY_SPAN, DigestPublisher
    from bot.analytics.digest_schedule import DigestChannel
    from bot.analytics.reports import Reports
    from bot.core.tiers import TierTables
    from tests.clocks import FakeClock

    clock = FakeClock(UNTIL)
    reports = Reports(db, clock, tiers=TierTables.default(), settings=ReportSettings(), teams=TEAMS)
    if path == "report":
        return await reports.window_trend_and_delivery(SINCE, UNTIL)
    if path == "delivery":
        return await reports.delivery_figures.delivery(SINCE, UNTIL)
    publisher = DigestPublisher(db, clock, reports, slack=None, delivery_span=DELIVERY_SPAN)  # type: ignore[arg-type]
    return await publisher.compose(DigestChannel(channel="C0DIGEST1"), "2026-W48")


KEY_READERS = ("report", "delivery", "digest")


@pytest.mark.both_databases
@pytest.mark.parametrize("path", KEY_READERS)
async def test_the_deploys_are_read_while_the_incidents_are(db, monkeypatch, path):
    """A year of deploys (500,000 beside 100,000 incidents) took as long to read as the incidents:
    every reader of the four keys asks for them first, on a connection of their own, and they are
    read while the incidents are."""
    import bot.analytics.delivery_figures as delivery_figures
    from bot.analytics.incident_reads import IncidentReads

    await store_history(db)
    deploys: list[asyncio.Task[Any]] = []
    deploys_read = asyncio.Event()
    reading_deploys, read_columns = delivery_figures.DeliveryFigures.reading_deploys, delivery_figures.deploy_columns
    incidents_read = IncidentReads.incidents_read

    def asked(self, *args, **kwargs):
        deploys.append(task := reading_deploys(self, *args, **kwargs))
        return task

    async def columns(*args, **kwargs):
        deploys_read.set()
        return await read_columns(*args, **kwargs)

    async def incidents(self, *args, **kwargs):
        assert deploys and not deploys[-1].done(), "the incidents were read before the deploys were asked for"
        await asyncio.wait_for(deploys_read.wait(), HANG_SECONDS)  # the deploys' own read begins meanwhile
        return await incidents_read(self, *args, **kwargs)

    monkeypatch.setattr(delivery_figures.DeliveryFigures, "reading_deploys", asked)
    monkeypatch.setattr(delivery_figures, "deploy_columns", columns)
    monkeypatch.setattr(IncidentReads, "incidents_read", incidents)
    assert await _with_the_keys(db, path)
    assert len(deploys) == 1 and deploys[0].done()


@pytest.mark.parametrize("path", KEY_READERS)
async def test_a_failed_read_of_the_incidents_leaves_no_read_of_the_deploys_behind(db, monkeypatch, path):
    import bot.analytics.delivery_figures as delivery_figures
    from bot.analytics.incident_reads import IncidentReads

    await store_history(db)
    deploys: list[asyncio.Task[Any]] = []
    reading_deploys = delivery_figures.DeliveryFigures.reading_deploys
    released = asyncio.Event()

    def asked(self, *args, **kwargs):
        deploys.append(task := reading_deploys(self, *args, **kwargs))
        return task

    async def stuck(*args, **kwargs):
        await released.wait()  # a read still going when the incidents' read fails

    async def incidents(self, *args, **kwargs):
        # The deploys' read is let go on the loop's next turn: cancelled by then, it never ends on
        # its own; left running (or waited for), it ends, and not as cancelled.
        asyncio.get_running_loop().call_soon(released.set)
        raise OSError("disk I/O error")

    monkeypatch.setattr(delivery_figures.DeliveryFigures, "reading_deploys", asked)
    monkeypatch.setattr(delivery_figures, "deploy_columns", stuck)
    monkeypatch.setattr(IncidentReads, "incidents_read", incidents)
    with pytest.raises(OSError, match="disk I/O error"):
        await _with_the_keys(db, path)
    assert len(deploys) == 1 and deploys[0].cancelled()
