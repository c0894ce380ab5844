"""Incidents from phase lengths: IncidentFacts for the statistics and digest tests, the stamp
times of incident rows that tests write straight to the database, and the digest of nothing but
a window's figures."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bot.analytics.digest import Digest, build_digest
from bot.analytics.stats import IncidentFacts, WindowReport, weekly_trend

STAMP_FIELDS = ("detected_at", "diagnosed_at", "mitigated_at", "verified_at")


def stamp_times(start: datetime, minutes: Sequence[float]) -> dict[str, datetime]:
    """When each stamp falls, by its field: impact starts at ``start`` and each of the four phases
    (detect, diagnose, mitigate, verify) lasts its minutes."""
    times, at = {}, start
    for field, length in zip(STAMP_FIELDS, minutes, strict=True):
        at = at + timedelta(minutes=length)
        times[field] = at
    return times


def facts_from_minutes(
    id: int,
    start: datetime,
    minutes: tuple[float, float, float, float],
    *,
    severity: str,
    service: str | None,
    method: str = "alert",
    deploy: bool | None = None,
    stamps: int = 4,
) -> IncidentFacts:
    """The stamps fall as ``stamp_times`` says, but only the first ``stamps`` (1 to 4) are set:
    4 is restored, 1 is only detected."""
    kept = {field: at if n < stamps else None for n, (field, at) in enumerate(stamp_times(start, minutes).items())}
    return IncidentFacts(id=id, severity=severity, service=service, detection_method=method, started_at=start, deploy_linked=deploy, **kept)


def facts_maker(*, minutes: tuple[float, float, float, float], service: str, stamps_when_open: int) -> Callable[..., IncidentFacts]:
    """A test module's ``facts_from_minutes``: its usual phase lengths and service, and how many
    stamps (1 to 3) its open incidents have; ``restored=False`` makes one open."""

    def make(
        id: int,
        start: datetime,
        minutes: tuple[float, float, float, float] = minutes,
        *,
        severity: str = "P2",
        service: str | None = service,
        method: str = "alert",
        deploy: bool | None = None,
        restored: bool = True,
    ) -> IncidentFacts:
        stamps = 4 if restored else stamps_when_open
        return facts_from_minutes(id, start, minutes, severity=severity, service=service, method=method, deploy=deploy, stamps=stamps)

    return make


def figures_digest(report: WindowReport, facts: Sequence[IncidentFacts], *, week_start: datetime, now: datetime) -> Digest:
    """The payments digest of ``report`` and the weekly trend of ``facts``, and nothing else: no
    incident listed, none open, no war room, no estimate of the smallest visible change."""
    return build_digest(
        channel_label="payments",
        week_start=week_start,
        last_week_incidents=[],
        report=report,
        trend=weekly_trend(facts, now=now),
        detectable=None,
        open_incidents=(),
        war_rooms={},
    )
