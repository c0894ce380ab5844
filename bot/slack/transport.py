"""How one Slack Web API call travels: over one kept-alive HTTP session, in its turn from the pacer
(bot.slack.pacing), waiting out a 429 for as long as Slack asks, counted in the metrics, and failing
as a SlackError a person can read."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.slack.errors import SlackError
from bot.slack.pacing import Pacer

log = logging.getLogger(__name__)

# How long aiohttp keeps an idle connection (its own default) when nothing keeps one warm.
IDLE_CONNECTION_KEPT = 15.0


def idle_connection_kept(keep_warm: float) -> float:
    """Seconds an idle connection to Slack is kept open: aiohttp's 15 s, or, when a connection is
    kept warm every ``keep_warm`` seconds, twice that, so the call that keeps it warm always finds
    it open."""
    return max(IDLE_CONNECTION_KEPT, 2 * keep_warm) if keep_warm > 0 else IDLE_CONNECTION_KEPT


# Methods called with a person's token (its ``token`` argument) instead of the bot's.
_USER_TOKEN_METHODS = frozenset({"openid.connect.userInfo"})


async def requests_on_their_way() -> None:
    """Let the Web API requests just started leave before the caller holds the event loop or the
    GIL (its next statements, a database write on a worker thread): a request sends its headers
    in the loop's turn after it starts, and aiohttp writes its body from a task of its own one
    turn later (Python 3.11). What waits here is only that, never an answer."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


class _RateLimited(Exception):
    """Slack answered 429: wait ``retry_after`` seconds, then try the same call again."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after} s")
        self.retry_after = retry_after


def _retry_after(headers: Any) -> float:
    """Seconds from a 429's Retry-After header; 1 when it is missing or unreadable."""
    for name, value in dict(headers or {}).items():
        if str(name).lower() == "retry-after":
            try:
                return max(0.0, float(value[0] if isinstance(value, list) else value))
            except (TypeError, ValueError):
                break
    return 1.0


class SlackTransport:
    """Owns the Web API client's HTTP session, the pacing and 429 waits of every call, and the translation of Slack's failures."""

    def __init__(self, client: AsyncWebClient, pacer: Pacer | None = None, *, idle_kept: float = IDLE_CONNECTION_KEPT) -> None:
        self._client = client
        self._pacer = pacer or Pacer(None)
        self._session: aiohttp.ClientSession | None = None
        self._idle_kept = idle_kept
        self._last_ended = float("-inf")  # the event loop's time when a Web API call last ended

    def connections(self) -> aiohttp.ClientSession:
        """One HTTP session, kept open, for every call: without it slack_sdk opens (and, against
        slack.com, TLS-handshakes) a new connection for each call, which under a burst costs more
        than the calls. Made on first use, inside the running event loop it belongs to."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(keepalive_timeout=self._idle_kept),
                timeout=aiohttp.ClientTimeout(total=self._client.timeout),
            )
            self._client.session = self._session
        return self._session

    async def close(self) -> None:
        await self._pacer.settle()
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def made_here(self, method: str, args: dict[str, Any]) -> None:
        """Calls of ``method`` with ``args`` go to something this process has just made (``Pacer.made_here``)."""
        self._pacer.made_here(method, args)

    async def send_bytes(self, url: str, content: bytes) -> None:
        """The middle step of Slack's upload: the bytes to the URL Slack gave, over the same session."""
        try:
            upload = self.connections().post(url, data=content, timeout=aiohttp.ClientTimeout(total=30))
            async with upload as response:
                if response.status >= 400:
                    raise SlackError("files.upload", "http_error", f"HTTP {response.status}")
        except TimeoutError:
            raise SlackError("files.upload", "timeout") from None
        except aiohttp.ClientError:
            raise SlackError("files.upload", "connection_error") from None

    async def call(self, method: str, **args: Any) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            while True:
                ticket = await self._pacer.turn(method, args)
                try:
                    data = await self._call_once(method, **args)
                except _RateLimited as limited:
                    metrics.SLACK_RATE_LIMITED.labels(method).inc()
                    log.info("slack call %s rate limited: waiting %s s and trying again", method, limited.retry_after)
                    try:
                        await self._pacer.hold_back(method, args, limited.retry_after)
                    finally:
                        await self._pacer.done(ticket)
                    continue
                except BaseException:
                    self._pacer.finish(ticket)
                    raise
                # The answer goes back to the caller at once: a war room's control message follows
                # its channel's answer with no rate-limit bookkeeping (a database write) in between.
                self._pacer.finish(ticket)
                break
        except SlackError as error:
            metrics.SLACK_CALLS.labels(method, error.code).inc()
            raise
        finally:
            metrics.SLACK_CALL_SECONDS.labels(method).observe(time.perf_counter() - started)
            self._last_ended = asyncio.get_running_loop().time()
        metrics.SLACK_CALLS.labels(method, "ok").inc()
        return data

    async def keep_warm(self, stop: asyncio.Event, every: float, ping: Callable[[], Awaitable[object]]) -> None:
        """Until ``stop`` is set: whenever no call has ended for ``every`` seconds, a cheap call
        (``ping``: an ``auth.test`` through this transport) over the kept-alive session, so that an idle bot still
        holds an open, TLS-ready connection to Slack. Incidents come after quiet hours: without it
        the first war room of the night pays a new connection's TCP and TLS handshakes (one to three
        round trips) before its channel is even asked for. A failed call is only logged: the next
        real call opens a new connection, as it would have anyway."""
        loop = asyncio.get_running_loop()
        self._last_ended = max(self._last_ended, loop.time())
        while not stop.is_set():
            wait = self._last_ended + every - loop.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                continue
            try:
                await ping()
            except SlackError as error:
                log.debug("keeping the connection to Slack warm: auth.test failed (%s)", error.code)

    async def _call_once(self, method: str, **args: Any) -> dict[str, Any]:
        self.connections()  # the client's calls then go over the kept-alive session
        if method in _USER_TOKEN_METHODS:
            user_token = args.pop("token")
            # A user's token (Sign in with Slack) in the header, where Slack reads tokens, instead of the bot's.
            api = functools.partial(self._client.api_call, method, headers={"Authorization": f"Bearer {user_token}"})
            args = {"params": {k: v for k, v in args.items() if v is not None}}
        else:
            api = getattr(self._client, method.replace(".", "_"))
        try:
            response = await api(**{k: v for k, v in args.items() if v is not None})
        except SlackApiError as exc:
            status = exc.response.status_code
            if status == 429:
                raise _RateLimited(_retry_after(exc.response.headers)) from None
            code = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            if code is None:
                code = "ratelimited" if status == 429 else "http_error"
            detail = exc.response.get("needed") if code == "missing_scope" else None
            raise SlackError(method, code, f"needs {detail}" if detail else None) from None
        except TimeoutError:
            raise SlackError(method, "timeout") from None
        except (aiohttp.ClientError, SlackClientError) as exc:
            log.warning("slack call %s failed: %s", method, exc)
            raise SlackError(method, "connection_error") from None
        return response.data if isinstance(response.data, dict) else {}
