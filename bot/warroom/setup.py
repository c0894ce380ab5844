"""Setting up an incident's war room in Slack, from whatever state the database says it is in.

Critical path: create the channel, then post the control message (and pin it): three round trips
to Slack, and for a new incident nothing else between them (its claims are taken before the
channel is created, and the channel is recorded while the control message is on its way). The
people to invite (owners' e-mails, the on-call group's handle and members) are looked up while the
channel is created; the invites, the topic and the announcement depend only on the channel and
those look-ups, so they run concurrently with that path. Each step records its result as soon as
Slack confirms it, so running ``set_up`` again (a repair) redoes only what is missing and never
posts a second control message or announcement.

Every step goes through the Slack-step runner (bot.slack.steps), which adopts before it creates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot import logs
from bot.background import side_task, slot_lent
from bot.catalog.runbooks import Runbook
from bot.catalog.services import Catalog, Service
from bot.core.clock import Clock
from bot.core.records import IncidentRecord, Paging, WarRoomContext
from bot.core.timefmt import human_duration
from bot.incidents.operations import to_record
from bot.integrations.deploys import DeployMatch, Deploys, deploy_line
from bot.slack import Channel, ListedChannel, SlackError, SlackGateway, blocks
from bot.slack.steps import (
    SlackSteps,
    StepFailure,
    StepOutcome,
    StillNeeded,
    adopt_since,
    create_once,
    is_database_error,
    run_steps,
    still_empty,
)
from bot.warroom.call_links import CALL_BOOKMARK_TITLE, NO_CALL_LINKS, CallLinks
from bot.warroom.channel_names import war_room_name
from bot.warroom.runbook_room import RunbookRoom
from bot.warroom.step_claims import StepClaims
from storage import incidents as incident_rows
from storage.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")

NAME_ATTEMPTS = 10
BUSY = "{step}: another repair is doing this right now; check `/incident status` in a minute"


async def _always(_session: AsyncSession, _incident_id: int) -> bool:
    return True


DATABASE_AWAY = "the incident database stopped answering before this was done or recorded"


@dataclass(frozen=True)
class _Progress:
    incident: IncidentRecord
    pinned: bool
    announced: bool
    bookmarked: bool


@dataclass(frozen=True)
class _Channel:
    """The channel step's outcome; for a new incident also its control message on its way, and the
    later steps claimed together with the channel (by step: True when still to do)."""

    outcome: StepOutcome[Channel]
    posted: asyncio.Task[str] | None = None
    claimed: dict[str, bool] = field(default_factory=dict)


@dataclass
class WarRoomReport:
    channel_id: str | None = None
    done: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    # What a repair found already in place (in the database, or made by an interrupted attempt).
    already: list[str] = field(default_factory=list)

    def add(self, outcome: StepOutcome[Any], made: str, adopted: str, recorded: str | None) -> None:
        outcome.tell(self.done, self.already, made=made, adopted=adopted, recorded=recorded)


def drop_people(people: asyncio.Task[set[str]] | None) -> None:
    """Done with a look-up of people (``WarRooms.look_up_people``), used or not: stopped if still
    running; its failure, if any, was told by the invite step that needed it, or nothing needed it."""
    if people is None:
        return
    if not people.done():
        people.cancel()
    elif not people.cancelled():
        people.exception()


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
        call_links: CallLinks = NO_CALL_LINKS,
        drill_people: tuple[str, ...] = (),
    ) -> None:
        self._drill_people = drill_people
        self._call_links = call_links
        self._deploys = deploys
        self._deploy_window = deploy_window
        self._db = db
        self._slack = slack
        self._clock = clock
        self._announce_channel = announce_channel
        self._catalog = catalog
        self._runbook_room = runbook_room
        self._claims = StepClaims(db, clock)
        self.steps = SlackSteps(self._claims, slack)

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

    async def _record(
        self, incident_id: int, event: str | None = None, text: str = "", data: dict[str, Any] | None = None, **fields: object
    ) -> None:
        now = self._clock()
        # Progress alone is one UPDATE and needs no transaction; with an event the two go together.
        async with self._db.transaction() if event else self._db.single_statements() as session:
            if fields:
                await incident_rows.record_fields(session, incident_id, at=now, **fields)
            if event:
                await incident_rows.add_event(session, incident_id, event, at=now, text=text, data=data)

    async def note_failure(self, incident_id: int, step: str, error: SlackError) -> None:
        """A Slack step that failed goes in the timeline, unless the database is away too."""
        log.warning("INC-%s: %s failed: %s (%s)", incident_id, step, error.code, error)
        try:
            await self._record(incident_id, "slack_step_failed", f"Could not {step}: {error}", {"step": step, "error": error.code})
        except Exception as db_error:
            if not is_database_error(db_error):
                raise
            log.warning("INC-%s: could not note the failure in the timeline: %s", incident_id, db_error)

    @staticmethod
    def failure_words(failure: StepFailure, *, database_away: str = DATABASE_AWAY) -> str:
        if failure.slack_error is not None:
            return f"{failure.what}: {failure.slack_error}"
        if failure.busy:
            return BUSY.format(step=failure.what)
        return f"{failure.what}: {database_away}"

    async def context(self, incident: IncidentRecord, matches: list[DeployMatch] | None = None, *, new: bool = False) -> WarRoomContext:
        """The service's neighbours, the deploys linked to the incident (``matches`` when the
        caller just correlated them), its call link and the escalation chain's last page (none
        yet for a ``new`` incident)."""
        service = self._catalog.get(incident.service)
        call_url = self._call_links.link_for(incident, service)
        paging = None if new else await self._paging(incident)
        if service is None:
            return WarRoomContext(call_url=call_url, paging=paging)
        if matches is None:
            matches = await self._deploys.for_incident(incident.id)
        return WarRoomContext(
            team=service.team,
            upstream=tuple(self._catalog.upstream_of(service.name)),
            downstream=tuple(service.downstream),
            deploy_lines=tuple(deploy_line(m) for m in matches),
            deploy_window=human_duration(self._deploy_window),
            call_url=call_url,
            paging=paging,
        )

    async def _paging(self, incident: IncidentRecord) -> Paging | None:
        if incident.status != "open" or incident.acknowledged_at is not None:
            return None
        async with self._db.lookup() as session:
            page = await incident_rows.latest_event(session, incident.id, "page")
        if page is None:
            return None
        return Paging(level=int(page.data.get("level", 0)), who=", ".join(page.data.get("mentions") or []) or "nobody", at=page.occurred_at)

    async def set_up(
        self,
        incident_id: int,
        *,
        invitees: list[str],
        new: IncidentRecord | None = None,
        deploys: list[DeployMatch] | None = None,
        people: asyncio.Task[set[str]] | None = None,
    ) -> WarRoomReport:
        """Do the war-room steps the database does not show as done.

        ``people``: the service's people, looked up already (``look_up_people``) while the incident
        was recorded.

        ``new`` is a just-recorded incident: nothing is done for it yet, so no read is needed, and
        nothing is looked for in Slack, and the control message goes out as soon as Slack confirms
        the channel. Otherwise (a repair) each step first looks in Slack for what an interrupted
        attempt made. A database that stops answering midway is reported as a failure of the step
        it stopped, like a Slack failure: the incident itself is recorded either way.
        """
        logs.set_incident(incident_id)
        progress = _Progress(new, pinned=False, announced=False, bookmarked=False) if new else await self._progress(incident_id)
        service = self._service(progress.incident.service, private=progress.incident.is_private)
        if people is None:
            people = self.look_up_people(progress.incident.service, private=progress.incident.is_private, drill=progress.incident.is_drill)
        try:
            # The claims a new incident takes before its channel exists are held to the end.
            async with AsyncExitStack() as claims:
                return await self._set_up(progress, invitees, new is not None, deploys, service, people, claims)
        finally:
            drop_people(people)

    def _service(self, name: str | None, *, private: bool) -> Service | None:
        # A private incident has only the opener and the people they invite: no owners or on-call.
        return None if private else self._catalog.get(name)

    def look_up_people(self, service_name: str | None, *, private: bool, drill: bool = False) -> asyncio.Task[set[str]] | None:
        """Start looking up the owners and on-call members of the service a war room will invite
        (a drill's: the people named for drills, never the service's on-call): none of it needs
        the channel, or even the incident, so Slack is asked at once."""
        if drill:  # a private drill, like any private incident, has only the opener and whom they invite
            return side_task(self._drill_people_ids(), name="war-room-people-drill") if self._drill_people and not private else None
        service = self._service(service_name, private=private)
        return side_task(self._service_people(service), name=f"war-room-people-{service.name}") if service else None

    async def _set_up(
        self,
        progress: _Progress,
        invitees: list[str],
        first: bool,
        deploys: list[DeployMatch] | None,
        service: Service | None,
        people: asyncio.Task[set[str]] | None,
        claims: AsyncExitStack,
    ) -> WarRoomReport:
        report = WarRoomReport()
        incident = progress.incident
        incident_id = incident.id
        look = not first
        context = await self.context(incident, deploys, new=first)
        posted: asyncio.Task[str] | None = None
        claimed: dict[str, bool] = {}
        runbooks = self._runbook_room.candidates(incident.service)
        links = bool(self._bookmark_links(incident, service, context.call_url))
        if incident.channel_id is None:
            step = "create the war-room channel"
            if first:
                # The later steps that post are claimed with the channel too: after Slack's answer
                # they go out without a database round trip of their own first. None of them is
                # done before the channel is: the channel's own check under its claim covers them.
                ahead = ["bookmarks"] if links else []
                if self._announce_channel:
                    ahead.append("announcement")
                if runbooks:
                    ahead.append(f"runbook:{runbooks[0].name}")
                created: Awaitable[_Channel] = self._new_room(incident, context, claims, ahead)
            else:
                created = self._channel_step(incident)
            run = await run_steps(
                [(step, created)], note=lambda what, error: self.note_failure(incident_id, what, error), database_errors=True
            )
            if run.failures:
                waiting = "the control message, invites, bookmarks, topic, announcement and runbook wait for it"
                report.failures.append(self.failure_words(run.failures[0], database_away=f"{DATABASE_AWAY}; {waiting}"))
                return report
            value = run.values[0]
            assert isinstance(value, _Channel)
            outcome, posted, claimed = value.outcome, value.posted, value.claimed
            if outcome.how == "recorded":  # another repair created it meanwhile
                progress = await self._progress(incident_id)
                incident = progress.incident
            else:
                assert outcome.value is not None
                channel = outcome.value
                report.add(outcome, f"created <#{channel.id}>", f"found <#{channel.id}>, made by an interrupted attempt", None)
                incident = replace(incident, channel_id=channel.id, channel_name=channel.name)
        report.channel_id = incident.channel_id

        steps: list[tuple[str, Awaitable[None]]] = [
            ("post and pin the control message", self._control_message(report, incident, context, progress.pinned, look, posted))
        ]
        everyone = sorted(set(invitees) | {incident.commander})
        steps.append((f"invite {', '.join(f'<@{u}>' for u in everyone)}", self._invite(report, incident, everyone, look)))
        if incident.is_drill and people is not None:
            steps.append(
                (
                    "invite the people named for drills",
                    self._invite_service_people(report, incident, "people named for drills", people, look),
                )
            )
        elif service is not None and people is not None:
            steps.append(
                (
                    f"invite the {service.name} owners and on-call group",
                    self._invite_service_people(report, incident, f"{service.name} owners and on-call", people, look),
                )
            )
        if links:
            if progress.bookmarked:
                report.already.append("the dashboard and runbook bookmarks")
            else:
                steps.append(
                    ("bookmark the call, dashboard and runbook", self._bookmark(report, incident, service, context.call_url, look, claimed))
                )
        steps.append(("set the channel topic", self._topic(report, incident, first)))
        if self._announce_channel:
            if progress.announced:
                report.already.append(f"the announcement in <#{self._announce_channel}>")
            else:
                steps.append((f"announce in <#{self._announce_channel}>", self._announce(report, incident, look, claimed)))
        if runbooks:
            steps.append((f"post the runbook {runbooks[0].name}", self._post_runbook(report, incident, runbooks[0], look, claimed)))
        run = await run_steps(steps, note=lambda what, error: self.note_failure(incident_id, what, error), database_errors=True)
        report.failures.extend(self.failure_words(failure) for failure in run.failures)
        return report

    async def _channel_step(self, incident: IncidentRecord) -> _Channel:
        """A repair's channel step: found in Slack when an interrupted attempt made it, else created."""
        outcome = await self.steps.once(
            incident.id,
            "channel",
            still_needed=self._lacks("channel_id"),
            find=lambda: self._find_channel(incident),
            create=lambda: self._create_channel(incident),
            record=lambda channel: self._record_channel(incident.id, channel),
        )
        return _Channel(outcome)

    async def _record_channel(self, incident_id: int, channel: Channel) -> None:
        await self._record(
            incident_id,
            "war_room_created",
            f"War room #{channel.name} created",
            {"channel_id": channel.id, "channel_name": channel.name},
            channel_id=channel.id,
            channel_name=channel.name,
        )

    async def _new_room(self, incident: IncidentRecord, context: WarRoomContext, claims: AsyncExitStack, ahead: list[str]) -> _Channel:
        """A just-recorded incident's channel, and its control message posted the moment Slack
        confirms the channel (the post, a task, is awaited by the control-message step).

        Both steps are claimed before the channel is created: nothing can hold them for an incident
        this new, but a repair started meanwhile must find them taken. So no database round trip
        stands between Slack's answer and the post; the channel is recorded while the post is on its
        way. A process that dies in between leaves a channel, and maybe a post, the database does
        not know of: the repair finds both in Slack and adopts them (bot.slack.steps)."""
        # Every step of a war room is done after its channel: one with no channel yet (checked under
        # the channel's claim) has none of the others done, so they need no check of their own.
        wanted = [("channel", self._lacks("channel_id")), *((step, _always) for step in ["control_message", *ahead])]
        held = AsyncExitStack()
        channel_needed, post_now, *later = await held.enter_async_context(self._claims.claim_together(incident.id, wanted))
        if not channel_needed:  # a repair made the channel meanwhile: the usual steps follow
            await held.aclose()
            return _Channel(StepOutcome("recorded"))
        claims.push_async_exit(held)  # held until the set-up is done
        # Built before the channel exists (it does not show the channel): nothing but the post follows Slack's answer.
        text, message = blocks.notification_text(incident), blocks.control_message(incident, context)
        channel = await self._create_channel(incident)
        posted: asyncio.Task[str] | None = None
        if post_now:
            room = replace(incident, channel_id=channel.id, channel_name=channel.name)
            posted = asyncio.create_task(self._post_control(channel.id, room, text, message), name=f"control-message-{incident.id}")
        try:
            await self._record_channel(incident.id, channel)
        except BaseException:
            if posted is not None:
                # Let the post finish (a repair adopts it): not cancelled halfway, not left unawaited.
                await asyncio.gather(posted, return_exceptions=True)
            raise
        return _Channel(StepOutcome("made", channel), posted, dict(zip(ahead, later, strict=True)))

    async def _find_channel(self, incident: IncidentRecord) -> ListedChannel | None:
        """The channel an interrupted attempt created: one of the names the bot would have given
        it, created by the bot since the incident was recorded."""
        names = {war_room_name(incident.id, incident.title, attempt, drill=incident.is_drill) for attempt in range(NAME_ATTEMPTS)}
        names |= {war_room_name(incident.id, "", attempt, drill=incident.is_drill) for attempt in range(NAME_ATTEMPTS)}
        bot = await self._slack.bot_user_id()
        mine = [c for c in await self._slack.channels_named(names) if c.creator == bot and c.created >= adopt_since(incident)]
        return min(mine, key=lambda c: c.created) if mine else None

    async def _create_channel(self, incident: IncidentRecord) -> Channel:
        last_error: SlackError | None = None
        for attempt in range(NAME_ATTEMPTS):
            name = war_room_name(incident.id, incident.title, attempt, drill=incident.is_drill)
            try:
                return await self._slack.create_channel(name, private=incident.is_private)
            except SlackError as error:
                last_error = error
                if error.code == "name_taken":
                    continue
                if error.code.startswith("invalid_name"):
                    # The slug is ours; a bare number is always a valid name.
                    return await self._slack.create_channel(
                        war_room_name(incident.id, "", attempt, drill=incident.is_drill), private=incident.is_private
                    )
                raise
        assert last_error is not None
        raise last_error

    async def _post_control(self, channel: str, incident: IncidentRecord, text: str, message: list[dict[str, Any]]) -> str:
        return await self.steps.post(channel, incident, "control_message", text, message)()

    async def _control_message(
        self,
        report: WarRoomReport,
        incident: IncidentRecord,
        context: WarRoomContext,
        pinned: bool,
        look: bool,
        posted: asyncio.Task[str] | None,
    ) -> None:
        """``posted``: the post already on its way (a new incident's, under its claim)."""
        assert incident.channel_id
        channel = incident.channel_id
        ts = incident.control_message_ts
        if posted is not None:
            ts = await posted
            report.done.append("posted the control message")
            # The pin needs only the ts: it goes out while the ts is recorded.
            recorded = asyncio.create_task(self._record(incident.id, control_message_ts=ts))
            try:
                await self._slack.pin(channel, ts)
            finally:
                await recorded
            await self._record(incident.id, control_pinned_at=self._clock())
            report.done.append("pinned the control message")
            return
        if ts is None:
            outcome = await self.steps.once(
                incident.id,
                "control_message",
                still_needed=self._lacks("control_message_ts"),
                find=(lambda: self.steps.find_message(channel, incident, "control_message")) if look else None,
                create=self.steps.post(
                    channel, incident, "control_message", blocks.notification_text(incident), blocks.control_message(incident, context)
                ),
                record=lambda posted_ts: self._record(incident.id, control_message_ts=posted_ts),
            )
            report.add(outcome, "posted the control message", "found the control message an interrupted attempt posted", None)
            ts = outcome.value if outcome.value is not None else (await self._progress(incident.id)).incident.control_message_ts
            assert ts is not None
        else:
            report.already.append("the control message")
        if pinned:
            report.already.append("its pin")
            return
        await self._slack.pin(channel, ts)  # Slack answers already_pinned to a second pin: idempotent
        await self._record(incident.id, control_pinned_at=self._clock())
        report.done.append("pinned the control message")

    async def _invite(self, report: WarRoomReport, incident: IncidentRecord, people: list[str], look: bool) -> None:
        assert incident.channel_id
        missing = sorted(set(people) - await self._slack.channel_members(incident.channel_id)) if look else people
        if missing:
            await self._slack.invite(incident.channel_id, missing)
            report.done.append("invited " + ", ".join(f"<@{u}>" for u in missing))
        if set(people) - set(missing):
            report.already.append("in the war room: " + ", ".join(f"<@{u}>" for u in sorted(set(people) - set(missing))))

    async def _service_people(self, service: Service) -> set[str]:
        """Owners (IDs, or e-mails looked up) and the on-call group's members (by ID or handle):
        every look-up at once, none of them needing the channel."""

        async def by_email(email: str) -> str | None:
            user_id = await self._slack.user_id_by_email(email)
            if not user_id:
                log.warning("%s: no Slack user with the owner email %s", service.name, email)
            return user_id

        async def oncall() -> list[str]:
            group_id = service.oncall_group_id
            if group_id is None and service.oncall_group_handle:
                group_id = await self._slack.usergroup_id(service.oncall_group_handle)
                if group_id is None:
                    raise SlackError("usergroups.list", "no_such_subteam", f"no user group @{service.oncall_group_handle}")
            return await self._slack.usergroup_members(group_id) if group_id else []

        *owners, members = await asyncio.gather(*(by_email(email) for email in service.owner_emails), oncall())
        assert isinstance(members, list)
        return set(service.owner_user_ids) | {u for u in owners if isinstance(u, str)} | set(members)

    async def _drill_people_ids(self) -> set[str]:
        """The people named for drills (IDs, or e-mails looked up)."""
        found = await asyncio.gather(*(self._slack.user_id_by_email(p) for p in self._drill_people if "@" in p))
        for email, user_id in zip([p for p in self._drill_people if "@" in p], found, strict=True):
            if not user_id:
                log.warning("drills: no Slack user with the email %s", email)
        return {p for p in self._drill_people if "@" not in p} | {u for u in found if u}

    async def _invite_service_people(
        self, report: WarRoomReport, incident: IncidentRecord, who: str, looked_up: asyncio.Task[set[str]], look: bool
    ) -> None:
        """The people ``looked_up`` found (``who``: the service's owners and on-call, or the drill's), once the channel exists."""
        assert incident.channel_id
        async with slot_lent():  # the look-up may wait on a rate limit: its slot runs other work meanwhile
            found = await looked_up
        people = found - {incident.commander}
        if not people:
            return
        missing = people - await self._slack.channel_members(incident.channel_id) if look else people
        if missing:
            await self._slack.invite(incident.channel_id, sorted(missing))
            report.done.append(f"invited the {who} ({len(missing)})")
        else:
            report.already.append(f"the {who} ({len(people)}) in the war room")

    def _runbook_link(self, service: Service) -> str | None:
        if service.runbook_url:
            return service.runbook_url
        runbook = self._runbook_room.find(service.runbook_name) if service.runbook_name else None
        return runbook.url if runbook else None

    async def _once(
        self,
        incident_id: int,
        step: str,
        claimed: dict[str, bool],
        *,
        still_needed: StillNeeded,
        create: Callable[[], Awaitable[T]],
        record: Callable[[T], Awaitable[None]],
        find: Callable[[], Awaitable[T | None]] | None = None,
    ) -> StepOutcome[T]:
        """A step done once (SlackSteps.once), or under the claim the new war room took for it."""
        if step not in claimed:
            return await self.steps.once(incident_id, step, still_needed=still_needed, create=create, record=record, find=find)
        if not claimed[step]:
            return StepOutcome("recorded")
        return await create_once(recorded=None, find=find, create=create, record=record)

    def _bookmark_links(self, incident: IncidentRecord, service: Service | None, call_url: str | None) -> list[tuple[str, str]]:
        """The war room's bookmarks: its call, and (not for a private incident) the service's dashboard and runbook."""
        links = [(CALL_BOOKMARK_TITLE, call_url)]
        if service is not None:
            links += [(f"{service.name} dashboard", service.dashboard), (f"{service.name} runbook", self._runbook_link(service))]
        return [(title, link) for title, link in links if link]

    async def _bookmark(
        self,
        report: WarRoomReport,
        incident: IncidentRecord,
        service: Service | None,
        call_url: str | None,
        look: bool,
        claimed: dict[str, bool],
    ) -> None:
        assert incident.channel_id
        channel = incident.channel_id
        wanted = self._bookmark_links(incident, service, call_url)

        async def add_missing() -> int:
            # Bookmarks are several calls: an interrupted attempt may have added some of them.
            present = {(b.title, b.link) for b in await self._slack.bookmarks(channel)} if look else set()
            missing = [(title, link) for title, link in wanted if (title, link) not in present]
            for title, link in missing:
                await self._slack.add_bookmark(channel, title, link)
            return len(missing)

        outcome = await self._once(
            incident.id,
            "bookmarks",
            claimed,
            still_needed=self._lacks("bookmarked_at"),
            create=add_missing,
            record=lambda _added: self._record(incident.id, bookmarked_at=self._clock()),
        )
        if outcome.how == "recorded":
            report.already.append("the dashboard and runbook bookmarks")
        elif outcome.value:
            report.done.append("bookmarked the dashboard and runbook")
        else:
            report.done.append("found the dashboard and runbook bookmarks an interrupted attempt added")

    async def _post_runbook(
        self, report: WarRoomReport, incident: IncidentRecord, runbook: Runbook, look: bool, claimed: dict[str, bool]
    ) -> None:
        step = f"runbook:{runbook.name}"
        # RunbookRoom.post reads under the claim whether it is posted already.
        if step in claimed:
            posted = await self._runbook_room.post(incident, runbook, by=None, look=look)
        else:
            async with self._claims.claim(incident.id, step, _always) as _:
                posted = await self._runbook_room.post(incident, runbook, by=None, look=look)
        if posted == "posted":
            report.done.append(f"posted the runbook {runbook.name}")
        elif posted == "adopted":
            report.done.append(f"found the runbook {runbook.name} an interrupted attempt posted")
        else:
            report.already.append(f"the runbook {runbook.name}")

    async def _topic(self, report: WarRoomReport, incident: IncidentRecord, first: bool) -> None:
        assert incident.channel_id
        await self._slack.set_topic(incident.channel_id, blocks.channel_topic(incident))
        # A repair sets the topic every time (it shows the incident as it is now); it is news only the first time.
        if first:
            report.done.append("set the topic")

    async def _announce(self, report: WarRoomReport, incident: IncidentRecord, look: bool, claimed: dict[str, bool]) -> None:
        channel = self._announce_channel
        assert channel
        if incident.is_private:
            create = self.steps.post(channel, incident, "announcement", blocks.PRIVATE_ANNOUNCEMENT)
        else:
            create = self.steps.post(
                channel,
                incident,
                "announcement",
                f"{blocks.notification_text(incident)} — war room <#{incident.channel_id}>",
                blocks.announcement_blocks(incident),
            )
        outcome = await self._once(
            incident.id,
            "announcement",
            claimed,
            still_needed=self._lacks("announcement_ts"),
            find=(lambda: self.steps.find_message(channel, incident, "announcement")) if look else None,
            create=create,
            record=lambda ts: self._record(incident.id, announcement_ts=ts),
        )
        private = " (without the title: private)" if incident.is_private else ""
        report.add(
            outcome,
            f"announced in <#{channel}>{private}",
            f"found the announcement in <#{channel}> an interrupted attempt posted",
            f"the announcement in <#{channel}>",
        )

    @staticmethod
    def _lacks(column: str) -> StillNeeded:
        """A check, run under a step's claim, that the incident's ``column`` is still empty."""
        return still_empty(incident_rows.get, column)

    async def show_paging(self, incident: IncidentRecord) -> None:
        """Rebuild the control message after an escalation level paged (the topic does not change).
        Raises SlackError."""
        await self.update_control_message(incident)

    async def update_control_message(self, incident: IncidentRecord, context: WarRoomContext | None = None) -> None:
        """Show the incident as it is now on its control message (an edit: doing it twice shows the
        same). Raises SlackError."""
        if incident.channel_id and incident.control_message_ts:
            await self._slack.update_message(
                incident.channel_id,
                incident.control_message_ts,
                blocks.notification_text(incident),
                blocks=blocks.control_message(incident, context or await self.context(incident)),
            )

    async def refresh(self, incident: IncidentRecord, *, announce_line: str | None = None) -> list[str]:
        """Show a changed incident: update the control message and topic, and say what changed.

        Returns what did not happen, in words; the database already holds the change.
        """
        if incident.channel_id is None:
            return ["the incident has no war room yet"]
        steps: list[tuple[str, Awaitable[object]]] = []
        context = await self.context(incident)
        if incident.control_message_ts:
            steps.append(("the control message could not be updated", self.update_control_message(incident, context)))
        steps.append(("the channel topic could not be updated", self._slack.set_topic(incident.channel_id, blocks.channel_topic(incident))))
        if announce_line:
            steps.append(
                (
                    "the war room could not be told",
                    self._slack.post_message(incident.channel_id, blocks.drill_text(incident.is_drill, announce_line)),
                )
            )

        async def note(what: str, error: SlackError) -> None:
            await self._record(incident.id, "slack_step_failed", f"{what}: {error}", {"error": error.code})

        run = await run_steps(steps, note=note)
        return [f"{failure.what} ({failure.error})" for failure in run.failures]
