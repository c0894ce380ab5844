"""``/incident breakglass``: how an admin gets into a private incident they are not in (the
permission checks keep admins out of private incidents otherwise): invited, recorded in the
audit trail and announced by name in the war room."""

from __future__ import annotations

from bot.core.command_text import unescape_slack
from bot.incidents.operations import Incidents, parse_reference
from bot.interactions.lookup import IncidentLookup
from bot.interactions.replies import Replies, Requester
from bot.slack import SlackError, SlackGateway, messages


class BreakGlass:
    def __init__(self, incidents: Incidents, lookup: IncidentLookup, replies: Replies, slack: SlackGateway) -> None:
        self._incidents = incidents
        self._lookup = lookup
        self._replies = replies
        self._slack = slack

    async def breakglass(self, requester: Requester, text: str) -> None:
        """``/incident breakglass [INC-42] <reason>``: in the war room, or from anywhere with the
        incident's number."""
        first, _, rest = text.strip().partition(" ")
        number = parse_reference(first) if first.upper().startswith("INC") else None
        if number is not None:
            incident = await self._lookup.numbered(requester, number)
            if incident is None:
                return
            text = rest
        else:
            incident = await self._lookup.here(requester)
            if incident is None:
                return
        reason = unescape_slack(text).strip()
        if not reason:
            await self._replies.tell(requester, messages.BREAKGLASS_USAGE)
            return
        refusal = await self._lookup.permissions.check_breakglass(incident, requester.user_id)
        if refusal is not None:
            await self._replies.tell(requester, refusal.text)
            return
        await self._incidents.record_breakglass(incident.id, reason, by=requester.user_id)
        failures: list[str] = []
        if incident.channel_id and requester.channel_id != incident.channel_id:
            try:
                await self._slack.channels.invite(incident.channel_id, [requester.user_id])
            except SlackError as error:
                failures.append(f"you could not be invited to the war room ({error})")
        await self._replies.tell_rooms(
            incident,
            messages.breakglass_in_war_room(requester.user_id, reason),
            messages.breakglass_announcement(incident.reference, requester.user_id, reason, incident.is_private),
            failures,
        )
        if failures:
            await self._replies.tell(requester, messages.told_with_failures("The break-glass access", failures, incident.reference))
        else:
            await self._replies.tell(requester, messages.breakglass_recorded(incident.reference))
