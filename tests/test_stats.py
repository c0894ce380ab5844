"""bot.analytics.stats: order statistics against NumPy, the median interval against its binomial definition,
the window report's rules (who counts, segments, shares, tiers), weekly verdicts, detectable change."""

import math
import random
import statistics
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.analytics.stats import (
    BUSINESS_HOURS,
    NO_SERVICE,
    OUT_OF_HOURS,
    IncidentFacts,
    ReportSettings,
    Verdict,
    VerdictReason,
    build_report,
    detectable_change,
    distribution,
    median_interval,
    median_interval_detail,
    percentile,
    weekly_trend,
)
from bot.core.phases import Phase
from bot.core.tiers import TierTables
from tests.incident_facts import facts_maker

UTC = UTC
MIN = 60.0
TIERS = TierTables.default()
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)  # ISO 2026-W10


facts = facts_maker(minutes=(1, 5, 3, 10), service="payments", stamps_when_open=3)  # an open one is mitigated, not verified


def restored_in(id: int, start: datetime, restore_minutes: float, **kwargs) -> IncidentFacts:
    """An incident whose whole time to restore is spent verifying (for restore-time tests)."""
    return facts(id, start, (0, 0, 0, restore_minutes), **kwargs)


def report(incidents, since=MONDAY, until=MONDAY + timedelta(days=7), now=None, **settings_kwargs):
    return build_report(
        incidents,
        since=since,
        until=until,
        now=now or until + timedelta(days=1),
        tiers=TIERS,
        settings=ReportSettings(**settings_kwargs),
    )


def close(a: float, b: float, scale: float = 1.0) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, scale))


# ---------------------------------------------------------------------------------------------
# Order statistics


def test_textbook_case_12_8_25_minutes():
    dist = distribution([12 * MIN, 8 * MIN, 25 * MIN])
    assert dist is not None
    assert dist.mean == 15 * MIN
    assert dist.median == 12 * MIN
    assert (dist.count, dist.minimum, dist.maximum) == (3, 8 * MIN, 25 * MIN)
    assert dist.stdev == pytest.approx(math.sqrt(79) * MIN)  # ((-3)² + (-7)² + 10²) / 2 = 79 min²
    assert dist.p90 == pytest.approx(22.4 * MIN)  # h = 2 · 0.9 = 1.8: 12 + 0.8 · (25 - 12)
    assert dist.p95 == pytest.approx(23.7 * MIN)  # h = 1.9: 12 + 0.9 · (25 - 12)
    assert dist.median_ci is None  # 3 values cannot bound the median at 95%


def test_textbook_case_through_the_report():
    start = MONDAY + timedelta(hours=10)
    incidents = [restored_in(i, start + timedelta(hours=i), m) for i, m in enumerate((12, 8, 25), start=1)]
    figure = report(incidents).time_to_restore
    assert figure.count == 3 and not figure.enough
    assert figure.distribution.mean == 15 * MIN and figure.distribution.median == 12 * MIN


def test_percentile_interpolates_between_order_statistics():
    assert percentile([1, 2, 3, 4], 0.9) == pytest.approx(3.7)  # h = 2.7
    assert percentile([5], 0.3) == 5
    assert percentile([1, 2], 1.0) == 2
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([2, 1], 0.5)
    with pytest.raises(ValueError):
        percentile([1, 2], 1.5)


finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False, allow_subnormal=False)
durations = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@given(st.lists(finite, min_size=1, max_size=80), st.floats(min_value=0, max_value=1))
def test_percentile_matches_numpy_linear(values, q):
    xs = sorted(values)
    scale = max(abs(x) for x in xs)
    ours = percentile(xs, q)
    assert close(ours, float(np.percentile(xs, q * 100, method="linear")), scale)
    assert close(ours, float(np.quantile(xs, q, method="linear")), scale)
    assert xs[0] <= ours <= xs[-1]


@given(st.lists(finite, min_size=1, max_size=80), st.floats(0, 1), st.floats(0, 1))
def test_percentile_is_monotone_in_q(values, q1, q2):
    xs = sorted(values)
    low, high = sorted((q1, q2))
    assert percentile(xs, low) <= percentile(xs, high)


@given(st.lists(st.one_of(finite, durations), min_size=1, max_size=80))
def test_distribution_matches_numpy_and_statistics(values):
    dist = distribution(values)
    assert dist is not None
    scale = max(abs(x) for x in values)
    assert dist.count == len(values)
    assert dist.minimum == min(values) == float(np.min(values))
    assert dist.maximum == max(values) == float(np.max(values))
    assert close(dist.mean, float(np.mean(values)), scale)
    assert close(dist.mean, statistics.fmean(values), scale)
    assert close(dist.median, float(np.median(values)), scale)
    assert dist.median == statistics.median(values)
    assert close(dist.p90, float(np.percentile(values, 90, method="linear")), scale)
    assert close(dist.p95, float(np.percentile(values, 95, method="linear")), scale)
    if len(values) < 2:
        assert dist.stdev is None
    else:
        assert close(dist.stdev, float(np.std(values, ddof=1)), scale)
        assert close(dist.stdev, statistics.stdev(values), scale)


def test_no_values_no_distribution():
    assert distribution([]) is None
    with pytest.raises(ValueError):
        distribution([1.0, math.nan])


# ---------------------------------------------------------------------------------------------
# Median interval


def coverage(n: int, j: int) -> Fraction:
    """P(j ≤ B ≤ n - j), B ~ Binomial(n, 1/2), straight from the definition."""
    return Fraction(sum(math.comb(n, k) for k in range(j, n - j + 1)), 2**n)


def brute_force_rank(n: int, confidence: float) -> int | None:
    """The largest j (any j with j ≤ n + 1 - j) whose coverage reaches the confidence."""
    good = [j for j in range(1, n + 1) if j <= n + 1 - j and coverage(n, j) >= Fraction(str(confidence))]
    return max(good) if good else None


