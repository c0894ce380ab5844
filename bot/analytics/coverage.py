"""Detection coverage and when restores are slow: who finds incidents, and how restore time
depends on the hour, the weekday and the month.

    detection share     incidents detected by a method / incidents started in the window
                        (open or restored: how an incident was found is known when it is opened),
                        for each method (alert, customer report, engineer, synthetic), with n
    P1 customer flag    a service or team is flagged when strictly more than 20% of its P1s
                        started in the window were customer-reported (the seeds' rule)
    by hour / weekday   time to restore of restored incidents, grouped by the hour of day and the
                        weekday their impact started, read in the report's time zone (the
                        business-hours zone, ``ReportSettings.time_zone``; UTC unless set): one
                        clock for the whole team, the one its working hours are written in
    monthly trend       median time to restore per calendar month (UTC), by impact start, with
                        its median interval; month over month "better"/"worse" only when both
                        months have n ≥ min_count and their intervals do not overlap, as the
                        weekly trend does

A bucket's median needs n ≥ 1 (shown with n); its band-free percentiles follow
bot/analytics/dora.py's PERCENTILE_MIN_N (p90 n ≥ 10, p95 n ≥ 20, p99 n ≥ 100).

Pure: no database, no Slack. Nothing here is per person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import pairwise

import numpy as np

from bot.analytics.dora import NO_TEAM, PERCENTILE_MIN_N
from bot.analytics.stats import (
    CUSTOMER_REPORT,
    DETECTION_METHODS,
    NO_SERVICE,
    P1_CUSTOMER_WARNING_ABOVE,
    Figure,
    IncidentFacts,
    ReportSettings,
    RestoredIncidents,
    Verdict,
    VerdictReason,
    epoch_microseconds,
    judge,
    local_weekday_and_hour,
    percentile,
    sorted_figure,
)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TREND_MONTHS = 6


# --------------------------------------------------------------------------------------------
# Detection coverage


@dataclass(frozen=True)
class Coverage:
    """One group's incidents started in the window: how many each method found, and its P1s."""

    incidents: int
    by_method: Mapping[str, int]  # every method in DETECTION_METHODS, then any other seen
    p1s: int
    p1_customer: int

    def share(self, method: str) -> float | None:
        return self.by_method.get(method, 0) / self.incidents if self.incidents else None

    @property
    def p1_customer_share(self) -> float | None:
        return self.p1_customer / self.p1s if self.p1s else None

    @property
    def flagged(self) -> bool:
        """Strictly more than 20% of P1s customer-reported (exact: 1 of 5 is not flagged)."""
        return bool(self.p1s) and Fraction(self.p1_customer, self.p1s) > P1_CUSTOMER_WARNING_ABOVE


@dataclass(frozen=True)
class CoverageReport:
    since: datetime
    until: datetime
    overall: Coverage
    by_service: Mapping[str, Coverage]  # NO_SERVICE last
    by_team: Mapping[str, Coverage]  # NO_TEAM last

    @property
    def flagged_services(self) -> list[str]:
        return [name for name, coverage in self.by_service.items() if coverage.flagged]

    @property
    def flagged_teams(self) -> list[str]:
        return [name for name, coverage in self.by_team.items() if coverage.flagged]


def _coverage(methods: Sequence[str], severities: Sequence[str]) -> Coverage:
    counts = {method: 0 for method in DETECTION_METHODS}
    for method in methods:
        counts[method] = counts.get(method, 0) + 1
    p1s = [method for method, severity in zip(methods, severities, strict=True) if severity == "P1"]
    return Coverage(incidents=len(methods), by_method=counts, p1s=len(p1s), p1_customer=sum(m == CUSTOMER_REPORT for m in p1s))


def detection_coverage(
    restored: RestoredIncidents,
    unrestored: Sequence[IncidentFacts],
    *,
    since: datetime,
    until: datetime,
    teams: Mapping[str, str],
) -> CoverageReport:
    """Coverage over the incidents whose impact started in [since, until), open or restored."""
    inside = restored.started_between(since, until)
    services = [restored.service.keys[c] for c in restored.service.codes[inside].tolist()]
    methods = [restored.detection_method.keys[c] for c in restored.detection_method.codes[inside].tolist()]
    severities = [restored.severity.keys[c] for c in restored.severity.codes[inside].tolist()]
    for incident in unrestored:
        if since <= incident.started_at < until:
            services.append(incident.service or NO_SERVICE)
            methods.append(incident.detection_method)
            severities.append(incident.severity)

    def team_of(service: str) -> str:
        return teams.get(service, NO_TEAM) if service != NO_SERVICE else NO_TEAM

    def grouped(keys: Sequence[str], last: str) -> dict[str, Coverage]:
        members: dict[str, list[int]] = {}
        for index, key in enumerate(keys):
            members.setdefault(key, []).append(index)
        order = sorted(k for k in members if k != last) + ([last] if last in members else [])
        return {k: _coverage([methods[i] for i in members[k]], [severities[i] for i in members[k]]) for k in order}

    return CoverageReport(
        since=since,
        until=until,
        overall=_coverage(methods, severities),
        by_service=grouped(services, NO_SERVICE),
        by_team=grouped([team_of(s) for s in services], NO_TEAM),
    )


