"""What a request to ``/slack/events`` must show before anything reads it as Slack's.

The checks run in this order, and none parses the body before its signature is verified:

======  ===========================================================================
401     no ``X-Slack-Signature`` or ``X-Slack-Request-Timestamp`` header, or a timestamp
        that is not whole seconds since 1970
413     the body is over 1 MiB
401     the timestamp is more than five minutes away from now, or the signature does not match
400     signed, but not UTF-8 text or not a Slack payload
======  ===========================================================================

A refused request gets ``{"ok": false, "error": "<what was wrong and the right form>"}`` and one
WARNING line without a traceback, and counts in ``incident_bot_refused_requests_total``, not in
``incident_bot_errors_total``: garbage from outside is not the bot's failure. A request that
gets in is then checked against the ones already taken (bot/slack/request_replays.py, handlers/web.py).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.request.async_request import AsyncBoltRequest

from bot import metrics
from bot.slack.request_replays import SLACK_SIGNATURE_WINDOW
from handlers.hooks import read_at_most

log = logging.getLogger(__name__)

MAX_SLACK_BODY = 1024 * 1024  # Slack's largest payloads (a modal's state) are far smaller
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SSL_CHECK_BODY = 1024

_HOW_TO_SIGN = (
    "Slack signs each request with the headers X-Slack-Request-Timestamp (seconds since 1970) and "
    "X-Slack-Signature (v0=HMAC-SHA256 of v0:<timestamp>:<body> with the app's signing secret)"
)

# Exceptions Bolt raises while reading a signed body that is not a Slack payload (JSON that is a
# list, a "payload" field that is not JSON, a "team" that is a string...).
_MALFORMED = (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError)


@dataclass(frozen=True)
class SignedRequest:
    """A request whose signature Slack made: Bolt's request, and what identifies it (for replays)."""

    bolt_request: AsyncBoltRequest
    signature: str
    timestamp: int


def refuse(door: str, request: web.Request, status: int, reason: str, message: str) -> web.Response:
    """The answer to a request turned away at a door: counted, and one WARNING line naming why."""
    metrics.REFUSED.labels(door, reason).inc()
    log.warning("refused a request to %s from %s (%s %s): %s", request.path, request.remote, status, reason, message)
    return web.json_response({"ok": False, "error": message}, status=status)


class SlackDoor:
    def __init__(self, signing_secret: str, *, now: Callable[[], float] = time.time) -> None:
        self._key = signing_secret.encode()
        self._now = now

    async def admit(self, request: web.Request) -> SignedRequest | web.Response:
        """The signed request, or the answer to give instead."""
        timestamp = request.headers.get("X-Slack-Request-Timestamp")
        signature = request.headers.get("X-Slack-Signature")
        if timestamp is None or signature is None:
            if await self._is_ssl_check(request):
                # Slack's certificate check of a slash command URL: answer 200, do nothing.
                return web.Response(status=200)
            return refuse("slack", request, 401, "unsigned", f"the request is not signed: {_HOW_TO_SIGN}")
        if not _TIMESTAMP.fullmatch(timestamp):
            return refuse("slack", request, 401, "bad_timestamp", f"X-Slack-Request-Timestamp is not whole seconds: {_HOW_TO_SIGN}")
        body = await read_at_most(request, MAX_SLACK_BODY)
        if body is None:
            return refuse("slack", request, 413, "too_large", f"the body is larger than {MAX_SLACK_BODY // 1024} KiB")
        if abs(self._now() - int(timestamp)) > SLACK_SIGNATURE_WINDOW:
            return refuse(
                "slack",
                request,
                401,
                "expired",
                "X-Slack-Request-Timestamp is more than 5 minutes from now: Slack's requests are answered at once, "
                "so this one is old (or replayed) or the host's clock is wrong",
            )
        if not hmac.compare_digest(self._sign(timestamp, body), signature.encode("utf-8", "replace")):
            return refuse("slack", request, 401, "bad_signature", f"the signature does not match: {_HOW_TO_SIGN}")
        try:
            text = body.decode("utf-8")
            bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=request.headers)  # type: ignore[arg-type]  # aiohttp's header mapping, read by Bolt as the dict its hint names
        except UnicodeDecodeError:
            return refuse("slack", request, 400, "malformed", "the body is not UTF-8 text")
        except _MALFORMED:
            return refuse(
                "slack",
                request,
                400,
                "malformed",
                "the body is not a Slack payload: a form (command=..., or payload=<JSON object>) or a JSON object",
            )
        if not isinstance(bolt_request.body, dict):
            return refuse("slack", request, 400, "malformed", "the body is not a Slack payload: a JSON object was expected")
        return SignedRequest(bolt_request, signature, int(timestamp))

    def _sign(self, timestamp: str, body: bytes) -> bytes:
        # Over the raw bytes: slack_sdk's SignatureVerifier decodes the body as UTF-8 first, which
        # raises on the undecodable garbage this door must answer with a 401, not a 500.
        digest = hmac.new(self._key, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        return f"v0={digest}".encode()

    @staticmethod
    async def _is_ssl_check(request: web.Request) -> bool:
        if request.content_type != "application/x-www-form-urlencoded":
            return False
        body = await read_at_most(request, _SSL_CHECK_BODY)
        if body is None:
            return False
        return dict(parse_qsl(body.decode("utf-8", "replace"))).get("ssl_check") == "1"
