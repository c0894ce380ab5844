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

import logging
from dataclasses import dataclass, field

from bot.core.clock import Clock
from bot.core.records import IncidentRecord
from bot.paging.bodies import Action
from bot.paging.page_sending import PAGERDUTY, SEND_LEASE, WEBHOOK, PageSending
from bot.paging.pager import PageLinks, PageResult, PageTarget, pager_name
from bot.paging.senders import PagerDutySender, PagingHttp, WebhookSender
from bot.slack import SlackError, SlackGateway
from storage import pages as page_rows
from storage.db import Database

log = logging.getLogger(__name__)


OUTBOUND = (PAGERDUTY, WEBHOOK)
__all__ = ["SEND_LEASE", "ExternalPagers", "PagesRepair"]


@dataclass
class PagesRepair:
    """What ``ExternalPagers.repair`` did, in the words ``/incident repair`` reports."""

    done: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _what(via: str, action: str, level: int) -> str:
    return {"trigger": f"paged {pager_name(via)} (level {level})", "acknowledge": f"acknowledged in {pager_name(via)}"}.get(
        action, f"resolved in {pager_name(via)}"
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


@dataclass(frozen=True, eq=False)
class ExternalPagers:
    """Owns what is paged outside Slack and when: at open, per chain level, after a reopening, and
    what ``/incident repair`` sends again; each page goes through PageSending, once."""

    db: Database
    clock: Clock
    slack: SlackGateway
    sending: PageSending
    pagerduty: PagerDutySender
    webhook: WebhookSender
    http: PagingHttp

    async def close(self) -> None:
        await self.http.close()

    # ------------------------------------------------------------------ what can be paged

    async def links(self, incident: IncidentRecord) -> PageLinks:
        """Where a paged person goes: the war room and the control message (its permalink when
        Slack gives it; a page never waits for more than that one read)."""
        if incident.channel_id is None:
            return PageLinks()
        war_room = f"https://slack.com/app_redirect?channel={incident.channel_id}"
        control = None
        if incident.control_message_ts:
            try:
                control = await self.slack.chat.permalink(incident.channel_id, incident.control_message_ts)
            except SlackError as error:
                log.warning("%s: no permalink for the control message (%s); the page links the war room", incident.reference, error)
        return PageLinks(war_room=war_room, control_message=control)

    # ------------------------------------------------------------------ the Pager protocol

    async def trigger(self, incident: IncidentRecord, *, level: int, target: PageTarget, links: PageLinks) -> PageResult:
        if target.kind == "pagerduty":
            return await self.sending.send(incident, PAGERDUTY, "trigger", level=level, links=links, service_name=target.ref)
        if target.kind == "webhook":
            return await self.sending.send(incident, WEBHOOK, "trigger", level=level, links=links)
        return PageResult("failed", f"{target.kind} targets are paged in Slack, not by the external pagers")

    async def acknowledge(self, incident: IncidentRecord) -> None:
        await self.sending.follow_up(incident, "acknowledge")

    async def resolve(self, incident: IncidentRecord) -> None:
        await self.sending.follow_up(incident, "resolve")

    async def retrigger(self, incident: IncidentRecord) -> list[PageResult]:
        """A reopened incident pages again, at level 1, on every pager an earlier round triggered
        (PagerDuty opens a new incident: the resolved one keeps its dedup_key's history)."""
        return [result for _via, result in await self._retriggered(incident)]

    async def _retriggered(self, incident: IncidentRecord) -> list[tuple[str, PageResult]]:
        async with self.db.lookup() as session:
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
        if self.pagerduty.pages(incident):
            targets.append(PageTarget("pagerduty"))
        if self.webhook.configured and self.sending.pages(incident, WEBHOOK):
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
        now = self.clock()
        async with self.db.lookup() as session:
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
            result = await self.sending.send(
                incident, page.via, action, level=page.level, links=links, round_=_round_of(page.key), abandon=stale
            )
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
            for via, result in await self.sending.follow_up(incident, "acknowledge"):
                _tell(report, _what(via, "acknowledge", 0), result)
        else:
            for via, result in await self.sending.follow_up(incident, "resolve"):
                _tell(report, _what(via, "resolve", 0), result)
        return report

    # ------------------------------------------------------------------ sending once