# --------------------------------------------------------------------------------------------
# Restore time by hour of day and weekday


@dataclass(frozen=True)
class Bucket:
    label: str  # "09:00" or "Monday"
    count: int
    median: float | None  # seconds
    p90: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class RestoreClock:
    """Time to restore by the local hour and weekday of impact start, in ``time_zone``."""

    time_zone: str
    by_hour: tuple[Bucket, ...]  # 24, 00:00 first
    by_weekday: tuple[Bucket, ...]  # 7, Monday first


def _bucket(label: str, sorted_seconds: np.ndarray) -> Bucket:
    n = len(sorted_seconds)

    def shown(q: float) -> float | None:
        return percentile(sorted_seconds, q) if n >= PERCENTILE_MIN_N[q] else None

    median = None
    if n:
        mid = n // 2
        median = float(sorted_seconds[mid]) if n % 2 else (float(sorted_seconds[mid - 1]) + float(sorted_seconds[mid])) / 2
    return Bucket(label=label, count=n, median=median, p90=shown(0.90), p95=shown(0.95), p99=shown(0.99))


def restore_clock(restored: RestoredIncidents, *, since: datetime, until: datetime, settings: ReportSettings) -> RestoreClock:
    inside = restored.started_between(since, until)
    started = restored.started_us[inside]
    seconds = restored.restore_us[inside] / 1_000_000
    weekday, hour = local_weekday_and_hour(started, settings.time_zone)
    order = np.argsort(seconds, kind="stable")
    sorted_seconds, weekday, hour = seconds[order], weekday[order], hour[order]
    return RestoreClock(
        time_zone=str(settings.time_zone),
        by_hour=tuple(_bucket(f"{h:02d}:00", sorted_seconds[hour == h]) for h in range(24)),
        by_weekday=tuple(_bucket(WEEKDAYS[d], sorted_seconds[weekday == d]) for d in range(7)),
    )


# --------------------------------------------------------------------------------------------
# Monthly trend


@dataclass(frozen=True)
class MonthFigure:
    label: str  # 2026-11
    start: datetime
    end: datetime
    figure: Figure
    complete: bool  # the month ended by ``now``


@dataclass(frozen=True)
class MonthChange:
    previous: str
    current: str
    verdict: Verdict
    reason: VerdictReason


@dataclass(frozen=True)
class MonthlyTrend:
    months: tuple[MonthFigure, ...]  # oldest first
    changes: tuple[MonthChange, ...]


def month_start(at: datetime) -> datetime:
    utc = at.astimezone(UTC)
    return datetime(utc.year, utc.month, 1, tzinfo=UTC)


def _next_month(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


def monthly_trend(restored: RestoredIncidents, *, now: datetime, months: int = TREND_MONTHS, settings: ReportSettings) -> MonthlyTrend:
    """The last ``months`` calendar months (UTC) ending with the one containing ``now``."""
    if months < 1:
        raise ValueError("months must be at least 1")
    starts = [month_start(now)]
    for _ in range(months - 1):
        starts.insert(0, month_start(starts[0] - timedelta(days=1)))
    figures: list[MonthFigure] = []
    for start in starts:
        end = _next_month(start)
        mask = (restored.started_us >= epoch_microseconds(start)) & (restored.started_us < epoch_microseconds(end))
        values = np.sort(restored.restore_us[mask]) / 1_000_000
        figures.append(
            MonthFigure(f"{start:%Y-%m}", start, end, sorted_figure(values, settings.min_count, settings.confidence), end <= now)
        )
    return MonthlyTrend(months=tuple(figures), changes=tuple(_compare(a, b) for a, b in pairwise(figures)))


def _compare(previous: MonthFigure, current: MonthFigure) -> MonthChange:
    def change(verdict: Verdict, reason: VerdictReason) -> MonthChange:
        return MonthChange(previous=previous.label, current=current.label, verdict=verdict, reason=reason)

    if not (previous.figure.enough and current.figure.enough):
        return change(Verdict.NO_CLEAR_CHANGE, VerdictReason.TOO_FEW)
    before, after = previous.figure.distribution, current.figure.distribution
    if before is None or after is None or before.median_ci is None or after.median_ci is None:
        return change(Verdict.NO_CLEAR_CHANGE, VerdictReason.NO_INTERVAL)
    verdict = judge(before.median_ci, after.median_ci)
    return change(verdict, VerdictReason.OVERLAP if verdict is Verdict.NO_CLEAR_CHANGE else VerdictReason.SEPARATE)
