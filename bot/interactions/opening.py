"""Opening an incident: the form, the typed command, an alert's war room, and the recent deploys
the form offers as the moment impact began."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import metrics
from bot.background import urgency
from bot.catalog.services import Catalog, require_known_service
from bot.core.clock import Clock
from bot.core.command_text import SEVERITIES, CommandTextError, OpenRequest, needs_user_timezone, parse_open_text
from bot.core.records import IncidentRecord
from bot.incidents.operations import Incidents
from bot.integrations.deploys import DeployMatch
from bot.integrations.impact_deploys import ImpactDeploys
from bot.interactions.replies import Replies, Requester
from bot.paging.at_open import PagingAtOpen
from bot.slack import SlackError, SlackGateway, blocks, messages
from bot.warroom.setup import WarRooms
from bot.warroom.step_claims import ClaimsTaken
from storage.db import Statements

log = logging.getLogger(__name__)


def severity_urgency(severity: str) -> int:
    """A P1's war room first when Slack's rate limits make calls wait (bot.background.urgency)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


@dataclass(frozen=True)
class WrittenWithIncident:
    """What the transaction that recorded an incident opened by a person wrote with it: its deploys
    correlated and its war room's first steps claimed. So the incident's one commit is the only
    database round trip before its channel is created."""

    deploys: list[DeployMatch] | None  # None: no service to correlate with
    claims: ClaimsTaken


class Opening:
    """Owns the ways an incident is opened (form, typed command, alert) and what follows its record:
    the war room, the opener's answer and the page at open."""

    def __init__(
        self,
        incidents: Incidents,
        war_rooms: WarRooms,
        replies: Replies,
        slack: SlackGateway,
        clock: Clock,
        *,
        catalog: Catalog,
        deploys: ImpactDeploys,
        paging: PagingAtOpen | None = None,
    ) -> None:
        self._incidents = incidents
        self._war_rooms = war_rooms
        self._replies = replies
        self._slack = slack
        self._clock = clock
        self._catalog = catalog
        self._deploys = deploys
        self._paging = paging

    def _write_with(self, work: Statements, incident: IncidentRecord) -> WrittenWithIncident:
        """Inside the incident's transaction (on SQLite in a worker thread)."""
        return WrittenWithIncident(self._deploys.correlate_in(work, incident), self._war_rooms.claim_new_room(work, incident))

    async def show_form(self, requester: Requester, trigger_id: str) -> None:
        """``/incident open`` with nothing after it."""
        metadata = {"channel_id": requester.channel_id or "", "response_url": requester.response_url or ""}
        try:
            form = blocks.open_modal(now=self._clock(), private_metadata=metadata, services=self._catalog.names())
            await self._slack.views.open(trigger_id, form)
        except SlackError as error:
            await self._replies.tell(requester, f"Could not open the form: {error}. You can also type `/incident open <title>`.")

    async def from_text(self, requester: Requester, text: str, *, request_key: str) -> None:
        """``/incident open <title> …``."""
        now = self._clock()
        user_tz: ZoneInfo | timezone = UTC
        if needs_user_timezone(text):
            try:
                user_tz = ZoneInfo(await self._slack.people.timezone(requester.user_id) or "UTC")
            except (SlackError, ZoneInfoNotFoundError) as error:
                await self._replies.tell(
                    requester,
                    f"Could not read your time zone from Slack ({error}), so a clock time is ambiguous. "
                    "Give the zone, e.g. `started:2026-11-23T14:05Z`, or a relative time like `started:-20m`.",
                )
                return
        try:
            request = parse_open_text(text, now=now, user_tz=user_tz)
            require_known_service(self._catalog, request.service)
        except CommandTextError as error:
            await self._replies.tell(requester, messages.typed_text_refused(error))
            return
        await self.open(requester, request, request_key=request_key)

    async def offer_deploy_start(self, *, view_id: str, view_hash: str | None, metadata: dict[str, str], service: str) -> None:
        """The form's service was chosen: offer its recent deploys as the impact start."""
        now = self._clock()
        choices = await self._deploys.start_choices(service, now)
        form = blocks.open_modal(now=now, private_metadata=metadata, services=self._catalog.names(), deploy_choices=choices)
        try:
            await self._slack.views.update(view_id, form, hash_=view_hash)
        except SlackError as error:
            # hash_conflict: the person changed the form meanwhile; the newer choice will update it.
            log.info("form %s not updated: %s", view_id, error)

    async def from_form(self, requester: Requester, request: OpenRequest, *, request_key: str, impact_deploy_id: int | None) -> None:
        """The submitted form; "impact started at that deploy" replaces the picked start time."""
        if impact_deploy_id is not None:
            deploy = await self._deploys.get(impact_deploy_id)
            if deploy is None or deploy.deployed_at > request.detected_at:
                await self._replies.tell(requester, messages.DEPLOY_CHOICE_GONE)
                return
            request = replace(request, started_at=deploy.deployed_at)
        await self.open(requester, request, request_key=request_key)

    async def open(self, requester: Requester, request: OpenRequest, *, request_key: str) -> IncidentRecord:
        recorded = await self._incidents.record_new(
            request, opener=requester.user_id, request_key=request_key, origin_channel=requester.channel_id, along=self._write_with
        )
        if not recorded.created:
            log.info("duplicate delivery of %s ignored (%s)", request_key, recorded.record.reference)
            return recorded.record
        reference = recorded.record.reference
        written = recorded.along
        assert written is not None  # a created incident: its transaction ran _write_with
        try:
            with urgency(severity_urgency(recorded.record.severity)):
                report = await self._war_rooms.set_up(
                    recorded.record.id,
                    invitees=[requester.user_id],
                    new=recorded.record,
                    deploys=written.deploys,
                    taken=written.claims,
                )
        except Exception as error:
            # The incident is committed: whatever broke now, the person must not be told that
            # nothing was recorded (they would open it again), but what is and what to run.
            metrics.ERRORS.labels("flow").inc()
            log.exception("%s: war-room set-up stopped", reference)
            await self._replies.tell(requester, messages.recorded_but_set_up_stopped(reference, error))
            await self.page(recorded.record)
            return recorded.record
        if report.failures:
            await self._replies.tell(requester, messages.opened_with_failures(reference, report.channel_id, report.failures))
        else:
            assert report.channel_id
            await self._replies.tell(requester, messages.opened(reference, report.channel_id))
        # After the opener's answer: a PagerDuty that is slow or retrying never holds it back.
        await self.page(recorded.record)
        return recorded.record

    async def set_up_alert_war_room(self, incident: IncidentRecord) -> None:
        """The war room of an incident an alert opened: the same steps as a manual open. Nobody
        asked, so failures go to the log and the timeline (``/incident repair`` redoes them)."""
        with urgency(severity_urgency(incident.severity)):
            matches = await self._deploys.correlate(incident)
            try:
                report = await self._war_rooms.set_up(incident.id, invitees=[], new=incident, deploys=matches)
            finally:
                await self.page(incident)
        if report.failures:
            log.warning("%s: war room steps failed: %s", incident.reference, "; ".join(report.failures))

    async def page(self, incident: IncidentRecord) -> None:
        """The page at open (PagingAtOpen.page), when paging outside Slack is configured."""
        if self._paging is not None:
            await self._paging.page(incident)
