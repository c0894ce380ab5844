"""Incident rows written straight to the database: the history that the analytics, digest, report,
command-line and privacy tests start from, without opening each incident through Slack."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from storage.models import Incident


def incident_row(
    title: str,
    started_at: datetime,
    *,
    detected_at: datetime,
    diagnosed_at: datetime | None = None,
    mitigated_at: datetime | None = None,
    verified_at: datetime | None = None,
    severity: str = "P2",
    service: str | None = "payments-api",
    detection_method: str = "alert",
    person: str = "U_ALICE",
    **more: Any,
) -> Incident:
    """As the bot records an incident ``person`` opened and commands: no stamp implied, resolved
    once verified (else open), created and last changed when the impact started."""
    return Incident(
        title=title,
        severity=severity,
        service=service,
        status="resolved" if verified_at else "open",
        detection_method=detection_method,
        opened_by=person,
        commander=person,
        started_at=started_at,
        detected_at=detected_at,
        diagnosed_at=diagnosed_at,
        mitigated_at=mitigated_at,
        verified_at=verified_at,
        diagnosed_implied=False,
        mitigated_implied=False,
        created_at=started_at,
        updated_at=started_at,
        **more,
    )


SEVERITIES = ("P1", "P2", "P3", "P4")
DETECTION_METHODS = ("alert", "customer_report", "engineer", "synthetic")


def random_incident_row(
    rng: random.Random,
    n: int,
    *,
    now: datetime,
    services: Sequence[str | None],
    days: float,
    private_share: float = 0.0,
    war_room_share: float = 0.0,
) -> Incident:
    """One incident of a random history ending at ``now``: lognormal phase durations with microsecond
    stamps, some at the edge of a second (.999999 and .9995, which SQLite would round if it read them
    as it keeps milliseconds), skipped phases (implied at the next present stamp), some still open or
    in mid-flight, most acknowledged some seconds after detection (rarely before it)."""
    start = now - timedelta(days=rng.uniform(0, days), microseconds=rng.randrange(10**6))
    at, stamps = start, []
    for _ in range(4):
        at += timedelta(seconds=rng.lognormvariate(6, 1.3), microseconds=rng.randrange(10**6))
        stamps.append(at)
    detected, diagnosed, mitigated, verified = stamps
    if rng.random() < 0.05:
        detected = detected.replace(microsecond=999_999)
        verified = verified.replace(microsecond=rng.choice([999_999, 999_500]))
        diagnosed = max(diagnosed, detected)
        mitigated = max(mitigated, diagnosed)
        verified = max(verified, mitigated)
    shape = rng.random()
    if shape < 0.15:
        diagnosed = None
    elif shape < 0.25:
        diagnosed = mitigated = None
    elif shape < 0.3:
        mitigated = None
    if verified > now or rng.random() < 0.1:
        verified = None
        if rng.random() < 0.5:
            mitigated = None
    acknowledged = None
    if rng.random() < 0.65:
        acknowledged = detected + timedelta(seconds=rng.uniform(-30, 900), microseconds=rng.randrange(10**6))
    return incident_row(
        f"Incident {n}",
        start,
        severity=rng.choice(SEVERITIES),
        service=rng.choice(list(services)),
        detection_method=rng.choice(DETECTION_METHODS),
        detected_at=detected,
        diagnosed_at=diagnosed,
        mitigated_at=mitigated,
        verified_at=verified,
        deploy_found=rng.choice([None, True, False]),
        acknowledged_at=acknowledged,
        acknowledged_by="U_BOB" if acknowledged else None,
        is_private=rng.random() < private_share,
        channel_id=f"C0WAR{n:05d}" if rng.random() < war_room_share else None,
    )
