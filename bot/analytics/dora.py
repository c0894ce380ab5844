"""DORA's four keys from the deploys and incidents the bot stores, overall and per service and team.

    deployment frequency      deploys / weeks in the window (weeks = window days / 7), with the
                              count per ISO week; band from the mean time between deploys,
                              window / deploys
    change failure rate       deploys linked to an incident / deploys, both in the window; a deploy
                              is linked when it landed in the window before an incident's impact
                              (bot/integrations/deploys.py: [impact start - DEPLOY_WINDOW, impact
                              start], the incident's service and its dependencies); interval: the
                              Wilson score interval at the report's confidence
    lead time for changes     deployed_at - commit_time, over the deploys that carry commit_time
    failed deployment         time to restore (verified - impact started) of the restored incidents
    recovery time             linked to a deploy
    time to restore           the same over every restored incident

Deploys are those to production (the environment the correlation reads), deployed in
[since, until); incidents those whose impact started in [since, until), as every report counts.

Honest figures: a band only from enough data (``BandRules``), otherwise the reason; a duration's
band is read from its median; percentiles only where n allows (``PERCENTILE_MIN_N``). Bands: see
bot/analytics/dora_bands.py for the report years and how their words become bounds.

Pure: no database, no Slack. Nothing here is per person.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from statistics import NormalDist

import numpy as np

from bot.analytics.dora_bands import BANDS, DEFAULT_YEAR, Bound, YearBands
from bot.analytics.stats import (
    MISSING_US,
    NO_SERVICE,
    Figure,
    KeyColumn,
    ReportSettings,
    RestoredIncidents,
    epoch_microseconds,
    percentile,
    sorted_figure,
    week_start,
)

NO_TEAM = "(no team)"
# A q-percentile is shown only when n ≥ 1 / (1 - q): at least one value lies beyond it on average.
PERCENTILE_MIN_N = {0.90: 10, 0.95: 20, 0.99: 100}


@dataclass(frozen=True)
class BandRules:
    """How much data a band needs. A duration's band: ``min_count`` values (the report's setting).
    A change failure rate's: ``min_deploys`` deploys (one failure then moves the rate by at most
    five points, the width of the elite level). A deployment frequency's: a window of
    ``min_window`` (the slowest pace a level names is once a month) and one deploy at least."""

    min_count: int = 5
    min_deploys: int = 20
    min_window: timedelta = timedelta(days=28)


@dataclass(frozen=True)
class DeployFact:
    """A deploy to production as the report reads it."""

    service: str
    deployed_at: datetime
    commit_time: datetime | None
    failed: bool  # linked to an incident by the window rule


@dataclass(frozen=True, eq=False)
class DeployColumns:
    """Deploys as columns (a year of a busy team's deploys never becomes an object each)."""

    service: KeyColumn
    deployed_us: np.ndarray  # int64 epoch microseconds
    lead_us: np.ndarray  # int64: deployed_at - commit_time, MISSING_US without a commit time
    failed: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.deployed_us)

    @classmethod
    def from_columns(
        cls, service_keys: Sequence[str], service_codes: np.ndarray, deployed_us: np.ndarray, commit_us: np.ndarray, failed: np.ndarray
    ) -> DeployColumns:
        """``commit_us``: MISSING_US where the deploy carries no commit time."""
        has_commit = commit_us != MISSING_US
        lead = np.where(has_commit, deployed_us - np.where(has_commit, commit_us, 0), MISSING_US)
        service = KeyColumn(service_codes.astype(np.int32), tuple(service_keys))
        return cls(service, deployed_us.astype(np.int64), lead.astype(np.int64), failed.astype(bool))

    @classmethod
    def from_facts(cls, deploys: Sequence[DeployFact]) -> DeployColumns:
        keys: dict[str, int] = {}
        codes = np.asarray([keys.setdefault(d.service, len(keys)) for d in deploys], dtype=np.int32)
        return cls.from_columns(
            tuple(keys),
            codes,
            np.asarray([epoch_microseconds(d.deployed_at) for d in deploys], dtype=np.int64),
            np.asarray([MISSING_US if d.commit_time is None else epoch_microseconds(d.commit_time) for d in deploys], dtype=np.int64),
            np.asarray([d.failed for d in deploys], dtype=bool),
        )


