"""What people write onto the incident's timeline: notes, messages added by the shortcut, and
status updates, which the war room and the announcement channel are also told."""

from __future__ import annotations

import logging

from bot.core.command_text import unescape_slack
from bot.incidents.clicks import NotPermitted, click_permission
from bot.incidents.operations import Incidents
from bot.incidents.stamping import Stamper
from bot.interactions.lookup import IncidentLookup
from bot.interactions.replies import Replies, Requester
from bot.slack import SlackError, SlackGateway, messages

log = logging.getLogger(__name__)


class Notes:
    def __init__(self, incidents: Incidents, lookup: IncidentLookup, replies: Replies, slack: SlackGateway, stamper: Stamper) -> None:
        self._incidents = incidents
        self._lookup = lookup
        self._replies = replies
        self._slack = slack
        self._stamper = stamper

    async def note(self, requester: Requester, text: str) -> None:
        """``/incident note <text>`` in a war room."""
        text = text.strip()
        if not text:
            await self._replies.tell(requester, messages.NOTE_USAGE)
            return
        if not requester.channel_id:
            await self._replies.tell(requester, messages.NOT_IN_WAR_ROOM_FOR_NOTE)
            return
        # The war room's incident, the permission read and the note in one short transaction.
        permission = click_permission(self._lookup.permissions, "stamp", requester.user_id)
        noted = await self._stamper.note(
            requester.channel_id, "note", actor=requester.user_id, text=unescape_slack(text), permission=permission
        )
        if isinstance(noted, NotPermitted):
            await self._replies.tell(requester, noted.refusal.text)
        elif noted.incident is None:
            await self._replies.tell(requester, messages.NOT_IN_WAR_ROOM_FOR_NOTE)
        else:
            await self._replies.tell(requester, messages.noted(noted.incident.reference))

    async def add_message(self, requester: Requester, *, message_ts: str, author: str | None, text: str) -> None:
        """The "Add to incident timeline" shortcut on a message in a war room."""
        incident = await self._lookup.here(requester, messages.NOT_IN_WAR_ROOM_FOR_NOTE)
        if incident is None:
            return
        assert requester.channel_id
        if await self._lookup.refused(requester, "stamp", incident):
            return
        try:
            link = await self._slack.chat.permalink(requester.channel_id, message_ts)
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
        await self._replies.tell(requester, messages.noted(incident.reference) if added else messages.already_noted(incident.reference))

    async def status_update(self, requester: Requester, text: str) -> None:
        """``/incident update <text>``: on the timeline, in the war room and, for a public
        incident, in the announcement channel."""
        incident = await self._lookup.here(requester)
        if incident is None:
            return
        text = unescape_slack(text).strip()
        if not text:
            await self._replies.tell(requester, messages.UPDATE_USAGE)
            return
        if await self._lookup.refused(requester, "stamp", incident):
            return
        await self._incidents.add_to_timeline(incident.id, "status_update", actor=requester.user_id, text=f"Status update: {text}")
        failures: list[str] = []
        announcement: str | None = None  # a private incident's title stays in its war room
        if not incident.is_private:
            announcement = messages.update_announcement(
                incident.reference, incident.severity, incident.title, incident.channel_id, requester.user_id, text
            )
        await self._replies.tell_rooms(incident, messages.update_in_war_room(requester.user_id, text), announcement, failures)
        if failures:
            await self._replies.tell(requester, messages.told_with_failures("The update", failures, incident.reference))
