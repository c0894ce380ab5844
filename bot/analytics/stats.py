"""Statistics over resolved incidents: the figures a manager reads, with how sure each one is.

Every figure is in seconds and carries its count ``n``. Values are sorted: x[0] ≤ … ≤ x[n-1]
(0-based) or x₍₁₎ ≤ … ≤ x₍ₙ₎ (1-based order statistics).

    mean              Σx / n
    median            x[(n-1)/2] for odd n; (x[n/2 - 1] + x[n/2]) / 2 for even n
    percentile(q)     h = (n-1)·q;  x[⌊h⌋] + (h - ⌊h⌋)·(x[⌊h⌋+1] - x[⌊h⌋])
                      (linear interpolation between order statistics: NumPy's default, R type 7)
    p90, p95          percentile(0.90), percentile(0.95)
    stdev             √(Σ(x - mean)² / (n - 1))      (sample stdev; none below 2 values)
    median interval   (x₍ⱼ₎, x₍ₙ₊₁₋ⱼ₎) with the largest j such that
                      coverage(j) = P(j ≤ B ≤ n - j) = Σ_{k=j}^{n-j} C(n, k) / 2ⁿ ≥ confidence,
                      B ~ Binomial(n, ½) (the number of values below the true median).
                      Distribution-free; none when even (x₍₁₎, x₍ₙ₎) falls short (n < 6 at 95%).

Over a window's restored incidents (each phase runs from the previous stamp to its own):

    phase share       Σ that phase's durations / Σ times to restore
                      (a pooled ratio, not a mean of per-incident shares: long incidents weigh more,
                      as they do in the downtime; the four shares add up to 1)
    slowest phase     the phase with the largest Σ durations: where most restore time went
                      (not the largest median: one 10-hour diagnosis matters more than
                      many 2-minute ones); on a tie the earlier phase
    longest share     the longest incident's time to restore / Σ times to restore
    time to ack.      max(acknowledged - detected, 0) over the restored incidents someone
                      acknowledged: its own figure, apart from the four phases; "acknowledged"
                      is their share of the restored incidents
    time to assemble  max(assembled - detected, 0) over the restored incidents a second person
                      joined (``assembled``: the first join of someone other than the opener and
                      the bot, who came by themselves or was added by a person); likewise
    time to command   max(commander set - detected, 0) over those that had a person in command
                      (from the open when a person opened it; for an alert's incident, from the
                      first acknowledgement or commander assignment). Each apart from the phases,
                      with its share of the restored incidents, like time to acknowledge
    customer share    customer-reported incidents / incidents started in the window;
                      a P1 warning when strictly more than 20% of P1s were customer-reported

Pure: no Slack, no database. A report over 100,000 incidents runs on columns
(``RestoredIncidents``: NumPy arrays of whole microseconds, one entry per incident) rather than
one object per incident; NumPy only sorts, selects and sums. Every formula above is computed
here, from sorted values, never by a library's percentile or median routine, so the tests can
check it against ``statistics`` and NumPy as independent references.
Nothing here is per person: no figure ranks or names a responder.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from enum import StrEnum
from fractions import Fraction
from functools import cached_property, lru_cache
from itertools import pairwise

import numpy as np

from bot.core.columns import record_from_columns
from bot.core.command_text import SEVERITIES
from bot.core.phases import PHASES, Phase
from bot.core.tiers import TierTable, TierTables

UTC = UTC
DEFAULT_CONFIDENCE = 0.95

DETECTION_METHODS = ("alert", "customer_report", "engineer", "synthetic")
CUSTOMER_REPORT = "customer_report"
# Segment keys that are not a value of the incident itself.
NO_SERVICE = "(no service)"
NO_TARGET = "(no target)"
BUSINESS_HOURS = "business hours"
OUT_OF_HOURS = "out of hours"
# A P1 warning fires when the customer-reported share of P1s is strictly above this.
P1_CUSTOMER_WARNING_ABOVE = Fraction(1, 5)
# A group of incidents a report measures: (segment, key), e.g. ("severity", "P1").
GroupKey = tuple[str, str]
# Relative reductions of the median tried by detectable_change: 5%, 10%, … 90%.
EFFECT_GRID: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 19))
# detectable_change refuses to resample from fewer restore times than this.
MIN_RESAMPLE = 6


def _aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _fraction(value: float) -> Fraction:
    """The decimal the caller meant: 0.95 is 19/20, not the nearest binary float."""
    return Fraction(str(value))


# --------------------------------------------------------------------------------------------
# One incident


@dataclass(frozen=True)
class IncidentFacts:
    """One incident as the report layer hands it over. Times are timezone-aware (UTC).

    Stamps must not go backwards: started ≤ detected ≤ diagnosed ≤ mitigated ≤ verified
    (for those present). A missing stamp followed by a present one is implied at that later
    stamp's time, exactly as the buttons do (``bot.core.phases.plan_stamp``): verified with no
    diagnosed/mitigated gives diagnose = verified - detected, mitigate = verify = 0.
    """

    id: int
    severity: str  # P1..P4
    service: str | None
    detection_method: str  # alert | customer_report | engineer | synthetic
    started_at: datetime
    detected_at: datetime
    diagnosed_at: datetime | None = None
    mitigated_at: datetime | None = None
    verified_at: datetime | None = None
    deploy_linked: bool | None = None  # None: no deploy data yet
    acknowledged_at: datetime | None = None  # someone took it on: not a phase, its own figure
    assembled_at: datetime | None = None  # a second person joined the war room: its own figure
    commander_set_at: datetime | None = None  # a person held command: its own figure
    private: bool = False  # a private incident: counted, but listed by its number only

    def __post_init__(self) -> None:
        named = self._named_times()
        for name, at in named:
            if at is not None:
                _aware(at, f"incident {self.id}: {name}")
        present = [(name, at) for name, at in named if at is not None]
        for (before, earlier), (after, later) in pairwise(present):
            if later < earlier:
                raise ValueError(f"incident {self.id}: {after} ({later.isoformat()}) is earlier than {before} ({earlier.isoformat()})")

    def _named_times(self) -> list[tuple[str, datetime | None]]:
        return [
            ("started_at", self.started_at),
            ("detected_at", self.detected_at),
            ("diagnosed_at", self.diagnosed_at),
            ("mitigated_at", self.mitigated_at),
            ("verified_at", self.verified_at),
        ]

    def milestones(self) -> tuple[datetime | None, datetime | None, datetime | None]:
        """The moments measured from detection apart from the phases, in MILESTONES order."""
        return (self.acknowledged_at, self.assembled_at, self.commander_set_at)

    def _phase_ends(self) -> list[datetime | None]:
        """The closing time of each phase; a missing stamp takes the next present stamp's time."""
        ends: list[datetime | None] = [self.detected_at, self.diagnosed_at, self.mitigated_at, self.verified_at]
        later: datetime | None = None
        for index in reversed(range(len(ends))):
            if ends[index] is None:
                ends[index] = later
            else:
                later = ends[index]
        return ends

    @property
    def restored(self) -> bool:
        return self.verified_at is not None

    @property
    def time_to_restore(self) -> timedelta | None:
        """verified - started (t4 - t0); None while open."""
        return self.verified_at - self.started_at if self.verified_at is not None else None

    @property
    def phase_durations(self) -> dict[Phase, timedelta]:
        """Each closed phase: its closing stamp - the previous stamp (detect starts at impact, t0).

        For a restored incident all four are present and add up to the time to restore.
        """
        out: dict[Phase, timedelta] = {}
        start = self.started_at
        for phase, end in zip(PHASES, self._phase_ends(), strict=True):
            if end is None:
                break
            out[phase] = end - start
            start = end
        return out

    @property
    def current_phase(self) -> Phase | None:
        """The phase under way: the first one not yet closed. None once restored."""
        # The first phase without its closing stamp (phase_durations stops at it).
        return next((phase for phase, end in zip(PHASES, self._phase_ends(), strict=True) if end is None), None)


# --------------------------------------------------------------------------------------------
# Order statistics


def _check_sorted(values: Sequence[float] | np.ndarray) -> None:
    if isinstance(values, np.ndarray):
        unsorted = bool(np.any(values[1:] < values[:-1]))
    else:
        unsorted = any(b < a for a, b in pairwise(values))
    if unsorted:
        raise ValueError("values must be sorted in ascending order")


