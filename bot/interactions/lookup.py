"""Which incident a request is about, and whether the person may do what they asked: the checks
every flow makes before it writes anything. Each one that fails tells the person why."""

from __future__ import annotations

from bot.core.command_text import unescape_slack
from bot.core.records import IncidentRecord
from bot.incidents.operations import Incidents, parse_reference
from bot.incidents.permissions import PermissionChecks, Refusal
from bot.interactions.replies import Replies, Requester
from bot.slack import messages


class IncidentLookup:
    def __init__(self, incidents: Incidents, permissions: PermissionChecks, replies: Replies) -> None:
        self._incidents = incidents
        self.permissions = permissions
        self._replies = replies

    async def get(self, incident_id: int) -> IncidentRecord | None:
        return await self._incidents.get(incident_id)

    async def in_channel_of(self, requester: Requester) -> IncidentRecord | None:
        """The incident whose war room the request came from; None elsewhere (nobody is told)."""
        return await self._incidents.in_channel(requester.channel_id) if requester.channel_id else None

    async def here(self, requester: Requester, not_here: str = messages.NOT_IN_WAR_ROOM_FOR_COMMAND) -> IncidentRecord | None:
        """The war room's incident; the person is told ``not_here`` when the request came from elsewhere."""
        incident = await self.in_channel_of(requester)
        if incident is None:
            await self._replies.tell(requester, not_here)
        return incident

    async def numbered(self, requester: Requester, incident_id: int) -> IncidentRecord | None:
        """The incident a button or form carries; the person is told when there is none."""
        incident = await self._incidents.get(incident_id)
        if incident is None:
            await self._replies.tell(requester, messages.unknown_incident(f"INC-{incident_id}"))
        return incident

    async def named_or_here(self, requester: Requester, argument: str) -> IncidentRecord | None:
        """The incident named in ``argument``, or the war room's own when it is empty; tells the
        requester what was wrong when there is none."""
        if argument.strip():
            number = parse_reference(argument.split()[0])
            if number is None:
                await self._replies.tell(requester, messages.bad_reference(unescape_slack(argument.split()[0])))
                return None
            return await self.numbered(requester, number)
        return await self.here(requester, messages.NOT_IN_WAR_ROOM)

    async def refusal(self, action: str, incident: IncidentRecord | None, requester: Requester) -> Refusal | None:
        """Why the person may not do ``action`` on the incident, or None when they may (nobody is told)."""
        return await self.permissions.check(action, incident, requester.user_id)

    async def refused(self, requester: Requester, action: str, incident: IncidentRecord | None) -> bool:
        """True, the person told why, when they may not do ``action`` on the incident."""
        refusal = await self.permissions.check(action, incident, requester.user_id)
        if refusal is not None:
            await self._replies.tell(requester, refusal.text)
            return True
        return False

    async def refused_by_number(self, requester: Requester, action: str, incident_id: int) -> bool:
        """Like ``refused`` for an incident known by its number; an unknown one is not refused
        here, the operation itself says it is unknown."""
        incident = await self._incidents.get(incident_id)
        return incident is not None and await self.refused(requester, action, incident)

    async def hidden_from(self, requester: Requester, incident: IncidentRecord) -> bool:
        """True, the person told only that it is private, when the incident is private and they
        are not in its war room: nothing about it may reach them."""
        if incident.is_private and not await self.permissions.in_war_room(incident, requester.user_id):
            await self._replies.tell(requester, messages.PRIVATE_INCIDENT)
            return True
        return False