@dataclass(frozen=True)
class BandCall:
    """A level, or why there is none (``reason``: "n too small: …", "no deploys", …)."""

    level: str | None
    year: int
    reason: str | None = None


@dataclass(frozen=True)
class Spread:
    """A duration key: the figure (n, mean, median, its interval), p90/p95/p99 by PERCENTILE_MIN_N,
    and its band read from the median."""

    figure: Figure
    p90: float | None
    p95: float | None
    p99: float | None
    band: BandCall

    @property
    def count(self) -> int:
        return self.figure.count


@dataclass(frozen=True)
class WeekCount:
    label: str  # 2026-W47
    start: datetime
    deploys: int


@dataclass(frozen=True)
class DeployFrequency:
    deploys: int
    window_days: float
    per_week: float  # deploys × 7 / window days
    weeks: tuple[WeekCount, ...]  # every ISO week the window touches, oldest first
    band: BandCall


@dataclass(frozen=True)
class ChangeFailureRate:
    failed: int
    deploys: int
    rate: float | None  # failed / deploys; None without deploys
    interval: tuple[float, float] | None  # Wilson score interval
    band: BandCall


@dataclass(frozen=True)
class DoraKeys:
    deployment_frequency: DeployFrequency
    change_failure_rate: ChangeFailureRate
    lead_time: Spread
    failed_recovery: Spread
    time_to_restore: Spread


@dataclass(frozen=True)
class DoraReport:
    since: datetime
    until: datetime
    year: int
    label: str  # "DORA 2024 report"
    rules: BandRules
    confidence: float
    overall: DoraKeys
    by_service: Mapping[str, DoraKeys]
    by_team: Mapping[str, DoraKeys]
    deploys_without_commit_time: int = field(default=0)


# --------------------------------------------------------------------------------------------
# Bands


def bands_of(year: int) -> YearBands:
    if year not in BANDS:
        raise ValueError(f"no DORA bands for {year}; known years: {', '.join(map(str, sorted(BANDS)))}")
    return BANDS[year]


def band_of_duration(bounds: Sequence[Bound], value: timedelta, slowest: str) -> str:
    """The first level whose bound ``value`` is within (``<`` or ``<=`` as stated), else ``slowest``."""
    for bound in bounds:
        if value < bound.under or (bound.inclusive and value == bound.under):
            return bound.level
    return slowest


def band_of_rate(rates: Sequence[tuple[str, Fraction]], rate: Fraction) -> str:
    """The level whose typical rate is nearest ``rate``; on a tie the better level (earlier in ``rates``)."""
    return min(enumerate(rates), key=lambda item: (abs(item[1][1] - rate), item[0]))[1][0]


def _too_small(year: int, n: int, needed: int, of: str) -> BandCall:
    return BandCall(None, year, f"n too small: a band needs {needed} {of}, n={n}")


# --------------------------------------------------------------------------------------------
# Figures


def spread(seconds: Sequence[float] | np.ndarray, bands: YearBands, table: Sequence[Bound], rules: BandRules, confidence: float) -> Spread:
    values = np.sort(np.asarray(seconds, dtype=np.float64))
    if not np.isfinite(values).all():
        raise ValueError("durations must be finite")
    fig = sorted_figure(values, rules.min_count, confidence)
    n = fig.count

    def shown(q: float) -> float | None:
        return percentile(values, q) if n >= PERCENTILE_MIN_N[q] else None

    if fig.distribution is None or n < rules.min_count:
        band = _too_small(bands.year, n, rules.min_count, "values")
    else:
        # Whole microseconds, as the values were measured: the median of two values may end in .5 µs.
        band = BandCall(band_of_duration(table, timedelta(seconds=fig.distribution.median), bands.slowest), bands.year)
    return Spread(figure=fig, p90=shown(0.90), p95=shown(0.95), p99=shown(0.99), band=band)