def _interpolate(sorted_values: Sequence[float] | np.ndarray, q: float) -> float:
    n = len(sorted_values)
    h = (n - 1) * q
    low = math.floor(h)
    if low >= n - 1:
        return float(sorted_values[-1])
    a, b = float(sorted_values[low]), float(sorted_values[low + 1])
    t = h - low
    return a + t * (b - a) if t < 0.5 else b - (1 - t) * (b - a)


def percentile(sorted_values: Sequence[float] | np.ndarray, q: float) -> float:
    """The q-quantile (0 ≤ q ≤ 1) by linear interpolation between order statistics.

        h = (n-1)·q;  x[⌊h⌋] + (h - ⌊h⌋)·(x[⌊h⌋+1] - x[⌊h⌋])      (0-based, sorted)

    NumPy's default ("linear"), R's type 7. Like NumPy, the interpolation is done from the
    nearer end (``b - (1-t)(b-a)`` when t ≥ ½) so the result never leaves [x[⌊h⌋], x[⌊h⌋+1]].
    """
    if len(sorted_values) == 0:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 1:
        raise ValueError(f"q must be between 0 and 1, not {q}")
    _check_sorted(sorted_values)
    return _interpolate(sorted_values, q)


# Up to this many values the median ranks are found with exact integers; above it, in floating
# point (see _median_ranks_float): the exact sums grow with n² bits (5 s at n = 100,000).
EXACT_RANKS_UP_TO = 2000


