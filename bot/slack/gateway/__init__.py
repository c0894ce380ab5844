"""The one way out to Slack: ``SlackGateway``, made of one part per subject, all sharing one
transport (bot.slack.transport: the kept-alive HTTP session, pacing, 429 waits, metrics, errors
people understand).

Handlers and domain code never touch ``AsyncWebClient``; they call a part of the gateway:
``slack.channels`` (channels.py), ``slack.chat`` (chat.py: messages, history, response_url),
``slack.views`` (views.py), ``slack.files`` (files.py), ``slack.people`` (people.py: users, groups,
the directory memory), ``slack.identity`` (identity.py: the bot itself, Sign in with Slack).
Every Web API method the bot uses appears in this package as ``self._transport.call("<method>",
...)`` (tests/test_slack_contract.py reads them from these files to check the manifest's scopes and
Slack's published method descriptions).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler, AsyncServerErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.directory import DIRECTORY_MEMORY_SECONDS
from bot.slack.errors import SlackError as SlackError  # re-exported: callers import it from the gateway
from bot.slack.gateway.channels import Bookmark, Channel, Channels, ChannelState, ListedChannel
from bot.slack.gateway.chat import STEP_EVENT, Chat, PastMessage, PostedMessage, step_metadata
from bot.slack.gateway.files import Files
from bot.slack.gateway.identity import Identity, SignedInUser
from bot.slack.gateway.people import People, SlackUser
from bot.slack.gateway.views import Views
from bot.slack.pacing import Pacer
from bot.slack.transport import SlackTransport, idle_connection_kept

__all__ = [
    "STEP_EVENT",
    "Bookmark",
    "Channel",
    "ChannelState",
    "ListedChannel",
    "PastMessage",
    "PostedMessage",
    "SignedInUser",
    "SlackError",
    "SlackGateway",
    "SlackUser",
    "step_metadata",
]


class SlackGateway:
    def __init__(
        self,
        client: AsyncWebClient,
        pacer: Pacer | None = None,
        *,
        directory_memory: float = DIRECTORY_MEMORY_SECONDS,
        keep_warm: float = 0.0,
    ) -> None:
        self._client = client
        self._keep_warm_every = keep_warm
        self._transport = SlackTransport(client, pacer, idle_kept=idle_connection_kept(keep_warm))
        self.identity = Identity(self._transport)
        self.channels = Channels(self._transport)
        self.chat = Chat(self._transport, self.identity)
        self.views = Views(self._transport)
        self.files = Files(self._transport, self.chat)
        self.people = People(self._transport, directory_memory=directory_memory)

    @classmethod
    def connect(cls, token: str, base_url: str, *, timeout: float = 10, pacer: Pacer | None = None, keep_warm: float = 0.0) -> SlackGateway:
        """A 429 is not retried by the SDK but by the transport, which waits it out through the
        pacer (every process then holds back) for as long as Slack asks, as often as it asks."""
        client = AsyncWebClient(
            token=token,
            base_url=base_url,
            timeout=timeout,  # type: ignore[arg-type]  # aiohttp takes fractions of a second
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(max_retry_count=2),
                AsyncServerErrorRetryHandler(max_retry_count=2),
            ],
        )
        return cls(client, pacer, keep_warm=keep_warm)

    async def close(self) -> None:
        await self._transport.close()

    async def keep_warm(self, stop: asyncio.Event, ping: Callable[[], Awaitable[object]] | None = None) -> None:
        """Until ``stop`` is set, keep a connection to Slack open and ready while the bot is idle
        (``SlackTransport.keep_warm``) by calling ``ping`` (an ``auth.test``: ``serve`` passes its
        check of the bot token, so /healthz also learns of a token revoked while the bot idles);
        returns at once when keeping warm is off (0 s)."""
        if self._keep_warm_every > 0:
            await self._transport.keep_warm(stop, self._keep_warm_every, ping or self.identity.who_am_i)

    @property
    def client(self) -> AsyncWebClient:
        """For Bolt, which needs the client to build its app; nothing else should use it."""
        return self._client

    async def socket_mode_url(self, app_token: str) -> str:
        """A WebSocket URL for Socket Mode; asks once, so a refused app token is an error, not a retry loop."""
        url: str = (await self._transport.call("apps.connections.open", app_token=app_token))["url"]
        return url
