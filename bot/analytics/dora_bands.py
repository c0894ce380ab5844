"""DORA's performance levels (elite, high, medium, low) of the four keys, as each report year drew them.

Data only: the rule that reads them is in bot/analytics/dora.py (``band_of_duration``,
``band_of_rate``), documented with the figures in docs/analytics.md.

Sources:
- Accelerate State of DevOps Report 2023 (Google Cloud, DORA), chapter 1 "How do you compare?",
  the table of software delivery performance levels (18% elite, 31% high, 33% medium, 17% low).
  Summarised at https://octopus.com/blog/software-delivery-performance-clusters-2023.
- Accelerate State of DevOps Report 2024 (Google Cloud, DORA), "Software delivery performance",
  the table of performance levels (19% elite, 22% high, 35% medium, 25% low). Summarised at
  https://octopus.com/blog/2024-devops-performance-clusters; the deployment frequency, lead time and
  change fail rate rows are also in the benchmark file stored at
  https://fast.hugflare.com/spaces/rdlf/devops-metrics-interpreter/blame/main/data/benchmarks.json.

What the stored references confirm (checked 2026-12-03 against the docs and pages corpora of the
project's reference search; neither report's own PDF is among them):
- Confirmed, year not stated by the source: the deployment frequency words of every level (on
  demand; between once per day and once per week; between once per week and once per month;
  between once per month and once every six months) and the lead time words (less than one day;
  between one day and one week; between one week and one month; between one month and six
  months), in a stored copy of DORA's survey questions with the levels' answers (a capabilities
  page citing the State of DevOps Report). The same page gives the recovery words "less than one
  hour / less than one day / less than one day / between one week and one month": the pattern the
  2024 rows below carry (high and medium sharing "less than one day").
- Confirmed in part: the change failure rates elite 5% and low 64% appear in a stored secondary
  text, which attributes them to the 2024 report; here they are 2023's (2024's low is 40%). Not
  resolved from the stored material: the octopus.com summaries named above are stored only up to
  their introductions, before their tables.
- Not found in the stored material: 2023's high 10% and medium 15% change failure rates, 2024's
  high 20%, medium 10% and low 40%, 2023's recovery rows, and which year each deployment frequency
  and lead time row belongs to. A page that gives other values ("gitintel.com", elite lead time
  under one hour, rates 0-5/5-10/10-15/15-60%) names no table of either report and disagrees with
  DORA's own survey words above: not taken.

How the survey's words become bounds:
- Each level states a range ("between one day and one week", "less than one hour"). A range's upper
  end is the bound; "less than" is exclusive, "between … and X" includes X. Where two levels state
  the same range (2023's medium and low deployment frequency and lead time; 2024's high and medium
  recovery time) the better level takes it: the worse one is reached only beyond it.
- A time beyond the last stated bound is the slowest level.
- Change failure rate is one typical rate per level, not a range, and 2024's are not ordered (high
  20%, medium 10%): a measured rate takes the level whose rate is nearest, the better one on a tie.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction

LEVELS = ("elite", "high", "medium", "low")
DEFAULT_YEAR = 2024
MONTH = timedelta(days=30)  # "once per month", "one month": 30 days


@dataclass(frozen=True)
class Bound:
    """The upper end of a level's range: ``value < under`` (exclusive) or ``value <= under``."""

    level: str
    under: timedelta
    inclusive: bool
    stated: str  # the survey's words


@dataclass(frozen=True)
class YearBands:
    year: int
    label: str  # "DORA 2024 report"
    # Deployment frequency as the mean time between deploys (window / deploys).
    deploy_interval: tuple[Bound, ...]
    lead_time: tuple[Bound, ...]
    recovery: tuple[Bound, ...]  # failed deployment recovery time; also read for time to restore
    change_failure_rate: tuple[tuple[str, Fraction], ...]  # each level's typical rate
    slowest: str = "low"


def _bounds(*spec: tuple[str, timedelta, bool, str]) -> tuple[Bound, ...]:
    return tuple(Bound(level, under, inclusive, stated) for level, under, inclusive, stated in spec)


DAY, WEEK, HOUR = timedelta(days=1), timedelta(weeks=1), timedelta(hours=1)

# The elite, high and medium bounds of deployment frequency and lead time read the same in both
# reports; only their words for "low" differ (noted at each year).
_DEPLOY_INTERVAL = _bounds(
    ("elite", DAY, False, "on demand (multiple deploys per day)"),
    ("high", WEEK, True, "between once per day and once per week"),
    ("medium", MONTH, True, "between once per week and once per month"),
)
_LEAD_TIME = _bounds(
    ("elite", DAY, False, "less than one day"),
    ("high", WEEK, True, "between one day and one week"),
    ("medium", MONTH, True, "between one week and one month"),
)


def _year(year: int, recovery: tuple[Bound, ...], change_failure_rates: tuple[int, int, int, int]) -> YearBands:
    """A year's bands: deployment frequency and lead time as both reports draw them, its own
    recovery bounds and each level's typical change failure rate in percent (elite to low)."""
    return YearBands(
        year=year,
        label=f"DORA {year} report",
        deploy_interval=_DEPLOY_INTERVAL,
        lead_time=_LEAD_TIME,
        recovery=recovery,
        change_failure_rate=tuple((level, Fraction(rate, 100)) for level, rate in zip(LEVELS, change_failure_rates, strict=True)),
    )


# Deployment frequency's low: 2023 "between once per week and once per month" (medium's range:
# reached only beyond it), 2024 "between once per month and once every six months". Lead time's
# low: 2023 "between one week and one month" (medium's range), 2024 "between one month and six months".
BANDS: dict[int, YearBands] = {
    2023: _year(
        2023,
        _bounds(
            ("elite", HOUR, False, "less than one hour"),
            ("high", DAY, False, "less than one day"),
            # Exclusive, as the per-incident table (bot/core/tiers.py) has always read it: one rule.
            ("medium", WEEK, False, "between one day and one week"),
            # low: "between one month and six months"
        ),
        (5, 10, 15, 64),
    ),
    2024: _year(
        2024,
        # medium: "less than one day", high's range; low: "between one week and one month"
        _bounds(("elite", HOUR, False, "less than one hour"), ("high", DAY, False, "less than one day")),
        (5, 20, 10, 40),
    ),
}