@pytest.mark.parametrize("n, ranks", [(6, (1, 6)), (7, (1, 7)), (9, (2, 8)), (10, (2, 9)), (20, (6, 15)), (30, (10, 21))])
def test_median_interval_order_statistics_for_known_n(n, ranks):
    values = [float(i) for i in range(1, n + 1)]  # x_(i) = i
    assert median_interval(values) == (float(ranks[0]), float(ranks[1]))


@pytest.mark.parametrize("n", range(0, 6))
def test_no_median_interval_below_six_values_at_95(n):
    assert median_interval([float(i) for i in range(n)]) is None
    if n:
        assert coverage(n, 1) < Fraction(95, 100)  # even (x_(1), x_(n)) falls short


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_median_interval_agrees_with_brute_force(confidence):
    for n in range(1, 90):
        values = [float(i) for i in range(1, n + 1)]
        detail = median_interval_detail(values, confidence)
        j = brute_force_rank(n, confidence)
        if j is None:
            assert detail is None, n
            continue
        assert detail is not None, n
        assert (detail.lower_rank, detail.upper_rank) == (j, n + 1 - j)
        assert (detail.low, detail.high) == (float(j), float(n + 1 - j))
        assert detail.coverage == float(coverage(n, j)) >= confidence
        if j + 1 <= n + 1 - (j + 1):
            assert coverage(n, j + 1) < Fraction(str(confidence))  # the next pair in falls short


def test_median_interval_reports_its_achieved_coverage():
    detail = median_interval_detail([float(i) for i in range(10)])
    assert detail.coverage == pytest.approx(1 - 2 * (1 + 10) / 1024)  # 0.9785…, not just "95%"
    dist = distribution(range(10))
    assert dist.median_ci == (1.0, 8.0) and dist.median_ci_coverage == detail.coverage


def test_median_interval_covers_the_true_median_at_least_as_often_as_claimed():
    rng = random.Random(5)
    true_median = math.log(2)  # of Exp(1)
    hits = 0
    for _ in range(3000):
        low, high = median_interval(sorted(rng.expovariate(1) for _ in range(10)))
        hits += low <= true_median <= high
    assert hits / 3000 >= 0.96  # claimed 0.9785


@given(st.lists(durations, min_size=6, max_size=60))
def test_median_interval_brackets_the_sample_median(values):
    xs = sorted(values)
    low, high = median_interval(xs)
    assert xs[0] <= low <= statistics.median(xs) <= high <= xs[-1]


# ---------------------------------------------------------------------------------------------
# One incident


def test_incident_facts_phases_add_up_to_time_to_restore():
    incident = facts(1, MONDAY, (2, 5, 3, 10))
    assert incident.restored and incident.time_to_restore == timedelta(minutes=20)
    assert {p: d / timedelta(minutes=1) for p, d in incident.phase_durations.items()} == {
        Phase.DETECT: 2,
        Phase.DIAGNOSE: 5,
        Phase.MITIGATE: 3,
        Phase.VERIFY: 10,
    }


def test_missing_stamps_are_implied_at_the_next_one_as_the_buttons_do():
    incident = IncidentFacts(
        id=1,
        severity="P1",
        service=None,
        detection_method="alert",
        started_at=MONDAY,
        detected_at=MONDAY + timedelta(minutes=2),
        diagnosed_at=None,
        mitigated_at=None,
        verified_at=MONDAY + timedelta(minutes=30),
    )
    assert incident.phase_durations == {
        Phase.DETECT: timedelta(minutes=2),
        Phase.DIAGNOSE: timedelta(minutes=28),
        Phase.MITIGATE: timedelta(0),
        Phase.VERIFY: timedelta(0),
    }
    still_open = facts(2, MONDAY, restored=False)
    assert still_open.time_to_restore is None and still_open.current_phase is Phase.VERIFY


def test_incident_facts_refuse_naive_times_and_backwards_stamps():
    with pytest.raises(ValueError, match="timezone-aware"):
        IncidentFacts(1, "P1", None, "alert", datetime(2026, 3, 2), datetime(2026, 3, 2), None, None, None)
    with pytest.raises(ValueError, match="mitigated_at"):
        IncidentFacts(1, "P1", None, "alert", MONDAY, MONDAY, MONDAY + timedelta(minutes=5), MONDAY + timedelta(minutes=4), None)


# ---------------------------------------------------------------------------------------------
# Window report


def test_window_is_since_inclusive_until_exclusive_and_open_incidents_are_listed_apart():
    since, until = MONDAY, MONDAY + timedelta(days=7)
    now = until + timedelta(days=2)
    tick = timedelta(microseconds=1)
    incidents = [
        restored_in(1, since, 10),  # at since: counted
        restored_in(2, until - tick, 10),  # just inside
        restored_in(3, until, 10),  # at until: next window
        restored_in(4, since - tick, 10),  # just before
        restored_in(8, until - timedelta(hours=1), 180),  # restored after until: still counted
        facts(5, since + timedelta(days=1), restored=False),
        facts(6, since - timedelta(days=3), restored=False),  # open since before the window: listed
        facts(7, until, restored=False),  # opens in the next window: not listed
    ]
    result = report(incidents, since=since, until=until, now=now)
    assert result.incident_ids == (1, 8, 2)
    assert result.count == 3 and result.time_to_restore.count == 3
    assert [(o.id, o.age) for o in result.open_incidents] == [(6, timedelta(days=12)), (5, timedelta(days=8))]
    assert all(o.current_phase is Phase.VERIFY for o in result.open_incidents)


