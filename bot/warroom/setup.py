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
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace

from bot import logs
from bot.catalog.services import Service
from bot.core.records import IncidentRecord, WarRoomContext
from bot.integrations.deploys import DeployMatch
from bot.slack import SlackError
from bot.slack.steps import HeldWithOthers, SlackSteps, run_steps
from bot.warroom.room_channel import ChannelStep, WarRoomChannels
from bot.warroom.room_context import WarRoomContexts
from bot.warroom.room_display import WarRoomDisplay
from bot.warroom.room_people import WarRoomPeople, drop_people
from bot.warroom.room_posts import WarRoomPosts
from bot.warroom.room_records import DATABASE_AWAY, Progress, WarRoomRecords, WarRoomReport, failure_words
from bot.warroom.step_claims import ClaimsTaken
from storage.db import Statements

__all__ = ["WarRoomReport", "WarRooms"]


# A new war room's first steps; the steps that post after them are claimed with them.
CLAIMED_FIRST = ("channel", "control_message")


@dataclass(frozen=True, eq=False)
class WarRooms:
    """Owns the order of a war room's set-up (channel first, then the rest at once) and is the one
    door to its parts for the flows: people, context, display and step bookkeeping."""

    records: WarRoomRecords
    contexts: WarRoomContexts
    people: WarRoomPeople
    channels: WarRoomChannels
    posts: WarRoomPosts
    display: WarRoomDisplay
    steps: SlackSteps

    async def note_failure(self, incident_id: int, step: str, error: SlackError) -> None:
        """A Slack step that failed goes in the timeline, unless the database is away too."""
        await self.records.note_failure(incident_id, step, error)

    failure_words = staticmethod(failure_words)

    async def context(self, incident: IncidentRecord, matches: list[DeployMatch] | None = None, *, new: bool = False) -> WarRoomContext:
        """See WarRoomContexts.context."""
        return await self.contexts.context(incident, matches, new=new)

    async def show_paging(self, incident: IncidentRecord) -> None:
        """See WarRoomDisplay.show_paging. Raises SlackError."""
        await self.display.show_paging(incident)

    async def update_control_message(self, incident: IncidentRecord, context: WarRoomContext | None = None) -> None:
        """See WarRoomDisplay.update_control_message. Raises SlackError."""
        await self.display.update_control_message(incident, context)

    async def refresh(self, incident: IncidentRecord, *, announce_line: str | None = None) -> list[str]:
        """See WarRoomDisplay.refresh."""
        return await self.display.refresh(incident, announce_line=announce_line)

    def _claimed_with_channel(self, incident: IncidentRecord, service: Service | None, call_url: str | None) -> list[str]:
        """The steps that post, claimed with a new war room's channel: after Slack's answer they go
        out without a database round trip of their own first. None of them is done before the
        channel is: the channel's own check under its claim covers them."""
        ahead = ["bookmarks"] if self.posts.bookmark_links(service, call_url) else []
        if self.posts.announce_channel:
            ahead.append("announcement")
        runbooks = self.posts.runbooks(incident.service)
        if runbooks:
            ahead.append(f"runbook:{runbooks[0].name}")
        return ahead

    def claim_new_room(self, work: Statements, incident: IncidentRecord) -> ClaimsTaken:
        """Claim a new incident's channel, control message and the steps claimed with them, in the
        transaction that records the incident (``Incidents.record_new``'s ``along``)."""
        service = self.people.service(incident.service, private=incident.is_private)
        ahead = self._claimed_with_channel(incident, service, self.contexts.call_url(incident))
        return self.channels.claims.claim_for_new(work, incident.id, [*CLAIMED_FIRST, *ahead])

    async def set_up(
        self,
        incident_id: int,
        *,
        invitees: list[str],
        new: IncidentRecord | None = None,
        deploys: list[DeployMatch] | None = None,
        taken: ClaimsTaken | None = None,
    ) -> WarRoomReport:
        """Do the war-room steps the database does not show as done.

        ``taken``: a ``new`` incident's first steps, claimed when it was recorded (``claim_new_room``).

        ``new`` is a just-recorded incident: nothing is done for it yet, so no read is needed, and
        nothing is looked for in Slack, and the control message goes out as soon as Slack confirms
        the channel. Otherwise (a repair) each step first looks in Slack for what an interrupted
        attempt made. A database that stops answering midway is reported as a failure of the step
        it stopped, like a Slack failure: the incident itself is recorded either way.
        """
        logs.set_incident(incident_id)
        progress = Progress(new, pinned=False, announced=False, bookmarked=False) if new else await self.records.progress(incident_id)
        service = self.people.service(progress.incident.service, private=progress.incident.is_private)
        # The service's people are asked of Slack once the channel's create is on its way (at once
        # when there is none to make): the create is the first of the longest chain, and a look-up
        # answered just before it held up the control post that follows it.
        create_sent = asyncio.Event()
        if not new:  # a repair: its channel is made, found or looked for first, with no hurry
            create_sent.set()
        people = self.people.look_up_people(
            progress.incident.service, private=progress.incident.is_private, drill=progress.incident.is_drill, after=create_sent
        )
        try:
            # The claims a new incident takes before its channel exists are held to the end, and
            # given back however the set-up ends (a repair must not find them held by nobody).
            async with AsyncExitStack() as claims:
                if taken is not None:
                    await claims.enter_async_context(self.channels.claims.holding_taken(taken))
                return await self._set_up(progress, invitees, new is not None, deploys, service, people, claims, taken, create_sent)
        finally:
            drop_people(people)

    async def _set_up(
        self,
        progress: Progress,
        invitees: list[str],
        first: bool,
        deploys: list[DeployMatch] | None,
        service: Service | None,
        people: asyncio.Task[set[str]] | None,
        claims: AsyncExitStack,
        taken: ClaimsTaken | None,
        create_sent: asyncio.Event,
    ) -> WarRoomReport:
        report = WarRoomReport()
        incident = progress.incident
        incident_id = incident.id
        look = not first
        context = await self.contexts.context(incident, deploys, new=first)
        posted: asyncio.Task[str] | None = None
        claimed: dict[str, HeldWithOthers] = {}
        runbooks = self.posts.runbooks(incident.service)
        links = bool(self.posts.bookmark_links(service, context.call_url))
        if incident.channel_id is None:
            step = "create the war-room channel"
            if first:
                # Taken with the incident: those steps, not worked out again (they must be the same).
                ahead = (
                    [name for name in taken.tokens if name not in CLAIMED_FIRST]
                    if taken is not None
                    else self._claimed_with_channel(incident, service, context.call_url)
                )
                created: Awaitable[ChannelStep] = self.channels.new_channel(incident, context, claims, ahead, taken, create_sent)
            else:
                created = self.channels.repair_channel(incident)
            run = await run_steps(
                [(step, created)], note=lambda what, error: self.records.note_failure(incident_id, what, error), database_errors=True
            )
            if run.failures:
                waiting = "the control message, invites, bookmarks, topic, announcement and runbook wait for it"
                report.failures.append(failure_words(run.failures[0], database_away=f"{DATABASE_AWAY}; {waiting}"))
                return report
            value = run.values[0]
            assert isinstance(value, ChannelStep)
            outcome, posted, claimed = value.outcome, value.posted, value.claimed
            if outcome.how == "recorded":  # another repair created it meanwhile
                progress = await self.records.progress(incident_id)
                incident = progress.incident
            else:
                assert outcome.value is not None
                channel = outcome.value
                report.add(outcome, f"created <#{channel.id}>", f"found <#{channel.id}>, made by an interrupted attempt", None)
                incident = replace(incident, channel_id=channel.id, channel_name=channel.name)
        report.channel_id = incident.channel_id
        # Set already once a create was sent; not when none was (another attempt had recorded the
        # channel first): the invites need the people now either way.
        create_sent.set()

        steps: list[tuple[str, Awaitable[None]]] = [
            ("post and pin the control message", self.posts.control_message(report, incident, context, progress.pinned, look, posted))
        ]
        everyone = sorted(set(invitees) | {incident.commander})
        steps.append((f"invite {', '.join(f'<@{u}>' for u in everyone)}", self.people.invite(report, incident, everyone, look)))
        if incident.is_drill and people is not None:
            steps.append(
                (
                    "invite the people named for drills",
                    self.people.invite_service_people(report, incident, "people named for drills", people, look),
                )
            )
        elif service is not None and people is not None:
            steps.append(
                (
                    f"invite the {service.name} owners and on-call group",
                    self.people.invite_service_people(report, incident, f"{service.name} owners and on-call", people, look),
                )
            )
        if links:
            if progress.bookmarked:
                report.already.append("the dashboard and runbook bookmarks")
            else:
                steps.append(
                    (
                        "bookmark the call, dashboard and runbook",
                        self.posts.bookmark(report, incident, service, context.call_url, look, claimed),
                    )
                )
        steps.append(("set the channel topic", self.posts.topic(report, incident, first)))
        if self.posts.announce_channel:
            if progress.announced:
                report.already.append(f"the announcement in <#{self.posts.announce_channel}>")
            else:
                steps.append((f"announce in <#{self.posts.announce_channel}>", self.posts.announce(report, incident, look, claimed)))
        if runbooks:
            steps.append((f"post the runbook {runbooks[0].name}", self.posts.post_runbook(report, incident, runbooks[0], look, claimed)))
        run = await run_steps(steps, note=lambda what, error: self.records.note_failure(incident_id, what, error), database_errors=True)
        report.failures.extend(failure_words(failure) for failure in run.failures)
        return report
