"""Messages in channels: posting, updating and pinning them, their permalinks, a channel's history
and finding the bot's own step messages in it again (``chat.*``, ``pins.add``,
``conversations.history``), and answering a command or click through its ``response_url``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler, AsyncServerErrorRetryHandler
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.slack.errors import SlackError
from bot.slack.gateway.identity import Identity
from bot.slack.transport import SlackTransport


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


class Chat:
    def __init__(self, transport: SlackTransport, identity: Identity) -> None:
        self._transport = transport
        self._identity = identity

    async def post(
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
        data = await self._transport.call(
            "chat.postMessage",
            channel=channel,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            unfurl_links=False,
            metadata=metadata,
        )
        return PostedMessage(channel=data["channel"], ts=data["ts"])

    async def update(self, channel: str, ts: str, text: str, *, blocks: list[dict[str, Any]] | None = None) -> None:
        await self._transport.call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)

    async def post_ephemeral(self, channel: str, user: str, text: str, *, blocks: list[dict[str, Any]] | None = None) -> None:
        await self._transport.call("chat.postEphemeral", channel=channel, user=user, text=text, blocks=blocks)

    async def pin(self, channel: str, ts: str) -> None:
        try:
            await self._transport.call("pins.add", channel=channel, timestamp=ts)
        except SlackError as exc:
            if exc.code != "already_pinned":
                raise

    async def permalink(self, channel: str, ts: str) -> str:
        permalink: str = (await self._transport.call("chat.getPermalink", channel=channel, message_ts=ts))["permalink"]
        return permalink

    async def history(self, channel: str, *, oldest: float) -> list[PastMessage]:
        """Every message of the channel since ``oldest`` (a Unix time), with the metadata the
        posters attached (Slack returns it only when asked with include_all_metadata)."""
        messages: list[PastMessage] = []
        cursor: str | None = None
        while True:
            data = await self._transport.call(
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

    async def bots_own_since(self, channel: str, since: float) -> list[PastMessage]:
        """The bot's own messages of the channel since ``since``: where an interrupted step looks
        for what it may already have posted or shared."""
        bot = await self._identity.bot_user_id()
        return [message for message in await self.history(channel, oldest=since) if message.user == bot]

    async def find_step_message(self, channel: str, incident_id: int, step: str, *, since: float) -> str | None:
        """The ts of the bot's own message posted since ``since`` as ``step`` of the incident, if any."""
        for message in await self.bots_own_since(channel, since):
            payload = message.event_payload
            if message.event_type == STEP_EVENT and payload.get("incident") == incident_id and payload.get("step") == step:
                return message.ts
        return None

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
