"""Who may do what to an incident, as runbooks/config.yml's ``permissions`` section says.

Levels include the ones after them: ``everyone`` ⊇ ``war_room`` (the war room's members) ⊇
``commander`` (the incident commander) ⊇ ``admins`` (the configured admin user group and users).
A check asks Slack only what it must, cheapest first; when Slack cannot answer, the action is
refused (fail closed) with a message that says so.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator

from bot.core.records import IncidentRecord
from bot.slack import SlackError, SlackGateway
from bot.slack.messages import PRIVATE_INCIDENT

log = logging.getLogger(__name__)

ACTION_WORDS = {
    "stamp": "mark phases, add notes, post updates, add action items and record break-glass access",
    "correct": "correct phase times",
    "severity": "change the severity",
    "close": "mark the incident verified (which resolves it)",
    "roles": "assign incident roles",
    "data": "import or delete data",
    "repair": "repair the Slack side (war-room steps, control message, summaries)",
}
# Actions whose level is fixed, not set in the config. ``incident-bot repair`` on the host is not
# checked: whoever runs it has the database.
FIXED_LEVELS = {"repair": "war_room"}


PERMISSION_LEVELS = ("everyone", "war_room", "commander", "admins")
PermissionLevel = Annotated[str, AfterValidator(lambda v: _permission_level(v))]


def _permission_level(value: str) -> str:
    if value not in PERMISSION_LEVELS:
        raise ValueError(f"'{value}' is not a permission level; use one of {', '.join(PERMISSION_LEVELS)}")
    return value


class _Admins(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    usergroup: str | None = None  # a user group ID (S0123ABC) or handle (incident-admins)
    users: list[str] = []

    @field_validator("users")
    @classmethod
    def _user_ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.fullmatch(r"[UW][A-Z0-9_]{2,}", v)]
        if bad:
            raise ValueError(f"{bad} are not Slack user IDs (like U0123ABCD)")
        return value

    @field_validator("usergroup")
    @classmethod
    def _usergroup(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.strip().removeprefix("@")
            if not re.fullmatch(r"[A-Za-z0-9._-]{1,80}", value):
                raise ValueError(f"'{value}' is not a user group ID (S0123ABC) or handle (incident-admins)")
        return value or None


class Permissions(BaseModel):
    """Who may do what. Levels include the ones after them: ``war_room`` is the war room's
    members plus the commander and admins; ``commander`` is the commander plus admins."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    admins: _Admins = _Admins()
    stamp: PermissionLevel = "war_room"  # phase stamps, notes, updates, action items, break-glass
    correct: PermissionLevel = "commander"  # "Edit times"
    severity: PermissionLevel = "commander"
    close: PermissionLevel = "commander"  # marking verified, which resolves the incident
    roles: PermissionLevel = "commander"  # assigning commander, rollback owner, comms lead, scribe
    data: PermissionLevel = "admins"  # importing or deleting data

    def level(self, action: str) -> str:
        level: PermissionLevel = getattr(self, action)
        return level


def level_of(policy: Permissions, action: str) -> str:
    return FIXED_LEVELS.get(action) or policy.level(action)


def who_may(policy: Permissions, action: str, incident: IncidentRecord | None) -> str:
    """Words for the people a level lets in, for the refusal message."""
    level = level_of(policy, action)
    admins = admin_words(policy)
    commander = f"the incident commander (<@{incident.commander}>)" if incident else "the incident commander"
    if level == "everyone":
        return "everyone"
    if level == "war_room":
        return f"members of the war room, {commander} and {admins}"
    if level == "commander":
        return f"{commander} and {admins}"
    return admins


def admin_words(policy: Permissions) -> str:
    parts = []
    if policy.admins.usergroup:
        group = policy.admins.usergroup
        parts.append(f"<!subteam^{group}>" if group.startswith("S") and group.isupper() else f"@{group}")
    parts += [f"<@{u}>" for u in policy.admins.users]
    return "the incident admins (" + ", ".join(parts) + ")" if parts else "the incident admins (none configured)"


# Seconds a war room's member list is trusted for a member (see PermissionChecks._is_member).
MEMBERS_FRESH = 30.0


@dataclass(frozen=True)
class Refusal:
    text: str


