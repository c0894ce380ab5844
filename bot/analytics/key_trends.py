"""Each of DORA's four keys and time to acknowledge, week by week and month by month: the trend
the dashboard draws beside each key's band.

    periods         the report's own: the weekly trend's ISO weeks (``Trend.weeks``, twelve,
                    ending with the week containing now) and the monthly trend's calendar months
                    (``MonthlyTrend.months``, six, UTC); a period still running ends at now
    a key's point   the key as ``dora_report`` computes it over the period alone
                    (``dora.keys_between``, the very function of the report's overall figures):
                    deploys per week and their n; the change failure rate and its n of deploys;
                    the median of lead time, failed deployment recovery time and time to restore
                    with their n. Time to restore's weekly points are the weekly trend's medians
                    and its monthly points the monthly trend's, to the digit (one percentile rule)
    acknowledge     the median of acknowledged − detected over the acknowledged restored
                    incidents started in the period, as the report's time to acknowledge
    alert coverage  the share of the incidents started in the period (open or restored) that an
                    alert detected, and their n: the report's detection coverage
                    (``coverage.detection_coverage``) over the period
    enough          the n a band of the key needs (BandRules): min_count values for a duration,
                    min_deploys deploys for a rate, one deploy for a frequency, min_count
                    incidents for a coverage share; a point with less
                    is drawn faint, as is a period still running

Pure: no database, no Slack.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

import numpy as np

from bot.analytics.coverage import MonthlyTrend, detection_coverage
from bot.analytics.dora import BandRules, DeployColumns, DoraKeys, Spread, bands_of, keys_between
from bot.analytics.dora_bands import DEFAULT_YEAR
from bot.analytics.stats import IncidentFacts, ReportSettings, RestoredIncidents, Trend, sorted_figure

ALERT = "alert"  # the detection method whose share is the coverage trend


class Unit(Enum):
    DURATION = "duration"  # seconds
    SHARE = "share"  # 0 to 1
    PER_WEEK = "per week"  # deploys per week


@dataclass(frozen=True)
class Period:
    label: str  # "W47", "2026-11"
    start: datetime
    end: datetime  # the period's end, or now while it runs
    complete: bool


@dataclass(frozen=True)
class TrendPoint:
    period: Period
    value: float | None  # None: nothing to take a median or a rate of
    count: int  # n: values for a duration, deploys for a rate or a frequency
    enough: bool  # n as a band of the key needs it

    @property
    def faint(self) -> bool:
        return not (self.enough and self.period.complete)


@dataclass(frozen=True)
class KeyTrend:
    key: str  # delivery_view.KEY_NAMES' keys, and "time_to_acknowledge"
    name: str
    unit: Unit
    weekly: tuple[TrendPoint, ...]
    monthly: tuple[TrendPoint, ...]


KEY_ORDER = (
    "deployment_frequency",
    "change_failure_rate",
    "lead_time",
    "failed_recovery",
    "time_to_restore",
    "time_to_acknowledge",
    "alert_coverage",
)
NAMES = {
    "deployment_frequency": "Deployment frequency",
    "change_failure_rate": "Change failure rate",
    "lead_time": "Lead time for changes",
    "failed_recovery": "Failed deployment recovery time",
    "time_to_restore": "Time to restore",
    "time_to_acknowledge": "Time to acknowledge",
    "alert_coverage": "Detected by an alert",
}


def _end(start: datetime, end: datetime, now: datetime) -> datetime:
    # A period that starts this very microsecond still spans one: [start, start) is no window.
    return max(min(end, now), start + timedelta(microseconds=1))


def weekly_periods(trend: Trend, now: datetime) -> list[Period]:
    return [Period(f"W{w.iso_week:02d}", w.start, _end(w.start, w.end, now), w.complete) for w in trend.weeks]


def monthly_periods(months: MonthlyTrend, now: datetime) -> list[Period]:
    return [Period(m.label, m.start, _end(m.start, m.end, now), m.complete) for m in months.months]


def _spread_point(period: Period, spread: Spread, rules: BandRules) -> TrendPoint:
    dist = spread.figure.distribution
    return TrendPoint(period, dist.median if dist else None, spread.count, spread.count >= rules.min_count)


_KEY_POINTS: dict[str, Callable[[Period, DoraKeys, BandRules], TrendPoint]] = {
    "deployment_frequency": lambda p, k, r: TrendPoint(
        p, k.deployment_frequency.per_week, k.deployment_frequency.deploys, k.deployment_frequency.deploys >= 1
    ),
    "change_failure_rate": lambda p, k, r: TrendPoint(
        p, k.change_failure_rate.rate, k.change_failure_rate.deploys, k.change_failure_rate.deploys >= r.min_deploys
    ),
    "lead_time": lambda p, k, r: _spread_point(p, k.lead_time, r),
    "failed_recovery": lambda p, k, r: _spread_point(p, k.failed_recovery, r),
    "time_to_restore": lambda p, k, r: _spread_point(p, k.time_to_restore, r),
}
_UNITS = {"deployment_frequency": Unit.PER_WEEK, "change_failure_rate": Unit.SHARE}


def acknowledge_point(period: Period, restored: RestoredIncidents, settings: ReportSettings) -> TrendPoint:
    """Time to acknowledge over the period's restored incidents, as the report's figure."""
    chosen = restored.started_between(period.start, period.end) & restored.acknowledged
    figure = sorted_figure(np.sort(restored.ack_us[chosen]) / 1_000_000, settings.min_count, settings.confidence)
    return TrendPoint(period, figure.distribution.median if figure.distribution else None, figure.count, figure.enough)


def alert_coverage_point(period: Period, restored: RestoredIncidents, unrestored: Sequence[IncidentFacts], min_count: int) -> TrendPoint:
    """The share of the period's incidents an alert detected, as the report's detection coverage."""
    coverage = detection_coverage(restored, unrestored, since=period.start, until=period.end, teams={}).overall
    return TrendPoint(period, coverage.share(ALERT), coverage.incidents, coverage.incidents >= min_count)


def key_trends(
    deploys: DeployColumns,
    restored: RestoredIncidents,
    unrestored: Sequence[IncidentFacts] = (),
    *,
    weeks: Sequence[Period],
    months: Sequence[Period],
    settings: ReportSettings,
    year: int = DEFAULT_YEAR,
) -> tuple[KeyTrend, ...]:
    """Every key's weekly and monthly points, in KEY_ORDER. ``deploys`` and ``restored`` must
    reach back to the first period's start (a point never reads beyond them); ``unrestored``: the
    incidents still open, in the coverage as the report counts them."""
    bands = bands_of(year)
    rules = BandRules(min_count=settings.min_count)

    def keys_of(periods: Sequence[Period]) -> list[DoraKeys]:
        return [
            keys_between(deploys, restored, since=p.start, until=p.end, bands=bands, rules=rules, confidence=settings.confidence)
            for p in periods
        ]

    weekly_keys, monthly_keys = keys_of(weeks), keys_of(months)
    trends = [
        KeyTrend(
            key,
            NAMES[key],
            _UNITS.get(key, Unit.DURATION),
            tuple(point(p, k, rules) for p, k in zip(weeks, weekly_keys, strict=True)),
            tuple(point(p, k, rules) for p, k in zip(months, monthly_keys, strict=True)),
        )
        for key, point in _KEY_POINTS.items()
    ]
    trends.append(
        KeyTrend(
            "time_to_acknowledge",
            NAMES["time_to_acknowledge"],
            Unit.DURATION,
            tuple(acknowledge_point(p, restored, settings) for p in weeks),
            tuple(acknowledge_point(p, restored, settings) for p in months),
        )
    )
    trends.append(
        KeyTrend(
            "alert_coverage",
            NAMES["alert_coverage"],
            Unit.SHARE,
            tuple(alert_coverage_point(p, restored, unrestored, settings.min_count) for p in weeks),
            tuple(alert_coverage_point(p, restored, unrestored, settings.min_count) for p in months),
        )
    )
    return tuple(trends)
