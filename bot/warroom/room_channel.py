"""A war room's channel: created under the bot's names (another name when one is taken), found
again when an interrupted attempt made it, and recorded with its timeline event."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from typing import Any

from bot.core.records import IncidentRecord, WarRoomContext
from bot.slack import Channel, ListedChannel, SlackError, SlackGateway, blocks
from bot.slack.steps import HeldWithOthers, SlackSteps, StepOutcome, adopt_since
from bot.slack.transport import requests_on_their_way
from bot.warroom.channel_names import war_room_name
from bot.warroom.room_records import WarRoomRecords, always_needed, lacks
from bot.warroom.step_claims import ClaimsTaken, StepClaims

NAME_ATTEMPTS = 10


@dataclass(frozen=True)
class ChannelStep:
    """The channel step's outcome; for a new incident also its control message on its way, and the
    later steps' claims, taken together with the channel's and held until the set-up is done."""

    outcome: StepOutcome[Channel]
    posted: asyncio.Task[str] | None = None
    claimed: dict[str, HeldWithOthers] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class WarRoomChannels:
    """Owns the channel step of a war room's set-up: a new incident's (claimed with the steps after it) and a repair's."""

    slack: SlackGateway
    steps: SlackSteps
    claims: StepClaims
    records: WarRoomRecords

    async def repair_channel(self, incident: IncidentRecord) -> ChannelStep:
        """A repair's channel step: found in Slack when an interrupted attempt made it, else created."""
        outcome = await self.steps.once(
            incident.id,
            "channel",
            still_needed=lacks("channel_id"),
            find=lambda: self._find_channel(incident),
            create=lambda: self._create_channel(incident),
            record=lambda channel: self._record_channel(incident.id, channel),
        )
        return ChannelStep(outcome)

    async def _record_channel(self, incident_id: int, channel: Channel) -> None:
        await self.records.record(
            incident_id,
            "war_room_created",
            f"War room #{channel.name} created",
            {"channel_id": channel.id, "channel_name": channel.name},
            channel_id=channel.id,
            channel_name=channel.name,
        )

    async def new_channel(
        self,
        incident: IncidentRecord,
        context: WarRoomContext,
        claims: AsyncExitStack,
        ahead: list[str],
        taken: ClaimsTaken | None = None,
        create_sent: asyncio.Event | None = None,
    ) -> ChannelStep:
        """A just-recorded incident's channel, and its control message posted the moment Slack
        confirms the channel (the post, a task, is awaited by the control-message step).

        Both steps are claimed before the channel is created: nothing can hold them for an incident
        this new, but a repair started meanwhile must find them taken. So no database round trip
        stands between Slack's answer and the post; the channel is recorded while the post is on its
        way. A process that dies in between leaves a channel, and maybe a post, the database does
        not know of: the repair finds both in Slack and adopts them (bot.slack.steps).

        ``taken``: the claims, already committed with the incident itself (``WarRooms.claim_new_room``)
        and held by the set-up: then not even the claims' own round trip stands between the
        incident's commit and the channel.

        ``create_sent`` is set once the create's request is out (what waited to go after it may go)."""
        held = AsyncExitStack()
        if taken is not None:
            channel_needed, post_now, later = True, True, [True] * len(ahead)
        else:
            # Every step of a war room is done after its channel: one with no channel yet (checked under
            # the channel's claim) has none of the others done, so they need no check of their own.
            wanted = [("channel", lacks("channel_id")), *((step, always_needed) for step in ["control_message", *ahead])]
            channel_needed, post_now, *later = await held.enter_async_context(self.claims.claim_together(incident.id, wanted))
        if not channel_needed:  # a repair made the channel meanwhile: the usual steps follow
            await held.aclose()
            return ChannelStep(StepOutcome("recorded"))
        claims.push_async_exit(held)  # held until the set-up is done
        creating = asyncio.ensure_future(self._create_channel(incident))
        try:
            await requests_on_their_way()  # the create, before anything else takes the loop
            if create_sent is not None:
                create_sent.set()
            # Built while the create travels (it does not show the channel): nothing but the post
            # follows Slack's answer, and nothing of the post stands before the create.
            text, message = blocks.notification_text(incident), blocks.control_message(incident, context)
        except BaseException:
            creating.cancel()  # as when cancelled at its await below: a repair adopts what Slack made
            await asyncio.gather(creating, return_exceptions=True)
            raise
        channel = await creating
        posted: asyncio.Task[str] | None = None
        if post_now:
            room = replace(incident, channel_id=channel.id, channel_name=channel.name)
            posted = asyncio.create_task(self._post_control(channel.id, room, text, message), name=f"control-message-{incident.id}")
            # The post on its way before the channel's recording (on a worker thread, on SQLite)
            # takes the loop or the GIL. A post that has to wait its turn with the pacer does not
            # hold the record back.
            await requests_on_their_way()
        try:
            await self._record_channel(incident.id, channel)
        except BaseException:
            if posted is not None:
                # Let the post finish (a repair adopts it): not cancelled halfway, not left unawaited.
                await asyncio.gather(posted, return_exceptions=True)
            raise
        return ChannelStep(
            StepOutcome("made", channel), posted, {step: HeldWithOthers(needed) for step, needed in zip(ahead, later, strict=True)}
        )

    async def _post_control(self, channel: str, incident: IncidentRecord, text: str, message: list[dict[str, Any]]) -> str:
        return await self.steps.post(channel, incident, "control_message", text, message)()

    async def _find_channel(self, incident: IncidentRecord) -> ListedChannel | None:
        """The channel an interrupted attempt created: one of the names the bot would have given
        it, created by the bot since the incident was recorded."""
        names = {war_room_name(incident.id, incident.title, attempt, drill=incident.is_drill) for attempt in range(NAME_ATTEMPTS)}
        names |= {war_room_name(incident.id, "", attempt, drill=incident.is_drill) for attempt in range(NAME_ATTEMPTS)}
        bot = await self.slack.identity.bot_user_id()
        mine = [c for c in await self.slack.channels.named(names) if c.creator == bot and c.created >= adopt_since(incident)]
        return min(mine, key=lambda c: c.created) if mine else None

    async def _create_channel(self, incident: IncidentRecord) -> Channel:
        last_error: SlackError | None = None
        for attempt in range(NAME_ATTEMPTS):
            name = war_room_name(incident.id, incident.title, attempt, drill=incident.is_drill)
            try:
                return await self.slack.channels.create(name, private=incident.is_private)
            except SlackError as error:
                last_error = error
                if error.code == "name_taken":
                    continue
                if error.code.startswith("invalid_name"):
                    # The slug is ours; a bare number is always a valid name.
                    return await self.slack.channels.create(
                        war_room_name(incident.id, "", attempt, drill=incident.is_drill), private=incident.is_private
                    )
                raise
        assert last_error is not None
        raise last_error