def test_below_min_count_figures_are_marked_not_hidden():
    incidents = [facts(i, MONDAY + timedelta(hours=i), severity="P1" if i < 3 else "P2") for i in range(1, 8)]
    result = report(incidents)
    assert result.time_to_restore.enough and result.time_to_restore.count == 7
    p1 = result.by_severity["P1"]
    assert p1.count == 2 and not p1.enough
    assert not p1.time_to_restore.enough and p1.time_to_restore.distribution is not None
    assert all(f.count == 2 and not f.enough for f in p1.phases.values())
    p3 = result.by_severity["P3"]  # no P3s at all: present, empty, not enough
    assert p3.count == 0 and not p3.time_to_restore.enough and p3.time_to_restore.distribution is None
    assert list(result.by_severity) == ["P1", "P2", "P3", "P4"]


def test_phase_figures_shares_and_slowest_phase_by_total_time():
    # Detect is usually instant but once took 100 min; diagnosis always 10 min.
    # By median diagnosis is slowest; by total time (where restore time went) detection is.
    start = MONDAY + timedelta(hours=10)
    incidents = [facts(i, start + timedelta(hours=i), (d, 10, 2, 3)) for i, d in enumerate((1, 1, 1, 1, 100))]
    result = report(incidents)
    assert result.phases[Phase.DETECT].distribution.median == 1 * MIN
    assert result.phases[Phase.DIAGNOSE].distribution.median == 10 * MIN
    assert result.slowest_phase is Phase.DETECT
    total = 104 + 50 + 10 + 15
    assert result.overall.total_restore_seconds == total * MIN
    assert result.phase_share[Phase.DETECT] == pytest.approx(104 / total)
    assert result.phase_share[Phase.DIAGNOSE] == pytest.approx(50 / total)
    assert sum(result.phase_share.values()) == pytest.approx(1)
    assert result.overall.phase_total_seconds[Phase.VERIFY] == 15 * MIN


def test_slowest_phase_per_severity_beside_the_overall_one():
    start = MONDAY + timedelta(hours=10)
    incidents = [facts(i, start + timedelta(hours=i), (1, 2, 3, 60), severity="P1") for i in range(3)]
    incidents += [facts(10 + i, start + timedelta(hours=i), (1, 90, 3, 4), severity="P2") for i in range(3)]
    result = report(incidents)
    assert result.slowest_phase is Phase.DIAGNOSE  # 270 min against 180
    assert result.slowest_phase_by_severity == {"P1": Phase.VERIFY, "P2": Phase.DIAGNOSE, "P3": None, "P4": None}


def test_segments_by_service_and_detection_method():
    start = MONDAY + timedelta(hours=10)
    incidents = [
        restored_in(1, start, 10, service="search", method="engineer"),
        restored_in(2, start + timedelta(hours=1), 20, service=None, method="synthetic"),
        restored_in(3, start + timedelta(hours=2), 30, service="payments", method="alert"),
        restored_in(4, start + timedelta(hours=3), 40, service="payments", method="customer_report"),
    ]
    result = report(incidents)
    assert list(result.segments.service) == ["payments", "search", NO_SERVICE]
    assert result.segments.service["payments"].time_to_restore.distribution.median == 35 * MIN
    assert result.segments.service[NO_SERVICE].count == 1
    assert list(result.segments.detection_method) == ["alert", "customer_report", "engineer", "synthetic"]
    assert {k: m.count for k, m in result.segments.detection_method.items()} == {
        "alert": 1,
        "customer_report": 1,
        "engineer": 1,
        "synthetic": 1,
    }


def test_business_hours_are_read_in_the_team_zone_with_weekends_out():
    berlin = ZoneInfo("Europe/Berlin")  # UTC+1 in January
    monday, saturday = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 10, tzinfo=UTC)
    cases = {
        1: (monday + timedelta(hours=7, minutes=59), OUT_OF_HOURS),  # 08:59 Berlin
        2: (monday + timedelta(hours=8), BUSINESS_HOURS),  # 09:00 Berlin: start is inclusive
        3: (monday + timedelta(hours=8, minutes=30), BUSINESS_HOURS),  # 09:30 Berlin (08:30 UTC is out)
        4: (monday + timedelta(hours=16, minutes=59), BUSINESS_HOURS),  # 17:59 Berlin
        5: (monday + timedelta(hours=17), OUT_OF_HOURS),  # 18:00 Berlin: end is exclusive
        6: (monday + timedelta(hours=17, minutes=30), OUT_OF_HOURS),  # 18:30 Berlin (17:30 UTC is in)
        7: (saturday + timedelta(hours=10), OUT_OF_HOURS),  # Saturday 11:00 Berlin
    }
    incidents = [restored_in(i, at, 10 * i) for i, (at, _) in cases.items()]
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC)
    result = report(incidents, since=since, until=until, time_zone=berlin)
    hours = result.segments.business_hours
    assert list(hours) == [BUSINESS_HOURS, OUT_OF_HOURS]
    expected_in = sorted(10 * i * MIN for i, (_, key) in cases.items() if key == BUSINESS_HOURS)
    assert hours[BUSINESS_HOURS].count == 3 and hours[OUT_OF_HOURS].count == 4
    assert hours[BUSINESS_HOURS].time_to_restore.distribution.median == statistics.median(expected_in)
    in_utc = report(incidents, since=since, until=until).segments.business_hours
    # Read in UTC instead, 08:00 and 08:30 are out and 17:00, 17:30 in: incidents 4, 5, 6.
    assert in_utc[BUSINESS_HOURS].count == 3
    assert in_utc[BUSINESS_HOURS].time_to_restore.distribution.median == 50 * MIN
    assert hours[BUSINESS_HOURS].time_to_restore.distribution.median == 30 * MIN  # incidents 2, 3, 4


def test_business_hours_follow_the_local_weekday():
    auckland = ZoneInfo("Pacific/Auckland")  # UTC+13 in January
    sunday_utc = datetime(2026, 1, 4, 21, 0, tzinfo=UTC)  # Monday 10:00 in Auckland
    result = report(
        [restored_in(1, sunday_utc, 5)],
        since=datetime(2026, 1, 1, tzinfo=UTC),
        until=datetime(2026, 1, 12, tzinfo=UTC),
        time_zone=auckland,
    )
    assert result.segments.business_hours[BUSINESS_HOURS].count == 1


