"""What happens after a slash command or form is acknowledged: each flow ends by telling the person."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import logs, metrics
from bot.analytics.reports import Reports, parse_stats_text
from bot.analytics.stats_view import home_view, report_blocks
from bot.catalog.services import Catalog, require_known_service
from bot.core.clock import Clock
from bot.core.command_text import CommandTextError, OpenRequest, needs_user_timezone, parse_open_text, unescape_slack
from bot.core.phases import Stamp
from bot.core.records import IncidentRecord
from bot.core.timefmt import human_duration, slack_time, utc_clock
from bot.incidents.operations import Incidents, parse_reference
from bot.incidents.permissions import PermissionChecks
from bot.incidents.stamping import AckResult, Stamper, StampOutcome, StampResult
from bot.integrations.deploys import DeployMatch, Deploys, deploy_line, parse_deploy_text, parse_deploys_text
from bot.slack import SlackError, SlackGateway, blocks, messages
from bot.timers.monitoring import Monitoring, ReopenResult
from bot.warroom.resolution import Resolutions
from bot.warroom.runbook_room import RunbookRoom, Toggle
from bot.warroom.setup import WarRoomReport, WarRooms
from storage.db import recording_done

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Requester:
    """Who asked, and where an answer only they can see goes."""

    user_id: str
    channel_id: str | None = None
    response_url: str | None = None


class Flows:
    def __init__(
        self,
        incidents: Incidents,
        war_rooms: WarRooms,
        stamper: Stamper,
        resolutions: Resolutions,
        slack: SlackGateway,
        clock: Clock,
        *,
        catalog: Catalog,
        deploys: Deploys,
        deploy_window: timedelta,
        runbook_room: RunbookRoom,
        reports: Reports,
        permissions: PermissionChecks,
        monitoring: Monitoring,
    ) -> None:
        self._permissions = permissions
        self._monitoring = monitoring
        self._reports = reports
        self._catalog = catalog
        self._deploys = deploys
        self._deploy_window = deploy_window
        self._runbook_room = runbook_room
        self._incidents = incidents
        self._war_rooms = war_rooms
        self._stamper = stamper
        self._resolutions = resolutions
        self._slack = slack
        self._clock = clock

    async def tell(self, requester: Requester, text: str, *, blocks_: list[dict[str, Any]] | None = None) -> None:
        """Ephemeral answer through the response_url; a direct message when there is none."""
        await recording_done()  # an answer means the outcome is settled: the request may be acknowledged
        try:
            if requester.response_url:
                await self._slack.respond(requester.response_url, text, blocks=blocks_)
            else:
                await self._slack.post_message(requester.user_id, text, blocks=blocks_)
        except SlackError as error:
            log.warning("could not answer %s: %s", requester.user_id, error)

    async def show_open_form(self, requester: Requester, trigger_id: str) -> None:
        metadata = {"channel_id": requester.channel_id or "", "response_url": requester.response_url or ""}
        try:
            form = blocks.open_modal(now=self._clock(), private_metadata=metadata, services=self._catalog.names())
            await self._slack.open_view(trigger_id, form)
        except SlackError as error:
            await self.tell(requester, f"Could not open the form: {error}. You can also type `/incident open <title>`.")

    async def open_from_text(self, requester: Requester, text: str, *, request_key: str) -> None:
        now = self._clock()
        user_tz: ZoneInfo | timezone = UTC
        if needs_user_timezone(text):
            try:
                user_tz = ZoneInfo(await self._slack.user_timezone(requester.user_id) or "UTC")
            except (SlackError, ZoneInfoNotFoundError) as error:
                await self.tell(
                    requester,
                    f"Could not read your time zone from Slack ({error}), so a clock time is ambiguous. "
                    "Give the zone, e.g. `started:2026-11-23T14:05Z`, or a relative time like `started:-20m`.",
                )
                return
        try:
            request = parse_open_text(text, now=now, user_tz=user_tz)
            require_known_service(self._catalog, request.service)
        except CommandTextError as error:
            await self.tell(requester, messages.typed_text_refused(error))
            return
        await self.open_incident(requester, request, request_key=request_key)

    async def open_incident(self, requester: Requester, request: OpenRequest, *, request_key: str) -> IncidentRecord:
        recorded = await self._incidents.record_new(
            request, opener=requester.user_id, request_key=request_key, origin_channel=requester.channel_id
        )
        if not recorded.created:
            log.info("duplicate delivery of %s ignored (%s)", request_key, recorded.record.reference)
            return recorded.record
        reference = recorded.record.reference
        try:
            matches = await self._correlate(recorded.record)
            report = await self._war_rooms.set_up(recorded.record.id, invitees=[requester.user_id], new=recorded.record, deploys=matches)
        except Exception as error:
            # The incident is committed: whatever broke now, the person must not be told that
            # nothing was recorded (they would open it again), but what is and what to run.
            metrics.ERRORS.labels("flow").inc()
            log.exception("%s: war-room set-up stopped", reference)
            await self.tell(requester, messages.recorded_but_set_up_stopped(reference, error))
            return recorded.record
        if report.failures:
            await self.tell(requester, messages.opened_with_failures(reference, report.channel_id, report.failures))
        else:
            assert report.channel_id
            await self.tell(requester, messages.opened(reference, report.channel_id))
        return recorded.record

    async def set_up_alert_war_room(self, incident: IncidentRecord) -> None:
        """The war room of an incident an alert opened: the same steps as a manual open. Nobody
        asked, so failures go to the log and the timeline (``/incident repair`` redoes them)."""
        matches = await self._correlate(incident)
        report = await self._war_rooms.set_up(incident.id, invitees=[], new=incident, deploys=matches)
        if report.failures:
            log.warning("%s: war room steps failed: %s", incident.reference, "; ".join(report.failures))

    async def acknowledge(self, requester: Requester, argument: str, *, at: datetime | None = None) -> None:
        """``/incident ack [INC-42]``."""
        incident = await self.resolve_reference(requester, argument)
        if incident is not None:
            await self.acknowledge_incident(requester, incident.id, at=at)

    async def acknowledge_incident(self, requester: Requester, incident_id: int, *, at: datetime | None = None) -> None:
        """The Acknowledge button, or the command once the incident is known. Taking an incident
        on is a stamp like the phases: the ``stamp`` permission."""
        if refusal := await self._refusal("stamp", incident_id, requester):
            await self.tell(requester, refusal)
            return
        outcome = await self._stamper.acknowledge(incident_id, by=requester.user_id, at=at)
        incident = outcome.record
        if outcome.result is AckResult.UNKNOWN_INCIDENT or incident is None:
            await self.tell(requester, messages.unknown_incident(f"INC-{incident_id}"))
        elif outcome.result is AckResult.ALREADY:
            assert incident.acknowledged_at is not None
            await self.tell(
                requester, messages.already_acknowledged(incident.reference, incident.acknowledged_by, slack_time(incident.acknowledged_at))
            )
        elif outcome.result is AckResult.NOT_OPEN:
            await self.tell(requester, messages.not_open_to_acknowledge(incident.reference))
        else:
            assert incident.acknowledged_at is not None
            after = human_duration(incident.acknowledged_at - incident.timeline.at(Stamp.DETECTED))  # type: ignore[operator]  # detected_at is NOT NULL: a stored incident has it
            line = messages.acknowledged_line(requester.user_id, slack_time(incident.acknowledged_at, "{time}"), after)
            failures = await self._war_rooms.refresh(incident, announce_line=line)
            if failures:
                await self.tell(requester, messages.slack_update_failed(failures, incident.reference))

    async def reopen(self, requester: Requester, argument: str, *, at: datetime | None = None) -> None:
        """``/incident reopen [INC-42]``."""
        incident = await self.resolve_reference(requester, argument)
        if incident is not None:
            await self.reopen_incident(requester, incident.id, at=at)

    async def reopen_incident(self, requester: Requester, incident_id: int, *, at: datetime | None = None) -> None:
        """Reopening needs only the ``stamp`` permission, not ``close``: whoever may work the
        incident may say the problem is back."""
        if refusal := await self._refusal("stamp", incident_id, requester):
            await self.tell(requester, refusal)
            return
        outcome = await self._monitoring.reopen(incident_id, by=requester.user_id, at=at or self._clock())
        incident = outcome.record
        if outcome.result is ReopenResult.UNKNOWN_INCIDENT or incident is None:
            await self.tell(requester, messages.unknown_incident(f"INC-{incident_id}"))
        elif outcome.result is ReopenResult.STILL_OPEN:
            await self.tell(requester, messages.not_verified_to_reopen(incident.reference))
        elif outcome.result is ReopenResult.CLOSED:
            assert outcome.closed_at is not None
            await self.tell(requester, messages.closed_cannot_reopen(incident.reference, slack_time(outcome.closed_at)))
        else:
            assert outcome.earlier_verified_at is not None
            line = messages.reopened_line(requester.user_id, outcome.earlier_verified_by, slack_time(outcome.earlier_verified_at))
            failures = await self._war_rooms.refresh(incident, announce_line=line)
            if failures:
                await self.tell(requester, messages.slack_update_failed(failures, incident.reference))

    async def _refusal(self, action: str, incident_id: int, requester: Requester) -> str | None:
        incident = await self._incidents.get(incident_id)
        if incident is None:
            return None  # the operation itself says the incident is unknown
        refusal = await self._permissions.check(action, incident, requester.user_id)
        return refusal.text if refusal else None

    async def _correlate(self, incident: IncidentRecord) -> list[DeployMatch] | None:
        """Deploys to the service and what it depends on, in the window before impact began."""
        if incident.service is None:
            return None
        services = [incident.service, *self._catalog.upstream_of(incident.service)]
        return await self._deploys.correlate(incident.id, services, incident.started_at, self._deploy_window)

    async def resolve_reference(self, requester: Requester, argument: str) -> IncidentRecord | None:
        """The incident named in ``argument``, or the war room's own when it is empty; tells the
        requester what was wrong when there is none."""
        if argument.strip():
            number = parse_reference(argument.split()[0])
            if number is None:
                await self.tell(requester, messages.bad_reference(unescape_slack(argument.split()[0])))
                return None
            incident = await self._incidents.get(number)
            if incident is None:
                await self.tell(requester, messages.unknown_incident(f"INC-{number}"))
            return incident
        incident = await self._incidents.in_channel(requester.channel_id) if requester.channel_id else None
        if incident is None:
            await self.tell(requester, messages.NOT_IN_WAR_ROOM)
        return incident

    async def status(self, requester: Requester, argument: str) -> None:
        incident = await self.resolve_reference(requester, argument)
        if incident is not None and incident.is_private and not await self._permissions.in_war_room(incident, requester.user_id):
            await self.tell(requester, messages.PRIVATE_INCIDENT)
            return
        if incident is not None:
            await self.tell(requester, blocks.notification_text(incident), blocks_=blocks.status_blocks(incident))

    async def repair(self, requester: Requester, argument: str) -> None:
        incident = await self.resolve_reference(requester, argument)
        if incident is None:
            return
        if incident.is_private and not await self._permissions.in_war_room(incident, requester.user_id):
            await self.tell(requester, messages.PRIVATE_INCIDENT)  # its report would describe its war room
            return
        logs.set_incident(incident.id)
        if refusal := await self._permissions.check("repair", incident, requester.user_id):
            await self.tell(requester, refusal.text)
            return
        report = await self.bring_slack_up_to_date(incident.id)
        if report.failures:
            await self.tell(requester, messages.repair_unfinished(incident.reference, report.channel_id, report.done, report.failures))
        else:
            await self.tell(requester, messages.repaired(incident.reference, report.done, report.already))

    async def bring_slack_up_to_date(self, incident_id: int) -> WarRoomReport:
        """Redo whatever Slack does not show yet: war-room steps, the control message and topic as
        the database has them, and the resolution posts. Steps already done are not repeated."""
        incident = await self._incidents.get(incident_id)
        if incident is None:
            raise LookupError(f"there is no incident INC-{incident_id}")
        if incident.imported_from:
            # A past incident loaded by `incident-bot import`: it never had a war room to repair.
            raise LookupError(
                f"INC-{incident_id} was imported (from {incident.imported_from}) and has no war room; there is nothing in Slack to repair"
            )
        report = await self._war_rooms.set_up(incident_id, invitees=[incident.opened_by])
        if report.failures:
            return report
        current = await self._incidents.get(incident_id)
        assert current is not None
        report.failures += await self._war_rooms.refresh(current)
        report.failures += await self._resolutions.publish(incident_id, done=report.done, already=report.already, look=True)
        return report

    async def note(self, requester: Requester, text: str) -> None:
        text = text.strip()
        if not text:
            await self.tell(requester, messages.NOTE_USAGE)
            return
        incident = await self._incidents.in_channel(requester.channel_id) if requester.channel_id else None
        if incident is None:
            await self.tell(requester, messages.NOT_IN_WAR_ROOM_FOR_NOTE)
            return
        if refusal := await self._permissions.check("stamp", incident, requester.user_id):
            await self.tell(requester, refusal.text)
            return
        await self._incidents.add_to_timeline(incident.id, "note", actor=requester.user_id, text=unescape_slack(text))
        await self.tell(requester, messages.noted(incident.reference))

    async def add_message(self, requester: Requester, *, message_ts: str, author: str | None, text: str) -> None:
        """The "Add to incident timeline" shortcut on a message in a war room."""
        incident = await self._incidents.in_channel(requester.channel_id) if requester.channel_id else None
        if incident is None:
            await self.tell(requester, messages.NOT_IN_WAR_ROOM_FOR_NOTE)
            return
        assert requester.channel_id
        if refusal := await self._permissions.check("stamp", incident, requester.user_id):
            await self.tell(requester, refusal.text)
            return
        try:
            link = await self._slack.permalink(requester.channel_id, message_ts)
        except SlackError as error:
            log.warning("no permalink for %s: %s", message_ts, error)
            link = None
        who = f"<@{author}>" if author else "a message"
        added = await self._incidents.add_to_timeline(
            incident.id,
            "message",
            actor=requester.user_id,
            text=f"{who}: {unescape_slack(text)}" if text else f"{who} (no text)",
            data={"author": author, "permalink": link, "message_ts": message_ts},
            unique_key=message_ts,
        )
        await self.tell(requester, messages.noted(incident.reference) if added else messages.already_noted(incident.reference))

    async def stamp(self, requester: Requester, incident_id: int, stamp: Stamp, *, at: datetime | None = None) -> StampOutcome:
        """A phase button was clicked: stamp it once, then bring Slack up to date."""
        outcome = await self.record_stamp(requester, incident_id, stamp, at=at)
        await self.show_stamp(requester, outcome)
        return outcome

    async def record_stamp(self, requester: Requester, incident_id: int, stamp: Stamp, *, at: datetime | None = None) -> StampOutcome:
        """Only the database part of a click, after the permission check: the conditional UPDATE,
        committed when this returns. Marking verified resolves the incident, so it takes the
        ``close`` permission; the other phases ``stamp``."""
        logs.set_incident(incident_id)
        incident = await self._incidents.get(incident_id)
        if incident is not None:
            action = "close" if stamp is Stamp.VERIFIED else "stamp"
            if refusal := await self._permissions.check(action, incident, requester.user_id):
                return StampOutcome(StampResult.NOT_PERMITTED, stamp, incident, reason=refusal.text, incident_id=incident_id)
            if (existing := incident.timeline.get(stamp)) is not None:
                # Stamps are never cleared by a click, so the answer needs no write transaction.
                return StampOutcome(StampResult.ALREADY, stamp, incident, existing)
        outcome = await self._stamper.stamp(incident_id, stamp, by=requester.user_id, at=at, read=incident)
        if outcome.result is StampResult.STAMPED:
            metrics.STAMPS.labels(stamp.value).inc()
        return outcome

    async def show_stamp(self, requester: Requester, outcome: StampOutcome) -> None:
        """Tell the clicker and Slack what a recorded click did."""
        stamp = outcome.stamp
        if outcome.record is not None:
            logs.set_incident(outcome.record.id)
        if outcome.result is StampResult.UNKNOWN_INCIDENT:
            await self.tell(requester, messages.unknown_incident(f"INC-{outcome.incident_id}"))
        elif outcome.result is StampResult.NOT_PERMITTED:
            await self.tell(requester, outcome.reason)
        elif outcome.result is StampResult.REFUSED:
            await self.tell(requester, messages.stamp_refused(stamp.value, outcome.reason))
        elif outcome.result is StampResult.ALREADY:
            assert outcome.value is not None
            await self.tell(
                requester,
                messages.already_stamped(stamp.value, outcome.value.by, slack_time(outcome.value.at), outcome.value.implied),
            )
        else:
            await self._show_stamp(requester, outcome)

    async def _show_stamp(self, requester: Requester, outcome: StampOutcome) -> None:
        incident = outcome.record
        assert incident is not None and outcome.value is not None
        line = self._stamp_line(incident, outcome)
        if outcome.stamp is Stamp.VERIFIED:
            ends = self._monitoring.ends(outcome.value.at)
            line += "\n" + messages.monitoring_line(slack_time(ends, "{time}"))
        failures = await self._war_rooms.refresh(incident, announce_line=line)
        if outcome.stamp is Stamp.VERIFIED:
            failures += await self._resolutions.publish(incident.id)
        if failures:
            await self.tell(requester, messages.slack_update_failed(failures, incident.reference))

    @staticmethod
    def _stamp_line(incident: IncidentRecord, outcome: StampOutcome) -> str:
        assert outcome.value is not None
        since = human_duration(outcome.value.at - incident.timeline.at(Stamp.DETECTED))  # type: ignore[operator]  # detected_at is NOT NULL: a stored incident has it
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

    async def tick_runbook(self, requester: Requester, post_id: int, *, seen: set[int], now: set[int], at: datetime) -> None:
        """A checklist box was ticked or unticked: record exactly what this person changed."""
        toggles = [Toggle(i, True) for i in sorted(now - seen)] + [Toggle(i, False) for i in sorted(seen - now)]
        incident = await self._incidents.in_channel(requester.channel_id) if requester.channel_id else None
        if incident is None:
            await self.tell(requester, messages.CHECKLIST_NOT_HERE)
            return
        logs.set_incident(incident.id)
        if refusal := await self._permissions.check("stamp", incident, requester.user_id):
            await self.tell(requester, refusal.text)
            return
        result = await self._runbook_room.tick(post_id, toggles, by=requester.user_id, at=at, incident=incident)
        if result.elsewhere:
            await self.tell(requester, messages.CHECKLIST_NOT_HERE)
        elif result.runbook is None:
            await self.tell(requester, messages.RUNBOOK_GONE)

    async def offer_deploy_start(self, *, view_id: str, view_hash: str | None, metadata: dict[str, str], service: str) -> None:
        """The form's service was chosen: offer its recent deploys as the impact start."""
        services = [service, *self._catalog.upstream_of(service)]
        recent = [d for s in services for d in await self._deploys.recent(s, self._deploy_window)]
        recent.sort(key=lambda d: d.deployed_at, reverse=True)
        now = self._clock()
        choices = [
            (f"deploy:{d.id}", f"{d.service} {d.version} · {human_duration(now - d.deployed_at)} ago ({utc_clock(d.deployed_at)})")
            for d in recent
            if d.deployed_at <= now
        ]
        form = blocks.open_modal(now=now, private_metadata=metadata, services=self._catalog.names(), deploy_choices=choices)
        try:
            await self._slack.update_view(view_id, form, hash_=view_hash)
        except SlackError as error:
            # hash_conflict: the person changed the form meanwhile; the newer choice will update it.
            log.info("form %s not updated: %s", view_id, error)

    async def open_from_form(self, requester: Requester, request: OpenRequest, *, request_key: str, impact_deploy_id: int | None) -> None:
        """The submitted form; "impact started at that deploy" replaces the picked start time."""
        if impact_deploy_id is not None:
            deploy = await self._deploys.get(impact_deploy_id)
            if deploy is None or deploy.deployed_at > request.detected_at:
                await self.tell(requester, messages.DEPLOY_CHOICE_GONE)
                return
            request = replace(request, started_at=deploy.deployed_at)
        await self.open_incident(requester, request, request_key=request_key)

    async def attach_runbook(self, requester: Requester, name: str) -> None:
        incident = await self._incidents.in_channel(requester.channel_id) if requester.channel_id else None
        if incident is None:
            await self.tell(requester, messages.NOT_IN_WAR_ROOM_FOR_RUNBOOK)
            return
        name = name.strip()
        if not name:
            candidates = self._runbook_room.candidates(incident.service)
            await self.tell(
                requester,
                messages.runbook_list(incident.service, [r.name for r in candidates], [r.name for r in self._runbook_room.runbooks]),
            )
            return
        runbook = self._runbook_room.find(name)
        if runbook is None:
            await self.tell(requester, messages.unknown_runbook(unescape_slack(name), [r.name for r in self._runbook_room.runbooks]))
            return
        try:
            posted = await self._runbook_room.post(incident, runbook, by=requester.user_id)
        except SlackError as error:
            await self.tell(requester, f"Could not post the runbook: {error}.")
            return
        if posted == "already":
            await self.tell(requester, messages.runbook_already_posted(runbook.name, incident.reference))

    async def record_deploy(self, requester: Requester, text: str) -> None:
        try:
            author = await self._slack.display_name(requester.user_id)
        except SlackError:
            author = requester.user_id
        try:
            deploy_in = parse_deploy_text(text, now=self._clock(), author=author)
            require_known_service(self._catalog, deploy_in.service)
        except CommandTextError as error:
            await self.tell(requester, messages.typed_text_refused(error))
            return
        record, created = await self._deploys.record(deploy_in, "slack")
        await self.tell(requester, messages.deploy_recorded(record.id, deploy_line(record), created))

    async def list_deploys(self, requester: Requester, text: str) -> None:
        try:
            query = parse_deploys_text(text, default_within=self._deploy_window)
            require_known_service(self._catalog, query.service)
        except CommandTextError as error:
            await self.tell(requester, messages.typed_text_refused(error))
            return
        found = await self._deploys.recent(query.service, query.within)
        await self.tell(requester, messages.deploy_list(query.service, human_duration(query.within), [deploy_line(d) for d in found]))

    async def stats(self, requester: Requester, text: str) -> None:
        """``/incident stats``: the window's figures, only for the person who asked."""
        try:
            query = parse_stats_text(text)
            require_known_service(self._catalog, query.service)
        except CommandTextError as error:
            await self.tell(requester, messages.typed_text_refused(error))
            return
        now = self._clock()
        services = [query.service] if query.service else None
        severities = [query.severity] if query.severity else None
        report, war_rooms, trend = await self._reports.window_and_trend(
            now - timedelta(days=query.days), now, services=services, severities=severities
        )
        title = f"MTTR · {query.label}"
        await self.tell(requester, title, blocks_=report_blocks(report, trend, title=title, war_rooms=war_rooms))

    async def publish_home(self, user_id: str) -> None:
        """The App Home tab: open incidents with their phase and age, and the last 30 days."""
        now = self._clock()
        report, war_rooms, trend = await self._reports.window_and_trend(now - timedelta(days=30), now)
        view = home_view(report.open_incidents, report, war_rooms=war_rooms, trend=trend)
        try:
            await self._slack.publish_home(user_id, view)
        except SlackError as error:
            log.warning("App Home for %s not published: %s", user_id, error)
