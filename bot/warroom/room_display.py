"""Keeping a war room showing its incident as it is now: the control message and the topic after
a change, and the line that tells the room what changed."""

from __future__ import annotations

from collections.abc import Awaitable

from bot.core.records import IncidentRecord, WarRoomContext
from bot.slack import SlackGateway, blocks
from bot.slack.steps import run_steps
from bot.warroom.room_context import WarRoomContexts
from bot.warroom.room_records import WarRoomRecords


class WarRoomDisplay:
    """Owns the edits that show a changed incident in its war room (control message, topic, a line)."""

    def __init__(self, slack: SlackGateway, contexts: WarRoomContexts, records: WarRoomRecords) -> None:
        self._slack = slack
        self._contexts = contexts
        self._records = records

    async def show_paging(self, incident: IncidentRecord) -> None:
        """Rebuild the control message after an escalation level paged (the topic does not change).
        Raises SlackError."""
        await self.update_control_message(incident)

    async def update_control_message(self, incident: IncidentRecord, context: WarRoomContext | None = None) -> None:
        """Show the incident as it is now on its control message (an edit: doing it twice shows the
        same). Raises SlackError."""
        if incident.channel_id and incident.control_message_ts:
            await self._slack.chat.update(
                incident.channel_id,
                incident.control_message_ts,
                blocks.notification_text(incident),
                blocks=blocks.control_message(incident, context or await self._contexts.context(incident)),
            )

    async def refresh(self, incident: IncidentRecord, *, announce_line: str | None = None) -> list[str]:
        """Show a changed incident: update the control message and topic, and say what changed.

        Returns what did not happen, in words; the database already holds the change.
        """
        if incident.channel_id is None:
            return ["the incident has no war room yet"]
        steps: list[tuple[str, Awaitable[object]]] = []
        context = await self._contexts.context(incident)
        if incident.control_message_ts:
            steps.append(("the control message could not be updated", self.update_control_message(incident, context)))
        steps.append(
            ("the channel topic could not be updated", self._slack.channels.set_topic(incident.channel_id, blocks.channel_topic(incident)))
        )
        if announce_line:
            steps.append(
                (
                    "the war room could not be told",
                    self._slack.chat.post(incident.channel_id, blocks.drill_text(incident.is_drill, announce_line)),
                )
            )
        run = await run_steps(steps, note=self._records.note_step_failed(incident.id))
        return [f"{failure.what} ({failure.error})" for failure in run.failures]