def p1_batch(total: int, customer: int) -> list[IncidentFacts]:
    start = MONDAY + timedelta(hours=10)
    return [
        restored_in(i, start + timedelta(hours=i), 20, severity="P1", method="customer_report" if i < customer else "alert")
        for i in range(total)
    ]


def test_customer_reported_p1s_at_exactly_20_percent_do_not_warn():
    result = report(p1_batch(5, 1))
    assert (result.p1_customer_reported.count, result.p1_customer_reported.total) == (1, 5)
    assert result.p1_customer_reported.fraction == 0.2
    assert not result.p1_customer_warning


def test_customer_reported_p1s_above_20_percent_warn():
    result = report(p1_batch(4, 1))
    assert result.p1_customer_reported.fraction == 0.25
    assert result.p1_customer_warning


def test_customer_share_counts_every_incident_started_in_the_window():
    incidents = p1_batch(5, 1) + [
        restored_in(20, MONDAY + timedelta(hours=3), 10, severity="P3", method="customer_report"),
        facts(21, MONDAY + timedelta(hours=4), severity="P1", method="customer_report", restored=False),
    ]
    result = report(incidents)
    assert (result.customer_reported.count, result.customer_reported.total) == (3, 7)
    assert (result.p1_customer_reported.count, result.p1_customer_reported.total) == (2, 6)
    assert result.p1_customer_warning  # 2 of 6 > 20%, the open one included
    empty = report([])
    assert empty.customer_reported.fraction is None and not empty.p1_customer_warning


def test_longest_incident_share_of_total_downtime():
    start = MONDAY + timedelta(hours=10)
    result = report([restored_in(i, start + timedelta(hours=i), m) for i, m in ((1, 10), (2, 70), (3, 20))])
    assert result.longest.id == 2
    assert result.longest.time_to_restore == 70 * MIN
    assert result.longest.share == pytest.approx(0.7)
    tie = report([restored_in(i, start - timedelta(hours=i), 30) for i in (1, 2)])
    assert tie.longest.id == 2  # the earlier started of two equals
    assert report([]).longest is None


def test_tier_counts_per_dora_band_and_severity_target_band():
    start = MONDAY + timedelta(hours=10)
    cases = [  # (severity, restore minutes): DORA band, own-severity band
        ("P1", 20),  # elite, P1 elite
        ("P1", 45),  # elite, P1 high
        ("P2", 180),  # high, P2 high
        ("P3", 2 * 24 * 60),  # medium, P3 low
        ("P4", 10 * 24 * 60),  # low, P4 low
    ]
    incidents = [restored_in(i, start + timedelta(minutes=i), m, severity=s) for i, (s, m) in enumerate(cases)]
    tiers = report(incidents).tiers
    assert tiers.dora_year == 2023
    assert tiers.dora == {"elite": 2, "high": 1, "medium": 1, "low": 1}
    assert tiers.severity_target == {"elite": 1, "high": 2, "medium": 0, "low": 2}
    assert tiers.severity_target_by_severity["P1"] == {"elite": 1, "high": 1, "medium": 0, "low": 0}


def test_no_deploy_data_is_flagged_rather_than_shown_as_zero():
    start = MONDAY + timedelta(hours=10)
    result = report([restored_in(i, start + timedelta(hours=i), 10) for i in range(6)])
    assert result.recovery.no_deploy_data
    assert result.recovery.failed_deployment_recovery is None
    assert result.recovery.deploy_unknown == 6
    assert result.recovery.time_to_restore.count == 6


def test_failed_deployment_recovery_beside_time_to_restore():
    start = MONDAY + timedelta(hours=10)
    deploys = [(10, True), (30, True), (50, False), (70, None)]
    incidents = [restored_in(i, start + timedelta(hours=i), m, deploy=d) for i, (m, d) in enumerate(deploys)]
    recovery = report(incidents).recovery
    assert not recovery.no_deploy_data
    assert recovery.time_to_restore.count == 4
    assert recovery.time_to_restore.distribution.median == 40 * MIN
    failed = recovery.failed_deployment_recovery
    assert failed.count == 2 and not failed.enough and failed.distribution.median == 20 * MIN
    assert (recovery.deploy_linked, recovery.not_deploy_linked, recovery.deploy_unknown) == (2, 1, 1)


def test_report_refuses_bad_windows_and_duplicate_ids():
    with pytest.raises(ValueError):
        report([], since=MONDAY, until=MONDAY)
    with pytest.raises(ValueError, match="twice"):
        report([restored_in(1, MONDAY, 5), restored_in(1, MONDAY, 6)])


def test_nothing_in_the_report_is_per_person():
    result = report(p1_batch(5, 1))
    names = " ".join(dir(result) + dir(result.overall) + dir(result.segments)).lower()
    for word in ("responder", "commander", "person", "user", "engineer_rank"):
        assert word not in names


# ---------------------------------------------------------------------------------------------
# Weekly trend

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # Wednesday of 2026-W10


def week(k: int) -> datetime:
    """Monday 00:00 UTC of the k-th week of the default 12 (0 oldest, 11 holds NOW)."""
    return MONDAY - timedelta(weeks=11 - k)


def week_of(k: int, minutes: list[float], first_id: int) -> list[IncidentFacts]:
    return [restored_in(first_id + i, week(k) + timedelta(days=1, hours=i), m) for i, m in enumerate(minutes)]


