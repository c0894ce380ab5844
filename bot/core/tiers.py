"""Tier tables: DORA's time-to-restore bands (by survey year) and per-severity targets.

Both are data. DORA re-derives its bands from each year's survey, so each table is labelled with
its report year and a setting picks one; severity targets can be replaced in the config file.
A band's ``under`` is exclusive: a time equal to the bound belongs to the next band.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from bot.core.timefmt import human_duration

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$")


def parse_span(text: str) -> timedelta:
    """ "30m", "2h", "1d", "1w" -> timedelta."""
    match = _SPAN.match(str(text))
    if not match:
        raise ValueError(f"'{text}' is not a duration; write it like 30m, 2h, 1d or 1w")
    try:
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    except OverflowError:
        raise SpanTooLong(f"'{text}' is longer than any time span the bot can count") from None


class SpanTooLong(ValueError):
    """A well-formed duration too large to represent (``9999999999d``)."""


@dataclass(frozen=True)
class Band:
    name: str
    under: timedelta | None  # None: everything beyond the previous band


@dataclass(frozen=True)
class TierTable:
    label: str  # "DORA 2023 report" or "P1 target"
    bands: tuple[Band, ...]

    def __post_init__(self) -> None:
        bounds = [b.under for b in self.bands if b.under is not None]
        if not self.bands or self.bands[-1].under is not None:
            raise ValueError(f"{self.label}: the last band must have no upper bound")
        if any(b.under is None for b in self.bands[:-1]):
            raise ValueError(f"{self.label}: only the last band may be open-ended")
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise ValueError(f"{self.label}: band bounds must increase")

    def tier(self, duration: timedelta) -> Band:
        for band in self.bands:
            if band.under is None or duration < band.under:
                return band
        raise AssertionError("unreachable: the last band is open-ended")

    def describe(self, band: Band) -> str:
        index = self.bands.index(band)
        if band.under is not None and index == 0:
            return f"< {human_duration(band.under)}"
        lower = self.bands[index - 1].under
        assert lower is not None
        if band.under is None:
            return f"≥ {human_duration(lower)}"
        return f"{human_duration(lower)} – {human_duration(band.under)}"


def table(label: str, spec: list[tuple[str, str | None]]) -> TierTable:
    return TierTable(label, tuple(Band(name, parse_span(under) if under else None) for name, under in spec))


# From Google Cloud's "Accelerate State of DevOps Report 2023" and "2024": time to restore service
# (failed deployment recovery time). 2024's medium level states high's range ("less than one day"),
# so it is never reached on its own; its low level begins where high ends. The four keys' bands of
# both years, with their sources: bot/analytics/dora_bands.py.
DORA_BANDS: dict[int, TierTable] = {
    2023: table("DORA 2023 report", [("elite", "1h"), ("high", "1d"), ("medium", "1w"), ("low", None)]),
    2024: table("DORA 2024 report", [("elite", "1h"), ("high", "1d"), ("low", None)]),
}
DEFAULT_DORA_YEAR = 2023

SEVERITY_TARGETS: dict[str, TierTable] = {
    "P1": table("P1 target", [("elite", "30m"), ("high", "2h"), ("medium", "6h"), ("low", None)]),
    "P2": table("P2 target", [("elite", "1h"), ("high", "4h"), ("medium", "12h"), ("low", None)]),
    "P3": table("P3 target", [("elite", "4h"), ("high", "8h"), ("medium", "24h"), ("low", None)]),
    "P4": table("P4 target", [("elite", "4h"), ("high", "8h"), ("medium", "24h"), ("low", None)]),
}


@dataclass(frozen=True)
class TierTables:
    """The tables in force: the DORA year chosen by the setting and the severity targets."""

    dora: TierTable
    dora_year: int
    severity: dict[str, TierTable]

    @classmethod
    def default(cls) -> TierTables:
        return cls(dora=DORA_BANDS[DEFAULT_DORA_YEAR], dora_year=DEFAULT_DORA_YEAR, severity=dict(SEVERITY_TARGETS))


@dataclass(frozen=True)
class Tiering:
    dora: Band
    dora_range: str
    dora_year: int
    severity: Band
    severity_range: str
    severity_label: str


def classify(tables: TierTables, severity: str, time_to_restore: timedelta) -> Tiering:
    dora = tables.dora.tier(time_to_restore)
    target = tables.severity[severity]
    band = target.tier(time_to_restore)
    return Tiering(
        dora=dora,
        dora_range=tables.dora.describe(dora),
        dora_year=tables.dora_year,
        severity=band,
        severity_range=target.describe(band),
        severity_label=target.label,
    )
