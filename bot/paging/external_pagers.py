"""Paging outside Slack: PagerDuty's Events API v2 and the generic paging webhook (``ExternalPagers``
implements ``Pager`` for those two targets).

Every page is claimed in the database before it is sent (storage/pages.py: a unique row per
incident and key such as ``pagerduty:trigger:round0:level1``), so a retried flow, a second process
or a restart sends it once. A process that dies between the claim and the answer leaves a claim
that another takes over once its lease runs out; sending that page again is safe, because PagerDuty
folds a trigger with the same dedup_key into the alert it made (and a second acknowledge or
resolve changes nothing). ``/incident repair`` does the same at once for an incident (``repair``),
and sends the pages the incident's state calls for that no process claimed. Each page sent, and each that
failed, is a timeline event; a page refused as misconfigured (a 400) is told to the announcement
channel, once, as it is claimed once.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import aiohttp

from bot.catalog.services import Catalog
from bot.core.clock import Clock
from bot.core.records import IncidentRecord
from bot.paging import bodies
from bot.paging.bodies import Action
from bot.paging.delivery import Delivery, post_json
from bot.paging.drills import NO_DRILL_PAGING, DrillPaging
from bot.paging.pager import PageLinks, PageResult, PageTarget
from bot.paging.signatures import WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER, webhook_signature
from bot.slack import SlackError, SlackGateway
from storage import incidents as incident_rows
from storage import pages as page_rows
from storage.db import Database

log = logging.getLogger(__name__)

# A claim whose holder recorded no answer for this long is taken over: longer than every retry of one send.
SEND_LEASE = timedelta(minutes=2)
PAGERDUTY, WEBHOOK = "pagerduty", "webhook"
OUTBOUND = (PAGERDUTY, WEBHOOK)


@dataclass
class PagesRepair:
    """What ``ExternalPagers.repair`` did, in the words ``/incident repair`` reports."""

    done: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _how(via: str) -> str:
    return "PagerDuty" if via == PAGERDUTY else "the paging webhook"


def _what(via: str, action: str, level: int) -> str:
    return {"trigger": f"paged {_how(via)} (level {level})", "acknowledge": f"acknowledged in {_how(via)}"}.get(
        action, f"resolved in {_how(via)}"
    )


def _round_of(key: str) -> int | None:
    """The reopening round a page's key names (``pagerduty:trigger:round0:level1``)."""
    part = next((p for p in key.split(":") if p.startswith("round")), "")
    number = part.removeprefix("round")
    return int(number) if number.isdigit() else None


def _still_unacknowledged(incident: IncidentRecord) -> bool:
    return incident.status == "open" and incident.acknowledged_at is None


def _tell(report: PagesRepair, what: str, result: PageResult) -> None:
    if result.outcome == "sent":
        report.done.append(what)
    elif result.outcome == "failed":
        report.failures.append(f"{what}: {result.reason}")