def test_weeks_are_iso_weeks_ending_with_the_current_one():
    incidents = [
        restored_in(1, MONDAY, 10),  # Monday 00:00: this week
        restored_in(2, MONDAY - timedelta(microseconds=1), 10),  # Sunday night: last week
        restored_in(3, week(0) - timedelta(seconds=1), 10),  # before the first week: out
        facts(4, MONDAY + timedelta(hours=1), restored=False),
    ]
    trend = weekly_trend(incidents, now=NOW)
    assert len(trend.weeks) == 12 and len(trend.changes) == 11
    assert trend.weeks[-1].start == MONDAY and trend.weeks[-1].label == "2026-W10"
    assert trend.weeks[0].label == "2025-W51" and trend.weeks[2].label == "2026-W01"
    assert trend.since == week(0) and trend.until == MONDAY + timedelta(weeks=1)
    assert [w.count for w in trend.weeks][-2:] == [1, 1]
    assert trend.weeks[-1].open_count == 1
    assert trend.weeks[-1].complete is False and trend.weeks[-2].complete is True
    assert trend.overall.count == 2 and not trend.overall.enough


def test_week_over_week_better_worse_and_no_clear_change():
    slow = [60, 61, 62, 63, 64, 65, 66, 67]
    fast = [20, 21, 22, 23, 24, 25, 26, 27]
    spread = [21, 30, 40, 50, 55, 62, 68, 70]
    incidents = week_of(8, slow, 100) + week_of(9, fast, 200) + week_of(10, slow, 300) + week_of(11, spread, 400)
    trend = weekly_trend(incidents, now=NOW)
    by_pair = {(c.previous, c.current): c for c in trend.changes}
    assert [w.median_ci for w in trend.weeks[8:]] == [
        (60 * MIN, 67 * MIN),
        (20 * MIN, 27 * MIN),
        (60 * MIN, 67 * MIN),
        (21 * MIN, 70 * MIN),
    ]  # n = 8: (x_(1), x_(8))
    better = by_pair[("2026-W07", "2026-W08")]
    assert (better.verdict, better.reason) == (Verdict.BETTER, VerdictReason.SEPARATE)
    assert better.verdict == "better"
    worse = by_pair[("2026-W08", "2026-W09")]
    assert (worse.verdict, worse.reason) == ("worse", VerdictReason.SEPARATE)
    overlap = by_pair[("2026-W09", "2026-W10")]
    assert (overlap.verdict, overlap.reason) == ("no clear change", VerdictReason.OVERLAP)
    too_few = by_pair[("2026-W06", "2026-W07")]  # week 7 is empty
    assert (too_few.verdict, too_few.reason) == (Verdict.NO_CLEAR_CHANGE, VerdictReason.TOO_FEW)
    assert trend.overall.count == 32 and trend.overall.distribution.median_ci is not None


def test_too_few_in_one_week_means_no_clear_change_even_when_medians_differ():
    incidents = week_of(10, [100, 101, 102, 103], 1) + week_of(11, [5, 6, 7, 8, 9, 10, 11], 10)
    trend = weekly_trend(incidents, now=NOW)
    change = trend.changes[-1]
    assert not trend.weeks[10].enough and trend.weeks[11].enough
    assert (change.verdict, change.reason) == (Verdict.NO_CLEAR_CHANGE, VerdictReason.TOO_FEW)


def test_enough_for_min_count_but_no_interval_is_no_clear_change():
    incidents = week_of(10, [100, 101, 102], 1) + week_of(11, [5, 6, 7], 10)
    trend = weekly_trend(incidents, now=NOW, settings=ReportSettings(min_count=3))
    change = trend.changes[-1]
    assert trend.weeks[10].enough and trend.weeks[10].median_ci is None
    assert (change.verdict, change.reason) == (Verdict.NO_CLEAR_CHANGE, VerdictReason.NO_INTERVAL)


def test_trend_of_fewer_weeks():
    trend = weekly_trend([], now=NOW, weeks=3)
    assert [w.label for w in trend.weeks] == ["2026-W08", "2026-W09", "2026-W10"]
    assert all(c.reason is VerdictReason.TOO_FEW for c in trend.changes)
    assert trend.overall.count == 0 and trend.overall.distribution is None


# ---------------------------------------------------------------------------------------------
# Detectable change


def lognormal_sample(sigma: float, n: int = 120, seed: int = 11) -> list[float]:
    rng = random.Random(seed)
    return [1800 * math.exp(rng.gauss(0, sigma)) for _ in range(n)]


def test_detectable_change_is_deterministic_for_a_seed():
    data = lognormal_sample(0.5)
    first = detectable_change(data, per_week=10)
    assert first is not None
    assert detectable_change(data, per_week=10) == first
    assert detectable_change(data, per_week=10, seed=1234) == first


def test_larger_spread_needs_a_larger_change():
    tight = detectable_change(lognormal_sample(0.2), per_week=10)
    wide = detectable_change(lognormal_sample(0.6), per_week=10)
    assert tight is not None and wide is not None
    assert tight < wide
    assert detectable_change([1800.0] * 20, per_week=10) == 0.05  # no spread: any change shows


def test_more_incidents_a_week_detect_smaller_changes():
    data = lognormal_sample(0.5)
    assert detectable_change(data, per_week=20) < detectable_change(data, per_week=8)


def test_seeded_choices_are_the_indices_random_choices_picks():
    """The resampling draws what ``random.Random(seed).choices`` draws, pick for pick."""
    from bot.analytics.stats import _seeded_choices

    for seed, population, rows, per_row in ((1234, 7, 4, 5), (5, 120, 20, 10), (99, 22_726, 6, 1_950), (0, 1, 2, 3), (3, 50, 802, 7)):
        expected = random.Random(seed).choices(range(population), k=rows * per_row)
        blocks = list(_seeded_choices(seed, population, rows=rows, per_row=per_row))
        assert all(len(block) % 2 == 0 and block.shape[1] == per_row for block in blocks)  # a trial's two weeks together
        assert np.concatenate(blocks).ravel().tolist() == expected, (seed, population)


