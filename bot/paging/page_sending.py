"""Sending a page outside Slack exactly once: claimed in the database first (storage/pages.py: a
unique row per incident and key such as ``pagerduty:trigger:round0:level1``), then sent, then its
answer recorded with a timeline event; a page refused as misconfigured is told to the announcement
channel, once, as it is claimed once."""

from __future__ import annotations

import logging
import uuid
from dataclasses import KW_ONLY, dataclass
from datetime import timedelta

from bot.core.clock import Clock
from bot.core.records import IncidentRecord
from bot.paging import bodies
from bot.paging.bodies import Action
from bot.paging.delivery import Delivery
from bot.paging.drills import NO_DRILL_PAGING, DrillPaging
from bot.paging.pager import PageLinks, PageResult, pager_name
from bot.paging.senders import PagerDutySender, WebhookSender
from bot.slack import SlackError, SlackGateway
from storage import incidents as incident_rows
from storage import pages as page_rows
from storage.db import Database

log = logging.getLogger(__name__)

# A claim whose holder recorded no answer for this long is taken over: longer than every retry of one send.
SEND_LEASE = timedelta(minutes=2)
PAGERDUTY, WEBHOOK = "pagerduty", "webhook"


@dataclass(frozen=True, eq=False)
class PageSending:
    """Owns the claim, the send and the record of each page outside Slack, and the acknowledge and resolve that follow it."""

    db: Database
    clock: Clock
    slack: SlackGateway
    pagerduty: PagerDutySender
    webhook: WebhookSender
    _: KW_ONLY
    announce_channel: str | None
    drills: DrillPaging = NO_DRILL_PAGING

    def pages(self, incident: IncidentRecord, via: str) -> bool:
        """A drill reaches a pager outside Slack only when that pager is configured for drills."""
        if not incident.is_drill:
            return True
        return self.drills.webhook if via == WEBHOOK else self.drills.pagerduty_routing_key_env is not None

    async def follow_up(self, incident: IncidentRecord, action: Action) -> list[tuple[str, PageResult]]:
        """Acknowledge or resolve on every pager this round of the incident triggered."""
        async with self.db.transaction() as session:
            sent = await page_rows.for_incident(session, incident.id)
            if not sent:  # never paged outside Slack: nothing to follow up, and no more to read
                return []
            round_ = await page_rows.reopen_count(session, incident.id)
        vias = sorted(
            {page.via for page in sent if page.action == "trigger" and page.status == page_rows.SENT and f":round{round_}:" in page.key}
        )
        return [(via, await self.send(incident, via, action, level=0, links=PageLinks(), round_=round_)) for via in vias]

    async def send(
        self,
        incident: IncidentRecord,
        via: str,
        action: Action,
        *,
        level: int,
        links: PageLinks,
        service_name: str | None = None,
        round_: int | None = None,
        abandon: bool = False,
    ) -> PageResult:
        """Claim the page, then send it (or, ``abandon``, record it as not sent) and record the answer."""
        if not self.pages(incident, via):
            log.info("%s: a drill, not sent to %s (not configured for drills)", incident.reference, via)
            return PageResult("skipped", f"a drill reaches {via} only when configured for drills")
        now = self.clock()
        token = uuid.uuid4().hex
        async with self.db.transaction() as session:
            if round_ is None:
                round_ = await page_rows.reopen_count(session, incident.id)
            suffix = f":level{level}" if action == "trigger" else ""
            claim = page_rows.PageClaim(
                incident.id, f"{via}:{action}:round{round_}{suffix}", via, action, level, bodies.dedup_key(incident)
            )
            won = await page_rows.claim(session, claim, token=token, at=now, stale_before=now - SEND_LEASE)
        if not won:
            return PageResult("duplicate")
        if abandon:
            delivery = Delivery(False, None, f"not sent: {incident.reference} was acknowledged or resolved before its sender's repair")
        elif via == PAGERDUTY:
            delivery = await self.pagerduty.send(incident, action, level=level, links=links, service_name=service_name)
        else:
            delivery = await self.webhook.send(incident, action, level=level, links=links)
        await self._record(incident, claim, token, delivery)
        return PageResult("sent") if delivery.ok else PageResult("failed", delivery.reason)

    async def _record(self, incident: IncidentRecord, claim: page_rows.PageClaim, token: str, delivery: Delivery) -> None:
        now = self.clock()
        how = pager_name(claim.via)
        status = page_rows.SENT if delivery.ok else page_rows.FAILED
        if delivery.ok:
            level = f", level {claim.level}" if claim.action == "trigger" else ""
            text = {"trigger": f"Paged through {how}{level}", "acknowledge": f"Acknowledged in {how}", "resolve": f"Resolved in {how}"}[
                claim.action
            ]
        else:
            text = f"Could not {claim.action} the page in {how}: {delivery.reason}"
        async with self.db.transaction() as session:
            mine = await page_rows.finish(session, incident.id, claim.key, token=token, status=status, at=now, reason=delivery.reason)
            if mine:
                await incident_rows.add_event(
                    session,
                    incident.id,
                    "paged" if delivery.ok else "page_failed",
                    at=now,
                    text=text,
                    data={
                        "via": claim.via,
                        "action": claim.action,
                        "level": claim.level,
                        "status": delivery.status,
                        "attempts": delivery.attempts,
                    },
                )
        if not mine:
            return
        if delivery.ok:
            log.info("%s: %s", incident.reference, text)
            return
        log.error("%s: %s", incident.reference, text)
        if delivery.configuration_error and self.announce_channel:
            # The reference and the reason only: no title, so a private incident's is safe here too.
            try:
                await self.slack.chat.post(
                    self.announce_channel, f"⚠️ {incident.reference}: {text}. Fix the set-up; docs/paging.md says how."
                )
            except SlackError as error:
                log.error("%s: could not tell the announcement channel that paging failed: %s", incident.reference, error)
