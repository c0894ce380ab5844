"""Detection coverage and when restores are slow: who finds incidents, and how restore time
depends on the hour, the weekday and the month.

    detection share     incidents detected by a method / incidents started in the window
                        (open or restored: how an incident was found is known when it is opened),
                        for each method (alert, customer report, engineer, synthetic), with n
    P1 customer flag    a service or team is flagged when strictly more than 20% of its P1s
                        started in the window were customer-reported (the seeds' rule)
    by hour / weekday   time to restore of restored incidents, grouped by the hour of day and the
                        weekday their impact started, read in the report's time zone (the
                        business-hours zone, reports.business_hours.time_zone; UTC unless set): one
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


def detection_coverage(
    restored: RestoredIncidents,
    unrestored: Sequence[IncidentFacts],
    *,
    since: datetime,
    until: datetime,
    teams: Mapping[str, str],
) -> CoverageReport:
    """Coverage over the incidents whose impact started in [since, until), open or restored.
    Counted as codes: one bincount of (group, method) per grouping, however many incidents."""
    inside = restored.started_between(since, until)
    opened = [i for i in unrestored if since <= i.started_at < until]
    services = _Codes(restored.service.keys, restored.service.codes[inside], [i.service or NO_SERVICE for i in opened])
    methods = _Codes(restored.detection_method.keys, restored.detection_method.codes[inside], [i.detection_method for i in opened])
    severities = _Codes(restored.severity.keys, restored.severity.codes[inside], [i.severity for i in opened])
    p1 = severities.codes == severities.code_of("P1")
    customer = methods.codes == methods.code_of(CUSTOMER_REPORT)
    method_names = [*DETECTION_METHODS, *sorted(set(methods.keys) - set(DETECTION_METHODS))]

    def team_of(service: str) -> str:
        return teams.get(service, NO_TEAM) if service != NO_SERVICE else NO_TEAM

    def grouped(group_of_service: Sequence[str], last: str) -> dict[str, Coverage]:
        names = sorted(set(group_of_service) - {last}) + ([last] if last in group_of_service else [])
        index = {name: k for k, name in enumerate(names)}
        group = (
            np.asarray([index[g] for g in group_of_service], dtype=np.int64)[services.codes]
            if len(services.codes)
            else np.empty(0, dtype=np.int64)
        )
        width = len(methods.keys)
        counts = np.bincount(group * width + methods.codes, minlength=len(names) * width).reshape(len(names), width) if width else None
        p1s = np.bincount(group[p1], minlength=len(names))
        p1_customer = np.bincount(group[p1 & customer], minlength=len(names))
        out = {}
        for name, k in index.items():
            by_method = {m: int(counts[k, methods.code_of(m)]) if counts is not None and m in methods.keys else 0 for m in method_names}
            incidents = sum(by_method.values())
            if incidents:
                out[name] = Coverage(incidents=incidents, by_method=by_method, p1s=int(p1s[k]), p1_customer=int(p1_customer[k]))
        return out

    present = [services.keys[c] for c in np.unique(services.codes).tolist()]
    overall = grouped(["all"] * len(services.keys), "")
    return CoverageReport(
        since=since,
        until=until,
        overall=overall.get("all", Coverage(0, dict.fromkeys(method_names, 0), 0, 0)),
        by_service={k: v for k, v in grouped(list(services.keys), NO_SERVICE).items() if k in present},
        by_team=grouped([team_of(s) for s in services.keys], NO_TEAM),
    )


class _Codes:
    """A text column as codes into ``keys``: the restored incidents' codes, then the open ones'."""

    def __init__(self, keys: Sequence[str], codes: np.ndarray, more: Sequence[str]) -> None:
        self.keys = list(keys)
        extra = []
        for value in more:
            if value not in self.keys:
                self.keys.append(value)
            extra.append(self.keys.index(value))
        self.codes = np.concatenate([codes.astype(np.int64), np.asarray(extra, dtype=np.int64)])

    def code_of(self, key: str) -> int:
        return self.keys.index(key) if key in self.keys else -1


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
