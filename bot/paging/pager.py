"""The interface between the escalation chain and the pagers outside Slack (PagerDuty, a generic
outbound webhook). The chain decides who is paged when; a ``Pager`` delivers the pages that do not
go through Slack. Slack targets (a user, a user group, the service's on-call group) are direct
messages sent by the timers (bot/timers/scheduler.py), not pages of a ``Pager``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from bot.core.records import IncidentRecord


@dataclass(frozen=True)
class PageTarget:
    """Who a level pages."""

    kind: Literal["slack_user", "slack_group", "service_oncall", "pagerduty", "webhook"]
    ref: str | None = None  # user ID, group ID/handle, or None for the service's own PagerDuty service / the generic webhook


@dataclass(frozen=True)
class PageLinks:
    war_room: str | None = None  # the war-room channel's URL
    control_message: str | None = None  # the permalink of the incident's control message


@dataclass(frozen=True)
class PageResult:
    outcome: Literal["sent", "duplicate", "failed", "skipped"]  # skipped: a drill this pager is not configured for
    reason: str | None = None  # for "failed": what went wrong, in words a person can act on


class Pager(Protocol):
    async def trigger(self, incident: IncidentRecord, *, level: int, target: PageTarget, links: PageLinks) -> PageResult: ...
    async def acknowledge(self, incident: IncidentRecord) -> None: ...
    async def resolve(self, incident: IncidentRecord) -> None: ...


def pager_name(via: str) -> str:
    """A pager outside Slack (``pagerduty`` or ``webhook``) as the timeline and the war room name it."""
    return "PagerDuty" if via == "pagerduty" else "the paging webhook"


NO_EXTERNAL_PAGER = "no PagerDuty service or outbound paging webhook is configured"


class SlackOnlyPager:
    """The pager when nothing outside Slack is configured: a ``pagerduty`` or ``webhook`` target
    is reported as not paged (on the timeline), never silently dropped."""

    async def trigger(self, incident: IncidentRecord, *, level: int, target: PageTarget, links: PageLinks) -> PageResult:
        return PageResult("failed", NO_EXTERNAL_PAGER)

    async def acknowledge(self, incident: IncidentRecord) -> None:
        return None

    async def resolve(self, incident: IncidentRecord) -> None:
        return None