@lru_cache(maxsize=4096)
def median_ranks(n: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[int, Fraction] | None:
    """(j, coverage) for the median interval (x₍ⱼ₎, x₍ₙ₊₁₋ⱼ₎) of n values, or None.

    j is the largest rank with coverage(j) = Σ_{k=j}^{n-j} C(n, k) / 2ⁿ ≥ confidence, computed as
    1 - 2·Σ_{k<j} C(n, k) / 2ⁿ (the two tails are mirror images). coverage falls as j grows, so
    the scan stops at the first j that falls short. None when j = 1 already falls short.

    Exact (integer binomial sums, an exact Fraction) up to EXACT_RANKS_UP_TO values. Above, the
    same scan runs in floating point (the first binomial probability from ``math.lgamma``, each
    next one from the last), starting 12 standard deviations below n/2 (the tail below is under
    10⁻³²), and the coverage is that float as a Fraction. Should a coverage fall within 10⁻⁹ of the confidence, where rounding could decide,
    the exact scan decides instead.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    if n > EXACT_RANKS_UP_TO:
        found = _median_ranks_float(n, float(_fraction(confidence)))
        if found is not None:
            return found
    return _median_ranks_exact(n, _fraction(confidence))


def _median_ranks_exact(n: int, target: Fraction) -> tuple[int, Fraction] | None:
    total = 1 << n
    # coverage(j) < target  ⟺  (2ⁿ - 2·tail)·d < c·2ⁿ (target = c/d)  ⟺  tail > 2ⁿ·(d - c) / 2d,
    # and for a whole tail ⟺ tail > ⌊2ⁿ·(d - c) / 2d⌋: one comparison of integers a step instead
    # of two products and a difference (half the time of the scan at n = 2,000).
    short_above = total * (target.denominator - target.numerator) // (2 * target.denominator)
    tail = 0  # Σ_{k<j} C(n, k)
    term = 1  # C(n, j-1)
    best: tuple[int, int] | None = None  # (j, its tail)
    for j in range(1, n // 2 + 1):
        tail += term
        if tail > short_above:
            break
        term = term * (n - j + 1) // j
        best = (j, tail)
    if best is None:
        return None
    return best[0], Fraction(total - 2 * best[1], total)


def _median_ranks_float(n: int, target: float) -> tuple[int, Fraction] | None:
    """The scan of ``median_ranks`` in floating point; None when too close to call."""
    first = max(0, math.floor(n / 2 - 12 * math.sqrt(n) / 2))
    if first == 0:
        return None
    # P(B = k), B ~ Binomial(n, ½), for k = first … n/2 - 1: the first from log-gamma, each next
    # one from the last by P(k + 1) = P(k)·(n - k)/(k + 1), all at once. Two log-gammas a step,
    # one step at a time, cost 18 of the 100,000-incident report's 218 ms. The products' rounding
    # error is of the log-gammas' own order (within 2·10⁻¹² of the exact coverage up to n = 40,000,
    # as theirs), far inside the 10⁻⁹ at which the exact scan decides.
    k = np.arange(first, n // 2, dtype=np.float64)
    start = math.exp(math.lgamma(n + 1) - n * math.log(2) - math.lgamma(first + 1) - math.lgamma(n - first + 1))
    probabilities = start * np.concatenate(([1.0], np.cumprod((n - k[:-1]) / (k[:-1] + 1))))
    # covered[i]: the coverage of j = first + 1 + i, 1 - 2·Σ_{first ≤ k < j} P(B = k) (the tail
    # below ``first`` is negligible).
    covered = 1 - 2 * np.cumsum(probabilities)
    short = np.flatnonzero(covered < target)
    # The scan reads each j up to the first that falls short, and stops there.
    scanned = covered[: short[0] + 1] if len(short) else covered
    if np.any(np.abs(scanned - target) < 1e-9):
        return None
    best = (short[0] if len(short) else len(covered)) - 1  # index of the last j that covers
    if best < 1:
        return None  # none covers, or the start was not deep enough into the tail to be sure
    return first + 1 + int(best), Fraction(float(covered[best]))


def smallest_median_sample(confidence: float = DEFAULT_CONFIDENCE) -> int:
    """The fewest values with a median interval at this confidence (6 at 95%)."""
    n = 1
    while median_ranks(n, confidence) is None:
        n += 1
    return n


@dataclass(frozen=True)
class MedianInterval:
    """A distribution-free interval for the median: (x₍ⱼ₎, x₍ₙ₊₁₋ⱼ₎), 1-based ranks.

    ``coverage`` is the probability actually achieved, P(j ≤ B ≤ n-j) with B ~ Binomial(n, ½):
    at least the confidence asked for, usually more, since order statistics move in steps.
    It holds for continuous data; ties only make the interval more conservative.
    """

    low: float
    high: float
    lower_rank: int  # j
    upper_rank: int  # n + 1 - j
    coverage: float
    confidence: float

    def as_tuple(self) -> tuple[float, float]:
        return (self.low, self.high)


def _interval_of_sorted(sorted_values: Sequence[float] | np.ndarray, confidence: float) -> MedianInterval | None:
    n = len(sorted_values)
    ranks = median_ranks(n, confidence)
    if ranks is None:
        return None
    j, coverage = ranks
    return MedianInterval(
        low=float(sorted_values[j - 1]),
        high=float(sorted_values[n - j]),
        lower_rank=j,
        upper_rank=n + 1 - j,
        coverage=float(coverage),
        confidence=confidence,
    )


def median_interval_detail(sorted_values: Sequence[float], confidence: float = DEFAULT_CONFIDENCE) -> MedianInterval | None:
    """The median interval with its ranks and achieved coverage; None when n is too small."""
    _check_sorted(sorted_values)
    return _interval_of_sorted(sorted_values, confidence)


def median_interval(sorted_values: Sequence[float], confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float] | None:
    """(x₍ⱼ₎, x₍ₙ₊₁₋ⱼ₎): see ``median_ranks`` for j. None when n < 6 at 95%.

    ``median_interval_detail`` gives the same interval with its ranks and achieved coverage.
    """
    detail = median_interval_detail(sorted_values, confidence)
    return detail.as_tuple() if detail else None


def intervals_overlap(first: tuple[float, float], second: tuple[float, float]) -> bool:
    """Closed intervals overlap when each starts no later than the other ends (touching counts)."""
    return first[0] <= second[1] and second[0] <= first[1]


@dataclass(frozen=True)
class Distribution:
    """A set of durations in seconds. ``stdev`` is the sample stdev (n - 1), None below 2 values;
    ``median_ci`` is the distribution-free median interval, None below 6 values at 95%, with
    ``median_ci_coverage`` the coverage it actually achieves."""

    count: int
    mean: float
    median: float
    p90: float
    p95: float
    minimum: float
    maximum: float
    stdev: float | None
    median_ci: tuple[float, float] | None
    median_ci_coverage: float | None = None


def distribution(values: Iterable[float], confidence: float = DEFAULT_CONFIDENCE) -> Distribution | None:
    """Summarize finite values (seconds); None for no values."""
    return _summarize_sorted(_sorted_seconds(values), confidence)


def _sorted_seconds(values: Iterable[float]) -> np.ndarray:
    xs = np.sort(np.fromiter((float(v) for v in values), dtype=np.float64))
    if not np.isfinite(xs).all():
        raise ValueError("values must be finite")
    return xs


def _summarize_sorted(xs: np.ndarray, confidence: float) -> Distribution | None:
    """The figures of sorted, finite float64 seconds.

    mean: NumPy's pairwise sum / n (within a few ulps of the exact mean); median: the middle value
    or the halfway point of the two middle ones, computed as ``statistics.median`` does; stdev:
    √(Σ(x - mean)² / (n - 1)) in two passes.
    """
    n = len(xs)
    if n == 0:
        return None
    mid = n // 2
    mean = float(np.sum(xs)) / n
    median = float(xs[mid]) if n % 2 else (float(xs[mid - 1]) + float(xs[mid])) / 2
    stdev = None
    if n >= 2:
        deviations = xs - mean
        stdev = math.sqrt(float(np.multiply(deviations, deviations).sum()) / (n - 1))
    interval = _interval_of_sorted(xs, confidence)
    return Distribution(
        count=n,
        mean=mean,
        median=median,
        p90=_interpolate(xs, 0.90),
        p95=_interpolate(xs, 0.95),
        minimum=float(xs[0]),
        maximum=float(xs[-1]),
        stdev=stdev,
        median_ci=interval.as_tuple() if interval else None,
        median_ci_coverage=interval.coverage if interval else None,
    )


@dataclass(frozen=True)
class Figure:
    """What a report shows for one measure: the distribution, and whether there are enough
    incidents to read it (count ≥ min_count). Below that it is shown marked "too few", not hidden;
    ``distribution`` is None only when there are no values at all."""

    count: int
    distribution: Distribution | None
    enough: bool
    min_count: int = 1


def figure(values: Iterable[float], min_count: int, confidence: float = DEFAULT_CONFIDENCE) -> Figure:
    return _figure_of_sorted(_sorted_seconds(values), min_count, confidence)


def _figure_of_sorted(xs: np.ndarray, min_count: int, confidence: float) -> Figure:
    dist = _summarize_sorted(xs, confidence)
    count = dist.count if dist else 0
    return Figure(count=count, distribution=dist, enough=count >= min_count, min_count=min_count)


# --------------------------------------------------------------------------------------------
# Window report


def too_few_text(count: int, min_count: int) -> str:
    """What a figure says instead of a median it does not have enough incidents for."""
    if count == 0:
        return "no incidents (n=0)"
    return f"too few incidents (n={count}, need {min_count})"


@dataclass(frozen=True)
class ReportSettings:
    """Thresholds and the team's working hours.

    Business hours: started_at, read in ``time_zone``, falls on one of ``business_days``
    (Monday = 0) and business_start ≤ local time < business_end (no overnight windows).
    """

    min_count: int = 5
    business_days: frozenset[int] = frozenset(range(5))
    business_start: time = time(9, 0)
    business_end: time = time(18, 0)
    time_zone: tzinfo = UTC
    confidence: float = DEFAULT_CONFIDENCE  # for every median interval

    def __post_init__(self) -> None:
        if self.min_count < 1:
            raise ValueError("min_count must be at least 1")
        if not self.business_days <= frozenset(range(7)):
            raise ValueError("business_days are weekday numbers, Monday = 0 … Sunday = 6")
        if self.business_start.tzinfo or self.business_end.tzinfo:
            raise ValueError("business hours are local times without a zone; set time_zone")
        if not self.business_start < self.business_end:
            raise ValueError("business_start must be before business_end")
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must be between 0 and 1")


def in_business_hours(at: datetime, settings: ReportSettings) -> bool:
    local = at.astimezone(settings.time_zone)
    return local.weekday() in settings.business_days and settings.business_start <= local.time() < settings.business_end


# --------------------------------------------------------------------------------------------
# Incidents as columns

ONE_MICROSECOND = timedelta(microseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS_PER_US = 1e-6
_HOUR_US = 3_600_000_000
_DAY_US = 86_400_000_000
_WEEK_US = 7 * _DAY_US
# 1970-01-01 was a Thursday (Monday = 0).
_EPOCH_WEEKDAY = 3


def epoch_microseconds(at: datetime) -> int:
    """Whole microseconds since 1970-01-01 UTC: exact, unlike ``datetime.timestamp()``."""
    return (at - EPOCH) // ONE_MICROSECOND


@dataclass(frozen=True)
class KeyColumn:
    """A text column as codes into ``keys`` (severity, service, detection method)."""

    codes: np.ndarray  # int32, one per incident
    keys: tuple[str, ...]

    def present(self) -> list[str]:
        counts = np.bincount(self.codes, minlength=len(self.keys))
        return [key for key, count in zip(self.keys, counts, strict=True) if count]

    def mask(self, key: str) -> np.ndarray:
        if key not in self.keys:
            return np.zeros(len(self.codes), dtype=bool)
        matches: np.ndarray = self.codes == self.keys.index(key)
        return matches


# A stamp that is not there, in int64 epoch microseconds: NumPy's NaT, which a datetime64 column
# of text with None in it becomes.
MISSING_US = np.iinfo(np.int64).min

# The columns of one restored incident, for ``from_rows``: id, severity, service (None: no
# service), detection method, deploy linked (None: no deploy data), then the five stamps as epoch
# microseconds with a missing diagnosed/mitigated stamp already replaced by the next present one
# (the implied stamp, as the buttons set it), then the moments measured apart from the phases
# (MILESTONES: the acknowledgement, the assembly, the commander; None where it never came).
RestoredRow = tuple[int, str, "str | None", str, "bool | None", int, int, int, int, int, "int | None", "int | None", "int | None"]

# What is measured from detection apart from the four phases, in the order of their columns.
MILESTONES = ("acknowledged", "assembled", "command_taken")
_STAMP_COLUMNS = 5 + len(MILESTONES)


@dataclass(frozen=True, eq=False)
class RestoredIncidents:
    """Restored incidents as columns, ordered by (started_at, id).

    Phase durations are whole microseconds: phase_us[i] = (detect, diagnose, mitigate, verify)
    of incident i, adding up to its time to restore (verified - started), exactly.
    """

    ids: np.ndarray  # int64
    started_us: np.ndarray  # int64, epoch microseconds
    phase_us: np.ndarray  # int64, shape (n, 4)
    # Time to acknowledge, max(acknowledged - detected, 0), where ``acknowledged``: kept apart from
    # the phases (taking an incident on is not a step of restoring it). Likewise time to assemble
    # and time to command (MILESTONES), one column each.
    since_detected_us: np.ndarray  # int64, shape (n, len(MILESTONES)), 0 where the moment never came
    reached: np.ndarray  # bool, shape (n, len(MILESTONES))
    severity: KeyColumn
    service: KeyColumn  # NO_SERVICE for incidents without one
    detection_method: KeyColumn
    deploy: np.ndarray  # int8: 1 linked to a deploy, 0 not, -1 no deploy data

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def ack_us(self) -> np.ndarray:
        return self.milestone_us("acknowledged")

    @property
    def acknowledged(self) -> np.ndarray:
        return self.milestone_reached("acknowledged")

    def milestone_us(self, name: str) -> np.ndarray:
        column: np.ndarray = self.since_detected_us[:, MILESTONES.index(name)]
        return column

    def milestone_reached(self, name: str) -> np.ndarray:
        column: np.ndarray = self.reached[:, MILESTONES.index(name)]
        return column

    @cached_property
    def restore_us(self) -> np.ndarray:
        """verified - started: the four phases added up, computed once."""
        total: np.ndarray = self.phase_us.sum(axis=1)
        return total

    @classmethod
    def from_rows(cls, rows: Iterable[RestoredRow]) -> RestoredIncidents:
        """Build from query rows (see RestoredRow); refuses stamps that go backwards."""
        chunks = RestoredChunks()
        listed = list(rows)
        if listed:
            ids, severity, service, method, deploy, *stamps = zip(*listed, strict=True)
            stamps_us = np.asarray([[MISSING_US if t is None else t for t in row] for row in zip(*stamps, strict=True)], dtype=np.int64)
            chunks.add(ids, severity, service, method, deploy_codes(deploy), stamps_us)
        return chunks.finish()

    @classmethod
    def from_facts(cls, incidents: Iterable[IncidentFacts]) -> RestoredIncidents:
        rows: list[RestoredRow] = []
        for incident in incidents:
            if incident.verified_at is None:
                raise ValueError(f"incident {incident.id} is not restored")
            # Restored, so every phase has its end (a missing stamp takes the next one's time).
            detected, diagnosed, mitigated, verified = (epoch_microseconds(end) for end in incident._phase_ends() if end is not None)
            rows.append(
                (
                    incident.id,
                    incident.severity,
                    incident.service,
                    incident.detection_method,
                    incident.deploy_linked,
                    epoch_microseconds(incident.started_at),
                    detected,
                    diagnosed,
                    mitigated,
                    verified,
                    *_optional_us(incident.milestones()),
                )
            )
        return cls.from_rows(rows)

    def subset(self, mask: np.ndarray) -> RestoredIncidents:
        def keep(column: KeyColumn) -> KeyColumn:
            return KeyColumn(column.codes[mask], column.keys)

        return RestoredIncidents(
            ids=self.ids[mask],
            started_us=self.started_us[mask],
            phase_us=self.phase_us[mask],
            since_detected_us=self.since_detected_us[mask],
            reached=self.reached[mask],
            severity=keep(self.severity),
            service=keep(self.service),
            detection_method=keep(self.detection_method),
            deploy=self.deploy[mask],
        )

    def started_between(self, since: datetime, until: datetime) -> np.ndarray:
        return (self.started_us >= epoch_microseconds(since)) & (self.started_us < epoch_microseconds(until))


# deploy_found as stored (None: no deploy data) -> RestoredIncidents.deploy
_DEPLOY_CODES = {None: -1, False: 0, True: 1}


def _optional_us(moments: tuple[datetime | None, datetime | None, datetime | None]) -> tuple[int | None, int | None, int | None]:
    first, second, third = (None if at is None else epoch_microseconds(at) for at in moments)
    return first, second, third


def deploy_codes(deploy: Sequence[bool | None]) -> np.ndarray:
    """deploy_found values as RestoredIncidents.deploy codes: 1 linked, 0 not, -1 no deploy data."""
    return np.fromiter(map(_DEPLOY_CODES.__getitem__, deploy), dtype=np.int8, count=len(deploy))


class RestoredChunks:
    """Collects a query's columns a batch at a time into arrays, so that no more than one batch of
    Python row objects is alive at once; ``finish`` joins them into RestoredIncidents."""

    def __init__(self) -> None:
        # Per batch, already reduced to what RestoredIncidents keeps: the five stamps become the
        # start and four phase durations as soon as they arrive.
        self._parts: dict[str, list[np.ndarray]] = {
            name: [] for name in ("ids", "started", "phases", "since_detected", "reached", "deploy", "severity", "service", "method")
        }
        self._keys: list[dict[str | None, int]] = [{}, {}, {}]  # severity, service, detection method

    def add(
        self,
        ids: Sequence[int] | np.ndarray,
        severity: Sequence[str],
        service: Sequence[str | None],
        method: Sequence[str],
        deploy: np.ndarray,
        stamps_us: np.ndarray,
    ) -> None:
        """One batch: ``deploy`` as ``deploy_codes`` gives it; ``stamps_us`` is int64 (n, 8), the
        five stamps of RestoredRow and the MILESTONES, MISSING_US where one never came."""
        if not len(ids):
            return
        if stamps_us.shape != (len(ids), _STAMP_COLUMNS) or (stamps_us[:, :5] == MISSING_US).any():
            raise ValueError("a restored incident needs its five stamps")
        batch_ids = np.asarray(ids, dtype=np.int64)
        phases = np.diff(stamps_us[:, :5], axis=1)
        backwards = np.nonzero(phases < 0)
        if len(backwards[0]):
            row, phase = int(backwards[0][0]), int(backwards[1][0])
            names = ("started_at", "detected_at", "diagnosed_at", "mitigated_at", "verified_at")
            raise ValueError(f"incident {int(batch_ids[row])}: {names[phase + 1]} is earlier than {names[phase]}")
        milestones = stamps_us[:, 5:]
        reached = milestones != MISSING_US
        parts = self._parts
        parts["ids"].append(batch_ids)
        parts["started"].append(stamps_us[:, 0].copy())
        parts["phases"].append(phases)
        parts["since_detected"].append(np.where(reached, np.maximum(milestones - stamps_us[:, 1:2], 0), 0))
        parts["reached"].append(reached)
        if deploy.shape != (len(ids),) or not np.isin(deploy, (-1, 0, 1)).all():
            raise ValueError("deploy codes are -1, 0 or 1, one per incident")
        parts["deploy"].append(deploy.astype(np.int8, copy=False))
        for name, keys, column in zip(("severity", "service", "method"), self._keys, (severity, service, method), strict=True):
            try:
                codes = np.fromiter(map(keys.__getitem__, column), dtype=np.int32, count=len(column))
            except KeyError:
                # A value no earlier batch held (after the first batch, rarely): the set of the
                # batch's values is built only then.
                for value in set(column) - keys.keys():
                    keys[value] = len(keys)
                codes = np.fromiter(map(keys.__getitem__, column), dtype=np.int32, count=len(column))
            parts[name].append(codes)

    def finish(self) -> RestoredIncidents:
        empty = {
            "ids": np.empty(0, dtype=np.int64),
            "started": np.empty(0, dtype=np.int64),
            "phases": np.empty((0, 4), dtype=np.int64),
            "since_detected": np.empty((0, len(MILESTONES)), dtype=np.int64),
            "reached": np.empty((0, len(MILESTONES)), dtype=bool),
            "deploy": np.empty(0, dtype=np.int8),
            "severity": np.empty(0, dtype=np.int32),
            "service": np.empty(0, dtype=np.int32),
            "method": np.empty(0, dtype=np.int32),
        }
        # Each batch list is freed as soon as it is joined, and every copy as soon as it is read:
        # the peak of a report over 100,000 incidents is here.
        ids = np.concatenate(self._parts["ids"]) if self._parts["ids"] else empty["ids"]
        self._parts["ids"].clear()
        started = np.concatenate(self._parts["started"]) if self._parts["started"] else empty["started"]
        self._parts["started"].clear()
        increasing_ids = bool((ids[1:] > ids[:-1]).all())
        order: np.ndarray | None = None
        if increasing_ids and bool((started[1:] >= started[:-1]).all()):
            # Read by ranges of ids from a table written as incidents came (the usual history):
            # ids rising, so none twice, and starts never falling, so already by start and then
            # by id. Two comparisons instead of three sorts and a copy of every column in order
            # (100,000 incidents: about 20 ms and a second copy of the columns).
            started_in_order, ids_in_order = started, ids
        else:
            if not increasing_ids:
                by_id = np.sort(ids)
                if (by_id[1:] == by_id[:-1]).any():  # a sort: NumPy's hashing np.unique is slower on int64
                    raise ValueError(f"incident {_first_repeated(ids.tolist())} appears twice")
                del by_id
            order = np.argsort(started)
            started_in_order = started[order]
            tied = started_in_order[1:] == started_in_order[:-1]
            if tied.any():
                # Incidents that started at the same microsecond go by id: only those are sorted
                # again, by start and id (a few hundred of 100,000 seeded ones: well under a
                # millisecond, against 6 ms for sorting every incident by both).
                in_a_tie = np.zeros(len(order), dtype=bool)
                in_a_tie[:-1] |= tied
                in_a_tie[1:] |= tied
                at = np.flatnonzero(in_a_tie)
                tied_order = order[at]
                order[at] = tied_order[np.lexsort((ids[tied_order], started_in_order[at]))]
            ids_in_order = ids[order]
        del ids, started  # in order from here on: no more alive at once than before

        def column(name: str) -> np.ndarray:
            # Joined and put in order one column at a time, each batch list freed as it goes.
            parts = self._parts[name]
            joined = np.concatenate(parts) if parts else empty[name]
            parts.clear()
            return joined if order is None else joined[order]

        severity, service, method = (
            KeyColumn(column(name), tuple(NO_SERVICE if k is None else k for k in keys))
            for name, keys in zip(("severity", "service", "method"), self._keys, strict=True)
        )
        return RestoredIncidents(
            ids=ids_in_order,
            started_us=started_in_order,
            phase_us=column("phases"),
            since_detected_us=column("since_detected"),
            reached=column("reached"),
            severity=severity,
            service=service,
            detection_method=method,
            deploy=column("deploy"),
        )


def local_microseconds(started_us: np.ndarray, zone: tzinfo) -> np.ndarray:
    """Epoch microseconds read as wall-clock time in ``zone`` (UTC offset added). The zone's offset is
    looked up at the start of each day that holds a start and of the day after it; where the two
    differ (the offset changes that day), at the start of each hour of it and of the hour after;
    where those differ (the offset changes inside that hour), for each start in it on its own."""
    if len(started_us) == 0:
        return np.zeros(0, dtype=np.int64)

    def offset_us(at: datetime) -> int:
        return (at.astimezone(zone).utcoffset() or timedelta(0)) // ONE_MICROSECOND

    def by_step(starts_us: np.ndarray, step_us: int, within: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        # The offset at the start of each step (a day, an hour) holding a start and of the next;
        # where the two agree, every start in the step has it; elsewhere ``within`` looks closer.
        steps, inverse = np.unique(starts_us // step_us, return_inverse=True)
        # A set, not np.union1d: that imports numpy.ma, 10 ms of the first report a process makes.
        listed = steps.tolist()
        at_step = {k: offset_us(EPOCH + timedelta(microseconds=k * step_us)) for k in {*listed, *(k + 1 for k in listed)}}
        offsets = np.asarray([at_step[k] for k in listed], dtype=np.int64)
        steady = np.asarray([at_step[k] == at_step[k + 1] for k in listed], dtype=bool)
        local: np.ndarray = starts_us + offsets[inverse]
        changing = ~steady[inverse]
        if changing.any():
            local[changing] = within(starts_us[changing])
        return local

    def one_by_one(starts_us: np.ndarray) -> np.ndarray:
        return np.asarray([int(t) + offset_us(EPOCH + timedelta(microseconds=int(t))) for t in starts_us.tolist()], dtype=np.int64)

    # Days first (a year of starts holds a few hundred), then the hours of a day whose offset
    # changes (a few a year), then each start of an hour whose offset changes: a year of
    # 100,000 starts costs some 700 look-ups instead of one per hour holding a start (~17,000).
    return by_step(started_us, _DAY_US, lambda in_day: by_step(in_day, _HOUR_US, one_by_one))


def local_weekday_and_hour(started_us: np.ndarray, zone: tzinfo) -> tuple[np.ndarray, np.ndarray]:
    """Each start's weekday (Monday = 0) and hour of day (0-23), read in ``zone``."""
    local_us = local_microseconds(started_us, zone)
    days: np.ndarray = local_us // _DAY_US
    weekday: np.ndarray = (days + _EPOCH_WEEKDAY) % 7
    hour: np.ndarray = (local_us - days * _DAY_US) // _HOUR_US
    return weekday, hour


def sorted_figure(sorted_seconds: np.ndarray, min_count: int, confidence: float = DEFAULT_CONFIDENCE) -> Figure:
    """``figure`` of values already sorted (float64 seconds)."""
    _check_sorted(sorted_seconds)
    return _figure_of_sorted(sorted_seconds, min_count, confidence)


def _business_hours(started_us: np.ndarray, settings: ReportSettings) -> np.ndarray:
    """``in_business_hours`` for every start at once."""
    if len(started_us) == 0:
        return np.zeros(0, dtype=bool)
    local_us = local_microseconds(started_us, settings.time_zone)
    days = local_us // _DAY_US
    weekday = (days + _EPOCH_WEEKDAY) % 7
    time_of_day = local_us - days * _DAY_US

    def of_day(at: time) -> int:
        return ((at.hour * 60 + at.minute) * 60 + at.second) * 1_000_000 + at.microsecond

    business: np.ndarray = (
        np.isin(weekday, sorted(settings.business_days))
        & (time_of_day >= of_day(settings.business_start))
        & (time_of_day < of_day(settings.business_end))
    )
    return business


@dataclass(frozen=True)
class Measures:
    """The same set of figures for any group of restored incidents (a window or a segment).

    phase_share[p]  = Σ durations of p / Σ times to restore   (None when that sum is 0)
    slowest_phase   = the phase with the largest Σ durations (earlier on a tie; None if no time)
    """

    count: int
    enough: bool  # count ≥ min_count: read slowest phase and shares only when True
    time_to_restore: Figure
    phases: Mapping[Phase, Figure]
    phase_total_seconds: Mapping[Phase, float]
    total_restore_seconds: float
    phase_share: Mapping[Phase, float | None]
    slowest_phase: Phase | None


def measures(incidents: Sequence[IncidentFacts], settings: ReportSettings) -> Measures:
    """Figures over restored incidents (open ones are refused: they have no time to restore)."""
    return _measures(RestoredIncidents.from_facts(incidents).phase_us, settings)


def _exact_sum(values: np.ndarray) -> int:
    """Σ of int64 microseconds as a Python int: NumPy's int64 sum wraps silently past 2⁶³."""
    if len(values) == 0:
        return 0
    if int(np.abs(values).max()) * len(values) < 2**63:
        return int(values.sum())
    return sum(values.tolist())


def _seconds_figure(microseconds: np.ndarray, settings: ReportSettings) -> Figure:
    # Whole microseconds / 10⁶, correctly rounded: the same float as timedelta.total_seconds().
    return _figure_of_sorted(np.sort(microseconds) / 1_000_000, settings.min_count, settings.confidence)


def grouped_measures(
    phase_us: np.ndarray, segments: Sequence[tuple[str, KeyColumn, Sequence[str]]], settings: ReportSettings
) -> dict[GroupKey, Measures]:
    """``Measures`` of all the restored incidents (key ("overall", "")) and of each group of each
    segment (segment name, its column, the keys to measure, in order) in one pass per duration:
    each duration (the time to restore, then the four phases) is sorted once; a stable sort of the
    segment's codes in that order then lays every group's values out side by side, still sorted,
    so a segment costs a counting sort, not a sort per group. One duration's order is alive at a
    time; a figure added to every group reads the same sorted column."""
    keys: list[GroupKey] = [("overall", "")] + [(name, key) for name, _, wanted in segments for key in wanted]
    figures: dict[GroupKey, list[Figure]] = {key: [] for key in keys}
    # int16 codes: NumPy's stable sort of 16-bit integers is a radix sort.
    codes = [(name, column.codes.astype(np.int16), column.keys, wanted) for name, column, wanted in segments]
    for values in (phase_us.sum(axis=1), *phase_us.T):
        # Whole microseconds / 10⁶, correctly rounded (as _seconds_figure): dividing keeps the order.
        order = np.argsort(values)
        sorted_seconds = values[order] / 1_000_000
        figures["overall", ""].append(_figure_of_sorted(sorted_seconds, settings.min_count, settings.confidence))
        for name, segment_codes, column_keys, wanted in codes:
            in_order = segment_codes[order]
            by_group = sorted_seconds[np.argsort(in_order, kind="stable")]
            ends = np.cumsum(np.bincount(in_order, minlength=len(column_keys)))
            for key in wanted:
                if key in column_keys:
                    code = column_keys.index(key)
                    selected = by_group[(ends[code - 1] if code else 0) : ends[code]]
                else:
                    selected = by_group[:0]
                figures[name, key].append(_figure_of_sorted(selected, settings.min_count, settings.confidence))
    totals = {("overall", ""): [_exact_sum(column) for column in phase_us.T]}
    summing = _PhaseSums.of(phase_us)
    for name, column, wanted in segments:
        by_key = _phase_totals_by_key(phase_us, column, summing)
        totals |= {(name, key): by_key[key] if key in by_key else [0, 0, 0, 0] for key in wanted}
    return {key: _measures_from(figures[key][0].count, totals[key], figures[key].__getitem__, settings) for key in keys}


@dataclass(frozen=True)
class _PhaseSums:
    """What every segment's phase totals start from, worked out once for all of them: a bound on
    any sum of the phases' microseconds, and (below 2⁵³) each phase as the float64 column that
    weighted counts read (NumPy converts a strided int64 column on every call otherwise)."""

    bound: int
    as_floats: tuple[np.ndarray, ...]

    @classmethod
    def of(cls, phase_us: np.ndarray) -> _PhaseSums:
        bound = int(np.abs(phase_us).max()) * len(phase_us) if len(phase_us) else 0
        floats = tuple(np.ascontiguousarray(phase, dtype=np.float64) for phase in phase_us.T) if bound < 2**53 else ()
        return cls(bound, floats)


def _phase_totals_by_key(phase_us: np.ndarray, column: KeyColumn, summing: _PhaseSums) -> dict[str, list[int]]:
    """Σ of each phase's microseconds over the incidents of each key of ``column``, exactly: by
    weighted counts while no sum can reach 2⁵³ (float64 then holds every partial sum exactly),
    else in one pass over the rows laid out by key (int64 sums, exact while no sum can reach 2⁶³),
    else by ``_exact_sum`` of each key's rows. ``summing``: ``_PhaseSums.of(phase_us)``, worked
    out once for every column summed over the same phases."""
    if not len(phase_us):
        return {}
    bound = summing.bound
    if bound >= 2**63:
        return {key: [_exact_sum(c) for c in phase_us[column.mask(key)].T] for key in column.present()}
    counts = np.bincount(column.codes, minlength=len(column.keys))
    present = np.flatnonzero(counts)
    if bound < 2**53:
        # A tenth of the time of laying the rows out by key (100,000 incidents: about 1 ms a segment).
        weighted = [np.bincount(column.codes, weights=phase, minlength=len(column.keys))[present] for phase in summing.as_floats]
        sums = np.stack(weighted, axis=1).astype(np.int64)
    else:
        codes = column.codes.astype(np.int16)
        starts = np.cumsum(counts) - counts
        sums = np.add.reduceat(phase_us[np.argsort(codes, kind="stable")], starts[present], axis=0)
    by_key: dict[str, list[int]] = {}
    for code, row in zip(present.tolist(), sums.tolist(), strict=True):
        by_key.setdefault(column.keys[code], row)  # a key named twice is its first code's, as KeyColumn.mask reads it
    return by_key


def _measures(phase_us: np.ndarray, settings: ReportSettings) -> Measures:
    """Measures of restored incidents given as their (n, 4) phase durations in microseconds."""

    def figure_of(which: int) -> Figure:
        return _seconds_figure(phase_us.sum(axis=1) if which == 0 else phase_us[:, which - 1], settings)

    return _measures_from(len(phase_us), [_exact_sum(column) for column in phase_us.T], figure_of, settings)


def _measures_from(n: int, totals: Sequence[int], figure_of: Callable[[int], Figure], settings: ReportSettings) -> Measures:
    """``n`` incidents whose phases add up to ``totals`` microseconds (in PHASES' order);
    ``figure_of(0)`` is the time to restore's figure, ``figure_of(k)`` phase k's (1-4)."""
    total = sum(totals)
    phase_totals = dict(zip(PHASES, totals, strict=True))
    positive = total > 0
    return Measures(
        count=n,
        enough=n >= settings.min_count,
        time_to_restore=figure_of(0),
        phases={p: figure_of(k + 1) for k, p in enumerate(PHASES)},
        phase_total_seconds={p: phase_totals[p] / 1_000_000 for p in PHASES},
        total_restore_seconds=total / 1_000_000,
        # int / int is correctly rounded: exact up to the final rounding.
        phase_share={p: (phase_totals[p] / total if positive else None) for p in PHASES},
        slowest_phase=(max(PHASES, key=lambda p: (phase_totals[p], -PHASES.index(p))) if positive else None),
    )


@dataclass(frozen=True)
class OpenIncident:
    """An incident with no verified stamp: not in any figure, listed so it is never lost."""

    id: int
    severity: str
    service: str | None
    detection_method: str
    started_at: datetime
    age: timedelta  # now - started_at
    current_phase: Phase
    private: bool = False  # listed by its number only: outsiders learn nothing else


def open_incidents_of(unrestored: Sequence[IncidentFacts], *, until: datetime, now: datetime) -> tuple[OpenIncident, ...]:
    """The incidents still open that started before ``until``, oldest first, with their age at ``now``."""
    return tuple(
        record_from_columns(OpenIncident, i, age=now - i.started_at, current_phase=i.current_phase or Phase.VERIFY)
        for i in sorted(unrestored, key=lambda i: (i.started_at, i.id))
        if i.started_at < until
    )


@dataclass(frozen=True)
class Share:
    count: int
    total: int
    fraction: float | None  # count / total; None when total is 0


def _share(count: int, total: int) -> Share:
    return Share(count=count, total=total, fraction=count / total if total else None)


@dataclass(frozen=True)
class LongestIncident:
    """The single longest restored incident: its share of Σ times to restore (None if that is 0)."""

    id: int
    time_to_restore: float  # seconds
    share: float | None
    private: bool = False  # a private incident's figures are not shown (bot/analytics/reports.py sets it)


@dataclass(frozen=True)
class TierCounts:
    """Counted incidents per band. Severity-target bands are read in each incident's own table
    and pooled by band name; ``severity_target_by_severity`` keeps them apart. An incident whose
    severity has no target table counts under NO_TARGET."""

    dora_year: int
    dora: Mapping[str, int]
    severity_target: Mapping[str, int]
    severity_target_by_severity: Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class Recovery:
    """Time to restore over all counted incidents beside failed deployment recovery time
    (the same measure over incidents linked to a deploy). With no deploy data at all
    (every deploy_linked is None) the second is None and ``no_deploy_data`` is True rather
    than a figure of zero incidents."""

    time_to_restore: Figure
    failed_deployment_recovery: Figure | None
    no_deploy_data: bool
    deploy_linked: int
    not_deploy_linked: int
    deploy_unknown: int


@dataclass(frozen=True)
class Segments:
    """Measures per key. Known keys are always present (empty ones with count 0, not enough):
    every severity in the tier tables, every detection method, both business-hours keys."""

    severity: Mapping[str, Measures]
    service: Mapping[str, Measures]  # NO_SERVICE for incidents without one
    detection_method: Mapping[str, Measures]
    business_hours: Mapping[str, Measures]  # BUSINESS_HOURS / OUT_OF_HOURS, by started_at


@dataclass(frozen=True)
class WindowReport:
    """What [since, until) says.

    Counted: restored incidents with since ≤ started_at < until (restored by the time the
    facts were read, even if after ``until``). Open incidents started before ``until`` (at any
    time, even before ``since``) are listed apart with their age and counted in no figure.
    The customer-reported shares are over every incident started in the window, open or not:
    how an incident was detected is known as soon as it is opened.
    """

    since: datetime
    until: datetime
    now: datetime
    settings: ReportSettings
    incident_ids: tuple[int, ...]  # counted, by started_at
    open_incidents: tuple[OpenIncident, ...]  # oldest first
    overall: Measures
    segments: Segments
    customer_reported: Share
    p1_customer_reported: Share
    p1_customer_warning: bool  # more than 20% of P1s customer-reported
    longest: LongestIncident | None
    tiers: TierCounts
    recovery: Recovery
    time_to_acknowledge: Figure  # over the counted incidents someone acknowledged
    acknowledged: Share  # of the counted incidents
    time_to_assemble: Figure  # over the counted incidents a second person joined
    assembled: Share  # of the counted incidents
    time_to_command: Figure  # over the counted incidents that had a person in command
    command_taken: Share  # of the counted incidents

    @property
    def count(self) -> int:
        return self.overall.count

    @property
    def time_to_restore(self) -> Figure:
        return self.overall.time_to_restore

    @property
    def phases(self) -> Mapping[Phase, Figure]:
        return self.overall.phases

    @property
    def phase_share(self) -> Mapping[Phase, float | None]:
        return self.overall.phase_share

    @property
    def slowest_phase(self) -> Phase | None:
        return self.overall.slowest_phase

    @property
    def by_severity(self) -> Mapping[str, Measures]:
        return self.segments.severity

    @property
    def slowest_phase_by_severity(self) -> dict[str, Phase | None]:
        return {severity: m.slowest_phase for severity, m in self.segments.severity.items()}


def _ordered_keys(present: Iterable[str], known: Sequence[str], last: Sequence[str] = ()) -> list[str]:
    """Known keys in their order, then the others sorted, then ``last`` ones if present."""
    present_set = set(present)
    extra = sorted(present_set - set(known) - set(last))
    return [*known, *extra, *[k for k in last if k in present_set]]


def _first_repeated(values: Iterable[int]) -> int:
    seen: set[int] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    raise ValueError("no value repeats")


def _band_counts(table: TierTable, restore_us: np.ndarray) -> dict[str, int]:
    """How many times fall in each band; a band's bound is exclusive (``TierTable.tier``)."""
    bounds = np.asarray([band.under // ONE_MICROSECOND for band in table.bands[:-1] if band.under is not None], dtype=np.int64)
    counts = np.bincount(np.searchsorted(bounds, restore_us, side="right"), minlength=len(table.bands))
    return {band.name: int(count) for band, count in zip(table.bands, counts, strict=True)}


def _tier_counts(restored: RestoredIncidents, tiers: TierTables) -> TierCounts:
    restore_us = restored.restore_us
    by_severity: dict[str, dict[str, int]] = {}
    pooled: dict[str, int] = {}
    for table in tiers.severity.values():
        for band in table.bands:
            pooled.setdefault(band.name, 0)
    targeted = np.zeros(len(restored), dtype=bool)
    for severity, table in tiers.severity.items():
        mask = restored.severity.mask(severity)
        targeted |= mask
        by_severity[severity] = _band_counts(table, restore_us[mask])
        for name, count in by_severity[severity].items():
            pooled[name] += count
    untargeted = int(np.count_nonzero(~targeted))
    if untargeted:
        pooled[NO_TARGET] = untargeted
    return TierCounts(
        dora_year=tiers.dora_year,
        dora=_band_counts(tiers.dora, restore_us),
        severity_target=pooled,
        severity_target_by_severity=by_severity,
    )


def _check_ids(incidents: Sequence[IncidentFacts]) -> None:
    seen: set[int] = set()
    for incident in incidents:
        if incident.id in seen:
            raise ValueError(f"incident {incident.id} appears twice")
        seen.add(incident.id)


def _check_window(since: datetime, until: datetime, now: datetime) -> None:
    for name, at in (("since", since), ("until", until), ("now", now)):
        _aware(at, name)
    if not since < until:
        raise ValueError("since must be before until")


def build_report(
    incidents: Sequence[IncidentFacts],
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    tiers: TierTables,
    settings: ReportSettings = ReportSettings(),
) -> WindowReport:
    """The window report for [since, until): see ``WindowReport`` for who counts where."""
    _check_window(since, until, now)
    _check_ids(incidents)
    restored = RestoredIncidents.from_facts(i for i in incidents if i.restored and since <= i.started_at < until)
    unrestored = [i for i in incidents if not i.restored]
    return report_from_columns(restored, unrestored, since=since, until=until, now=now, tiers=tiers, settings=settings)


def report_from_columns(
    restored: RestoredIncidents,
    unrestored: Sequence[IncidentFacts],
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    tiers: TierTables,
    settings: ReportSettings = ReportSettings(),
) -> WindowReport:
    """``build_report`` from columns: ``restored`` holds the restored incidents (those started
    outside [since, until) are left out here), ``unrestored`` the incidents still open."""
    _check_window(since, until, now)
    if any(i.restored for i in unrestored):
        raise ValueError("unrestored incidents must have no verified stamp")
    in_range = restored.started_between(since, until)
    if not in_range.all():
        restored = restored.subset(in_range)
    by_start = sorted(unrestored, key=lambda i: (i.started_at, i.id))
    open_in_window = [i for i in by_start if since <= i.started_at < until]
    open_incidents = open_incidents_of(by_start, until=until, now=now)

    severity_keys = _ordered_keys(restored.severity.present(), [*tiers.severity] or list(SEVERITIES))
    service_keys = _ordered_keys(restored.service.present(), (), last=(NO_SERVICE,))
    method_keys = _ordered_keys(restored.detection_method.present(), DETECTION_METHODS)
    business = _business_hours(restored.started_us, settings)
    business_column = KeyColumn(business.astype(np.int32), (OUT_OF_HOURS, BUSINESS_HOURS))
    measured = grouped_measures(
        restored.phase_us,
        [
            ("severity", restored.severity, severity_keys),
            ("service", restored.service, service_keys),
            ("detection_method", restored.detection_method, method_keys),
            ("business_hours", business_column, (BUSINESS_HOURS, OUT_OF_HOURS)),
        ],
        settings,
    )

    def segment(name: str) -> dict[str, Measures]:
        return {key: measures for (group, key), measures in measured.items() if group == name}

    segments = Segments(
        severity=segment("severity"),
        service=segment("service"),
        detection_method=segment("detection_method"),
        business_hours=segment("business_hours"),
    )

    customer = restored.detection_method.mask(CUSTOMER_REPORT)
    p1 = restored.severity.mask("P1")
    open_p1s = [i for i in open_in_window if i.severity == "P1"]
    p1_total = int(np.count_nonzero(p1)) + len(open_p1s)
    p1_customer = int(np.count_nonzero(p1 & customer)) + sum(i.detection_method == CUSTOMER_REPORT for i in open_p1s)
    customer_total = int(np.count_nonzero(customer)) + sum(i.detection_method == CUSTOMER_REPORT for i in open_in_window)

    restore_us = restored.restore_us
    longest: LongestIncident | None = None
    if len(restored):
        # argmax keeps the first of equals: on a tie, the earliest started.
        top = int(np.argmax(restore_us))
        total = _exact_sum(restore_us)
        longest = LongestIncident(
            id=int(restored.ids[top]),
            time_to_restore=int(restore_us[top]) / 1_000_000,
            share=int(restore_us[top]) / total if total > 0 else None,
        )

    overall = measured["overall", ""]
    linked = restored.deploy == 1
    no_deploy_data = bool(np.all(restored.deploy == -1))
    recovery = Recovery(
        time_to_restore=overall.time_to_restore,
        failed_deployment_recovery=None if no_deploy_data else _seconds_figure(restore_us[linked], settings),
        no_deploy_data=no_deploy_data,
        deploy_linked=int(np.count_nonzero(linked)),
        not_deploy_linked=int(np.count_nonzero(restored.deploy == 0)),
        deploy_unknown=int(np.count_nonzero(restored.deploy == -1)),
    )

    in_window = len(restored) + len(open_in_window)
    return WindowReport(
        since=since,
        until=until,
        now=now,
        settings=settings,
        incident_ids=tuple(restored.ids.tolist()),
        open_incidents=open_incidents,
        overall=overall,
        segments=segments,
        customer_reported=_share(customer_total, in_window),
        p1_customer_reported=_share(p1_customer, p1_total),
        p1_customer_warning=bool(p1_total) and Fraction(p1_customer, p1_total) > P1_CUSTOMER_WARNING_ABOVE,
        longest=longest,
        tiers=_tier_counts(restored, tiers),
        recovery=recovery,
        time_to_acknowledge=_seconds_figure(restored.ack_us[restored.acknowledged], settings),
        acknowledged=_share(int(np.count_nonzero(restored.acknowledged)), len(restored)),
        time_to_assemble=_milestone_figure(restored, "assembled", settings),
        assembled=_share(int(np.count_nonzero(restored.milestone_reached("assembled"))), len(restored)),
        time_to_command=_milestone_figure(restored, "command_taken", settings),
        command_taken=_share(int(np.count_nonzero(restored.milestone_reached("command_taken"))), len(restored)),
    )


def _milestone_figure(restored: RestoredIncidents, name: str, settings: ReportSettings) -> Figure:
    return _seconds_figure(restored.milestone_us(name)[restored.milestone_reached(name)], settings)


# --------------------------------------------------------------------------------------------
# Weekly trend


class Verdict(StrEnum):
    BETTER = "better"
    WORSE = "worse"
    NO_CLEAR_CHANGE = "no clear change"


class VerdictReason(StrEnum):
    TOO_FEW = "too few incidents"  # a week below min_count
    NO_INTERVAL = "no median interval"  # enough for min_count but too few for an interval
    OVERLAP = "intervals overlap"
    SEPARATE = "intervals do not overlap"


def judge(previous: tuple[float, float], current: tuple[float, float]) -> Verdict:
    """Median intervals of two periods: BETTER when the current one lies wholly below the previous
    one (faster restores), WORSE when wholly above, otherwise NO_CLEAR_CHANGE."""
    if intervals_overlap(previous, current):
        return Verdict.NO_CLEAR_CHANGE
    return Verdict.BETTER if current[1] < previous[0] else Verdict.WORSE


@dataclass(frozen=True)
class WeekFigure:
    """One ISO week [start, end), Monday 00:00 UTC; restored incidents by started_at."""

    start: datetime
    end: datetime
    iso_year: int
    iso_week: int
    count: int
    median: float | None  # seconds
    median_ci: tuple[float, float] | None
    median_ci_coverage: float | None
    enough: bool  # count ≥ min_count
    open_count: int  # started this week, not restored: not in the median
    complete: bool  # the week ended by ``now``

    @property
    def label(self) -> str:
        return f"{self.iso_year}-W{self.iso_week:02d}"


@dataclass(frozen=True)
class WeekChange:
    """Week over week: BETTER/WORSE only when both weeks have count ≥ min_count and their median
    intervals exist and do not overlap; otherwise NO_CLEAR_CHANGE, with the reason."""

    previous: str  # week labels
    current: str
    verdict: Verdict
    reason: VerdictReason


def compare_weeks(previous: WeekFigure, current: WeekFigure) -> WeekChange:
    def change(verdict: Verdict, reason: VerdictReason) -> WeekChange:
        return WeekChange(previous=previous.label, current=current.label, verdict=verdict, reason=reason)

    if not (previous.enough and current.enough):
        return change(Verdict.NO_CLEAR_CHANGE, VerdictReason.TOO_FEW)
    if previous.median_ci is None or current.median_ci is None:
        return change(Verdict.NO_CLEAR_CHANGE, VerdictReason.NO_INTERVAL)
    verdict = judge(previous.median_ci, current.median_ci)
    reason = VerdictReason.OVERLAP if verdict is Verdict.NO_CLEAR_CHANGE else VerdictReason.SEPARATE
    return change(verdict, reason)


@dataclass(frozen=True)
class Trend:
    since: datetime  # Monday 00:00 UTC of the first week
    until: datetime  # end of the week containing ``now``
    weeks: tuple[WeekFigure, ...]  # oldest first
    changes: tuple[WeekChange, ...]  # one per consecutive pair
    overall: Figure  # time to restore pooled over all the weeks: its median and median interval


def week_start(at: datetime) -> datetime:
    """Monday 00:00 UTC of the ISO week containing ``at``."""
    utc = at.astimezone(UTC)
    return datetime(utc.year, utc.month, utc.day, tzinfo=UTC) - timedelta(days=utc.weekday())


def weekly_trend(
    incidents: Sequence[IncidentFacts], *, now: datetime, weeks: int = 12, settings: ReportSettings = ReportSettings()
) -> Trend:
    """The last ``weeks`` ISO weeks ending with the one containing ``now`` (which is still
    running: its incidents still open are in ``open_count``, not its median)."""
    _check_ids(incidents)
    restored = RestoredIncidents.from_facts(i for i in incidents if i.restored)
    open_starts = [i.started_at for i in incidents if not i.restored]
    return trend_from_columns(restored, open_starts, now=now, weeks=weeks, settings=settings)


def trend_from_columns(
    restored: RestoredIncidents,
    open_starts: Sequence[datetime],
    *,
    now: datetime,
    weeks: int = 12,
    settings: ReportSettings = ReportSettings(),
) -> Trend:
    """``weekly_trend`` from columns, with the start times of the incidents still open."""
    _aware(now, "now")
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    last = week_start(now)
    starts = [last - timedelta(weeks=weeks - 1 - k) for k in range(weeks)]
    since, until = starts[0], last + timedelta(weeks=1)
    in_range = restored.started_between(since, until)
    week_of = (restored.started_us[in_range] - epoch_microseconds(since)) // _WEEK_US
    restore_us = restored.restore_us[in_range]
    open_counts = [0] * weeks
    for started_at in open_starts:
        if since <= started_at < until:
            open_counts[(started_at - since) // timedelta(weeks=1)] += 1

    figures = []
    for index, (start, open_count) in enumerate(zip(starts, open_counts, strict=True)):
        values = np.sort(restore_us[week_of == index]) / 1_000_000
        dist = _summarize_sorted(values, settings.confidence)
        iso = start.isocalendar()
        figures.append(
            WeekFigure(
                start=start,
                end=start + timedelta(weeks=1),
                iso_year=iso.year,
                iso_week=iso.week,
                count=len(values),
                median=dist.median if dist else None,
                median_ci=dist.median_ci if dist else None,
                median_ci_coverage=dist.median_ci_coverage if dist else None,
                enough=len(values) >= settings.min_count,
                open_count=open_count,
                complete=start + timedelta(weeks=1) <= now,
            )
        )
    return Trend(
        since=since,
        until=until,
        weeks=tuple(figures),
        changes=tuple(compare_weeks(a, b) for a, b in pairwise(figures)),
        overall=_seconds_figure(restore_us, settings),
    )


# --------------------------------------------------------------------------------------------
# Detectable change


def detectable_change(
    restore_seconds: Sequence[float] | np.ndarray,
    *,
    per_week: int,
    seed: int = 1234,
    trials: int = 400,
    power: float = 0.8,
    settings: ReportSettings = ReportSettings(),
    grid: Sequence[float] = EFFECT_GRID,
) -> float | None:
    """The smallest relative drop in the median (0.35 = 35%) that the week-over-week rule would
    call "better" with probability ≥ power, at ``per_week`` incidents a week.

    Estimated by seeded resampling of the team's own restore times, random.Random(seed):
    ``trials`` times, draw two weeks of ``per_week`` values with replacement and take both
    median intervals (x₍ⱼ₎, x₍ₙ₊₁₋ⱼ₎). For an effect e the second week is multiplied by (1 - e),
    which scales its interval by (1 - e) (order is kept). Detected when the rule says BETTER:
    the scaled interval lies wholly below the first (a non-overlap the wrong way round is a
    false alarm, not a detection). The same resampled pairs serve every effect on the grid
    (common random numbers), so the power curve is smooth and each effect still rests on
    ``trials`` independent pairs. Returns the first effect on the grid whose detection rate
    reaches ``power``, or None when none does.

    None as well when a week of ``per_week`` could never be judged (below min_count, or below
    the smallest sample with a median interval: 6 at 95%) or when there are fewer than
    MIN_RESAMPLE restore times to resample from.
    """
    data = np.asarray(restore_seconds, dtype=np.float64)
    if data.ndim != 1:
        raise ValueError("restore times are one value per incident")
    if not (np.isfinite(data).all() and (data >= 0).all()):
        raise ValueError("restore times must be finite and non-negative")
    if trials < 1:
        raise ValueError("trials must be at least 1")
    if not 0 < power <= 1:
        raise ValueError("power must be in (0, 1]")
    if any(not 0 < e < 1 for e in grid):
        raise ValueError("effects must be between 0 and 1")
    if per_week < settings.min_count or len(data) < MIN_RESAMPLE:
        return None
    ranks = median_ranks(per_week, settings.confidence)
    if ranks is None:
        return None
    j = ranks[0]
    low_index, high_index = j - 1, per_week - j
    # Each trial's two weeks, drawn as ``random.Random(seed).choices`` draws them (see
    # _seeded_choices), one week per row; a week's interval ends are its order statistics. A first
    # week's lower end and a second week's upper end are all the rule reads: one order statistic of
    # each (800 weeks of 1,950 picks: 3 ms, against 18 ms partitioning every week at both).
    first_low, second_high = np.empty(trials), np.empty(trials)
    done = 0
    for picks in _seeded_choices(seed, len(data), rows=2 * trials, per_row=per_week):
        weeks = data[picks]
        pairs = len(weeks) // 2
        first_low[done : done + pairs] = np.partition(weeks[0::2], low_index, axis=1)[:, low_index]
        second_high[done : done + pairs] = np.partition(weeks[1::2], high_index, axis=1)[:, high_index]
        done += pairs
    needed = math.ceil(_fraction(power) * trials)
    for effect in sorted(grid):
        # judge(first, scaled second) is BETTER exactly when the scaled second week's interval ends
        # below the first one's start (then the two cannot overlap).
        detected = int(np.count_nonzero(second_high * (1 - effect) < first_low))
        if detected >= needed:
            return effect
    return None


# Rows of picks _seeded_choices hands over at a time (an even number: a trial's two weeks stay
# together). All 800 of a digest at 100,000 incidents (1,950 picks a row) were 25 MB at once,
# most of the digest's tracemalloc peak (30.8 MB); 100 rows are 3 MB.
_PICKED_ROWS_AT_A_TIME = 100


def _seeded_choices(seed: int, population: int, *, rows: int, per_row: int) -> Iterator[np.ndarray]:
    """The indices ``random.Random(seed).choices(range(population), k=...)`` picks, call after call,
    laid out ``per_row`` to a row, ``rows`` rows in all, handed over _PICKED_ROWS_AT_A_TIME rows at
    a time, without a Python call per pick.

    ``choices`` picks ``floor(random() * n)``, and ``random()`` is the Mersenne Twister's 53-bit
    double. NumPy's legacy ``RandomState`` is the same generator with the same doubles
    (``random_sample``, drawn in order however many at a time), so given ``random.Random(seed)``'s
    state it draws the same numbers.
    """
    version, internal, _ = random.Random(seed).getstate()
    generator = np.random.RandomState()
    generator.set_state(("MT19937", np.asarray(internal[:-1], dtype=np.uint32), internal[-1], 0, 0.0))  # no cached Gaussian
    for first in range(0, rows, _PICKED_ROWS_AT_A_TIME):
        drawn = generator.random_sample((min(_PICKED_ROWS_AT_A_TIME, rows - first), per_row))
        drawn *= float(population)
        # Truncation is floor here: every draw is at least 0.
        yield drawn.astype(np.intp)