def wilson_interval(successes: int, n: int, confidence: float) -> tuple[float, float] | None:
    """(p + z²/2n ± z·√(p(1-p)/n + z²/4n²)) / (1 + z²/n), z the normal quantile of (1 + confidence)/2."""
    if n == 0:
        return None
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    p = successes / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    # At 0 or n the interval ends at 0 or 1 exactly (the formula gives it up to rounding).
    low = 0.0 if successes == 0 else max(0.0, (centre - half) / scale)
    high = 1.0 if successes == n else min(1.0, (centre + half) / scale)
    return (low, high)


def deployment_frequency(deployed_us: np.ndarray, since: datetime, until: datetime, bands: YearBands, rules: BandRules) -> DeployFrequency:
    """``deployed_us``: the window's deploys, epoch microseconds."""
    window = until - since
    days = window / timedelta(days=1)
    starts: list[datetime] = []
    start = week_start(since)
    while start < until:
        starts.append(start)
        start += timedelta(weeks=1)
    bounds = np.asarray([epoch_microseconds(at) for at in [*starts, start]], dtype=np.int64)
    per_week = np.diff(np.searchsorted(np.sort(deployed_us), bounds, side="left"))
    weeks = tuple(
        WeekCount(f"{at.isocalendar().year}-W{at.isocalendar().week:02d}", at, int(count))
        for at, count in zip(starts, per_week.tolist(), strict=True)
    )
    n = len(deployed_us)
    if window < rules.min_window:
        band = BandCall(None, bands.year, f"window too short: a band needs {rules.min_window.days} days, this one is {days:g}")
    elif n == 0:
        band = BandCall(None, bands.year, "no deploys recorded")
    else:
        band = BandCall(band_of_duration(bands.deploy_interval, window / n, bands.slowest), bands.year)
    return DeployFrequency(deploys=n, window_days=days, per_week=n * 7 / days, weeks=weeks, band=band)


def change_failure_rate(failed: int, deploys: int, bands: YearBands, rules: BandRules, confidence: float) -> ChangeFailureRate:
    if deploys < rules.min_deploys:
        band = _too_small(bands.year, deploys, rules.min_deploys, "deploys")
    else:
        band = BandCall(band_of_rate(bands.change_failure_rate, Fraction(failed, deploys)), bands.year)
    return ChangeFailureRate(
        failed=failed,
        deploys=deploys,
        rate=failed / deploys if deploys else None,
        interval=wilson_interval(failed, deploys, confidence),
        band=band,
    )


@dataclass(frozen=True)
class _KeyWindow:
    """What the four keys of a set of deploys and incidents are read against."""

    since: datetime
    until: datetime
    bands: YearBands
    rules: BandRules
    confidence: float


def _keys(deploys: DeployColumns, restore_us: np.ndarray, linked: np.ndarray, window: _KeyWindow) -> DoraKeys:
    bands, rules, confidence = window.bands, window.rules, window.confidence
    leads = deploys.lead_us[deploys.lead_us != MISSING_US] / 1_000_000
    restore_seconds = restore_us / 1_000_000
    return DoraKeys(
        deployment_frequency=deployment_frequency(deploys.deployed_us, window.since, window.until, bands, rules),
        change_failure_rate=change_failure_rate(int(np.count_nonzero(deploys.failed)), len(deploys), bands, rules, confidence),
        lead_time=spread(leads, bands, bands.lead_time, rules, confidence),
        failed_recovery=spread(restore_seconds[linked], bands, bands.recovery, rules, confidence),
        time_to_restore=spread(restore_seconds, bands, bands.recovery, rules, confidence),
    )


def _subset(deploys: DeployColumns, mask: np.ndarray) -> DeployColumns:
    return DeployColumns(
        KeyColumn(deploys.service.codes[mask], deploys.service.keys), deploys.deployed_us[mask], deploys.lead_us[mask], deploys.failed[mask]
    )