def test_detectable_change_reads_an_array_as_it_reads_a_list_and_refuses_what_it_refused():
    data = lognormal_sample(0.5, n=400)
    for per_week in (8, 10, 25):
        assert detectable_change(np.asarray(data), per_week=per_week) == detectable_change(data, per_week=per_week)
    for bad in ([600.0, float("nan"), 900.0] * 3, [600.0, -1.0, 900.0] * 3, [600.0, float("inf")] * 4):
        for form in (bad, np.asarray(bad)):
            with pytest.raises(ValueError, match="finite and non-negative"):
                detectable_change(form, per_week=10)


def test_detectable_change_none_for_tiny_data():
    assert detectable_change([600.0, 1200.0, 900.0], per_week=10) is None  # too little to resample
    assert detectable_change(lognormal_sample(0.3), per_week=5) is None  # a week of 5 has no interval
    assert detectable_change(lognormal_sample(0.3), per_week=4, settings=ReportSettings(min_count=3)) is None
    assert detectable_change(lognormal_sample(3.0), per_week=6) is None  # too noisy for any change on the grid


# How fast detectable_change is on 120 restores: benchmarks/timings.py.


# --------------------------------------------------------------------------------------------
# Large samples: the floating-point rank scan and the vectorised business hours


@pytest.mark.parametrize("n", [2001, 2002, 2500, 3333, 4096, 5001])
@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99])
def test_median_ranks_above_the_exact_limit_agree_with_the_exact_scan(n, confidence):
    from bot.analytics.stats import EXACT_RANKS_UP_TO, _median_ranks_exact, _median_ranks_float, median_ranks

    assert n > EXACT_RANKS_UP_TO
    median_ranks.cache_clear()
    # The floating-point scan's own answer: median_ranks would fall back to the exact scan,
    # seconds at these sizes, were it to give up.
    assert median_ranks(n, confidence) == _median_ranks_float(n, confidence)
    j, coverage = _median_ranks_float(n, confidence)
    exact_j, exact_coverage = _median_ranks_exact(n, Fraction(str(confidence)))
    assert j == exact_j
    assert float(coverage) == pytest.approx(float(exact_coverage), abs=1e-12)


@pytest.mark.parametrize("n", [40_009, 100_003])
def test_median_ranks_of_a_large_history_agree_with_the_exact_scan(n):
    """The floating-point scan at the sizes a long history has: the ranks exact, the coverage
    within 10⁻¹¹ (the exact scan takes about a second at 100,003)."""
    from bot.analytics.stats import _median_ranks_exact, _median_ranks_float, median_ranks

    median_ranks.cache_clear()
    assert median_ranks(n, 0.95) == _median_ranks_float(n, 0.95)  # the floating-point scan's, not the exact fallback's
    j, coverage = _median_ranks_float(n, 0.95)
    exact_j, exact_coverage = _median_ranks_exact(n, Fraction(19, 20))
    assert j == exact_j
    assert float(coverage) == pytest.approx(float(exact_coverage), abs=1e-11)


def _median_ranks_exact_as_first_written(n, target):
    """The exact scan as it was before it compared the tail alone: the reference."""
    total = 1 << n
    tail = 0
    term = 1
    best = None
    for j in range(1, n // 2 + 1):
        tail += term
        term = term * (n - j + 1) // j
        covered = total - 2 * tail
        if covered * target.denominator < target.numerator * total:
            break
        best = (j, covered)
    if best is None:
        return None
    return best[0], Fraction(best[1], total)


def test_the_exact_rank_scan_gives_the_ranks_and_coverage_of_its_first_form():
    from bot.analytics.stats import _median_ranks_exact

    rng = random.Random(23)
    targets = [Fraction(19, 20), Fraction(9, 10), Fraction(99, 100), Fraction(1, 2), Fraction(999, 1000)]
    targets += [Fraction(rng.randrange(1, 10_000), 10_000) for _ in range(4)]
    counts = [*range(1, 120), 1999, 2000, *(rng.randrange(120, 2001) for _ in range(25))]
    for n in counts:
        for target in targets:
            assert _median_ranks_exact(n, target) == _median_ranks_exact_as_first_written(n, target), (n, target)
    # Where the coverage lands exactly on the target: 1 - 2·(1 + 6)/2⁶ = 50/64 at n = 6, j = 2.
    assert _median_ranks_exact(6, Fraction(50, 64)) == _median_ranks_exact_as_first_written(6, Fraction(50, 64)) == (2, Fraction(50, 64))


def test_median_interval_of_100000_values_brackets_the_median():
    from bot.analytics.stats import median_ranks

    median_ranks.cache_clear()
    values = np.sort(np.random.default_rng(5).lognormal(7, 1, 100_000))
    detail = median_interval_detail(values)
    # j ≈ n/2 - 1.96·√n/2 (normal approximation): 49,690 for n = 100,000.
    assert abs(detail.lower_rank - 49_690) <= 2
    assert detail.upper_rank == 100_001 - detail.lower_rank
    assert detail.low <= float(np.median(values)) <= detail.high
    assert 0.95 <= detail.coverage < 0.951


ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "America/St_Johns"]