class PermissionChecks:
    def __init__(self, slack: SlackGateway, policy: Permissions) -> None:
        self._slack = slack
        self.policy = policy
        self._members: dict[str, tuple[float, set[str]]] = {}  # channel -> (when read, members)

    async def _is_member(self, channel: str, user: str) -> bool:
        """Whether ``user`` is in the channel. A member seen in the last MEMBERS_FRESH seconds is
        taken as one without asking Slack again, so a responder's clicks do not each wait for
        conversations.members; anyone else is always looked up (someone who just joined is let
        in at once). The price: someone removed from the war room keeps access for up to that long."""
        seen = self._members.get(channel)
        if seen is not None and user in seen[1] and time.monotonic() - seen[0] < MEMBERS_FRESH:
            return True
        members = await self._slack.channel_members(channel)
        self._members[channel] = (time.monotonic(), members)
        return user in members

    async def is_admin(self, user: str) -> bool:
        admins = self.policy.admins
        if user in admins.users:
            return True
        if not admins.usergroup:
            return False
        group_id = admins.usergroup
        if not (group_id.startswith("S") and group_id.isupper()):
            found = await self._slack.usergroup_id(group_id)
            if found is None:
                log.error("permissions.admins.usergroup: there is no user group @%s", group_id)
                return False
            group_id = found
        return user in await self._slack.usergroup_members(group_id)

    async def allowed(self, action: str, incident: IncidentRecord | None, user: str) -> bool:
        """Raises SlackError when Slack could not say. A private incident is closed to everyone
        outside its war room whatever the level, admins and ``everyone`` included: break-glass
        (bot/interactions/break_glass.py) is the only way in, audited and announced in the war room."""
        if incident is not None and incident.is_private and not await self._sees_private(incident, user):
            return False
        level = level_of(self.policy, action)
        if level == "everyone":
            return True
        if incident is not None and level in ("war_room", "commander") and user == incident.commander:
            return True
        if level == "war_room" and incident is not None and incident.channel_id:
            if await self._is_member(incident.channel_id, user):
                return True
        return await self.is_admin(user)

    async def check(self, action: str, incident: IncidentRecord | None, user: str) -> Refusal | None:
        """None when ``user`` may; else the refusal to show them (nothing has changed). Someone
        outside a private incident's war room learns only that it is private: no names."""
        try:
            if incident is not None and incident.is_private and not await self._sees_private(incident, user):
                return Refusal(PRIVATE_INCIDENT)
            if await self.allowed(action, incident, user):
                return None
        except SlackError as error:
            log.warning("permission check for %s failed: %s", action, error)
            return Refusal(f"Could not check who may {ACTION_WORDS[action]} ({error}), so nothing changed. Try again.")
        where = f" in {incident.reference}" if incident else ""
        return Refusal(f"Only {who_may(self.policy, action, incident)} may {ACTION_WORDS[action]}{where}. Nothing changed.")

    async def check_breakglass(self, incident: IncidentRecord, user: str) -> Refusal | None:
        """Break-glass is the ``stamp`` permission, except that it is also the one way into a
        private incident for an admin outside its war room (and for nobody else)."""
        try:
            outsider = incident.is_private and not await self._sees_private(incident, user)
            if outsider:
                return None if await self.is_admin(user) else Refusal(PRIVATE_INCIDENT)
        except SlackError as error:
            log.warning("permission check for break-glass failed: %s", error)
            return Refusal(f"Could not check who may {ACTION_WORDS['stamp']} ({error}), so nothing changed. Try again.")
        return await self.check("stamp", incident, user)

    async def _sees_private(self, incident: IncidentRecord, user: str) -> bool:
        """Raises SlackError when Slack could not say."""
        if user in (incident.commander, incident.opened_by):
            return True
        if not incident.channel_id:
            return False
        return await self._is_member(incident.channel_id, user)

    async def in_war_room(self, incident: IncidentRecord, user: str) -> bool:
        """For private incidents: may this person see it? Only the people in its war room may
        (admins too only once invited: a private incident is private from them as well)."""
        try:
            return await self._sees_private(incident, user)
        except SlackError as error:
            log.warning("membership check failed: %s", error)
            return False
