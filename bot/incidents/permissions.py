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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator

from bot.core.config_fields import PERMISSION_LEVELS as PERMISSION_LEVELS  # named here too: this module enforces them
from bot.core.config_fields import PermissionLevel
from bot.core.records import IncidentRecord
from bot.slack import SlackError, SlackGateway
from bot.slack.messages import PRIVATE_INCIDENT

log = logging.getLogger(__name__)

T = TypeVar("T")

ACTION_WORDS = {
    "stamp": "mark phases, add notes, post updates, add action items and record break-glass access",
    "correct": "correct phase times",
    "severity": "change the severity",
    "close": "mark the incident verified (which resolves it)",
    "roles": "assign incident roles",
    "handover": "hand over command",
    "data": "import or delete data",
    "repair": "repair the Slack side (war-room steps, control message, summaries)",
}
# Actions whose level is fixed, not set in the config. ``incident-bot repair`` on the host is not
# checked: whoever runs it has the database.
FIXED_LEVELS = {"repair": "war_room"}


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
    """Words for the people an action's level lets in, for the refusal message."""
    return who_is_at(policy, level_of(policy, action), incident)


def who_is_at(policy: Permissions, level: str, incident: IncidentRecord | None) -> str:
    """Words for the people ``level`` lets in."""
    admins = admin_words(policy)
    commander = f"the incident commander (<@{incident.commander}>)" if incident else "the incident commander"
    wider_than_admins = {
        "everyone": "everyone",
        "war_room": f"members of the war room, {commander} and {admins}",
        "commander": f"{commander} and {admins}",
    }
    return wider_than_admins.get(level, admins)


def admin_words(policy: Permissions) -> str:
    parts = []
    if policy.admins.usergroup:
        group = policy.admins.usergroup
        parts.append(f"<!subteam^{group}>" if group.startswith("S") and group.isupper() else f"@{group}")
    parts += [f"<@{u}>" for u in policy.admins.users]
    return "the incident admins (" + ", ".join(parts) + ")" if parts else "the incident admins (none configured)"


class PrivacyFacts(Protocol):
    """What deciding who sees a private incident reads: an IncidentRecord, or a row a list shows."""

    @property
    def commander(self) -> str: ...
    @property
    def opened_by(self) -> str: ...
    @property
    def channel_id(self) -> str | None: ...


# Seconds a war room's member list is trusted for a member (see PermissionChecks._is_member).
MEMBERS_FRESH = 30.0


@dataclass(frozen=True)
class Refusal:
    text: str


