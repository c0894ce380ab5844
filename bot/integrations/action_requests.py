"""Sending one runbook action's HTTP request: one attempt, a timeout, and an answer in words.

No retry: an action (a rollback, a flag switch) is not known to be idempotent, and a request that
may have reached the other side is never sent a second time by the bot; a person decides with
"Run again". What comes back is the status and a reason built from the status or the kind of
failure only, never from the answer's body or an exception's text, so nothing the request carried
(its secret headers) or the other side echoed can reach a message, the timeline or a log.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

import aiohttp

from bot.catalog.runbook_actions import Outcome, RunbookAction


@dataclass(frozen=True)
class ActionAnswer:
    outcome: Outcome
    http_status: int | None
    reason: str  # "answered 200 OK", "no answer within 10 s", "could not connect to ci.example.com"
    seconds: float


def _status_words(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


class ActionRequests:
    """Owns the HTTP client of runbook actions (one connection pool for the process)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No cookies kept between actions, and no proxy or .netrc taken from the environment.
            self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, action: RunbookAction, *, headers: dict[str, str], body: bytes | None) -> ActionAnswer:
        request = action.request
        host = urlsplit(request.url).hostname or "the target"
        timeout = request.timeout_seconds
        all_headers = {"Content-Type": "application/json", **headers} if body is not None else dict(headers)
        loop = asyncio.get_running_loop()
        started = loop.time()

        def answer(outcome: Outcome, status: int | None, reason: str) -> ActionAnswer:
            return ActionAnswer(outcome, status, reason, round(loop.time() - started, 3))

        try:
            async with self._http().request(
                request.method,
                request.url,
                data=body,
                headers=all_headers,
                allow_redirects=False,  # a redirect would carry the secret headers to another address
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                status = response.status
                # Read (and drop) the answer so the connection can be reused; its text is never shown.
                await response.read()
        except TimeoutError:
            return answer("unknown", None, f"no answer within {timeout:g} s (the request was sent, so it may have run)")
        except aiohttp.ClientConnectorError:
            return answer("failed", None, f"could not connect to {host} (nothing was sent)")
        except aiohttp.ClientError as error:
            return answer("unknown", None, f"the connection to {host} broke ({type(error).__name__}); it may have run")
        words = _status_words(status)
        if 200 <= status < 300:
            return answer("succeeded", status, f"answered {words}")
        return answer("failed", status, f"answered {words}")
