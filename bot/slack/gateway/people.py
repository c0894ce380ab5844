"""People and groups of the workspace: who a user is (``users.info``), a user by e-mail
(``users.lookupByEmail``), user groups and their members (``usergroups.*``), and the directory
memory (bot.slack.directory) that spares a war room or a resolution asking again for a handle,
an e-mail or a display name Slack answered minutes ago."""

from __future__ import annotations

from dataclasses import dataclass

from bot.slack.directory import DIRECTORY_MEMORY_SECONDS, Remembered
from bot.slack.errors import SlackError
from bot.slack.transport import SlackTransport


@dataclass(frozen=True)
class SlackUser:
    """What users.info says about whether someone can act in Slack. Slackbot (USLACKBOT) answers
    as a user with ``is_bot`` false, so it is told apart by its ID."""

    id: str
    deleted: bool
    is_bot: bool

    @property
    def is_slackbot(self) -> bool:
        return self.id == "USLACKBOT"


class People:
    def __init__(self, transport: SlackTransport, *, directory_memory: float = DIRECTORY_MEMORY_SECONDS) -> None:
        self._transport = transport
        # handle -> group ID, e-mail -> user ID, user ID -> display name.
        self._group_ids: Remembered[str] = Remembered(directory_memory)
        self._user_ids: Remembered[str] = Remembered(directory_memory)
        self._display_names: Remembered[str] = Remembered(directory_memory)

    def forget_directory(self) -> None:
        """Ask Slack again for every handle, e-mail and display name."""
        for remembered in (self._group_ids, self._user_ids, self._display_names):
            remembered.forget()

    def remembered_name(self, user_id: str) -> str | None:
        """What ``display_name`` answers for ``user_id`` without asking Slack, if anything."""
        return self._display_names.get(user_id)

    async def user(self, user_id: str) -> SlackUser:
        """users.info; SlackError ``user_not_found`` when there is no such user."""
        user = (await self._transport.call("users.info", user=user_id)).get("user", {})
        return SlackUser(id=user.get("id") or user_id, deleted=bool(user.get("deleted")), is_bot=bool(user.get("is_bot")))

    async def display_name(self, user_id: str) -> str:
        if (remembered := self._display_names.get(user_id)) is not None:
            return remembered
        user = (await self._transport.call("users.info", user=user_id)).get("user", {})
        profile = user.get("profile", {})
        name: str = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name") or user_id
        self._display_names.keep(user_id, name)
        return name

    async def timezone(self, user_id: str) -> str | None:
        """The IANA zone of a user's Slack profile, such as "Europe/Berlin"."""
        data = await self._transport.call("users.info", user=user_id)
        zone: str | None = data.get("user", {}).get("tz")
        return zone

    async def id_by_email(self, email: str) -> str | None:
        if (remembered := self._user_ids.get(email)) is not None:
            return remembered
        try:
            user_id: str = (await self._transport.call("users.lookupByEmail", email=email))["user"]["id"]
        except SlackError as error:
            if error.code == "users_not_found":
                return None
            raise
        self._user_ids.keep(email, user_id)
        return user_id

    async def unknown_user(self, user_id: str) -> str | None:
        """Why Slack knows no user with this ID ("users.info: user_not_found"), or None if it does."""
        try:
            await self.user(user_id)
        except SlackError as error:
            if error.code == "user_not_found":
                return "users.info: user_not_found"
            raise
        return None

    async def unknown_email(self, email: str) -> str | None:
        """Why Slack knows no user with this e-mail, or None if it does."""
        return None if await self.id_by_email(email) else "users.lookupByEmail: users_not_found"

    async def usergroup_id(self, handle: str) -> str | None:
        """The ID of the user group with this handle ("payments-oncall", no @), or None. One list
        answers for every handle, so each handle in it is remembered."""
        if (remembered := self._group_ids.get(handle)) is not None:
            return remembered
        found: str | None = None
        for group in (await self._transport.call("usergroups.list")).get("usergroups", []):
            group_handle, group_id = group.get("handle"), group.get("id")
            if group_handle and group_id:
                self._group_ids.keep(group_handle, group_id)
                if group_handle == handle:
                    found = group_id
        return found

    async def usergroup_members(self, usergroup_id: str) -> list[str]:
        return list((await self._transport.call("usergroups.users.list", usergroup=usergroup_id)).get("users", []))

    async def usergroup_ids_and_handles(self) -> set[str]:
        """Every user group's ID and handle (without @)."""
        groups = (await self._transport.call("usergroups.list")).get("usergroups", [])
        return {group[key] for group in groups for key in ("id", "handle") if group.get(key)}
