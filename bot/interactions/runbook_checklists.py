"""Runbooks in the war room: ``/incident runbook`` posts one as a checklist, and ticking its boxes
records who did which step when."""

from __future__ import annotations

from datetime import datetime

from bot import logs
from bot.core.command_text import unescape_slack
from bot.interactions.lookup import IncidentLookup
from bot.interactions.replies import Replies, Requester
from bot.slack import SlackError, messages
from bot.warroom.runbook_room import RunbookRoom, Toggle


class RunbookChecklists:
    def __init__(self, runbook_room: RunbookRoom, lookup: IncidentLookup, replies: Replies) -> None:
        self._runbook_room = runbook_room
        self._lookup = lookup
        self._replies = replies

    async def attach(self, requester: Requester, name: str) -> None:
        """``/incident runbook [name]``: without a name, the runbooks that fit the incident."""
        incident = await self._lookup.here(requester, messages.NOT_IN_WAR_ROOM_FOR_RUNBOOK)
        if incident is None:
            return
        name = name.strip()
        all_names = [r.name for r in self._runbook_room.runbooks]
        if not name:
            candidates = self._runbook_room.candidates(incident.service)
            await self._replies.tell(requester, messages.runbook_list(incident.service, [r.name for r in candidates], all_names))
            return
        runbook = self._runbook_room.find(name)
        if runbook is None:
            await self._replies.tell(requester, messages.unknown_runbook(unescape_slack(name), all_names))
            return
        try:
            posted = await self._runbook_room.post(incident, runbook, by=requester.user_id)
        except SlackError as error:
            await self._replies.tell(requester, f"Could not post the runbook: {error}.")
            return
        if posted == "already":
            await self._replies.tell(requester, messages.runbook_already_posted(runbook.name, incident.reference))

    async def tick(self, requester: Requester, post_id: int, *, seen: set[int], now: set[int], at: datetime) -> None:
        """A checklist box was ticked or unticked: record exactly what this person changed."""
        toggles = [Toggle(i, True) for i in sorted(now - seen)] + [Toggle(i, False) for i in sorted(seen - now)]
        incident = await self._lookup.here(requester, messages.CHECKLIST_NOT_HERE)
        if incident is None:
            return
        logs.set_incident(incident.id)
        if await self._lookup.refused(requester, "stamp", incident):
            return
        result = await self._runbook_room.tick(post_id, toggles, by=requester.user_id, at=at, incident=incident)
        if result.elsewhere:
            await self._replies.tell(requester, messages.CHECKLIST_NOT_HERE)
        elif result.runbook is None:
            await self._replies.tell(requester, messages.RUNBOOK_GONE)
