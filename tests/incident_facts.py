"""IncidentFacts from phase lengths, for the statistics and digest tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.analytics.stats import IncidentFacts


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
    """Impact starts at ``start``; each of the four phases (detect, diagnose, mitigate, verify)
    lasts its minutes. Only the first ``stamps`` (1 to 4) closing stamps are set: 4 is restored,
    1 is only detected."""
    times, at = [], start
    for length in minutes:
        at = at + timedelta(minutes=length)
        times.append(at)
    kept = [at if n < stamps else None for n, at in enumerate(times)]
    return IncidentFacts(
        id=id,
        severity=severity,
        service=service,
        detection_method=method,
        started_at=start,
        detected_at=times[0],
        diagnosed_at=kept[1],
        mitigated_at=kept[2],
        verified_at=kept[3],
        deploy_linked=deploy,
    )
