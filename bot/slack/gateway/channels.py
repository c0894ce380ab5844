"""Channels and what hangs on them: reading one (``conversations.info``, ``.members``, ``.list``),
making a war room and letting people in (``conversations.create``, ``.invite``, ``.open`` for a
direct message), its topic and its bookmarks."""

from __future__ import annotations

from dataclasses import dataclass

from bot.slack.errors import SlackError
from bot.slack.transport import SlackTransport


@dataclass(frozen=True)
class Channel:
    """A channel the bot made or found; the two below are what Slack's reads tell of one."""

    id: str
    name: str


@dataclass(frozen=True)
class ChannelState(Channel):
    """What conversations.info says about a channel."""

    is_archived: bool
    is_member: bool
    is_private: bool


@dataclass(frozen=True)
class ListedChannel(Channel):
    """A channel as conversations.list shows it: who created it and when (a Unix time)."""

    creator: str
    created: int


@dataclass(frozen=True)
class Bookmark:
    title: str
    link: str


class Channels:
    def __init__(self, transport: SlackTransport) -> None:
        self._transport = transport

    async def state(self, channel: str) -> ChannelState:
        data = (await self._transport.call("conversations.info", channel=channel))["channel"]
        return ChannelState(
            id=data["id"],
            name=data.get("name", ""),
            is_archived=bool(data.get("is_archived")),
            is_member=bool(data.get("is_member")),
            is_private=bool(data.get("is_private")),
        )

    async def members(self, channel: str) -> set[str]:
        """Everyone in the channel, every page of it."""
        members: set[str] = set()
        cursor: str | None = None
        while True:
            data = await self._transport.call("conversations.members", channel=channel, limit=1000, cursor=cursor)
            members.update(data.get("members", []))
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return members

    async def named(self, names: set[str]) -> list[ListedChannel]:
        """The unarchived public and private channels (that the bot can see) with one of these names."""
        found: list[ListedChannel] = []
        cursor: str | None = None
        while True:
            data = await self._transport.call(
                "conversations.list", types="public_channel,private_channel", exclude_archived=True, limit=1000, cursor=cursor
            )
            for channel in data.get("channels", []):
                if channel.get("name") in names:
                    found.append(
                        ListedChannel(channel["id"], channel["name"], channel.get("creator", ""), int(channel.get("created") or 0))
                    )
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return found

    async def create(self, name: str, *, private: bool = False) -> Channel:
        data = await self._transport.call("conversations.create", name=name, is_private=private)
        channel = Channel(id=data["channel"]["id"], name=data["channel"]["name"])
        self._transport.made_here("chat.postMessage", {"channel": channel.id})  # its first post need not ask other processes
        return channel

    async def invite(self, channel: str, users: list[str]) -> None:
        users = [user for user in users if user]  # an incident with no commander or opener names nobody
        if not users:
            return
        try:
            # force: invite the ones who can be invited even if another is already in or deactivated.
            await self._transport.call(
                "conversations.invite", channel=channel, users=",".join(users), force=True if len(users) > 1 else None
            )
        except SlackError as exc:
            # cant_invite_self: the bot opened the incident (an alert) and is in the channel it made.
            if exc.code not in ("already_in_channel", "cant_invite_self"):
                raise

    async def open_direct(self, user: str) -> str:
        """The ID of the bot's direct-message channel with ``user`` (conversations.open), where a
        step's DM is looked for again by its metadata."""
        channel: str = (await self._transport.call("conversations.open", users=user))["channel"]["id"]
        return channel

    async def set_topic(self, channel: str, topic: str) -> None:
        await self._transport.call("conversations.setTopic", channel=channel, topic=topic)

    async def bookmarks(self, channel: str) -> list[Bookmark]:
        data = await self._transport.call("bookmarks.list", channel_id=channel)
        return [Bookmark(b.get("title", ""), b.get("link", "")) for b in data.get("bookmarks", [])]

    async def add_bookmark(self, channel: str, title: str, link: str) -> None:
        await self._transport.call("bookmarks.add", channel_id=channel, title=title, type="link", link=link)
