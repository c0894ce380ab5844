"""Who runs the incident and how bad it is: assigning a role (typed or picked) and changing the
severity. Each is announced in the war room; a new role holder is invited and told directly."""

from __future__ import annotations

from bot.core.command_text import CommandTextError, parse_severity, unescape_slack
from bot.core.records import IncidentRecord
from bot.core.roles import ROLES, RoleTextError, parse_role_text
from bot.incidents.operations import Incidents
from bot.interactions.lookup import IncidentLookup
from bot.interactions.replies import Replies, Requester
from bot.slack import SlackError, SlackGateway, blocks, messages
from bot.warroom.setup import WarRooms


async def why_cannot_hold_role(slack: SlackGateway, user: str) -> str | None:
    """Why ``user`` cannot hold a role, or None when they can. A role goes to a person who can
    act on it: not a deactivated account, a bot or Slackbot, which would leave the incident
    with a commander nobody can reach (and only an admin able to close it). When Slack cannot
    say, the assignment is refused (fail closed)."""
    try:
        person = await slack.people.user(user)
    except SlackError as error:
        if error.code == "user_not_found":
            return "there is no such user in this workspace"
        return f"Slack could not say who that is ({error}); try again"
    if person.is_slackbot:
        return "Slackbot is not a person"
    if person.deleted:
        return "that account is deactivated"
    if person.is_bot:
        return "that is a bot, not a person"
    return None


class RolesAndSeverity:
    def __init__(self, incidents: Incidents, lookup: IncidentLookup, war_rooms: WarRooms, replies: Replies, slack: SlackGateway) -> None:
        self._incidents = incidents
        self._lookup = lookup
        self._war_rooms = war_rooms
        self._replies = replies
        self._slack = slack

    async def role(self, requester: Requester, text: str) -> None:
        """``/incident role <role> @person`` in a war room."""
        incident = await self._lookup.here(requester)
        if incident is None:
            return
        try:
            role, user = parse_role_text(unescape_slack(text))
        except RoleTextError as error:
            await self._replies.tell(requester, messages.typed_text_refused(error))
            return
        await self._assign(requester, incident, role, user)

    async def role_from_select(self, requester: Requester, incident_id: int, role: str, user: str) -> None:
        """A person picked in a role picker on the control message."""
        incident = await self._lookup.numbered(requester, incident_id)
        if incident is not None:
            await self._assign(requester, incident, role, user)

    async def _assign(self, requester: Requester, incident: IncidentRecord, role: str, user: str) -> None:
        if await self._lookup.refused(requester, "roles", incident):
            return
        label = ROLES[role]
        if reason := await why_cannot_hold_role(self._slack, user):
            await self._replies.tell(requester, messages.role_target_refused(user, label, incident.reference, reason))
            return
        result = await self._incidents.assign_role(incident.id, role, user, by=requester.user_id)
        if result is None:
            await self._replies.tell(requester, messages.role_unchanged(user, label, incident.reference))
            return
        record, _previous = result
        line = messages.role_assigned_line(requester.user_id, user, label, record.reference)
        failures = await self._war_rooms.refresh(record, announce_line=line)
        if record.channel_id:
            try:
                await self._slack.channels.invite(record.channel_id, [user])
            except SlackError as error:
                failures.append(f"<@{user}> could not be invited to the war room ({error})")
        try:
            await self._slack.chat.post(
                user, blocks.drill_text(record.is_drill, messages.role_dm(label, record.reference, record.channel_id, record.title))
            )
        except SlackError as error:
            failures.append(f"<@{user}> could not be told by direct message ({error})")
        if failures:
            await self._replies.tell(requester, messages.told_with_failures("The role", failures, record.reference))

    async def severity(self, requester: Requester, text: str) -> None:
        """``/incident severity <sev>`` in a war room."""
        incident = await self._lookup.here(requester)
        if incident is None:
            return
        try:
            severity = parse_severity(text.strip().removeprefix("sev:")) if text.strip() else None
        except CommandTextError as error:
            await self._replies.tell(requester, messages.typed_text_refused(error))
            return
        if severity is None:
            await self._replies.tell(requester, messages.SEVERITY_USAGE)
            return
        if await self._lookup.refused(requester, "severity", incident):
            return
        result = await self._incidents.change_severity(incident.id, severity, by=requester.user_id)
        if result is None:
            await self._replies.tell(requester, messages.severity_unchanged(incident.reference, severity))
            return
        record, before = result
        failures = await self._war_rooms.refresh(record, announce_line=messages.severity_line(requester.user_id, before, severity))
        if failures:
            await self._replies.tell(requester, messages.told_with_failures("The severity", failures, record.reference))
