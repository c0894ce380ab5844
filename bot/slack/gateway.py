"""One object wraps the Slack Web API: retries, rate limits, typed answers, errors people understand.

Handlers and domain code never touch ``AsyncWebClient``; they call these methods. Every Web API
method the bot uses appears here as ``self._call("<method>", ...)`` (a test reads them from this
file to check the manifest's scopes and Slack's published method descriptions).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler, AsyncServerErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.slack.directory import DIRECTORY_MEMORY_SECONDS, Remembered
from bot.slack.errors import SlackError as SlackError  # re-exported: callers import it from the gateway
from bot.slack.pacing import Pacer
from bot.slack.transport import SlackTransport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignedInUser:
    """Who signed in with Slack (``openid.connect.userInfo``): their user ID and workspace."""

    user_id: str
    team_id: str | None
    name: str | None


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
class SlackUser:
    """What users.info says about whether someone can act in Slack. Slackbot (USLACKBOT) answers
    as a user with ``is_bot`` false, so it is told apart by its ID."""

    id: str
    deleted: bool
    is_bot: bool

    @property
    def is_slackbot(self) -> bool:
        return self.id == "USLACKBOT"


@dataclass(frozen=True)
class PostedMessage:
    channel: str
    ts: str


@dataclass(frozen=True)
class PastMessage:
    """A message of a channel's history, as much of it as adopting a bot's own post needs."""

    ts: str
    user: str
    event_type: str | None
    event_payload: dict[str, Any]
    files: tuple[tuple[str, str], ...]  # (id, title) of each file the message shares


# The metadata the bot attaches to each message it posts as a step of an incident, so that a step
# interrupted after Slack posted it (a crash, a timeout) finds its message again instead of posting
# a second one.
STEP_EVENT = "incident_bot_step"


def step_metadata(incident_id: int, step: str) -> dict[str, Any]:
    return {"event_type": STEP_EVENT, "event_payload": {"incident": incident_id, "step": step}}


@dataclass(frozen=True)
class Bookmark:
    title: str
    link: str


class SlackGateway:
    def __init__(self, client: AsyncWebClient, pacer: Pacer | None = None, *, directory_memory: float = DIRECTORY_MEMORY_SECONDS) -> None:
        self._client = client
        self._transport = SlackTransport(client, pacer)
        self._bot_user_id: str | None = None
        self._workspace_id: str | None = None
        # Answers of the workspace's directory a war room or a resolution would otherwise wait for
        # (bot.slack.directory): handle -> group ID, e-mail -> user ID, user ID -> display name.
        self._group_ids: Remembered[str] = Remembered(directory_memory)
        self._user_ids: Remembered[str] = Remembered(directory_memory)
        self._display_names: Remembered[str] = Remembered(directory_memory)

    def forget_directory(self) -> None:
        """Ask Slack again for every handle, e-mail and display name."""
        for remembered in (self._group_ids, self._user_ids, self._display_names):
            remembered.forget()

    @classmethod
    def connect(cls, token: str, base_url: str, *, timeout: float = 10, pacer: Pacer | None = None) -> SlackGateway:
        """A 429 is not retried by the SDK but by ``_call``, which waits it out through the pacer
        (every process then holds back) for as long as Slack asks, as often as it asks."""
        client = AsyncWebClient(
            token=token,
            base_url=base_url,
            timeout=timeout,  # type: ignore[arg-type]  # aiohttp takes fractions of a second
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(max_retry_count=2),
                AsyncServerErrorRetryHandler(max_retry_count=2),
            ],
        )
        return cls(client, pacer)

    async def close(self) -> None:
        await self._transport.close()

    @property
    def client(self) -> AsyncWebClient:
        """For Bolt, which needs the client to build its app; nothing else should use it."""
        return self._client

    async def _call(self, method: str, **args: Any) -> dict[str, Any]:
        """One Web API call (SlackTransport.call); every method the bot uses is named at a call of this."""
        return await self._transport.call(method, **args)

    async def socket_mode_url(self, app_token: str) -> str:
        """A WebSocket URL for Socket Mode; asks once, so a refused app token is an error, not a retry loop."""
        url: str = (await self._call("apps.connections.open", app_token=app_token))["url"]
        return url

    async def channel_state(self, channel: str) -> ChannelState:
        data = (await self._call("conversations.info", channel=channel))["channel"]
        return ChannelState(
            id=data["id"],
            name=data.get("name", ""),
            is_archived=bool(data.get("is_archived")),
            is_member=bool(data.get("is_member")),
            is_private=bool(data.get("is_private")),
        )

    async def channel_members(self, channel: str) -> set[str]:
        """Everyone in the channel, every page of it."""
        members: set[str] = set()
        cursor: str | None = None
        while True:
            data = await self._call("conversations.members", channel=channel, limit=1000, cursor=cursor)
            members.update(data.get("members", []))
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return members

    async def bot_user_id(self) -> str:
        if self._bot_user_id is None:
            await self.who_am_i()
        assert self._bot_user_id is not None
        return self._bot_user_id

    async def who_am_i(self) -> str:
        """Asks Slack who the token belongs to (``auth.test``): "@bot in workspace"; a refused
        token raises SlackError with Slack's code (invalid_auth, token_revoked...)."""
        data = await self._call("auth.test")
        self._bot_user_id = data["user_id"]
        return f"@{data.get('user') or data['user_id']} in {data.get('team') or data.get('team_id') or 'the workspace'}"

    async def workspace_id(self) -> str:
        """The ID of the bot's workspace (``auth.test``'s team_id), asked once per process."""
        if self._workspace_id is None:
            data = await self._call("auth.test")
            self._bot_user_id = data["user_id"]
            self._workspace_id = str(data["team_id"])
        return self._workspace_id

    async def openid_access_token(self, *, client_id: str, client_secret: str, code: str, redirect_uri: str) -> tuple[str, str | None]:
        """Sign in with Slack: the code Slack's authorize page gave back, exchanged for the person's
        access token and the ID token (``openid.connect.token``). Neither is ever logged."""
        data = await self._call(
            "openid.connect.token",
            client_id=client_id,
            client_secret=client_secret,
            code=code,
            redirect_uri=redirect_uri,
            grant_type="authorization_code",
        )
        id_token = data.get("id_token")
        return str(data["access_token"]), str(id_token) if id_token else None

    async def openid_user(self, access_token: str) -> SignedInUser:
        """Who the access token belongs to (``openid.connect.userInfo``, with the person's token)."""
        data = await self._call("openid.connect.userInfo", token=access_token)
        team = data.get("https://slack.com/team_id")
        return SignedInUser(user_id=str(data["https://slack.com/user_id"]), team_id=str(team) if team else None, name=data.get("name"))

    async def channels_named(self, names: set[str]) -> list[ListedChannel]:
        """The unarchived public and private channels (that the bot can see) with one of these names."""
        found: list[ListedChannel] = []
        cursor: str | None = None
        while True:
            data = await self._call(
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

    async def history(self, channel: str, *, oldest: float) -> list[PastMessage]:
        """Every message of the channel since ``oldest`` (a Unix time), with the metadata the
        posters attached (Slack returns it only when asked with include_all_metadata)."""
        messages: list[PastMessage] = []
        cursor: str | None = None
        while True:
            data = await self._call(
                "conversations.history",
                channel=channel,
                oldest=f"{oldest:.6f}",
                limit=200,
                include_all_metadata=True,
                cursor=cursor,
            )
            for message in data.get("messages", []):
                metadata = message.get("metadata") or {}
                messages.append(
                    PastMessage(
                        ts=message["ts"],
                        user=message.get("user", ""),
                        event_type=metadata.get("event_type"),
                        event_payload=metadata.get("event_payload") or {},
                        files=tuple((f.get("id", ""), f.get("title", "")) for f in message.get("files") or []),
                    )
                )
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor or not data.get("has_more"):
                return messages

    async def find_step_message(self, channel: str, incident_id: int, step: str, *, since: float) -> str | None:
        """The ts of the bot's own message posted since ``since`` as ``step`` of the incident, if any."""
        bot = await self.bot_user_id()
        for message in await self.history(channel, oldest=since):
            payload = message.event_payload
            if (
                message.user == bot
                and message.event_type == STEP_EVENT
                and payload.get("incident") == incident_id
                and payload.get("step") == step
            ):
                return message.ts
        return None

    async def find_uploaded_file(self, channel: str, title: str, *, since: float) -> str | None:
        """The id of a file with this title the bot shared in the channel since ``since``, if any."""
        bot = await self.bot_user_id()
        for message in await self.history(channel, oldest=since):
            if message.user == bot:
                for file_id, file_title in message.files:
                    if file_title == title:
                        return file_id
        return None

    async def bookmarks(self, channel: str) -> list[Bookmark]:
        data = await self._call("bookmarks.list", channel_id=channel)
        return [Bookmark(b.get("title", ""), b.get("link", "")) for b in data.get("bookmarks", [])]

    async def create_channel(self, name: str, *, private: bool = False) -> Channel:
        data = await self._call("conversations.create", name=name, is_private=private)
        channel = Channel(id=data["channel"]["id"], name=data["channel"]["name"])
        self._transport.made_here("chat.postMessage", {"channel": channel.id})  # its first post need not ask other processes
        return channel

    async def invite(self, channel: str, users: list[str]) -> None:
        users = [user for user in users if user]  # an incident with no commander or opener names nobody
        if not users:
            return
        try:
            # force: invite the ones who can be invited even if another is already in or deactivated.
            await self._call("conversations.invite", channel=channel, users=",".join(users), force=True if len(users) > 1 else None)
        except SlackError as exc:
            # cant_invite_self: the bot opened the incident (an alert) and is in the channel it made.
            if exc.code not in ("already_in_channel", "cant_invite_self"):
                raise

    async def direct_channel(self, user: str) -> str:
        """The ID of the bot's direct-message channel with ``user`` (conversations.open), where a
        step's DM is looked for again by its metadata."""
        channel: str = (await self._call("conversations.open", users=user))["channel"]["id"]
        return channel

    async def set_topic(self, channel: str, topic: str) -> None:
        await self._call("conversations.setTopic", channel=channel, topic=topic)

    async def post_message(
        self,
        channel: str,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> PostedMessage:
        """``metadata`` ({"event_type", "event_payload"}) lets the bot find the message again in the
        channel's history (see ``history``)."""
        data = await self._call(
            "chat.postMessage",
            channel=channel,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            unfurl_links=False,
            metadata=metadata,
        )
        return PostedMessage(channel=data["channel"], ts=data["ts"])

    async def update_message(self, channel: str, ts: str, text: str, *, blocks: list[dict[str, Any]] | None = None) -> None:
        await self._call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)

    async def post_ephemeral(self, channel: str, user: str, text: str, *, blocks: list[dict[str, Any]] | None = None) -> None:
        await self._call("chat.postEphemeral", channel=channel, user=user, text=text, blocks=blocks)

    async def pin(self, channel: str, ts: str) -> None:
        try:
            await self._call("pins.add", channel=channel, timestamp=ts)
        except SlackError as exc:
            if exc.code != "already_pinned":
                raise

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self._call("views.open", trigger_id=trigger_id, view=view)

    async def permalink(self, channel: str, ts: str) -> str:
        permalink: str = (await self._call("chat.getPermalink", channel=channel, message_ts=ts))["permalink"]
        return permalink

    async def upload_file(
        self,
        channel: str | None,
        content: bytes,
        *,
        filename: str,
        title: str,
        comment: str | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """Slack's upload flow (what files_upload_v2 does): get an upload URL, send the bytes,
        then complete the upload into the channel (with no channel: shared nowhere, for an image
        block's ``slack_file``). Returns the file id."""
        ticket = await self._call("files.getUploadURLExternal", filename=filename, length=len(content))
        await self._transport.send_bytes(ticket["upload_url"], content)
        await self._call(
            "files.completeUploadExternal",
            files=[{"id": ticket["file_id"], "title": title}],
            channel_id=channel,
            initial_comment=comment,
            thread_ts=thread_ts,
        )
        file_id: str = ticket["file_id"]
        return file_id

    async def add_bookmark(self, channel: str, title: str, link: str) -> None:
        await self._call("bookmarks.add", channel_id=channel, title=title, type="link", link=link)

    async def usergroup_members(self, usergroup_id: str) -> list[str]:
        return list((await self._call("usergroups.users.list", usergroup=usergroup_id)).get("users", []))

    async def usergroup_id(self, handle: str) -> str | None:
        """The ID of the user group with this handle ("payments-oncall", no @), or None. One list
        answers for every handle, so each handle in it is remembered."""
        if (remembered := self._group_ids.get(handle)) is not None:
            return remembered
        found: str | None = None
        for group in (await self._call("usergroups.list")).get("usergroups", []):
            group_handle, group_id = group.get("handle"), group.get("id")
            if group_handle and group_id:
                self._group_ids.keep(group_handle, group_id)
                if group_handle == handle:
                    found = group_id
        return found

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
        return None if await self.user_id_by_email(email) else "users.lookupByEmail: users_not_found"

    async def usergroup_ids_and_handles(self) -> set[str]:
        """Every user group's ID and handle (without @)."""
        groups = (await self._call("usergroups.list")).get("usergroups", [])
        return {group[key] for group in groups for key in ("id", "handle") if group.get(key)}

    async def user_id_by_email(self, email: str) -> str | None:
        if (remembered := self._user_ids.get(email)) is not None:
            return remembered
        try:
            user_id: str = (await self._call("users.lookupByEmail", email=email))["user"]["id"]
        except SlackError as error:
            if error.code == "users_not_found":
                return None
            raise
        self._user_ids.keep(email, user_id)
        return user_id

    async def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        await self._call("views.publish", user_id=user_id, view=view)

    async def update_view(self, view_id: str, view: dict[str, Any], *, hash_: str | None = None) -> None:
        await self._call("views.update", view_id=view_id, view=view, hash=hash_)

    async def user_timezone(self, user_id: str) -> str | None:
        """The IANA zone of a user's Slack profile, such as "Europe/Berlin"."""
        data = await self._call("users.info", user=user_id)
        zone: str | None = data.get("user", {}).get("tz")
        return zone

    async def user(self, user_id: str) -> SlackUser:
        """users.info; SlackError ``user_not_found`` when there is no such user."""
        user = (await self._call("users.info", user=user_id)).get("user", {})
        return SlackUser(id=user.get("id") or user_id, deleted=bool(user.get("deleted")), is_bot=bool(user.get("is_bot")))

    async def display_name(self, user_id: str) -> str:
        if (remembered := self._display_names.get(user_id)) is not None:
            return remembered
        user = (await self._call("users.info", user=user_id)).get("user", {})
        profile = user.get("profile", {})
        name: str = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name") or user_id
        self._display_names.keep(user_id, name)
        return name

    async def respond(self, response_url: str, text: str, *, blocks: list[dict[str, Any]] | None = None) -> None:
        """Answer a slash command or interaction through its response_url, ephemerally.

        Works in any channel, including ones the bot is not in, which chat.postEphemeral cannot.
        """
        webhook = AsyncWebhookClient(
            response_url,
            timeout=10,
            session=self._transport.connections(),
            retry_handlers=[AsyncConnectionErrorRetryHandler(max_retry_count=2), AsyncServerErrorRetryHandler()],
        )
        try:
            response = await webhook.send(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
        except TimeoutError:
            raise SlackError("response_url", "timeout") from None
        except aiohttp.ClientError:
            raise SlackError("response_url", "connection_error") from None
        if response.status_code >= 400:
            raise SlackError("response_url", "http_error", f"HTTP {response.status_code}: {response.body[:100]}")
