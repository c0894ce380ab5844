"""Setting up an incident's war room in Slack, from whatever state the database says it is in.

Critical path: create the channel, then post the control message (and pin it). Invites, the topic
and the announcement depend only on the channel, so they run concurrently with that path. Each
step records its result as soon as Slack confirms it, so running ``set_up`` again (a repair)
redoes only what is missing and never posts a second control message or announcement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import timedelta
from dataclasses import dataclass, field, replace

from bot import blocks, logs
from bot.channel_names import war_room_name
from bot.catalog import Catalog, Service
from bot.clock import Clock
from bot.deploys import DeployMatch, Deploys, deploy_line
from bot.incidents import to_record
from bot.records import IncidentRecord, WarRoomContext
from bot.runbook_room import RunbookRoom
from bot.runbooks import Runbook
from bot.slack import SlackError, SlackGateway
from bot.step_claims import StepBusy, StepClaims
from bot.timefmt import human_duration
from storage import incidents as incident_rows
from storage.db import Database

log = logging.getLogger(__name__)

NAME_ATTEMPTS = 10
BUSY = "{step}: another repair is doing this right now; check `/incident status` in a minute"


async def _always(_session, _incident_id: int) -> bool:
    return True


@dataclass(frozen=True)
class _Progress:
    incident: IncidentRecord
    pinned: bool
    announced: bool
    bookmarked: bool


@dataclass
class WarRoomReport:
    channel_id: str | None = None
    done: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class WarRooms:
    def __init__(
        self,
        db: Database,
        slack: SlackGateway,
        clock: Clock,
        *,
        announce_channel: str | None,
        catalog: Catalog,
        runbook_room: RunbookRoom,
        deploys: Deploys,
        deploy_window: timedelta,
    ) -> None:
        self._deploys = deploys
        self._deploy_window = deploy_window
        self._db = db
        self._slack = slack
        self._clock = clock
        self._announce_channel = announce_channel
        self._catalog = catalog
        self._runbook_room = runbook_room
        self._claims = StepClaims(db, clock)

    async def _progress(self, incident_id: int) -> _Progress:
        async with self._db.lookup() as session:
            row = await incident_rows.get(session, incident_id)
            if row is None:
                raise LookupError(f"INC-{incident_id} does not exist")
            return _Progress(
                to_record(row),
                pinned=row.control_pinned_at is not None,
                announced=row.announcement_ts is not None,
                bookmarked=row.bookmarked_at is not None,
            )

    async def _record(self, incident_id: int, event: str | None = None, text: str = "", data: dict | None = None, **fields) -> None:
        now = self._clock()
        # Progress alone is one UPDATE and needs no transaction; with an event the two go together.
        async with (self._db.transaction() if event else self._db.single_statements()) as session:
            if fields:
                await incident_rows.record_fields(session, incident_id, at=now, **fields)
            if event:
                await incident_rows.add_event(session, incident_id, event, at=now, text=text, data=data)

    async def _failed(self, report: WarRoomReport, incident_id: int, step: str, error: SlackError) -> None:
        report.failures.append(f"{step}: {error}")
        log.warning("INC-%s: %s failed: %s (%s)", incident_id, step, error.code, error)
        await self._record(incident_id, "slack_step_failed", f"Could not {step}: {error}", {"step": step, "error": error.code})

    async def context(self, incident: IncidentRecord, matches: list[DeployMatch] | None = None) -> WarRoomContext:
        """The service's neighbours and the deploys linked to the incident (``matches`` when the
        caller just correlated them)."""
        service = self._catalog.get(incident.service)
        if service is None:
            return WarRoomContext()
        if matches is None:
            matches = await self._deploys.for_incident(incident.id)
        return WarRoomContext(
            team=service.team,
            upstream=tuple(self._catalog.upstream_of(service.name)),
            downstream=tuple(service.downstream),
            deploy_lines=tuple(deploy_line(m) for m in matches),
            deploy_window=human_duration(self._deploy_window),
        )

    async def set_up(
        self,
        incident_id: int,
        *,
        invitees: list[str],
        new: IncidentRecord | None = None,
        deploys: list[DeployMatch] | None = None,
    ) -> WarRoomReport:
        """Do the war-room steps the database does not show as done.

        ``new`` is a just-recorded incident: nothing is done for it yet, so no read is needed and
        the control message goes out as soon as Slack confirms the channel.
        """
        logs.set_incident(incident_id)
        report = WarRoomReport()
        progress = _Progress(new, pinned=False, announced=False, bookmarked=False) if new else await self._progress(incident_id)
        incident = progress.incident
        if incident.channel_id is None:
            try:
                async with self._claims.claim(incident_id, "channel", self._lacks("channel_id")) as needed:
                    if needed:
                        channel = await self._create_channel(incident)
                        await self._record(
                            incident_id,
                            "war_room_created",
                            f"War room #{channel.name} created",
                            {"channel_id": channel.id, "channel_name": channel.name},
                            channel_id=channel.id,
                            channel_name=channel.name,
                        )
                        report.done.append(f"created <#{channel.id}>")
                        incident = replace(incident, channel_id=channel.id, channel_name=channel.name)
                    else:  # another repair created it meanwhile
                        progress = await self._progress(incident_id)
                        incident = progress.incident
            except SlackError as error:
                await self._failed(report, incident_id, "create the war-room channel", error)
                return report
            except StepBusy:
                report.failures.append(BUSY.format(step="create the war-room channel"))
                return report
        report.channel_id = incident.channel_id

        context = await self.context(incident, deploys)
        steps: list[tuple[str, Awaitable[str | None]]] = [
            ("post and pin the control message", self._control_message(incident, context, progress.pinned))
        ]
        people = sorted(set(invitees) | {incident.commander})
        steps.append((f"invite {', '.join(f'<@{u}>' for u in people)}", self._invite(incident, people)))
        # A private incident has only the opener and the people they invite: no owners or on-call.
        service = None if incident.is_private else self._catalog.get(incident.service)
        if service is not None:
            steps.append((f"invite the {service.name} owners and on-call group", self._invite_service_people(incident, service)))
            if not progress.bookmarked and (service.dashboard or self._runbook_link(service)):
                steps.append(("bookmark the dashboard and runbook", self._bookmark(incident, service)))
        steps.append(("set the channel topic", self._topic(incident)))
        idempotent = {steps[1][0], "set the channel topic"}
        if service is not None:
            idempotent.add(steps[2][0])
        if self._announce_channel and not progress.announced:
            steps.append((f"announce in <#{self._announce_channel}>", self._announce(incident)))
        runbooks = self._runbook_room.candidates(incident.service)
        if runbooks:
            steps.append((f"post the runbook {runbooks[0].name}", self._post_runbook(incident, runbooks[0])))
        results = await asyncio.gather(*(work for _, work in steps), return_exceptions=True)
        for (step, _), result in zip(steps, results):
            if isinstance(result, SlackError):
                await self._failed(report, incident_id, step, result)
            elif isinstance(result, StepBusy):
                report.failures.append(BUSY.format(step=step))
            elif isinstance(result, BaseException):
                raise result
            elif result and (new is not None or step not in idempotent):
                # A repair re-applies invites and the topic every time; only what was missing counts.
                report.done.append(result)
        return report

    async def _create_channel(self, incident: IncidentRecord):
        last_error: SlackError | None = None
        for attempt in range(NAME_ATTEMPTS):
            name = war_room_name(incident.id, incident.title, attempt)
            try:
                return await self._slack.create_channel(name, private=incident.is_private)
            except SlackError as error:
                last_error = error
                if error.code == "name_taken":
                    continue
                if error.code.startswith("invalid_name"):
                    # The slug is ours; a bare number is always a valid name.
                    return await self._slack.create_channel(war_room_name(incident.id, "", attempt), private=incident.is_private)
                raise
        assert last_error is not None
        raise last_error

    async def _control_message(self, incident: IncidentRecord, context: WarRoomContext, pinned: bool) -> str | None:
        assert incident.channel_id
        done: list[str] = []
        ts = incident.control_message_ts
        if ts is None:
            async with self._claims.claim(incident.id, "control_message", self._lacks("control_message_ts")) as needed:
                if needed:
                    posted = await self._slack.post_message(
                        incident.channel_id, blocks.notification_text(incident), blocks=blocks.control_message(incident, context)
                    )
                    ts = posted.ts
                    await self._record(incident.id, control_message_ts=ts)
                    done.append("posted the control message")
                else:
                    ts = (await self._progress(incident.id)).incident.control_message_ts
                    assert ts is not None
        if not pinned:
            await self._slack.pin(incident.channel_id, ts)
            await self._record(incident.id, control_pinned_at=self._clock())
            done.append("pinned the control message")
        return " and ".join(done) or None

    async def _invite(self, incident: IncidentRecord, people: list[str]) -> str:
        assert incident.channel_id
        await self._slack.invite(incident.channel_id, people)
        return "invited " + ", ".join(f"<@{u}>" for u in people)

    async def _invite_service_people(self, incident: IncidentRecord, service: Service) -> str | None:
        """Owners (IDs, or emails looked up) and the on-call group's members (by ID or handle)."""
        assert incident.channel_id
        people = set(service.owner_user_ids)
        for email in service.owner_emails:
            user_id = await self._slack.user_id_by_email(email)
            if user_id:
                people.add(user_id)
            else:
                log.warning("%s: no Slack user with the owner email %s", service.name, email)
        group_id = service.oncall_group_id
        if group_id is None and service.oncall_group_handle:
            group_id = await self._slack.usergroup_id(service.oncall_group_handle)
            if group_id is None:
                raise SlackError("usergroups.list", "no_such_subteam", f"no user group @{service.oncall_group_handle}")
        if group_id:
            people.update(await self._slack.usergroup_members(group_id))
        people -= {incident.commander}
        if not people:
            return None
        await self._slack.invite(incident.channel_id, sorted(people))
        return f"invited the {service.name} owners and on-call ({len(people)})"

    def _runbook_link(self, service: Service) -> str | None:
        if service.runbook_url:
            return service.runbook_url
        runbook = self._runbook_room.find(service.runbook_name) if service.runbook_name else None
        return runbook.url if runbook else None

    async def _bookmark(self, incident: IncidentRecord, service: Service) -> str | None:
        assert incident.channel_id
        async with self._claims.claim(incident.id, "bookmarks", self._lacks("bookmarked_at")) as needed:
            if not needed:
                return None
            if service.dashboard:
                await self._slack.add_bookmark(incident.channel_id, f"{service.name} dashboard", service.dashboard)
            if link := self._runbook_link(service):
                await self._slack.add_bookmark(incident.channel_id, f"{service.name} runbook", link)
            await self._record(incident.id, bookmarked_at=self._clock())
        return "bookmarked the dashboard and runbook"

    async def _post_runbook(self, incident: IncidentRecord, runbook: Runbook) -> str | None:
        async with self._claims.claim(incident.id, f"runbook:{runbook.name}", _always) as _:
            # RunbookRoom.post reads under the claim whether it is posted already.
            posted = await self._runbook_room.post(incident, runbook, by=None)
        return f"posted the runbook {runbook.name}" if posted else None

    async def _topic(self, incident: IncidentRecord) -> str:
        assert incident.channel_id
        await self._slack.set_topic(incident.channel_id, blocks.channel_topic(incident))
        return "set the topic"

    async def _announce(self, incident: IncidentRecord) -> str | None:
        assert self._announce_channel
        async with self._claims.claim(incident.id, "announcement", self._lacks("announcement_ts")) as needed:
            if not needed:
                return None
            if incident.is_private:
                posted = await self._slack.post_message(self._announce_channel, blocks.PRIVATE_ANNOUNCEMENT)
                await self._record(incident.id, announcement_ts=posted.ts)
                return f"announced in <#{self._announce_channel}> (without the title: private)"
            posted = await self._slack.post_message(
                self._announce_channel,
                f"{blocks.notification_text(incident)} — war room <#{incident.channel_id}>",
                blocks=blocks.announcement_blocks(incident),
            )
            await self._record(incident.id, announcement_ts=posted.ts)
        return f"announced in <#{self._announce_channel}>"

    @staticmethod
    def _lacks(column: str):
        """A check, run under a step's claim, that the incident's ``column`` is still empty."""

        async def still_needed(session, incident_id: int) -> bool:
            row = await incident_rows.get(session, incident_id)
            return row is not None and getattr(row, column) is None

        return still_needed

    async def refresh(self, incident: IncidentRecord, *, announce_line: str | None = None) -> list[str]:
        """Show a changed incident: update the control message and topic, and say what changed.

        Returns what did not happen, in words; the database already holds the change.
        """
        if incident.channel_id is None:
            return ["the incident has no war room yet"]
        steps: list[tuple[str, Awaitable[object]]] = []
        context = await self.context(incident)
        if incident.control_message_ts:
            steps.append(
                (
                    "the control message could not be updated",
                    self._slack.update_message(
                        incident.channel_id,
                        incident.control_message_ts,
                        blocks.notification_text(incident),
                        blocks=blocks.control_message(incident, context),
                    ),
                )
            )
        steps.append(("the channel topic could not be updated", self._topic(incident)))
        if announce_line:
            steps.append(("the war room could not be told", self._slack.post_message(incident.channel_id, announce_line)))
        results = await asyncio.gather(*(work for _, work in steps), return_exceptions=True)
        failures: list[str] = []
        for (what, _), result in zip(steps, results):
            if isinstance(result, SlackError):
                failures.append(f"{what} ({result})")
                await self._record(incident.id, "slack_step_failed", f"{what}: {result}", {"error": result.code})
            elif isinstance(result, BaseException):
                raise result
        return failures