@given(
    zone=st.sampled_from(ZONES),
    starts=st.lists(st.integers(min_value=0, max_value=3 * 365 * 24 * 3600 * 10**6), min_size=1, max_size=60),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    opening=st.integers(0, 23 * 60),
)
def test_business_hours_for_many_starts_match_the_one_by_one_rule(zone, starts, days, opening):
    from bot.analytics.stats import _business_hours, epoch_microseconds, in_business_hours

    settings = ReportSettings(
        time_zone=ZoneInfo(zone),
        business_days=days,
        business_start=(datetime.min + timedelta(minutes=opening)).time(),
        business_end=(datetime.min + timedelta(minutes=min(opening + 9 * 60, 24 * 60 - 1))).time(),
    )
    # Around three years from 2025, including their daylight-saving changes (Lord Howe shifts by
    # 30 minutes at 02:00, St John's sits 3½ hours behind UTC).
    base = epoch_microseconds(datetime(2025, 1, 1, tzinfo=UTC))
    at = np.asarray([base + s for s in starts], dtype=np.int64)
    expected = [in_business_hours(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us)), settings) for us in at]
    assert _business_hours(at, settings).tolist() == expected


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Australia/Lord_Howe"])
def test_business_hours_at_the_minutes_around_a_daylight_saving_change(zone):
    from bot.analytics.stats import _business_hours, epoch_microseconds, in_business_hours

    settings = ReportSettings(
        time_zone=ZoneInfo(zone),
        business_days=frozenset(range(7)),
        business_start=datetime(2026, 1, 1, 2, 15).time(),
        business_end=datetime(2026, 1, 1, 3, 45).time(),
    )
    # Berlin: 2026-03-29 01:00 UTC; Lord Howe: 2026-04-05 02:00 local (15:00 UTC on the 4th).
    around = datetime(2026, 3, 29, 1, tzinfo=UTC) if zone == "Europe/Berlin" else datetime(2026, 4, 4, 15, tzinfo=UTC)
    moments = [around + timedelta(minutes=m) for m in range(-150, 150, 7)]
    at = np.asarray([epoch_microseconds(m) for m in moments], dtype=np.int64)
    assert _business_hours(at, settings).tolist() == [in_business_hours(m, settings) for m in moments]


# --------------------------------------------------------------------------------------------
# Time to acknowledge: its own figure, apart from the phases


def test_time_to_acknowledge_counts_only_acknowledged_incidents_and_leaves_the_phases_alone():
    def acked(id: int, minutes_after_detection: float | None) -> IncidentFacts:
        base = facts(id, MONDAY + timedelta(hours=id))
        at = None if minutes_after_detection is None else base.detected_at + timedelta(minutes=minutes_after_detection)
        return IncidentFacts(**{**base.__dict__, "acknowledged_at": at})

    # 2, 4 and 9 minutes after detection, and one acknowledged a minute before its detected stamp,
    # which counts as 0, not -1: median (2 + 4) / 2 = 3, mean 15 / 4. One never acknowledged.
    incidents = [acked(1, 2), acked(2, 9), acked(3, 4), acked(4, None), acked(5, -1)]
    result = report(incidents, min_count=3)
    dist = result.time_to_acknowledge.distribution
    assert (result.acknowledged.count, result.acknowledged.total) == (4, 5)
    assert dist.count == 4 and dist.minimum == 0
    assert dist.median == statistics.median([0, 2 * MIN, 4 * MIN, 9 * MIN]) == 3 * MIN
    assert dist.mean == pytest.approx(15 * MIN / 4)
    without = report([acked(i, None) for i in range(1, 6)], min_count=3)
    assert without.phases == result.phases and without.time_to_restore == result.time_to_restore
    assert without.acknowledged.count == 0 and without.time_to_acknowledge.distribution is None


