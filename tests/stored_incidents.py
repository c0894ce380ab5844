"""Incident rows written straight to the database: the history that the analytics, digest, report,
command-line and privacy tests start from, without opening each incident through Slack."""

from __future__ import annotations

from datetime import datetime
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
