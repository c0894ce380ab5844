"""PagerDuty's side of a page, from its V3 webhooks: acknowledging in PagerDuty stamps the
acknowledgement here (the same once-only conditional UPDATE as the Acknowledge button), resolving
there suggests *Mark verified* in the war room (never verifies by itself), and escalations and
reassignments go to the timeline. An event for an incident the bot did not page is ignored.

Each delivery is recorded once by its event id (PagerDuty retries a delivery it did not see
answered), and the record is committed before the webhook is answered; Slack is brought up to
date afterwards, in the background, like a click's side effects.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from bot.background import BackgroundWork
from bot.core.clock import Clock
from bot.core.records import IncidentRecord
from bot.core.timefmt import human_duration, slack_time
from bot.incidents.stamping import AckResult, Stamper
from bot.paging.external_pagers import ExternalPagers
from bot.paging.pagerduty_users import PagerDutyUsers
from bot.paging.pagerduty_webhooks import PagerDutyEvent
from bot.slack import SlackError, SlackGateway, messages
from bot.slack.blocks import drill_text
from bot.warroom.setup import WarRooms
from storage import incidents as incident_rows
from storage import pages as page_rows
from storage.db import Database

log = logging.getLogger(__name__)

Outcome = Literal["ignored", "duplicate", "acknowledged", "already_acknowledged", "not_open", "recorded"]
MAX_NAME = 32  # incidents.acknowledged_by and timeline actors hold 32 characters


@dataclass(frozen=True)
class EventAnswer:
    outcome: Outcome
    incident: str | None = None  # "INC-42"

    def as_json(self) -> dict[str, object]:
        return {"ok": True, "outcome": self.outcome, "incident": self.incident}


class PagerDutyEvents:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        slack: SlackGateway,
        stamper: Stamper,
        war_rooms: WarRooms,
        pagers: ExternalPagers,
        background: BackgroundWork,
        users: PagerDutyUsers | None = None,
    ) -> None:
        self._users = users
        self._db = db
        self._clock = clock
        self._slack = slack
        self._stamper = stamper
        self._war_rooms = war_rooms
        self._pagers = pagers
        self._background = background

    async def close(self) -> None:
        if self._users is not None:
            await self._users.close()

    async def receive(self, event: PagerDutyEvent) -> EventAnswer:
        """Record what the event says (committed when this returns), then show it in Slack in the background."""
        if not event.acted_on or event.incident_key is None:
            return EventAnswer("ignored")
        async with self._db.lookup() as session:
            incident_id = await page_rows.incident_paged_as(session, event.incident_key)
        if incident_id is None:
            log.info("PagerDuty %s for %s: not an incident the bot paged; ignored", event.event_type, event.incident_key[:80])
            return EventAnswer("ignored")
        reference = f"INC-{incident_id}"
        if event.event_type == "incident.acknowledged":
            # The conditional UPDATE stamps once however often PagerDuty delivers the event.
            return await self._acknowledged(incident_id, event)
        if event.event_type == "incident.resolved":
            text = f"Resolved in PagerDuty by {event.agent_name or 'someone'}; not verified here until someone marks it verified"
            kind = "pagerduty_resolved"
        else:
            verb = "Escalated" if event.event_type == "incident.escalated" else "Reassigned"
            text = f"{verb} in PagerDuty to {', '.join(event.assignees) or 'nobody named'}"
            kind = f"pagerduty_{verb.lower()}"
        if not await self._record_once(incident_id, kind, event, text):
            return EventAnswer("duplicate", reference)
        if kind == "pagerduty_resolved":
            self._background.spawn(self._suggest_verifying(incident_id, event), name=f"pagerduty-resolved-{incident_id}")
        return EventAnswer("recorded", reference)

    async def _record_once(self, incident_id: int, kind: str, event: PagerDutyEvent, text: str) -> bool:
        """The timeline event, with the delivery's id claimed in the same transaction: the same
        table as outbound pages, whose unique (incident, key) row takes each PagerDuty event id once."""
        now = self._clock()
        token = uuid.uuid4().hex
        key = f"received:{event.event_id[:150]}"
        claim = page_rows.PageClaim(incident_id, key, "pagerduty_in", "received", 0, (event.incident_key or "")[:255])
        async with self._db.transaction() as session:
            if not await page_rows.claim(session, claim, token=token, at=now, stale_before=now - timedelta(days=3650)):
                return False
            await page_rows.finish(session, incident_id, key, token=token, status=page_rows.SENT, at=now, reason=event.event_type)
            await incident_rows.add_event(
                session,
                incident_id,
                kind,
                at=event.occurred_at,
                actor=(event.agent_name or "PagerDuty")[:MAX_NAME],
                text=text,
                data={"pagerduty_event": event.event_id, "url": event.html_url, "assignees": list(event.assignees)},
            )
        return True

    async def _who(self, event: PagerDutyEvent) -> str:
        """The Slack user with the PagerDuty user's e-mail when there is one (from the delivery, or
        read from PagerDuty's REST API with PAGERDUTY_API_TOKEN), else their PagerDuty name."""
        email = event.agent_email
        if email is None and event.agent_id and self._users is not None:
            email = await self._users.email_of(event.agent_id)
        if email:
            try:
                user_id = await self._slack.people.id_by_email(email)
            except SlackError as error:
                log.warning("PagerDuty acknowledgement: no Slack user looked up by e-mail (%s); recorded by name", error)
                user_id = None
            if user_id:
                return user_id
        return (event.agent_name or "someone in PagerDuty")[:MAX_NAME]

    async def _acknowledged(self, incident_id: int, event: PagerDutyEvent) -> EventAnswer:
        who = await self._who(event)
        outcome = await self._stamper.acknowledge(incident_id, by=who, at=event.occurred_at)
        incident = outcome.record
        reference = f"INC-{incident_id}"
        if outcome.result is AckResult.NOT_OPEN:
            return EventAnswer("not_open", reference)  # verified already: nothing left to take on
        if outcome.result is not AckResult.ACKNOWLEDGED or incident is None:
            return EventAnswer("already_acknowledged", reference)
        self._background.spawn(self._show_acknowledged(incident), name=f"pagerduty-acknowledged-{incident_id}")
        return EventAnswer("acknowledged", reference)

    async def _show_acknowledged(self, incident: IncidentRecord) -> None:
        assert incident.acknowledged_at is not None and incident.acknowledged_by is not None
        after = human_duration(incident.acknowledged_at - incident.timeline.detected_at)
        line = messages.acknowledged_in_pagerduty_line(incident.acknowledged_by, slack_time(incident.acknowledged_at, "{time}"), after)
        failures = await self._war_rooms.refresh(incident, announce_line=line)
        if failures:
            log.warning("%s: acknowledged in PagerDuty; Slack not fully updated: %s", incident.reference, "; ".join(failures))
        # The other pagers (the generic webhook) stop ringing too; PagerDuty takes a second acknowledge as a no-op.
        await self._pagers.acknowledge(incident)

    async def _suggest_verifying(self, incident_id: int, event: PagerDutyEvent) -> None:
        async with self._db.lookup() as session:
            row = await incident_rows.get(session, incident_id)
        if row is None or row.channel_id is None:
            return
        try:
            await self._slack.chat.post(
                row.channel_id, drill_text(row.is_drill, messages.resolved_in_pagerduty_line(f"INC-{incident_id}", event.agent_name))
            )
        except SlackError as error:
            log.warning("INC-%s: resolved in PagerDuty; the war room could not be told: %s", incident_id, error)
