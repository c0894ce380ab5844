"""A plain snapshot of an incident, so that Block Kit builders and text renderers stay pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.phases import Timeline


@dataclass(frozen=True)
class IncidentRecord:
    id: int
    title: str
    severity: str
    service: str | None
    status: str
    detection_method: str
    opened_by: str
    commander: str
    channel_id: str | None
    channel_name: str | None
    control_message_ts: str | None
    timeline: Timeline
    created_at: datetime
    rollback_owner: str | None = None
    comms_lead: str | None = None
    scribe: str | None = None
    is_private: bool = False
    is_drill: bool = False  # a rehearsal: bannered, paged apart, counted in no figure unless asked
    # Kept apart from the phases: acknowledging is taking the incident on, not a step of restoring.
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    closed_at: datetime | None = None
    imported_from: str | None = None  # "csv", "pagerduty"...: a past incident, with no war room

    @property
    def monitoring(self) -> bool:
        """Verified, inside its monitoring window: it can still be reopened."""
        return self.status == "resolved" and self.closed_at is None

    @property
    def reference(self) -> str:
        return f"INC-{self.id}"

    @property
    def started_at(self) -> datetime:
        return self.timeline.started_at

    def holder(self, role: str) -> str | None:
        """Who holds ``role`` (one of bot.core.roles.ROLES)."""
        holder: str | None = getattr(self, role)
        return holder


@dataclass(frozen=True)
class WarRoomContext:
    """What the control message shows beside the incident: the service's neighbours and the
    deploys that landed shortly before the impact (each already rendered as one mrkdwn line)."""

    team: str | None = None
    upstream: tuple[str, ...] = ()
    downstream: tuple[str, ...] = ()
    deploy_lines: tuple[str, ...] = ()
    deploy_window: str | None = None  # "2 h", None when no correlation was made
    call_url: str | None = None
    paging: Paging | None = None


@dataclass(frozen=True)
class Paging:
    """The escalation chain's last page: its level, whom (mentions), and when."""

    level: int
    who: str
    at: datetime
