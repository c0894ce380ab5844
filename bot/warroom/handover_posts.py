"""What a handover of command does in Slack, each step exactly once.

A handover posts in the war room, sets the channel topic and DMs the new commander (Accept /
Decline); a decline posts in the war room again, sets the topic again and DMs the previous
commander. Each of these is a claimed step of the incident (bot.slack.steps): claimed in the
database, the handover's row read again under the claim, and, on a repair, looked for in Slack
(by the message's metadata) before it is made again. A double submit, a retried request, two
repairs at once or a crash between two steps therefore never posts twice; the repair
(``Repairs.bring_slack_up_to_date``) redoes only what the handover's row does not show.

The control message is edited in place (an edit twice shows the same) and is not claimed.

Privacy: the new commander of a private incident is invited to its war room before anything
that names it is sent to them; when the invite fails, the DM waits for the repair.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.clock import Clock
from bot.core.handover_notes import HandoverRecord
from bot.core.records import IncidentRecord
from bot.incidents.handovers import HandoverLog
from bot.slack import PostedMessage, SlackError, SlackGateway, blocks, step_metadata
from bot.slack.handover_messages import (
    ACCEPTED,
    declined_answer,
    declined_dm,
    declined_room_line,
    new_commander_dm,
    room_post,
)
from bot.slack.steps import StillNeeded, run_steps
from bot.warroom.setup import WarRoomReport, WarRooms
from storage import handovers as handover_rows


def _lacks(handover_id: int, column: str) -> StillNeeded:
    """Run under a step's claim: the handover's ``column`` (where the step records what it made) is still empty."""

    async def still_needed(session: AsyncSession, _incident_id: int) -> bool:
        row = await handover_rows.get(session, handover_id)
        return row is not None and getattr(row, column) is None

    return still_needed


def step_name(handover: HandoverRecord, what: str) -> str:
    """A step's name in the claims and in its message's metadata (the same for every attempt)."""
    return f"handover:{handover.id}:{what}"


class HandoverPosts:
    def __init__(self, log: HandoverLog, war_rooms: WarRooms, slack: SlackGateway, clock: Clock) -> None:
        self._log = log
        self._war_rooms = war_rooms
        self._steps = war_rooms.steps
        self._slack = slack
        self._clock = clock

    async def publish(self, handover: HandoverRecord, incident: IncidentRecord, *, look: bool) -> WarRoomReport:
        """The handover's steps that its row does not show yet. ``look``: an earlier attempt may
        have made some without recording them (a repair), so each is looked for first."""
        report = WarRoomReport(channel_id=incident.channel_id)
        steps: list[tuple[str, Awaitable[object]]] = []
        if incident.channel_id:
            steps += [
                ("post the handover in the war room", self._room_post(report, handover, incident, look)),
                ("set the channel topic", self._topic(report, handover, incident, "topic_set_at")),
                ("update the control message", self._war_rooms.update_control_message(incident)),
            ]
        if handover.dm_ts is None and await self._may_be_told(report, incident, handover.to_user, steps):
            steps.append(
                (f"send the handover to <@{handover.to_user}> by direct message", self._new_commander_dm(report, handover, incident, look))
            )
        elif handover.dm_ts is not None:
            report.already.append(f"the handover's DM to <@{handover.to_user}>")
        await self._run(report, incident, steps)
        return report

    async def publish_decline(self, handover: HandoverRecord, incident: IncidentRecord, *, look: bool) -> WarRoomReport:
        """A declined handover's steps that its row does not show yet (see ``publish``)."""
        report = WarRoomReport(channel_id=incident.channel_id)
        steps: list[tuple[str, Awaitable[object]]] = []
        if incident.channel_id:
            steps += [
                ("post the declined handover in the war room", self._declined_room_post(report, handover, incident, look)),
                ("set the channel topic", self._topic(report, handover, incident, "declined_topic_set_at")),
                ("update the control message", self._war_rooms.update_control_message(incident)),
            ]
        if handover.declined_dm_ts is None and await self._may_be_told(report, incident, handover.from_user, steps):
            steps.append((f"tell <@{handover.from_user}> by direct message", self._declined_dm(report, handover, incident, look)))
        elif handover.declined_dm_ts is not None:
            report.already.append(f"the DM telling <@{handover.from_user}> of the decline")
        if handover.dm_channel and handover.dm_ts:
            steps.append((f"show the answer in <@{handover.to_user}>'s DM", self.show_answer(handover, incident)))
        await self._run(report, incident, steps)
        return report

    async def show_answer(self, handover: HandoverRecord, incident: IncidentRecord) -> None:
        """The new commander's DM with their answer in place of the buttons (an edit). Raises SlackError."""
        if not (handover.dm_channel and handover.dm_ts and handover.answer):
            return
        answered = ACCEPTED if handover.answer == "accepted" else declined_answer(handover)
        text, message = new_commander_dm(handover, incident, answered=answered)
        await self._slack.chat.update(handover.dm_channel, handover.dm_ts, text, blocks=message)

    async def _run(self, report: WarRoomReport, incident: IncidentRecord, steps: list[tuple[str, Awaitable[object]]]) -> None:
        run = await run_steps(steps, note=lambda what, error: self._war_rooms.note_failure(incident.id, what, error), database_errors=True)
        report.failures += [self._war_rooms.failure_words(failure) for failure in run.failures]

    async def _may_be_told(
        self, report: WarRoomReport, incident: IncidentRecord, user: str, steps: list[tuple[str, Awaitable[object]]]
    ) -> bool:
        """Whether ``user``, who holds command now, may be sent what names the incident. They are
        invited to the war room: for a public incident alongside the other steps (``steps``), for
        a private one first, and told only once they are in it (nothing naming it may reach them
        before)."""
        if not incident.channel_id:
            if incident.is_private:
                report.failures.append(f"<@{user}> was not told by direct message: the private incident has no war room yet")
                return False
            return True
        if user != incident.commander:
            # Command changed hands again since: whoever holds it now was invited by that change.
            if not incident.is_private:
                return True
            try:
                member = user in await self._slack.channels.members(incident.channel_id)
            except SlackError as error:
                report.failures.append(f"<@{user}> was not told by direct message: Slack could not say who is in the war room ({error})")
                return False
            if not member:
                # Never in the war room, and no longer commander: nothing of the private incident is theirs to read.
                report.already.append(f"no DM to <@{user}>, no longer commander of the private incident nor in its war room")
            return member
        if not incident.is_private:
            steps.append((f"invite <@{user}> to the war room", self._slack.channels.invite(incident.channel_id, [user])))
            return True
        try:
            await self._slack.channels.invite(incident.channel_id, [user])
        except SlackError as error:
            await self._war_rooms.note_failure(incident.id, f"invite <@{user}> to the war room", error)
            report.failures.append(f"<@{user}> could not be invited to the war room ({error})")
            report.failures.append(
                f"<@{user}> was not told by direct message: the incident is private and they are not in its war room yet"
            )
            return False
        return True

    async def _topic(self, report: WarRoomReport, handover: HandoverRecord, incident: IncidentRecord, column: str) -> None:
        channel = incident.channel_id
        assert channel

        async def set_topic() -> object:
            await self._slack.channels.set_topic(channel, blocks.channel_topic(incident))
            return self._clock()

        outcome = await self._steps.once(
            incident.id,
            step_name(handover, column.removesuffix("_set_at")),
            still_needed=_lacks(handover.id, column),
            create=set_topic,
            record=lambda at: self._log.record_step(handover.id, **{column: at}),
        )
        report.add(outcome, "set the topic", "set the topic", None)

    async def _room_post(self, report: WarRoomReport, handover: HandoverRecord, incident: IncidentRecord, look: bool) -> None:
        channel = incident.channel_id
        assert channel
        step = step_name(handover, "room")
        text, message = room_post(handover, incident)
        outcome = await self._steps.once(
            incident.id,
            step,
            still_needed=_lacks(handover.id, "room_ts"),
            find=(lambda: self._steps.find_message(channel, incident, step)) if look else None,
            create=self._steps.post(channel, incident, step, text, message),
            record=lambda ts: self._log.record_step(handover.id, room_ts=ts),
        )
        report.add(
            outcome, "posted the handover in the war room", "found the handover an interrupted attempt posted", "the handover's post"
        )

    async def _declined_room_post(self, report: WarRoomReport, handover: HandoverRecord, incident: IncidentRecord, look: bool) -> None:
        channel = incident.channel_id
        assert channel
        step = step_name(handover, "declined_room")
        create = self._steps.post(channel, incident, step, declined_room_line(handover, incident.reference))
        outcome = await self._steps.once(
            incident.id,
            step,
            still_needed=_lacks(handover.id, "declined_room_ts"),
            find=(lambda: self._steps.find_message(channel, incident, step)) if look else None,
            create=create,
            record=lambda ts: self._log.record_step(handover.id, declined_room_ts=ts),
        )
        report.add(
            outcome, "posted the declined handover in the war room", "found the declined handover's post", "the declined handover's post"
        )

    def _find_dm(
        self, incident: IncidentRecord, step: str, user: str, *, channel: str | None, look: bool
    ) -> Callable[[], Awaitable[PostedMessage | None]] | None:
        """The look-up of a step's DM to ``user`` (None on a first attempt: nothing can be there):
        in the DM channel (``channel``, else the one conversations.open gives)."""
        if not look:
            return None

        async def find() -> PostedMessage | None:
            where = channel or await self._slack.channels.open_direct(user)
            ts = await self._steps.find_message(where, incident, step)
            return PostedMessage(where, ts) if ts else None

        return find

    def _send_dm(
        self, incident: IncidentRecord, step: str, user: str, text: str, message: list[dict[str, Any]] | None, *, channel: str | None
    ) -> Callable[[], Awaitable[PostedMessage]]:
        """Post the DM: to the user's ID, where Slack opens the DM channel it answers with (one
        round trip, not two), or to the channel a repair found."""

        async def create() -> PostedMessage:
            return await self._slack.chat.post(channel or user, text, blocks=message, metadata=step_metadata(incident.id, step))

        return create

    async def _new_commander_dm(self, report: WarRoomReport, handover: HandoverRecord, incident: IncidentRecord, look: bool) -> None:
        step = step_name(handover, "dm")
        answered = None
        if handover.answer is not None:
            answered = ACCEPTED if handover.answer == "accepted" else declined_answer(handover)
        text, message = new_commander_dm(handover, incident, answered=answered)
        outcome = await self._steps.once(
            incident.id,
            step,
            still_needed=_lacks(handover.id, "dm_ts"),
            find=self._find_dm(incident, step, handover.to_user, channel=handover.dm_channel, look=look),
            create=self._send_dm(incident, step, handover.to_user, text, message, channel=handover.dm_channel),
            record=lambda posted: self._log.record_step(handover.id, dm_channel=posted.channel, dm_ts=posted.ts),
        )
        report.add(outcome, f"sent the handover to <@{handover.to_user}>", f"found the handover's DM to <@{handover.to_user}>", None)

    async def _declined_dm(self, report: WarRoomReport, handover: HandoverRecord, incident: IncidentRecord, look: bool) -> None:
        step = step_name(handover, "declined_dm")
        text = declined_dm(handover, incident)
        outcome = await self._steps.once(
            incident.id,
            step,
            still_needed=_lacks(handover.id, "declined_dm_ts"),
            find=self._find_dm(incident, step, handover.from_user, channel=None, look=look),
            create=self._send_dm(incident, step, handover.from_user, text, None, channel=None),
            record=lambda posted: self._log.record_step(handover.id, declined_dm_ts=posted.ts),
        )
        report.add(outcome, f"told <@{handover.from_user}> of the decline", f"found the DM telling <@{handover.from_user}>", None)

    async def bring_up_to_date(self, incident: IncidentRecord, report: WarRoomReport) -> None:
        """Every handover of the incident: the steps its row does not show yet (a repair)."""
        for handover in await self._log.of_incident(incident.id):
            parts = [await self.publish(handover, incident, look=True)]
            if handover.answer == "declined":
                parts.append(await self.publish_decline(handover, incident, look=True))
            for part in parts:
                report.done += part.done
                report.already += part.already
                report.failures += part.failures
