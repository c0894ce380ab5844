"""What the escalation chain pages through: a target, the links a page carries, and the answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from bot.core.records import IncidentRecord


@dataclass(frozen=True)
class PageTarget:  # who a level pages
    kind: Literal["slack_user", "slack_group", "service_oncall", "pagerduty", "webhook"]
    ref: str | None = None  # user ID, group ID/handle, or None for the service's own PagerDuty service / the generic webhook


@dataclass(frozen=True)
class PageLinks:
    war_room: str | None = None  # the war-room channel's URL
    control_message: str | None = None  # the permalink of the incident's control message


@dataclass(frozen=True)
class PageResult:
    outcome: Literal["sent", "duplicate", "failed"]
    reason: str | None = None  # for "failed": what went wrong, in words a person can act on


class Pager(Protocol):
    async def trigger(self, incident: IncidentRecord, *, level: int, target: PageTarget, links: PageLinks) -> PageResult: ...
    async def acknowledge(self, incident: IncidentRecord) -> None: ...
    async def resolve(self, incident: IncidentRecord) -> None: ...
