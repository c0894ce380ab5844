"""The incident's phases: the phase buttons, acknowledging it, and reopening it while it is
monitored. A click is recorded first (one short transaction with a conditional UPDATE, so a double
click stamps once), then Slack is brought up to date."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from bot import logs, metrics
from bot.background import once_set
from bot.core.clock import Clock
from bot.core.phases import Stamp
from bot.core.records import IncidentRecord
from bot.core.timefmt import human_duration, slack_time
from bot.incidents.clicks import click_permission
from bot.incidents.stamping import AckResult, StampedWith, Stamper, StampOutcome, StampResult
from bot.interactions.lookup import IncidentLookup
from bot.interactions.replies import Replies, Requester
from bot.paging.external_pagers import ExternalPagers
from bot.slack import messages
from bot.timers.monitoring import Monitoring, ReopenResult
from bot.warroom.resolution import Resolutions
from bot.warroom.setup import WarRooms
from bot.warroom.summary_posts import SummariesDue
from storage.db import recording_done

log = logging.getLogger(__name__)


class PhaseStamps:
    def __init__(
        self,
        lookup: IncidentLookup,
        stamper: Stamper,
        monitoring: Monitoring,
        war_rooms: WarRooms,
        resolutions: Resolutions,
        replies: Replies,
        clock: Clock,
        pagers: ExternalPagers | None = None,
    ) -> None:
        self._lookup = lookup
        self._stamper = stamper
        self._monitoring = monitoring
        self._war_rooms = war_rooms
        self._resolutions = resolutions
        self._replies = replies
        self._clock = clock
        self._pagers = pagers

    async def stamp(self, requester: Requester, incident_id: int, stamp: Stamp, *, at: datetime | None = None) -> StampOutcome:
        """A phase button was clicked: stamp it once, then bring Slack up to date. The request may
        be acknowledged as soon as the stamp is committed (or there is nothing to stamp)."""
        stamped = await self.record(requester, incident_id, stamp, at=at)
        await recording_done()
        await self.show(requester, stamped.outcome, due=stamped.along)
        return stamped.outcome

    async def record(
        self, requester: Requester, incident_id: int, stamp: Stamp, *, at: datetime | None = None
    ) -> StampedWith[SummariesDue | None]:
        """Only the database part of a click: the permission decided on the row the stamp's own
        transaction reads, the conditional UPDATE, committed when this returns. Marking verified
        resolves the incident, so it takes the ``close`` permission; the other phases ``stamp``.
        A verifying click claims the summaries it makes due in the same transaction."""
        logs.set_incident(incident_id)
        action = "close" if stamp is Stamp.VERIFIED else "stamp"
        permission = click_permission(self._lookup.permissions, action, requester.user_id)
        along = self._resolutions.claim_summaries if stamp is Stamp.VERIFIED else None
        stamped = await self._stamper.stamp(incident_id, stamp, by=requester.user_id, at=at, permission=permission, along=along)
        if stamped.outcome.result is StampResult.STAMPED:
            metrics.STAMPS.labels(stamp.value).inc()
        return stamped

    async def show(self, requester: Requester, outcome: StampOutcome, *, due: SummariesDue | None = None) -> None:
        """Tell the clicker and Slack what a recorded click did."""
        stamp = outcome.stamp
        if outcome.record is not None:
            logs.set_incident(outcome.record.id)
        if outcome.result is StampResult.UNKNOWN_INCIDENT:
            await self._replies.tell(requester, messages.unknown_incident(f"INC-{outcome.incident_id}"))
        elif outcome.result is StampResult.NOT_PERMITTED:
            await self._replies.tell(requester, outcome.reason)
        elif outcome.result is StampResult.REFUSED:
            await self._replies.tell(requester, messages.stamp_refused(stamp.value, outcome.reason))
        elif outcome.result is StampResult.ALREADY:
            assert outcome.value is not None
            await self._replies.tell(
                requester,
                messages.already_stamped(stamp.value, outcome.value.by, slack_time(outcome.value.at), outcome.value.implied),
            )
        else:
            await self._show_stamped(requester, outcome, due)

    async def _show_stamped(self, requester: Requester, outcome: StampOutcome, due: SummariesDue | None) -> None:
        incident = outcome.record
        assert incident is not None and outcome.value is not None
        line = _stamp_line(incident, outcome)
        if outcome.stamp is Stamp.VERIFIED:
            ends = self._monitoring.ends(outcome.value.at)
            line += "\n" + messages.monitoring_line(slack_time(ends, "{time}"))
        if outcome.stamp is Stamp.VERIFIED:
            # The summary and the postmortem do not wait for the control message and topic, which
            # wait until the postmortem's upload is on its way (or it waits on Slack for names).
            under_way = asyncio.Event()
            shown, published = await asyncio.gather(
                once_set(under_way, lambda: self._war_rooms.refresh(incident, announce_line=line)),
                self._resolutions.publish(incident.id, due=due, under_way=under_way),
            )
            failures = shown + published
            await self._tell_pagers("resolve", incident)
        else:
            # Meanwhile the people's display names go on file, so that the verification's postmortem
            # need not wait on Slack for them.
            self._resolutions.learn_names(incident.id)
            failures = await self._war_rooms.refresh(incident, announce_line=line)
        if failures:
            await self._replies.tell(requester, messages.slack_update_failed(failures, incident.reference))

    async def acknowledge(self, requester: Requester, argument: str, *, at: datetime | None = None) -> None:
        """``/incident ack [INC-42]``."""
        incident = await self._lookup.named_or_here(requester, argument)
        if incident is not None:
            await self.acknowledge_incident(requester, incident.id, at=at)

    async def acknowledge_incident(self, requester: Requester, incident_id: int, *, at: datetime | None = None) -> None:
        """The Acknowledge button, or the command once the incident is known. Taking an incident
        on is a stamp like the phases: the ``stamp`` permission."""
        permission = click_permission(self._lookup.permissions, "stamp", requester.user_id)
        outcome = await self._stamper.acknowledge(incident_id, by=requester.user_id, at=at, permission=permission)
        incident = outcome.record
        if outcome.result is AckResult.NOT_PERMITTED:
            await self._replies.tell(requester, outcome.reason)
        elif outcome.result is AckResult.UNKNOWN_INCIDENT or incident is None:
            await self._replies.tell(requester, messages.unknown_incident(f"INC-{incident_id}"))
        elif outcome.result is AckResult.ALREADY:
            assert incident.acknowledged_at is not None
            await self._replies.tell(
                requester, messages.already_acknowledged(incident.reference, incident.acknowledged_by, slack_time(incident.acknowledged_at))
            )
        elif outcome.result is AckResult.NOT_OPEN:
            await self._replies.tell(requester, messages.not_open_to_acknowledge(incident.reference))
        else:
            assert incident.acknowledged_at is not None
            after = human_duration(incident.acknowledged_at - incident.timeline.detected_at)
            line = messages.acknowledged_line(requester.user_id, slack_time(incident.acknowledged_at, "{time}"), after)
            self._resolutions.learn_names(incident.id)
            failures = await self._war_rooms.refresh(incident, announce_line=line)
            await self._tell_pagers("acknowledge", incident)
            if failures:
                await self._replies.tell(requester, messages.slack_update_failed(failures, incident.reference))

    async def reopen(self, requester: Requester, argument: str, *, at: datetime | None = None) -> None:
        """``/incident reopen [INC-42]``."""
        incident = await self._lookup.named_or_here(requester, argument)
        if incident is not None:
            await self.reopen_incident(requester, incident.id, at=at)

    async def reopen_incident(self, requester: Requester, incident_id: int, *, at: datetime | None = None) -> None:
        """Reopening needs only the ``stamp`` permission, not ``close``: whoever may work the
        incident may say the problem is back."""
        if await self._lookup.refused_by_number(requester, "stamp", incident_id):
            return
        outcome = await self._monitoring.reopen(incident_id, by=requester.user_id, at=at or self._clock())
        incident = outcome.record
        if outcome.result is ReopenResult.UNKNOWN_INCIDENT or incident is None:
            await self._replies.tell(requester, messages.unknown_incident(f"INC-{incident_id}"))
        elif outcome.result is ReopenResult.STILL_OPEN:
            await self._replies.tell(requester, messages.not_verified_to_reopen(incident.reference))
        elif outcome.result is ReopenResult.CLOSED:
            assert outcome.closed_at is not None
            await self._replies.tell(requester, messages.closed_cannot_reopen(incident.reference, slack_time(outcome.closed_at)))
        else:
            assert outcome.earlier_verified_at is not None
            line = messages.reopened_line(requester.user_id, outcome.earlier_verified_by, slack_time(outcome.earlier_verified_at))
            failures = await self._war_rooms.refresh(incident, announce_line=line)
            await self._tell_pagers("retrigger", incident)
            if failures:
                await self._replies.tell(requester, messages.slack_update_failed(failures, incident.reference))

    async def _tell_pagers(self, what: Literal["acknowledge", "resolve", "retrigger"], incident: IncidentRecord) -> None:
        """PagerDuty and the paging webhook follow what happened here. The stamp is recorded
        whatever they answer: a failure is on the timeline and in the log (ExternalPagers)."""
        if self._pagers is None:
            return
        try:
            tell = {"acknowledge": self._pagers.acknowledge, "resolve": self._pagers.resolve, "retrigger": self._pagers.retrigger}[what]
            await tell(incident)
        except (SQLAlchemyError, OSError) as error:
            log.error("%s: could not %s its pages: %s", incident.reference, what, error)


def _stamp_line(incident: IncidentRecord, outcome: StampOutcome) -> str:
    assert outcome.value is not None
    since = human_duration(outcome.value.at - incident.timeline.detected_at)
    restore = incident.timeline.time_to_restore
    line = messages.stamped_line(
        outcome.value.by or "someone",
        outcome.stamp.value,
        slack_time(outcome.value.at, "{time}"),
        since,
        human_duration(restore) if restore is not None else None,
    )
    if outcome.implied:
        line += f" (_{', '.join(s.value for s in outcome.implied)}_ implied at the same time)"
    return line