class SlackNeeded(Exception):
    """The answer needs what only Slack knows (a war room's members not seen lately, the admin user
    group's members). Raised by the checks that answer at once (``decide_now``): their caller may
    hold a database transaction, which must stay short; it asks again with Slack once it let go."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key  # a channel ID, or ADMIN_GROUP


ADMIN_GROUP = "@admins"

# Everything of an incident a permission depends on: an answer given for one set of these facts
# holds for any read of the incident that shows the same ones.
PermissionFacts = tuple[str, str, bool, str | None]


def permission_facts(incident: IncidentRecord) -> PermissionFacts:
    return (incident.commander, incident.opened_by, incident.is_private, incident.channel_id)


def refusal_while_changing(action: str) -> Refusal:
    """For a click whose incident kept changing (its commander, its war room) while it was checked."""
    return Refusal(f"The incident kept changing while checking who may {ACTION_WORDS[action]}, so nothing changed. Try again.")


class PermissionChecks:
    """Each check is decided by one set of rules (``_allowed``, ``_sees_private``), which ask for
    what Slack knows through ``_members``: fetched in this check (``asked``), a member seen lately,
    or else SlackNeeded. The async checks fetch what is needed and decide again."""

    def __init__(self, slack: SlackGateway, policy: Permissions) -> None:
        self._slack = slack
        self.policy = policy
        self._members: dict[str, tuple[float, set[str]]] = {}  # channel -> (when read, members)

    def _is_member(self, channel: str, user: str, asked: dict[str, set[str]]) -> bool:
        """Whether ``user`` is in the channel. A member seen in the last MEMBERS_FRESH seconds is
        taken as one without asking Slack again, so a responder's clicks do not each wait for
        conversations.members; anyone else is always looked up (someone who just joined is let
        in at once). The price: someone removed from the war room keeps access for up to that long."""
        if channel in asked:
            return user in asked[channel]
        seen = self._members.get(channel)
        if seen is not None and user in seen[1] and time.monotonic() - seen[0] < MEMBERS_FRESH:
            return True
        raise SlackNeeded(channel)

    def _is_admin(self, user: str, asked: dict[str, set[str]]) -> bool:
        admins = self.policy.admins
        if user in admins.users:
            return True
        if not admins.usergroup:
            return False
        if ADMIN_GROUP not in asked:
            raise SlackNeeded(ADMIN_GROUP)
        return user in asked[ADMIN_GROUP]

    async def _ask_slack(self, key: str, asked: dict[str, set[str]]) -> None:
        """Fetch what SlackNeeded named into ``asked``. Raises SlackError when Slack could not say."""
        if key != ADMIN_GROUP:
            members = await self._slack.channels.members(key)
            self._members[key] = (time.monotonic(), members)
            asked[key] = members
            return
        group_id = self.policy.admins.usergroup
        assert group_id is not None
        if not (group_id.startswith("S") and group_id.isupper()):
            found = await self._slack.people.usergroup_id(group_id)
            if found is None:
                log.error("permissions.admins.usergroup: there is no user group @%s", group_id)
                asked[key] = set()
                return
            group_id = found
        asked[key] = set(await self._slack.people.usergroup_members(group_id))

    async def _with_slack(self, decide: Callable[[dict[str, set[str]]], T]) -> T:
        """``decide`` with whatever it needs from Slack fetched first. Raises SlackError when Slack
        could not say."""
        asked: dict[str, set[str]] = {}
        while True:
            try:
                return decide(asked)
            except SlackNeeded as needed:
                await self._ask_slack(needed.key, asked)

    async def is_admin(self, user: str) -> bool:
        return await self._with_slack(lambda asked: self._is_admin(user, asked))

    def _allowed(self, action: str, incident: IncidentRecord | None, user: str, asked: dict[str, set[str]]) -> bool:
        return self._allowed_at(level_of(self.policy, action), incident, user, asked)

    def _allowed_at(self, level: str, incident: IncidentRecord | None, user: str, asked: dict[str, set[str]]) -> bool:
        if incident is not None and incident.is_private and not self._sees_private(incident, user, asked):
            return False
        if level == "everyone":
            return True
        if incident is not None and level in ("war_room", "commander") and user == incident.commander:
            return True
        if level == "war_room" and incident is not None and incident.channel_id:
            if self._is_member(incident.channel_id, user, asked):
                return True
        return self._is_admin(user, asked)

    async def allowed(self, action: str, incident: IncidentRecord | None, user: str) -> bool:
        """Raises SlackError when Slack could not say. A private incident is closed to everyone
        outside its war room whatever the level, admins and ``everyone`` included: break-glass
        (bot/interactions/break_glass.py) is the only way in, audited and announced in the war room."""
        return await self._with_slack(lambda asked: self._allowed(action, incident, user, asked))

    def _refusal(self, action: str, incident: IncidentRecord | None, user: str, asked: dict[str, set[str]]) -> Refusal | None:
        if incident is not None and incident.is_private and not self._sees_private(incident, user, asked):
            return Refusal(PRIVATE_INCIDENT)
        if self._allowed(action, incident, user, asked):
            return None
        where = f" in {incident.reference}" if incident else ""
        return Refusal(f"Only {who_may(self.policy, action, incident)} may {ACTION_WORDS[action]}{where}. Nothing changed.")

    async def check_at(self, level: str, what: str, incident: IncidentRecord, user: str) -> Refusal | None:
        """``check`` for a permission whose level is set elsewhere than the config's ``permissions``
        (a runbook action's ``permission``); ``what`` says what is asked, e.g. "run “Roll back”"."""

        def refusal(asked: dict[str, set[str]]) -> Refusal | None:
            if incident.is_private and not self._sees_private(incident, user, asked):
                return Refusal(PRIVATE_INCIDENT)
            if self._allowed_at(level, incident, user, asked):
                return None
            return Refusal(f"Only {who_is_at(self.policy, level, incident)} may {what} in {incident.reference}. Nothing was run.")

        try:
            return await self._with_slack(refusal)
        except SlackError as error:
            log.warning("permission check to %s failed: %s", what, error)
            return Refusal(f"Could not check who may {what} ({error}), so nothing was run. Try again.")

    def decide_now(self, action: str, incident: IncidentRecord | None, user: str) -> Refusal | None:
        """``check`` from what is known without Slack; raises SlackNeeded when that is not enough.
        For a caller inside a database transaction (bot/incidents/stamping.py)."""
        return self._refusal(action, incident, user, {})

    async def check(self, action: str, incident: IncidentRecord | None, user: str) -> Refusal | None:
        """None when ``user`` may; else the refusal to show them (nothing has changed). Someone
        outside a private incident's war room learns only that it is private: no names."""
        try:
            return await self._with_slack(lambda asked: self._refusal(action, incident, user, asked))
        except SlackError as error:
            log.warning("permission check for %s failed: %s", action, error)
            return Refusal(f"Could not check who may {ACTION_WORDS[action]} ({error}), so nothing changed. Try again.")

    async def check_handover(self, incident: IncidentRecord, user: str) -> Refusal | None:
        """Handing over command: the commander hands over their own command whatever the config
        says; anyone else needs the ``roles`` level (who may make someone commander)."""
        if user == incident.commander:
            return None
        refusal = await self.check("roles", incident, user)
        if refusal is None or refusal.text == PRIVATE_INCIDENT or refusal.text.startswith("Could not check"):
            return refusal
        others = admin_words(self.policy)
        if level_of(self.policy, "roles") == "war_room":
            others = f"members of the war room and {others}"
        return Refusal(
            f"Only the incident commander (<@{incident.commander}>) or {others} may {ACTION_WORDS['handover']} in {incident.reference}. "
            "Nothing changed."
        )

    async def check_breakglass(self, incident: IncidentRecord, user: str) -> Refusal | None:
        """Break-glass is the ``stamp`` permission, except that it is also the one way into a
        private incident for an admin outside its war room (and for nobody else)."""
        try:
            outsider = incident.is_private and not await self._with_slack(lambda asked: self._sees_private(incident, user, asked))
            if outsider:
                return None if await self.is_admin(user) else Refusal(PRIVATE_INCIDENT)
        except SlackError as error:
            log.warning("permission check for break-glass failed: %s", error)
            return Refusal(f"Could not check who may {ACTION_WORDS['stamp']} ({error}), so nothing changed. Try again.")
        return await self.check("stamp", incident, user)

    def _sees_private(self, incident: PrivacyFacts, user: str, asked: dict[str, set[str]]) -> bool:
        if user in (incident.commander, incident.opened_by):
            return True
        if not incident.channel_id:
            return False
        return self._is_member(incident.channel_id, user, asked)

    async def in_war_room(self, incident: PrivacyFacts, user: str) -> bool:
        """For private incidents: may this person see it? Only the people in its war room may
        (admins too only once invited: a private incident is private from them as well)."""
        try:
            return await self._with_slack(lambda asked: self._sees_private(incident, user, asked))
        except SlackError as error:
            log.warning("membership check failed: %s", error)
            return False