class ExternalPagers:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        slack: SlackGateway,
        catalog: Catalog,
        *,
        events_url: str,
        webhook_url: str | None,
        webhook_secret: str | None,
        announce_channel: str | None,
        environ: Mapping[str, str] = os.environ,
        drills: DrillPaging = NO_DRILL_PAGING,
    ) -> None:
        self._drills = drills
        self._db = db
        self._clock = clock
        self._slack = slack
        self._catalog = catalog
        self._events_url = events_url
        self._webhook_url = webhook_url
        self._webhook_secret = webhook_secret
        self._announce_channel = announce_channel
        self._environ = environ
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------ what can be paged

    def routing_key_variable(self, incident: IncidentRecord, service_name: str | None = None) -> str | None:
        if incident.is_drill:  # never the service's real on-call: the drills' own PagerDuty service, if any
            return self._drills.pagerduty_routing_key_env
        service = self._catalog.get(service_name or incident.service)
        return service.pagerduty.routing_key_env if service is not None and service.pagerduty is not None else None

    def pages_pagerduty(self, incident: IncidentRecord) -> bool:
        return self.routing_key_variable(incident) is not None

    @property
    def webhook_configured(self) -> bool:
        return bool(self._webhook_url and self._webhook_secret)

    def _pages(self, incident: IncidentRecord, via: str) -> bool:
        """A drill reaches a pager outside Slack only when that pager is configured for drills."""
        if not incident.is_drill:
            return True
        return self._drills.webhook if via == WEBHOOK else self._drills.pagerduty_routing_key_env is not None

    async def links(self, incident: IncidentRecord) -> PageLinks:
        """Where a paged person goes: the war room and the control message (its permalink when
        Slack gives it; a page never waits for more than that one read)."""
        if incident.channel_id is None:
            return PageLinks()
        war_room = f"https://slack.com/app_redirect?channel={incident.channel_id}"
        control = None
        if incident.control_message_ts:
            try:
                control = await self._slack.permalink(incident.channel_id, incident.control_message_ts)
            except SlackError as error:
                log.warning("%s: no permalink for the control message (%s); the page links the war room", incident.reference, error)
        return PageLinks(war_room=war_room, control_message=control)

    # ------------------------------------------------------------------ the Pager protocol

    async def trigger(self, incident: IncidentRecord, *, level: int, target: PageTarget, links: PageLinks) -> PageResult:
        if target.kind == "pagerduty":
            return await self._send(incident, PAGERDUTY, "trigger", level=level, links=links, service_name=target.ref)
        if target.kind == "webhook":
            return await self._send(incident, WEBHOOK, "trigger", level=level, links=links)
        return PageResult("failed", f"{target.kind} targets are paged in Slack, not by the external pagers")

    async def acknowledge(self, incident: IncidentRecord) -> None:
        await self._follow_up(incident, "acknowledge")

    async def resolve(self, incident: IncidentRecord) -> None:
        await self._follow_up(incident, "resolve")

    async def retrigger(self, incident: IncidentRecord) -> list[PageResult]:
        """A reopened incident pages again, at level 1, on every pager an earlier round triggered
        (PagerDuty opens a new incident: the resolved one keeps its dedup_key's history)."""
        return [result for _via, result in await self._retriggered(incident)]

    async def _retriggered(self, incident: IncidentRecord) -> list[tuple[str, PageResult]]:
        async with self._db.lookup() as session:
            earlier = await page_rows.for_incident(session, incident.id)
        vias = sorted({page.via for page in earlier if page.action == "trigger" and page.status == page_rows.SENT})
        if not vias:
            return []
        links = await self.links(incident)
        return [
            (via, await self.trigger(incident, level=1, target=PageTarget("pagerduty" if via == PAGERDUTY else "webhook"), links=links))
            for via in vias
        ]

    async def page_at_open(self, incident: IncidentRecord, severities: frozenset[str]) -> list[PageResult]:
        """At open, for the configured severities: PagerDuty when the service has a routing key, and
        the generic webhook when it is configured (level 1, once)."""
        return [result for _target, result in await self._at_open(incident, severities)]

    async def _at_open(self, incident: IncidentRecord, severities: frozenset[str]) -> list[tuple[PageTarget, PageResult]]:
        if incident.severity not in severities:
            return []
        targets = []
        if self.pages_pagerduty(incident):
            targets.append(PageTarget("pagerduty"))
        if self.webhook_configured and self._pages(incident, WEBHOOK):
            targets.append(PageTarget("webhook"))
        if not targets:
            return []
        links = await self.links(incident)
        return [(target, await self.trigger(incident, level=1, target=target, links=links)) for target in targets]

    # ------------------------------------------------------------------ repair

    async def repair(self, incident: IncidentRecord, severities: frozenset[str]) -> PagesRepair:
        """Bring the pagers up to date with the incident, for ``/incident repair``: a page whose
        sender died before the answer (its claim still ``sending`` past the lease) is sent again,
        which PagerDuty's dedup_key makes safe; one claimed more recently may still be in a live
        process's hands and is left to it, said so. Then the pages the incident's state calls for
        and that no process claimed (its process died first) are sent: the page at open while
        nobody acknowledged, the acknowledge, the resolve. Each is claimed, so none goes twice."""
        report = PagesRepair()
        now = self._clock()
        async with self._db.lookup() as session:
            unanswered = [
                page
                for page in await page_rows.for_incident(session, incident.id)
                if page.via in OUTBOUND and page.status == page_rows.SENDING
            ]
        for page in unanswered:
            what = _what(page.via, page.action, page.level)
            if page.claimed_at >= now - SEND_LEASE:
                report.failures.append(
                    f"{what}: being sent since {page.claimed_at:%H:%M:%S} UTC with no answer yet; if its process stopped, "
                    f"repair again after {page.claimed_at + SEND_LEASE:%H:%M:%S} UTC to send it again"
                )
                continue
            action: Action = "acknowledge" if page.action == "acknowledge" else "resolve" if page.action == "resolve" else "trigger"
            links = await self.links(incident) if action == "trigger" else PageLinks()
            # A page for an incident someone took on meanwhile would wake a person for nothing.
            stale = action == "trigger" and not _still_unacknowledged(incident)
            result = await self._send(incident, page.via, action, level=page.level, links=links, round_=_round_of(page.key), abandon=stale)
            if stale and result.outcome == "failed":
                report.done.append(f"{what}: not sent again, {incident.reference} was acknowledged or resolved since")
            else:
                _tell(report, what, result)
        # What the state calls for and nobody claimed: each a claimed send, a duplicate when done.
        if _still_unacknowledged(incident):
            for target, result in await self._at_open(incident, severities):
                _tell(report, _what(target.kind, "trigger", 1), result)
            for via, result in await self._retriggered(incident):
                _tell(report, _what(via, "trigger", 1), result)
        elif incident.status == "open":
            for via, result in await self._follow_up(incident, "acknowledge"):
                _tell(report, _what(via, "acknowledge", 0), result)
        else:
            for via, result in await self._follow_up(incident, "resolve"):
                _tell(report, _what(via, "resolve", 0), result)
        return report

    # ------------------------------------------------------------------ sending once

    async def _follow_up(self, incident: IncidentRecord, action: Action) -> list[tuple[str, PageResult]]:
        """Acknowledge or resolve on every pager this round of the incident triggered."""
        async with self._db.transaction() as session:
            sent = await page_rows.for_incident(session, incident.id)
            if not sent:  # never paged outside Slack: nothing to follow up, and no more to read
                return []
            round_ = await page_rows.reopen_count(session, incident.id)
        vias = sorted(
            {page.via for page in sent if page.action == "trigger" and page.status == page_rows.SENT and f":round{round_}:" in page.key}
        )
        return [(via, await self._send(incident, via, action, level=0, links=PageLinks(), round_=round_)) for via in vias]

    async def _send(
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
        if not self._pages(incident, via):
            log.info("%s: a drill, not sent to %s (not configured for drills)", incident.reference, via)
            return PageResult("skipped", f"a drill reaches {via} only when configured for drills")
        now = self._clock()
        token = uuid.uuid4().hex
        async with self._db.transaction() as session:
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
            delivery = await self._to_pagerduty(incident, action, level=level, links=links, service_name=service_name)
        else:
            delivery = await self._to_webhook(incident, action, level=level, links=links)
        await self._record(incident, claim, token, delivery)
        return PageResult("sent") if delivery.ok else PageResult("failed", delivery.reason)

    async def _to_pagerduty(
        self, incident: IncidentRecord, action: Action, *, level: int, links: PageLinks, service_name: str | None
    ) -> Delivery:
        variable = self.routing_key_variable(incident, service_name)
        if variable is None:
            return Delivery(False, None, f"the service {service_name or incident.service} names no PagerDuty routing key in the catalog")
        routing_key = self._environ.get(variable, "").strip()
        if not routing_key:
            return Delivery(
                False,
                None,
                f"{variable} is not set: set it to the Events API v2 integration key of the PagerDuty service",
                configuration_error=True,
            )
        event = bodies.pagerduty_event(action, incident, routing_key=routing_key, level=level, links=links, at=self._clock())
        return await post_json(self._http(), self._events_url, json.dumps(event).encode(), {}, what="PagerDuty")

    async def _to_webhook(self, incident: IncidentRecord, action: Action, *, level: int, links: PageLinks) -> Delivery:
        if not (self._webhook_url and self._webhook_secret):
            return Delivery(
                False, None, "the paging webhook is off: set PAGING_WEBHOOK_URL and PAGING_WEBHOOK_SECRET", configuration_error=True
            )
        now = self._clock()
        body = json.dumps(bodies.webhook_body(action, incident, level=level, links=links, at=now)).encode()
        timestamp = int(now.timestamp())
        headers = {
            WEBHOOK_TIMESTAMP_HEADER: str(timestamp),
            WEBHOOK_SIGNATURE_HEADER: webhook_signature(self._webhook_secret, timestamp, body),
        }
        return await post_json(self._http(), self._webhook_url, body, headers, what="the paging webhook")

    async def _record(self, incident: IncidentRecord, claim: page_rows.PageClaim, token: str, delivery: Delivery) -> None:
        now = self._clock()
        how = "PagerDuty" if claim.via == PAGERDUTY else "the paging webhook"
        status = page_rows.SENT if delivery.ok else page_rows.FAILED
        if delivery.ok:
            level = f", level {claim.level}" if claim.action == "trigger" else ""
            text = {"trigger": f"Paged through {how}{level}", "acknowledge": f"Acknowledged in {how}", "resolve": f"Resolved in {how}"}[
                claim.action
            ]
        else:
            text = f"Could not {claim.action} the page in {how}: {delivery.reason}"
        async with self._db.transaction() as session:
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
        if delivery.configuration_error and self._announce_channel:
            # The reference and the reason only: no title, so a private incident's is safe here too.
            try:
                await self._slack.post_message(
                    self._announce_channel, f"⚠️ {incident.reference}: {text}. Fix the set-up; docs/paging.md says how."
                )
            except SlackError as error:
                log.error("%s: could not tell the announcement channel that paging failed: %s", incident.reference, error)