def keys_between(
    deploys: DeployColumns,
    restored: RestoredIncidents,
    *,
    since: datetime,
    until: datetime,
    bands: YearBands,
    rules: BandRules,
    confidence: float,
) -> DoraKeys:
    """The four keys of every deploy and incident given, over [since, until): ``dora_report``'s
    overall figures, and each point of a key's trend (bot/analytics/key_trends.py)."""
    in_window = _subset(deploys, (deploys.deployed_us >= epoch_microseconds(since)) & (deploys.deployed_us < epoch_microseconds(until)))
    inside = restored.started_between(since, until)
    window = _KeyWindow(since, until, bands, rules, confidence)
    return _keys(in_window, restored.restore_us[inside], restored.deploy[inside] == 1, window)


def dora_report(
    deploys: DeployColumns | Sequence[DeployFact],
    restored: RestoredIncidents,
    *,
    since: datetime,
    until: datetime,
    teams: Mapping[str, str],
    year: int = DEFAULT_YEAR,
    settings: ReportSettings | None = None,
    rules: BandRules | None = None,
) -> DoraReport:
    """The four keys over [since, until), overall, per service and per team (``teams``: service →
    the catalog's team; a service not in it, or an incident without a service, is NO_TEAM)."""
    for name, at in (("since", since), ("until", until)):
        if at.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware")
    if not since < until:
        raise ValueError("since must be before until")
    bands = bands_of(year)
    settings = settings or ReportSettings()
    rules = rules or BandRules(min_count=settings.min_count)
    columns = deploys if isinstance(deploys, DeployColumns) else DeployColumns.from_facts(deploys)
    in_window = _subset(columns, (columns.deployed_us >= epoch_microseconds(since)) & (columns.deployed_us < epoch_microseconds(until)))
    inside = restored.started_between(since, until)
    restore_us = restored.restore_us[inside]
    linked = restored.deploy[inside] == 1
    service_codes = restored.service.codes[inside]
    service_keys = restored.service.keys

    window = _KeyWindow(since, until, bands, rules, settings.confidence)

    def keys_of(deploy_mask: np.ndarray, incident_mask: np.ndarray) -> DoraKeys:
        return _keys(_subset(in_window, deploy_mask), restore_us[incident_mask], linked[incident_mask], window)

    deploy_services = {in_window.service.keys[code] for code in np.unique(in_window.service.codes).tolist()}
    incident_services = {service_keys[code] for code in np.unique(service_codes).tolist()}
    services = sorted(deploy_services | (incident_services - {NO_SERVICE})) + ([NO_SERVICE] if NO_SERVICE in incident_services else [])

    def of(names: set[str]) -> tuple[np.ndarray, np.ndarray]:
        deploy_codes = [code for code, key in enumerate(in_window.service.keys) if key in names]
        incident_codes = [code for code, key in enumerate(service_keys) if key in names]
        return np.isin(in_window.service.codes, deploy_codes), np.isin(service_codes, incident_codes)

    by_service = {s: keys_of(*of({s})) for s in services}

    def team_of(service: str) -> str:
        return teams.get(service, NO_TEAM) if service != NO_SERVICE else NO_TEAM

    team_names = sorted({team_of(s) for s in services} - {NO_TEAM}) + ([NO_TEAM] if any(team_of(s) == NO_TEAM for s in services) else [])
    by_team = {team: keys_of(*of({s for s in services if team_of(s) == team})) for team in team_names}
    return DoraReport(
        since=since,
        until=until,
        year=year,
        label=bands.label,
        rules=rules,
        confidence=settings.confidence,
        overall=keys_between(columns, restored, since=since, until=until, bands=bands, rules=rules, confidence=settings.confidence),
        by_service=by_service,
        by_team=by_team,
        deploys_without_commit_time=int(np.count_nonzero(in_window.lead_us == MISSING_US)),
    )