@pytest.mark.parametrize(
    "zone_name", ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/St_Johns"]
)
def test_local_microseconds_is_each_starts_own_offset_across_every_change(zone_name):
    """The day, then hour, then start look-ups give every start its zone's own wall-clock time,
    over years of starts, dense around each offset change (Lord Howe's is half an hour)."""
    from bot.analytics.stats import EPOCH, local_microseconds

    zone = ZoneInfo(zone_name)
    rng = random.Random(zone_name)
    start, end = datetime(2023, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    span_us = (end - start) // timedelta(microseconds=1)
    starts = [start + timedelta(microseconds=rng.randrange(span_us)) for _ in range(3000)]
    # Around every change: a start each 7 minutes for 3 hours either side.
    at = start
    while at < end:
        if (at.astimezone(zone).utcoffset() or 0) != ((at + timedelta(hours=1)).astimezone(zone).utcoffset() or 0):
            starts += [at + timedelta(minutes=7 * k) for k in range(-26, 27)]
        at += timedelta(hours=1)
    starts_us = np.asarray([(s - EPOCH) // timedelta(microseconds=1) for s in starts], dtype=np.int64)
    expected = [
        int(t) + (s.astimezone(zone).utcoffset() // timedelta(microseconds=1)) for t, s in zip(starts_us.tolist(), starts, strict=True)
    ]
    assert local_microseconds(starts_us, zone).tolist() == expected


@pytest.mark.parametrize("largest", [10**3, 10**10, 2**53 // 5_000, 2**53 // 1_000, 2**60 // 1_000, 2**62])
def test_phase_totals_by_key_are_the_exact_sums_of_each_keys_rows(largest):
    """Whichever way the sums are taken (weighted counts, int64 by key, Python integers), each
    key's phase totals are the exact sums of its rows."""
    from bot.analytics.stats import KeyColumn, _exact_sum, _phase_totals_by_key, _PhaseSums

    rng = np.random.default_rng(largest % 1000)
    n = 1_000
    phase_us = rng.integers(0, largest, size=(n, 4), dtype=np.int64, endpoint=True)
    phase_us[rng.integers(0, n, 3), rng.integers(0, 4, 3)] = largest  # the bound itself is reached
    keys = ("P1", "P2", "P3", "P4", "P1")  # a key named twice is its first code's
    column = KeyColumn(rng.choice([0, 1, 3, 4], size=n).astype(np.int32), keys)
    expected = {key: [_exact_sum(c) for c in phase_us[column.mask(key)].T] for key in column.present()}
    totals_by_key = _phase_totals_by_key(phase_us, column, _PhaseSums.of(phase_us))
    assert totals_by_key == expected
    assert all(type(total) is int for totals in totals_by_key.values() for total in totals)


def test_the_current_phase_is_the_first_phase_not_yet_closed_for_every_set_of_stamps():
    from itertools import product

    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    for present in product([False, True], repeat=3):
        stamps = {
            field: t0 + timedelta(minutes=10 * (k + 2)) if there else None
            for k, (field, there) in enumerate(zip(("diagnosed_at", "mitigated_at", "verified_at"), present, strict=True))
        }
        facts = IncidentFacts(1, "P2", None, "alert", t0, t0 + timedelta(minutes=10), **stamps)
        closed = facts.phase_durations
        assert facts.current_phase == next((p for p in Phase if p not in closed), None), present
    assert facts.current_phase is None  # all three stamps: restored


def _restored_columns_as_first_joined(batches):
    """RestoredChunks.finish as it was first written: every column joined, then put in order by
    start and id with one lexsort of them all. The reference for the shortcuts it takes now."""
    ids = np.concatenate([b[0] for b in batches])
    stamps = np.concatenate([b[1] for b in batches])
    order = np.lexsort((ids, stamps[:, 0]))
    return ids[order], stamps[order]


@pytest.mark.parametrize("layout", ["written in order", "ids in order, starts not", "neither in order"])
@pytest.mark.parametrize("ties", [False, True])
def test_restored_columns_are_those_of_one_sort_by_start_and_id_however_the_batches_come(layout, ties):
    """Batches read by ranges of ids from a table written as incidents came (ids rising, starts
    never falling), from one whose starts were imported in any order, and in no order at all:
    the same columns as sorting every incident by start and id."""
    from bot.analytics.stats import MISSING_US, RestoredChunks

    rng = np.random.default_rng(17 + ties)
    n = 3_000
    starts = rng.integers(0, 40 if ties else 10**15, size=n) * 1_000_000
    ids = np.arange(1, n + 1, dtype=np.int64)
    if layout == "written in order":
        starts = np.sort(starts)
    elif layout == "neither in order":
        ids = rng.permutation(ids) * 3
    phases = rng.integers(0, 10**9, size=(n, 4))
    stamps = np.concatenate([starts[:, None], starts[:, None] + np.cumsum(phases, axis=1)], axis=1)
    milestones = np.where(rng.random((n, 3)) < 0.3, MISSING_US, stamps[:, 1:2] + rng.integers(0, 10**8, size=(n, 3)))
    stamps = np.concatenate([stamps, milestones], axis=1)
    services = np.asarray([f"service-{k}" for k in rng.integers(0, 9, size=n)])
    chunks, batches = RestoredChunks(), []
    for at in range(0, n, 700):
        part = slice(at, at + 700)
        chunks.add(
            ids[part],
            ["P2"] * len(ids[part]),
            services[part].tolist(),
            ["alert"] * len(ids[part]),
            np.zeros(len(ids[part]), dtype=np.int8),
            stamps[part],
        )
        batches.append((ids[part], stamps[part]))
    restored = chunks.finish()
    expected_ids, expected_stamps = _restored_columns_as_first_joined(batches)
    assert restored.ids.tolist() == expected_ids.tolist()
    assert restored.started_us.tolist() == expected_stamps[:, 0].tolist()
    assert restored.phase_us.tolist() == np.diff(expected_stamps[:, :5], axis=1).tolist()
    assert restored.reached.tolist() == (expected_stamps[:, 5:] != MISSING_US).tolist()
    by_id = dict(zip(ids.tolist(), services.tolist(), strict=True))
    assert [restored.service.keys[c] for c in restored.service.codes.tolist()] == [by_id[i] for i in expected_ids.tolist()]
    assert (len(set(starts.tolist())) < n) == ties


def test_restored_columns_go_by_start_then_by_id_among_equal_starts():
    from bot.analytics.stats import RestoredChunks

    rng = np.random.default_rng(4)
    for ties in (False, True):
        chunks = RestoredChunks()
        all_ids, all_starts = [], []
        for batch in range(3):
            ids = rng.permutation(1_000)[:300] + 1_000 * batch
            starts = rng.integers(0, 50 if ties else 10**15, size=len(ids)) * 1_000_000
            stamps = np.stack([starts + k * 60_000_000 for k in range(5)] + [np.full(len(ids), np.iinfo(np.int64).min)] * 3, axis=1)
            services = [f"service-{batch}-{k % 3}" for k in range(len(ids))]  # each batch adds services
            chunks.add(ids, ["P2"] * len(ids), services, ["alert"] * len(ids), np.zeros(len(ids), dtype=np.int8), stamps)
            all_ids.append(ids), all_starts.append(starts)
        restored = chunks.finish()
        ids, starts = np.concatenate(all_ids), np.concatenate(all_starts)
        order = np.lexsort((ids, starts))
        assert restored.ids.tolist() == ids[order].tolist()
        assert restored.started_us.tolist() == starts[order].tolist()
        assert len(set(starts.tolist())) < len(starts) if ties else len(set(starts.tolist())) == len(starts)
        by_id = dict(zip(restored.ids.tolist(), (restored.service.keys[c] for c in restored.service.codes.tolist()), strict=True))
        assert by_id == {i: f"service-{i // 1_000}-{k % 3}" for batch in all_ids for k, i in enumerate(batch.tolist())}


@pytest.mark.parametrize(
    "batches, twice",
    [
        ([[1, 2, 3], [3, 4]], 3),  # the copy right after: ids stop rising there
        ([[5, 6], [1, 5]], 5),  # the copy further away, ids falling before it
        ([[4, 2, 9], [7, 2]], 2),  # no order at all
    ],
)
def test_restored_columns_refuse_an_incident_read_twice_however_the_batches_come(batches, twice):
    from bot.analytics.stats import RestoredChunks

    chunks = RestoredChunks()
    for ids in batches:
        n = len(ids)
        stamps = np.stack(
            [np.arange(n, dtype=np.int64) * 60_000_000 + k for k in range(5)] + [np.full(n, np.iinfo(np.int64).min)] * 3, axis=1
        )
        chunks.add(np.asarray(ids, dtype=np.int64), ["P2"] * n, ["api"] * n, ["alert"] * n, np.zeros(n, dtype=np.int8), stamps)
    with pytest.raises(ValueError, match=f"incident {twice} appears twice"):
        chunks.finish()
