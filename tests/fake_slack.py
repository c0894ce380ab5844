"""A stateful fake of the Slack Web API for tests and benchmarks.

The bot talks to it with the real ``slack_sdk`` ``AsyncWebClient(base_url=fake.base_url)``,
so everything between the bot and the wire (argument encoding, JSON vs form bodies, error
raising, retry handlers) is the production code path.

Every call is checked against Slack's published method descriptions in
``tests/slack_api/methods/*.json`` (copied from docs.slack.dev). Anything the real Slack would
reject, or that the description does not allow, is handled in one of two ways:

* **answers** -- the Slack error a real workspace would return (``channel_not_found``,
  ``name_taken``, ``msg_too_long``, ``invalid_blocks`` for size limits, ...). The bot is
  expected to handle these, so they are *not* violations.
* **violations** -- the bot broke the API contract (unknown method or argument, missing
  required argument, a broken "one of" rule, GET on a POST-only method, malformed Block Kit,
  ...). They are appended to ``FakeSlack.violations`` as readable strings, and where Slack
  would also refuse the call the matching error is answered too. Tests assert
  ``fake.violations == []``.

Socket Mode: ``apps.connections.open`` (called with the app-level ``xapp-`` token, not the bot
token) hands out a ``ws://127.0.0.1:<port>/socket/<n>`` URL. The fake greets each connection with
Slack's ``hello`` message; tests push envelopes with ``socket_send`` (which waits for the app's
ack) and ask for a reconnect with ``socket_disconnect``. What the app sends back is checked too:
anything but an ack of an envelope that was sent and not yet acked, a payload in the ack of an
envelope that does not accept one, or an ack later than Slack's 3 seconds is a violation.

Only loopback networking is used: the server binds 127.0.0.1 on a random port.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import itertools
import json
import math
import random
import re
import string
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import WSCloseCode, WSMsgType, web

from tests.waiting import HANG_SECONDS

__all__ = ["FakeChannel", "FakeSlack", "RecordedCall", "load_method_specs"]

METHODS_DIR = Path(__file__).resolve().parent / "slack_api" / "methods"
RATE_LIMITS_FILE = Path(__file__).resolve().parent / "slack_api" / "rate_limits.json"

JSON_CONTENT_TYPE = "application/json; charset=utf-8"

# Arguments that carry JSON documents. Form bodies can only carry them as JSON strings, and
# slack_sdk also lets callers pass pre-serialised strings inside JSON bodies, so both are
# decoded before checking.
JSON_ARGS = frozenset({"blocks", "attachments", "unfurled_attachments", "metadata", "view", "files"})

# "One of these arguments" rules: the descriptions state them in prose only.
ONE_OF_RULES: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("text", "blocks", "attachments", "markdown_text"),
    "chat.postEphemeral": ("text", "blocks", "attachments", "markdown_text"),
    "chat.update": ("text", "blocks", "attachments", "markdown_text"),
    "views.open": ("trigger_id", "interactivity_pointer"),
    "views.update": ("view_id", "external_id"),
}
ONE_OF_ERRORS: dict[str, str] = {
    "chat.postMessage": "no_text",
    "chat.postEphemeral": "no_text",
    "chat.update": "no_text",
}

# Where Slack answers a missing required argument with a method-specific error instead of
# the generic ``invalid_arguments`` (taken from the descriptions' error lists).
MISSING_ARG_ERRORS: dict[tuple[str, str], str] = {
    ("conversations.create", "name"): "invalid_name_required",
    ("chat.postMessage", "channel"): "channel_not_found",
    ("chat.postEphemeral", "channel"): "channel_not_found",
    ("chat.update", "channel"): "channel_not_found",
    ("files.getUploadURLExternal", "filename"): "missing_argument",
    ("files.getUploadURLExternal", "length"): "missing_argument",
}

# slack_sdk's client-wide default parameters: AsyncWebClient(team_id=...) adds team_id to every
# call, and Bolt builds its per-request client that way, so Slack accepts it on any method.
CLIENT_WIDE_ARGS = frozenset({"team_id"})

MAX_MESSAGE_TEXT = 40_000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TOPIC = 250
MAX_CHANNEL_NAME = 80
RESPONSE_URL_MAX_USES = 5  # Slack: a response_url can be used up to 5 times (within 30 min)

# Sign in with Slack (OpenID Connect). openid.connect.token is authenticated by the app's client ID
# and secret (HTTP Basic, as slack_sdk sends them), openid.connect.userInfo by the person's own
# token, which only the token exchange hands out (xoxp-, user scope openid).
OPENID_TOKEN_METHOD = "openid.connect.token"
OPENID_USER_METHOD = "openid.connect.userInfo"

# Socket Mode. Methods called with the app-level token (xapp-) instead of the bot token, and the
# scope each needs; the app-level token's scopes are FakeSlack.app_token_scopes, not bot_scopes.
APP_TOKEN_METHODS: dict[str, str] = {"apps.connections.open": "connections:write"}
SOCKET_ENVELOPE_TYPES = ("slash_commands", "interactive", "events_api")
SOCKET_ACK_DEADLINE = 3.0  # Slack: acknowledge every envelope within 3 seconds
SOCKET_ACK_TIMEOUT = HANG_SECONDS  # socket_send fails the test only when the app never acks

_TZ_LABELS = {
    "Europe/London": "Greenwich Mean Time",
    "Europe/Dublin": "Greenwich Mean Time",
    "UTC": "Coordinated Universal Time",
    "Europe/Berlin": "Central European Time",
    "Europe/Paris": "Central European Time",
    "Europe/Madrid": "Central European Time",
    "America/New_York": "Eastern Standard Time",
    "America/Chicago": "Central Standard Time",
    "America/Denver": "Mountain Standard Time",
    "America/Los_Angeles": "Pacific Standard Time",
    "Asia/Kolkata": "India Standard Time",
    "Asia/Tokyo": "Japan Standard Time",
    "Australia/Sydney": "Australian Eastern Daylight Time",
}


@functools.cache
def load_method_specs() -> dict[str, dict[str, Any]]:
    """Method name -> its docs.slack.dev description. Cached: the files never change in a run."""
    return {p.name[: -len(".json")]: json.loads(p.read_text()) for p in METHODS_DIR.glob("*.json")}


# --------------------------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------------------------


def step_payload(args: Mapping[str, Any]) -> dict[str, Any]:
    """The war-room step a call's message metadata names ({"incident": 42, "step": "..."}), or {}:
    what the bot attaches to each post it makes as a step (bot/slack/gateway/chat.py step_metadata)."""
    payload = (args.get("metadata") or {}).get("event_payload")
    return payload if isinstance(payload, dict) else {}


@dataclass
class RecordedCall:
    method: str
    args: dict
    at: float  # time.monotonic() when the request arrived (before any latency/delay)
    ok: bool
    error: str | None
    # The causal record: this request's number, and the numbers of the requests (Web API calls and
    # file uploads alike) Slack had answered when it arrived. A request can only have waited for
    # answers it could have heard, so these are all it may depend on.
    seq: int = -1
    after: frozenset[int] = frozenset()


@dataclass
class FakeChannel:
    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    creator: str = ""
    members: set[str] = field(default_factory=set)
    topic: str = ""
    purpose: str = ""
    messages: list[dict] = field(default_factory=list)
    pins: list[str] = field(default_factory=list)  # pinned message ts, in pin order
    bookmarks: list[dict] = field(default_factory=list)
    created: int = 0
    ephemerals: list[dict] = field(default_factory=list)
    is_im: bool = False
    # Who set topic/purpose and when: conversation objects carry them.
    topic_creator: str = ""
    topic_last_set: int = 0
    purpose_creator: str = ""
    purpose_last_set: int = 0

    def message(self, ts: str) -> dict | None:
        return next((m for m in self.messages if m.get("ts") == ts), None)


@functools.cache
def load_rate_limits() -> dict[str, Any]:
    """Slack's published calls per tier and its 429 answer (tests/slack_api/README.md)."""
    return json.loads(RATE_LIMITS_FILE.read_text())


class RateLimits:
    """Slack's published rate limits, enforced as a sliding window per method (and per channel for
    chat.postMessage): at most a tier's calls in any minute, ``speed`` times faster for tests."""

    def __init__(self, specs: dict[str, dict[str, Any]], speed: float) -> None:
        published = load_rate_limits()
        self._specs = specs
        self._per_tier = published["calls_per_minute"]
        self._posts = published["chat.postMessage"]
        self.speed = speed
        self._arrivals: dict[str, deque[float]] = {}

    def limit(self, method: str, args: dict[str, Any]) -> tuple[str, int, float] | None:
        """(bucket, calls, window in seconds) for a call, or None when nothing limits it."""
        if method == "chat.postMessage":
            return f"{method} {args.get('channel')}", self._posts["calls"], self._posts["per_seconds"] / self.speed
        tier = self._specs[method].get("rate_limits")
        if tier not in self._per_tier:
            return None
        return method, self._per_tier[tier], 60.0 / self.speed

    def retry_after(self, method: str, args: dict[str, Any], now: float) -> int | None:
        """None when the call fits (it is then counted); else Slack's Retry-After, whole seconds."""
        limit = self.limit(method, args)
        if limit is None:
            return None
        bucket, calls, window = limit
        arrivals = self._arrivals.setdefault(bucket, deque())
        while arrivals and arrivals[0] <= now - window:
            arrivals.popleft()
        if len(arrivals) < calls:
            arrivals.append(now)
            return None
        return max(1, math.ceil(arrivals[0] + window - now))


@dataclass
class _Fault:
    error: str
    status: int
    retry_after: int | None
    delay: float


class AnswerGate:
    """Answers held back while the gate is shut: Slack does each call it ``holds`` (``holds(method,
    args)``), but the caller hears nothing until ``open()``. What the caller sends meanwhile cannot
    depend on those answers: the structural test of what waits for what."""

    def __init__(self, holds: Callable[[str, dict[str, Any]], bool]) -> None:
        self.holds = holds
        self._open = asyncio.Event()
        self._waiting: list[web.Request] = []

    def open(self) -> None:
        self._open.set()

    async def wait_open(self, request: web.Request) -> None:
        self._waiting.append(request)
        await self._open.wait()

    def all_still_awaited(self) -> bool:
        """Whether the caller still waits for every answer held back: a caller that gave up (a
        timeout) closed the connection, and what it sent afterwards may have waited for that."""
        return not self._open.is_set() and all(r.transport is not None and not r.transport.is_closing() for r in self._waiting)


def causal_rounds(requests: Iterable[RecordedCall]) -> dict[int, int]:
    """Each request's round (by its ``seq``): 1 for a request that followed no answer among
    ``requests``, else one more than the latest round among those answered before it arrived,
    i.e. the length of the longest chain of dependent round trips that ends with it."""
    chosen = sorted(requests, key=lambda r: r.seq)
    rounds: dict[int, int] = {}
    for request in chosen:
        rounds[request.seq] = 1 + max((rounds[seq] for seq in request.after if seq in rounds), default=0)
    return rounds


class Hold:
    """A call the fake keeps open, so a test can act (kill the caller) while it is in flight.

    ``answered=False`` holds the request before Slack does anything: released, it is answered
    with ``request_timeout`` and changes nothing, as a request Slack never processed.
    ``answered=True`` lets Slack do it, then holds the answer: the effect exists in Slack but
    the caller has not heard of it. ``arrived`` is set when the call is held.
    """

    def __init__(self, method: str, match: Callable[[dict[str, Any]], bool], *, answered: bool) -> None:
        self.method = method
        self.match = match
        self.answered = answered
        self.arrived = asyncio.Event()
        self.args: dict[str, Any] = {}
        self._released = asyncio.Event()

    def release(self) -> None:
        self._released.set()

    async def wait_released(self) -> None:
        await self._released.wait()


class SlackError(Exception):
    """Raised by method handlers to answer ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def _invalid_arguments(*messages: str) -> SlackError:
    return SlackError("invalid_arguments", response_metadata={"messages": list(messages)})


# --------------------------------------------------------------------------------------------
# Block Kit checks
#
# Slack validates Block Kit server-side and answers invalid_blocks (messages) or
# invalid_arguments (views) with "[ERROR] <what> [json-pointer:<where>]" messages. We check
# the rules a bot is most likely to break. Problems are split into "structural" (the bot
# built an impossible payload: a violation) and "limits" (content too long / too many items:
# depends on user input, so only answered).
# --------------------------------------------------------------------------------------------

_SELECTS = {
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
}
_MULTI_SELECTS = {"multi_" + s for s in _SELECTS}
_ACTION_ELEMENTS = (
    {
        "button",
        "checkboxes",
        "datepicker",
        "datetimepicker",
        "overflow",
        "radio_buttons",
        "timepicker",
        "workflow_button",
        "rich_text_input",
        "feedback_buttons",
        "icon_button",
    }
    | _SELECTS
    | _MULTI_SELECTS
)
_ACCESSORY_ELEMENTS = (
    {"button", "checkboxes", "datepicker", "image", "overflow", "radio_buttons", "timepicker", "workflow_button"}
    | _SELECTS
    | _MULTI_SELECTS
)
_INPUT_ELEMENTS = (
    {
        "checkboxes",
        "datepicker",
        "datetimepicker",
        "email_text_input",
        "file_input",
        "number_input",
        "plain_text_input",
        "radio_buttons",
        "rich_text_input",
        "timepicker",
        "url_text_input",
    }
    | _SELECTS
    | _MULTI_SELECTS
)
_SURFACE_BLOCKS = {
    "message": {
        "actions",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    },
    "modal": {"actions", "context", "divider", "header", "image", "input", "rich_text", "section", "video"},
    "home": {"actions", "context", "divider", "header", "image", "input", "rich_text", "section", "video"},
}


class _BlockCheck:
    def __init__(self) -> None:
        self.structural: list[str] = []
        self.limits: list[str] = []

    def bad(self, what: str, ptr: str) -> None:
        self.structural.append(f"{what} [json-pointer:{ptr}]")

    def limit(self, what: str, ptr: str) -> None:
        self.limits.append(f"{what} [json-pointer:{ptr}]")

    @property
    def all(self) -> list[str]:
        return self.structural + self.limits

    def max_len(self, value: Any, n: int, ptr: str) -> None:
        if isinstance(value, str) and len(value) > n:
            self.limit(f"must be less than {n + 1} characters", ptr)

    def text_obj(self, obj: Any, ptr: str, *, max_len: int | None = None, plain_only: bool = False) -> None:
        if not isinstance(obj, dict):
            self.bad("must be a text object", ptr)
            return
        kind = obj.get("type")
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if kind not in allowed:
            self.bad(f"must be one of {', '.join(allowed)}", ptr + "/type")
        text = obj.get("text")
        if not isinstance(text, str):
            self.bad("must provide a string", ptr + "/text")
            return
        if not text:
            self.limit("must be more than 0 characters", ptr + "/text")
        if max_len is not None:
            self.max_len(text, max_len, ptr + "/text")

    def options(self, opts: Any, ptr: str, *, max_items: int, mrkdwn_ok: bool = False) -> list[str]:
        if not isinstance(opts, list):
            self.bad("must be an array", ptr)
            return []
        if not opts:
            self.bad("must have at least 1 item", ptr)
        if len(opts) > max_items:
            self.limit(f"must have no more than {max_items} items", ptr)
        values = []
        for i, opt in enumerate(opts):
            p = f"{ptr}/{i}"
            if not isinstance(opt, dict):
                self.bad("must be an option object", p)
                continue
            self.text_obj(opt.get("text"), p + "/text", max_len=75, plain_only=not mrkdwn_ok)
            value = opt.get("value")
            if value is not None:
                self.max_len(value, 150, p + "/value")
                values.append(value)
            if "description" in opt:
                self.text_obj(opt["description"], p + "/description", max_len=75, plain_only=not mrkdwn_ok)
        return values

    def element(self, el: Any, ptr: str, allowed: set[str], action_ids: set[str]) -> None:
        if not isinstance(el, dict):
            self.bad("must be an element object", ptr)
            return
        kind = el.get("type")
        if kind not in allowed:
            self.bad(f"unsupported type {kind!r} here", ptr + "/type")
            return
        if kind == "image":
            if "image_url" not in el and "slack_file" not in el:
                self.bad("must provide image_url or slack_file", ptr)
            if not isinstance(el.get("alt_text"), str):
                self.bad("missing required field: alt_text", ptr)
            return
        self.unique_id(el, "action_id", ptr, action_ids)
        if "placeholder" in el:
            self.text_obj(el["placeholder"], ptr + "/placeholder", max_len=150, plain_only=True)
        if kind == "button":
            self.text_obj(el.get("text"), ptr + "/text", max_len=75, plain_only=True)
            self.max_len(el.get("value"), 2000, ptr + "/value")
            self.max_len(el.get("url"), 3000, ptr + "/url")
            if "style" in el and el["style"] not in ("primary", "danger"):
                self.bad("must be one of primary, danger", ptr + "/style")
        elif kind in ("static_select", "multi_static_select"):
            if ("options" in el) == ("option_groups" in el):
                self.bad("must provide exactly one of options, option_groups", ptr)
            values: list[str] = []
            if "options" in el:
                values = self.options(el["options"], ptr + "/options", max_items=100)
            else:
                groups = el.get("option_groups")
                for gi, group in enumerate(groups if isinstance(groups, list) else []):
                    gp = f"{ptr}/option_groups/{gi}"
                    if not isinstance(group, dict):
                        self.bad("must be an option group", gp)
                        continue
                    self.text_obj(group.get("label"), gp + "/label", max_len=75, plain_only=True)
                    values += self.options(group.get("options"), gp + "/options", max_items=100)
            self._initial_options(el, values, ptr)
        elif kind in ("checkboxes", "radio_buttons"):
            values = self.options(el.get("options"), ptr + "/options", max_items=10, mrkdwn_ok=True)
            self._initial_options(el, values, ptr)
        elif kind == "overflow":
            self.options(el.get("options"), ptr + "/options", max_items=5)
        elif kind == "plain_text_input":
            for key in ("min_length", "max_length"):
                n = el.get(key)
                if n is not None and (not isinstance(n, int) or not 0 <= n <= 3000):
                    self.bad("must be an integer between 0 and 3000", f"{ptr}/{key}")
        elif kind == "datepicker" and "initial_date" in el:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(el["initial_date"])):
                self.bad("must be in YYYY-MM-DD format", ptr + "/initial_date")
        elif kind == "timepicker" and "initial_time" in el:
            if not re.fullmatch(r"\d{2}:\d{2}", str(el["initial_time"])):
                self.bad("must be in HH:mm format", ptr + "/initial_time")

    def unique_id(self, obj: dict, key: str, ptr: str, seen: set[str]) -> None:
        """An optional ``action_id`` or ``block_id``: a string of at most 255, unique in its scope."""
        value = obj.get(key)
        if value is None:
            return
        if not isinstance(value, str):
            self.bad("must be a string", f"{ptr}/{key}")
            return
        self.max_len(value, 255, f"{ptr}/{key}")
        if value in seen:
            self.bad(f"duplicate {key} {value!r}", f"{ptr}/{key}")
        seen.add(value)

    def _initial_options(self, el: dict, values: list[str], ptr: str) -> None:
        # Slack insists the initial option(s) exactly match one of the options.
        initial = []
        if isinstance(el.get("initial_option"), dict):
            initial.append(("initial_option", el["initial_option"]))
        if isinstance(el.get("initial_options"), list):
            initial += [(f"initial_options/{i}", o) for i, o in enumerate(el["initial_options"])]
        for where, opt in initial:
            if not isinstance(opt, dict) or opt.get("value") not in values:
                self.bad("must exactly match one of the provided options", f"{ptr}/{where}")

    def blocks(self, blocks: Any, ptr: str, surface: str, max_blocks: int) -> None:
        if not isinstance(blocks, list):
            self.bad("must be an array", ptr)
            return
        if len(blocks) > max_blocks:
            self.limit(f"no more than {max_blocks} items allowed", ptr)
        block_ids: set[str] = set()
        for i, block in enumerate(blocks):
            self.block(block, f"{ptr}/{i}", surface, block_ids)

    def block(self, block: Any, ptr: str, surface: str, block_ids: set[str]) -> None:
        if not isinstance(block, dict):
            self.bad("must be a block object", ptr)
            return
        kind = block.get("type")
        if kind not in _SURFACE_BLOCKS[surface]:
            self.bad(f"unsupported type {kind!r} for {surface} surface", ptr + "/type")
            return
        self.unique_id(block, "block_id", ptr, block_ids)
        action_ids: set[str] = set()
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.bad("must provide text or fields", ptr)
            if "text" in block:
                self.text_obj(block["text"], ptr + "/text", max_len=3000)
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list):
                    self.bad("must be an array", ptr + "/fields")
                else:
                    if len(fields) > 10:
                        self.limit("must have no more than 10 items", ptr + "/fields")
                    for j, f in enumerate(fields):
                        self.text_obj(f, f"{ptr}/fields/{j}", max_len=2000)
            if "accessory" in block:
                self.element(block["accessory"], ptr + "/accessory", _ACCESSORY_ELEMENTS, action_ids)
        elif kind == "header":
            self.text_obj(block.get("text"), ptr + "/text", max_len=150, plain_only=True)
        elif kind in ("context", "actions"):
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                self.bad("must provide a non-empty elements array", ptr + "/elements")
                return
            if kind == "context":
                if len(elements) > 10:
                    self.limit("must have no more than 10 items", ptr + "/elements")
                for j, el in enumerate(elements):
                    p = f"{ptr}/elements/{j}"
                    if isinstance(el, dict) and el.get("type") == "image":
                        self.element(el, p, {"image"}, action_ids)
                    else:
                        self.text_obj(el, p)
            else:
                if len(elements) > 25:
                    self.limit("must have no more than 25 items", ptr + "/elements")
                for j, el in enumerate(elements):
                    self.element(el, f"{ptr}/elements/{j}", _ACTION_ELEMENTS, action_ids)
        elif kind == "input":
            self.text_obj(block.get("label"), ptr + "/label", max_len=2000, plain_only=True)
            if "hint" in block:
                self.text_obj(block["hint"], ptr + "/hint", max_len=2000, plain_only=True)
            if "element" not in block:
                self.bad("missing required field: element", ptr)
            else:
                self.element(block["element"], ptr + "/element", _INPUT_ELEMENTS, action_ids)
        elif kind == "image":
            if "image_url" not in block and "slack_file" not in block:
                self.bad("must provide image_url or slack_file", ptr)
            if not isinstance(block.get("alt_text"), str):
                self.bad("missing required field: alt_text", ptr)
            else:
                self.max_len(block["alt_text"], 2000, ptr + "/alt_text")
            if "title" in block:
                self.text_obj(block["title"], ptr + "/title", max_len=2000, plain_only=True)
        elif kind == "rich_text":
            if not isinstance(block.get("elements"), list):
                self.bad("missing required field: elements", ptr)
        elif kind == "markdown":
            if not isinstance(block.get("text"), str):
                self.bad("missing required field: text", ptr)
            else:
                self.max_len(block["text"], 12_000, ptr + "/text")


def _message_blocks_checked(blocks: Any) -> _BlockCheck:
    """A message's blocks (posted, sent to a response_url or in a socket ack) against Slack's rules."""
    check = _BlockCheck()
    check.blocks(blocks, "/blocks", "message", MAX_MESSAGE_BLOCKS)
    return check


def _check_view(view: Any, expected_type: str) -> _BlockCheck:
    check = _BlockCheck()
    if not isinstance(view, dict):
        check.bad("must be a view object", "/view")
        return check
    kind = view.get("type")
    if kind != expected_type:
        check.bad(f"must be {expected_type!r}", "/view/type")
        return check
    if kind == "modal":
        if "title" not in view:
            check.bad("missing required field: title", "/view")
        else:
            check.text_obj(view["title"], "/view/title", max_len=24, plain_only=True)
        for key in ("submit", "close"):
            if view.get(key) is not None:
                check.text_obj(view[key], f"/view/{key}", max_len=24, plain_only=True)
        blocks = view.get("blocks")
        if (
            isinstance(blocks, list)
            and view.get("submit") is None
            and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        ):
            check.bad("must provide submit when input blocks are present", "/view/submit")
    if "blocks" not in view:
        check.bad("missing required field: blocks", "/view")
    else:
        check.blocks(view["blocks"], "/view/blocks", kind, MAX_VIEW_BLOCKS)
    check.max_len(view.get("private_metadata"), 3000, "/view/private_metadata")
    check.max_len(view.get("callback_id"), 255, "/view/callback_id")
    check.max_len(view.get("external_id"), 255, "/view/external_id")
    return check


# --------------------------------------------------------------------------------------------
# Argument helpers
# --------------------------------------------------------------------------------------------


def _page(items: list[Any], args: dict[str, Any], kind: str) -> tuple[list[Any], str]:
    """One page of ``items`` by Slack's cursor paging (``limit``, ``cursor``) and the cursor of the
    next page ("" on the last), with cursors of the form ``kind:offset``."""
    limit = int(args.get("limit") or 100)
    cursor = str(args.get("cursor") or "")
    if cursor and not re.fullmatch(rf"{kind}:\d+", cursor):
        raise SlackError("invalid_cursor")
    start = int(cursor.removeprefix(f"{kind}:") or 0)
    more = start + limit < len(items)
    return items[start : start + limit], f"{kind}:{start + limit}" if more else ""


def _truthy(value: Any) -> bool:
    # Form bodies carry booleans as "1"/"0"/"true"/"false" (slack_sdk sends "1"/"0").
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _allowed_types(prop: dict) -> set[str] | None:
    """JSON types an argument may take, or None when the description does not say."""
    kind = prop.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return set(kind)
    if "anyOf" in prop:
        kinds = {a.get("type") for a in prop["anyOf"]}
        return None if None in kinds else kinds
    if prop.get("schema") in ("user_id", "channel", "file_id", "team_id"):
        return {"string"}
    return None


def _type_problem(value: Any, types: set[str], from_form: bool) -> str | None:
    if from_form and isinstance(value, str):
        # Everything in a form body is a string; only a few shapes can be checked.
        if types == {"boolean"} and value.lower() not in ("1", "0", "true", "false"):
            return f"expected a boolean, got {value!r}"
        if types == {"integer"} and not re.fullmatch(r"-?\d+", value):
            return f"expected an integer, got {value!r}"
        return None
    if isinstance(value, bool):
        ok = "boolean" in types
    elif isinstance(value, str) and types == {"boolean"}:
        ok = value.lower() in ("1", "0", "true", "false")
    elif isinstance(value, int):
        ok = bool(types & {"integer", "number"})
    elif isinstance(value, float):
        ok = "number" in types
    elif isinstance(value, str):
        ok = "string" in types or ("integer" in types and re.fullmatch(r"-?\d+", value) is not None)
    elif isinstance(value, list):
        ok = "array" in types
    elif isinstance(value, dict):
        ok = "object" in types
    else:
        ok = False
    if ok:
        return None
    return f"expected {'/'.join(sorted(types))}, got {type(value).__name__} {value!r}"[:200]


def _csv(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------

Handler = Callable[[dict[str, Any]], dict[str, Any]]


async def precise_sleep(delay: float) -> None:
    """``asyncio.sleep``, ending within a few microseconds of when it should. asyncio's timers wake
    up to a millisecond late (epoll counts whole milliseconds, rounded up: 0.3-1.1 ms, 0.6 typical,
    on a 2-CPU VM; a thread's timed wait is 0.2-0.45 ms late there), so a round trip of 100 ms was
    100.6 on average and the benchmarks counted the fake's lateness as the bot's time. The timer
    wakes this a little early, and the last stretch is passed turn by turn of the event loop."""
    deadline = time.monotonic() + delay
    if delay > PRECISE_FINISH:
        await asyncio.sleep(delay - PRECISE_FINISH)
    while time.monotonic() < deadline:  # noqa: ASYNC110 - a clock, which no event can tell of
        await asyncio.sleep(0)


# How early precise_sleep's timer wakes: more than asyncio's timers are late on a machine that is
# not starved (a starved one answers late, never early).
PRECISE_FINISH = 0.0015


class FakeSlack:
    """In-process Slack Web API. See the module docstring for what it checks."""

    def __init__(
        self,
        *,
        bot_scopes: set[str] | None = None,
        bot_user_id: str = "UBOT0001",
        team_id: str = "T0001",
        latency: float = 0.0,
    ) -> None:
        self.bot_scopes = None if bot_scopes is None else set(bot_scopes)
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        self.team_name = "Fake Workspace"
        self.bot_id = "B0FAKEBOT1"
        self.app_id = "A0FAKEAPP1"
        self.latency = latency
        self.now: Callable[[], float] = time.monotonic  # the clock of arrivals and of the latency's end

        self.calls: list[RecordedCall] = []
        # The bytes sent to each upload URL, as requests in the causal record (method "upload"):
        # the second of an upload's three round trips, between getUploadURLExternal and
        # completeUploadExternal.
        self.uploads: list[RecordedCall] = []
        self._requests = itertools.count()
        self._answered: set[int] = set()
        self.violations: list[str] = []
        # Every Block Kit payload received that slack_sdk's models reject or that breaks a limit
        # (50 blocks, 3000 per section text, 2000 per field, 150 per header...), whether or not
        # the call itself failed: a bot that hits a limit loses a message.
        self.block_kit_problems: list[str] = []
        self.users: dict[str, dict] = {}
        self.channels: dict[str, FakeChannel] = {}
        self.views: dict[str, dict] = {}
        self.published_home: dict[str, dict] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.usergroup_handles: dict[str, str] = {}  # usergroup id -> handle (without @)
        self.files: dict[str, dict] = {}
        self.responses: list[dict] = []
        # Called with (method, args) for every Web API call and with ("response_url", body) for
        # every response_url post, as it arrives: a test that must judge each outbound call
        # against the workspace as it was at that moment (tests/test_privacy_invariant.py).
        self.listeners: list[Callable[[str, dict], None]] = []
        # Requests per client connection (the client's port): shows whether the bot keeps its
        # HTTP connections open or opens one per call.
        self.requests_per_connection: Counter[int] = Counter()
        self._connections: dict[int, asyncio.BaseTransport] = {}  # by the client's port, for connection_closed
        # Seconds a new connection's first call arrives after it was sent, on top of ``latency``:
        # the TCP and TLS handshakes a client pays to reach slack.com before its request can leave
        # (two round trips with TLS 1.3). The fake speaks plain HTTP on loopback, so it adds them here.
        self.connection_setup = 0.0

        self.specs = load_method_specs()
        # Off unless a test or benchmark turns it on (enforce_rate_limits).
        self.rate_limits: RateLimits | None = None
        self._faults: dict[str, deque[_Fault | None]] = {}  # None: let that call through
        self._pending_uploads: dict[str, dict] = {}
        self._used_triggers: set[str] = set()
        self._response_urls: dict[str, int] = {}  # path -> times used
        self._ids: set[str] = set()
        self._rng = random.Random()
        self._last_ts_us = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._holds: list[Hold] = []
        self._answer_gates: list[AnswerGate] = []
        # Set by clear_faults and stop: a delayed fault still in flight answers at once.
        self._faults_cleared = asyncio.Event()
        # Socket Mode acks later than Slack's 3 s, with how late. Recorded, not a violation: how
        # fast the app acks depends on the machine, and tests do not assert durations.
        self.late_socket_acks: list[tuple[str, float]] = []
        self._runner: web.AppRunner | None = None

        # Socket Mode. app_tokens=None accepts any xapp- token; a set accepts only those (set it
        # to {} or to other tokens to make the bot's app-level token "revoked").
        self.app_tokens: set[str] | None = None
        self.bot_tokens: set[str] | None = None  # None: any xoxb- token; else only these (others: invalid_auth)
        self.app_token_scopes: set[str] = {"connections:write"}
        self.socket_connections = 0  # WebSocket connections accepted so far
        self.socket_envelopes: list[dict] = []  # every envelope sent, in order
        self.socket_acks: list[dict] = []  # every ack the app sent back, in order
        self._socket_paths: set[str] = set()  # /socket/<n> paths issued by apps.connections.open
        self._sockets: list[web.WebSocketResponse] = []  # open connections, oldest first
        self._acks_pending: dict[str, tuple[asyncio.Future[dict], float, bool]] = {}
        self.url = ""
        self.base_url = ""

        # Sign in with Slack: the apps allowed (client ID -> secret), the person the authorize page
        # signs in (the browser's Slack session) and in which workspace, and the codes and tokens
        # handed out. ``sign_in_refused`` makes the authorize page answer as a person who cancelled.
        self.openid_clients: dict[str, str] = {}
        self.sign_in_user: str | None = None
        self.sign_in_team: str | None = None
        self.sign_in_refused = False
        self._openid_codes: dict[str, dict[str, Any]] = {}
        self._openid_tokens: dict[str, dict[str, Any]] = {}
        self.authorize_requests: list[dict[str, str]] = []

        # One function per method; names mirror the Slack method names.
        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "conversations.create": self._conversations_create,
            "conversations.invite": self._conversations_invite,
            "conversations.setTopic": self._conversations_set_topic,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_join,
            "conversations.members": self._conversations_members,
            "conversations.list": self._conversations_list,
            "conversations.history": self._conversations_history,
            "conversations.open": self._conversations_open,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.getPermalink": self._chat_get_permalink,
            "pins.add": self._pins_add,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "usergroups.users.list": self._usergroups_users_list,
            "usergroups.list": self._usergroups_list,
            "bookmarks.add": self._bookmarks_add,
            "bookmarks.list": self._bookmarks_list,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "apps.connections.open": self._apps_connections_open,
            OPENID_TOKEN_METHOD: self._openid_connect_token,
            OPENID_USER_METHOD: self._openid_connect_user_info,
        }
        missing = set(self._handlers) - set(self.specs)
        assert not missing, f"no method description in {METHODS_DIR} for {sorted(missing)}"

        # The bot is a workspace user too: users.info on it must work.
        self.users[bot_user_id] = self._user_object(
            bot_user_id,
            "incident-bot",
            tz="America/Los_Angeles",
            tz_offset=-28800,
            email=None,
            is_bot=True,
        )
        # Every workspace has Slackbot; users.info answers for it as a user with is_bot false.
        self.users["USLACKBOT"] = self._user_object(
            "USLACKBOT",
            "slackbot",
            tz="America/Los_Angeles",
            tz_offset=-28800,
            email=None,
        )

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_route("*", "/upload/{file_id}", self._handle_upload)
        app.router.add_route("*", "/response/{n}", self._handle_response_url)
        app.router.add_route("GET", "/socket/{n}", self._handle_socket)
        app.router.add_route("GET", "/openid/connect/authorize", self._handle_authorize)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown_path)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.url}/api/"

    async def stop(self) -> None:
        self._faults_cleared.set()  # a held call must not hold the runner's cleanup either
        for gate in self._answer_gates:
            gate.open()
        # Open WebSockets would hold the runner's cleanup for its whole shutdown timeout.
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- test-facing helpers --------------------------------------------------------------

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.method == method]

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[RecordedCall], bool] | None = None,
        timeout: float = HANG_SECONDS,
    ) -> RecordedCall:
        def describe() -> str:
            return (
                f"no {method} call{' matching the predicate' if predicate else ''} within "
                f"{timeout}s; recorded methods: {[c.method for c in self.calls]}"
                + (f"; violations: {self.violations}" if self.violations else "")
            )

        return await self._wait(
            lambda: self.calls,
            lambda c: c.method == method and (predicate is None or predicate(c)),
            timeout,
            describe,
        )

    async def wait_for_response(self, predicate: Callable[[dict], bool] | None = None, timeout: float = HANG_SECONDS) -> dict:
        return await self._wait(
            lambda: self.responses,
            lambda r: predicate is None or predicate(r),
            timeout,
            lambda: f"no matching response_url POST within {timeout}s; got {self.responses}",
        )

    async def _wait(self, items: Callable[[], list], match: Callable[[Any], bool], timeout: float, describe: Callable[[], str]) -> Any:
        """The first item of ``items()`` that matches, looking only at items not seen yet."""
        found: list[Any] = []
        seen = 0

        def matched() -> bool:
            nonlocal seen
            current = items()
            seen = min(seen, len(current))  # tolerate tests clearing the list
            found.extend(item for item in current[seen:] if match(item))
            seen = len(current)
            return bool(found)

        await self._wait_until(matched, timeout, describe)
        return found[0]

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    def fail_next(
        self,
        method: str,
        error: str = "internal_error",
        *,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
        delay: float = 0.0,
        after: int = 0,
    ) -> None:
        """Fail the next ``times`` calls of ``method``, once ``after`` calls of it went through."""
        if method not in self.specs:
            raise ValueError(f"fail_next: {method!r} is not a method this fake implements")
        queue = self._faults.setdefault(method, deque())
        for _ in range(after):
            queue.append(None)
        for _ in range(times):
            queue.append(_Fault(error, status, retry_after, delay))

    def enforce_rate_limits(self, *, speed: float = 1.0) -> None:
        """From now on answer 429 with Retry-After, as Slack does, to a call beyond its method's
        published rate limit; every window ``speed`` times shorter (the bot's SLACK_RATE_SPEED)."""
        self.rate_limits = RateLimits(self.specs, speed)

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        tz: str = "Europe/London",
        tz_offset: int = 0,
        email: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
        guest: bool = False,
    ) -> dict:
        """A workspace member; ``is_bot`` a bot user (an app's), ``deleted`` a deactivated
        account, ``guest`` a multi-channel guest (is_restricted), as users.info shows each."""
        user = self._user_object(user_id, name, tz=tz, tz_offset=tz_offset, email=email, is_bot=is_bot)
        if guest:
            user["is_restricted"] = True
        if deleted:
            # Slack keeps answering users.info for a deactivated account, with deleted: true and
            # without the fields only an active member has (time zone, admin flags).
            user["deleted"] = True
            for field in (
                "tz",
                "tz_label",
                "tz_offset",
                "is_admin",
                "is_owner",
                "is_primary_owner",
                "is_restricted",
                "is_ultra_restricted",
                "is_app_user",
            ):
                user.pop(field, None)
        self.users[user_id] = user
        return user

    def add_channel(
        self,
        name: str,
        *,
        members: Iterable[str] = frozenset(),
        is_private: bool = False,
        is_archived: bool = False,
        bot_is_member: bool = True,
    ) -> str:
        if self.channel_by_name(name) is not None:
            raise ValueError(f"add_channel: a channel named {name!r} already exists")
        member_set = set(members)
        if bot_is_member:
            member_set.add(self.bot_user_id)
        creator = min(member_set - {self.bot_user_id}, default=self.bot_user_id)
        channel = FakeChannel(
            id=self._new_id("C0"),
            name=name,
            is_private=is_private,
            is_archived=is_archived,
            creator=creator,
            members=member_set,
            created=int(time.time()),
        )
        self.channels[channel.id] = channel
        return channel.id

    def channel_by_name(self, name: str) -> FakeChannel | None:
        name = name.lstrip("#")
        return next((c for c in self.channels.values() if not c.is_im and c.name == name), None)

    def response_url(self) -> str:
        n = len(self._response_urls) + 1
        path = f"/response/{n}"
        self._response_urls[path] = 0
        return self.url + path

    def trigger_id(self) -> str:
        """A fresh trigger_id shaped like Slack's, for building interaction payloads."""
        return f"{self._rng.randrange(10**12, 10**13)}.{self._rng.randrange(10**9, 10**10)}.{self._rng.getrandbits(128):032x}"

    # ---- Socket Mode ----------------------------------------------------------------------

    async def wait_for_socket(self, timeout: float = HANG_SECONDS, *, count: int = 1) -> None:
        """Wait until the app holds an open Socket Mode connection and has made at least
        ``count`` connections in all (``count=2`` waits for a reconnect)."""

        def describe() -> str:
            opens = [(c.ok, c.error) for c in self.calls_to("apps.connections.open")]
            return (
                f"no open Socket Mode connection (#{count}) within {timeout}s; "
                f"{self.socket_connections} made; apps.connections.open answers "
                f"(ok, error): {opens}" + (f"; violations: {self.violations}" if self.violations else "")
            )

        await self._wait_until(
            lambda: self.socket_connections >= count and self._open_socket() is not None,
            timeout,
            describe,
        )

    async def wait_for_socket_closed(self, timeout: float = HANG_SECONDS) -> None:
        """Wait until the app has no open Socket Mode connection (after it was told to stop)."""
        await self._wait_until(
            lambda: self._open_socket() is None,
            timeout,
            lambda: f"the app still holds a Socket Mode connection after {timeout}s",
        )

    async def socket_send(
        self, envelope_type: str, payload: dict, *, accepts_response_payload: bool | None = None, timeout: float = SOCKET_ACK_TIMEOUT
    ) -> dict:
        """Send an envelope on the newest open connection and return the app's ack.

        The ack is ``{"envelope_id": ..., "payload": ...}``; ``payload`` (absent for a bare ack)
        is the body the listener passed to ``ack()``: ``{"text": ...}`` for an ephemeral answer
        to a slash command, ``{"response_action": ...}`` for a view submission.
        ``payload`` is what Slack puts in the envelope: a slash command's fields as a JSON
        object, an interaction payload as the object itself (not ``{"payload": "<json>"}``),
        or an Events API event callback. ``accepts_response_payload`` defaults to Slack's: true
        for slash commands and interactive payloads, false for Events API events.
        """
        if envelope_type not in SOCKET_ENVELOPE_TYPES:
            raise ValueError(f"socket_send: envelope type must be one of {SOCKET_ENVELOPE_TYPES}")
        ws = self._open_socket()
        if ws is None:
            raise AssertionError("socket_send: the app has no open Socket Mode connection (await fake.wait_for_socket() first)")
        if accepts_response_payload is None:
            accepts_response_payload = envelope_type != "events_api"
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": envelope_type,
            "accepts_response_payload": accepts_response_payload,
        }
        if envelope_type == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        loop = asyncio.get_running_loop()
        ack: asyncio.Future[dict] = loop.create_future()
        self._acks_pending[envelope_id] = (ack, loop.time(), accepts_response_payload)
        self.socket_envelopes.append(envelope)
        try:
            await ws.send_json(envelope)
            return await asyncio.wait_for(ack, timeout)
        except TimeoutError:
            raise AssertionError(
                f"no ack for {envelope_type} envelope {envelope_id} within {timeout}s; acks so "
                f"far: {self.socket_acks}" + (f"; violations: {self.violations}" if self.violations else "")
            ) from None
        finally:
            self._acks_pending.pop(envelope_id, None)

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` message on every open connection; the app should call
        apps.connections.open again and connect to the new URL. Slack sends ``warning`` about
        10 s before it refreshes a connection, ``refresh_requested`` when it does, and
        ``link_disabled`` when Socket Mode is turned off for the app."""
        for ws in [w for w in self._sockets if not w.closed]:
            await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}})

    async def socket_drop(self) -> None:
        """Close every Socket Mode connection from Slack's side without a word, as a network
        failure or a Slack outage does."""
        for ws in [w for w in self._sockets if not w.closed]:
            await ws.close()

    def hold(self, method: str, match: Callable[[dict[str, Any]], bool] | None = None, *, answered: bool = False) -> Hold:
        """Keep the next call to ``method`` (whose arguments ``match``) open until released;
        see ``Hold``."""
        if method not in self.specs:
            raise ValueError(f"hold: {method!r} is not a method this fake implements")
        hold = Hold(method, match or (lambda _args: True), answered=answered)
        self._holds.append(hold)
        return hold

    def hold_answers(self, holds: Callable[[str, dict[str, Any]], bool]) -> AnswerGate:
        """Hold back every answer to a call ``holds(method, args)`` chooses until the gate opens
        (see ``AnswerGate``); ``stop`` opens it."""
        gate = AnswerGate(holds)
        self._answer_gates.append(gate)
        return gate

    def _take_hold(self, method: str, args: dict[str, Any]) -> Hold | None:
        for hold in self._holds:
            if hold.method == method and hold.match(args):
                self._holds.remove(hold)
                hold.args = args
                return hold
        return None

    def clear_faults(self, method: str | None = None) -> None:
        """Forget the failures still queued (for one method, or all): Slack is healthy again.
        A delayed failure already in flight answers now, whatever its method."""
        self._faults_cleared.set()
        self._faults_cleared = asyncio.Event()
        if method is None:
            self._faults.clear()
        else:
            self._faults.pop(method, None)

    def _open_socket(self) -> web.WebSocketResponse | None:
        return next((w for w in reversed(self._sockets) if not w.closed), None)

    async def _wait_until(self, condition: Callable[[], bool], timeout: float, describe: Callable[[], str]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(describe())
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait({waiter}, timeout=remaining)
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    # ---- id / ts generation ---------------------------------------------------------------

    def _new_id(self, prefix: str, length: int = 9) -> str:
        alphabet = string.ascii_uppercase + string.digits
        while True:
            new = prefix + "".join(self._rng.choices(alphabet, k=length))
            if new not in self._ids:
                self._ids.add(new)
                return new

    def _new_ts(self) -> str:
        # Message ts must be unique and increasing across the workspace (threads, pins and
        # permalinks key on it), even for several posts within one microsecond.
        now_us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = now_us
        return f"{now_us // 1_000_000}.{now_us % 1_000_000:06d}"

    # ---- HTTP plumbing --------------------------------------------------------------------

    @staticmethod
    def _json(body: dict, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(
            text=json.dumps(body),
            status=status,
            headers={"Content-Type": JSON_CONTENT_TYPE, **(headers or {})},
        )

    def _violate(self, method: str, what: str) -> None:
        self.violations.append(f"{method}: {what}")

    async def _read_body(self, request: web.Request) -> tuple[dict[str, Any], str]:
        """Body arguments and the body kind ("json", "form", "none")."""
        if request.content_type == "multipart/form-data":
            # Must be parsed from the stream: read() first would consume it.
            try:
                form = await request.post()
            except ValueError:
                raise SlackError("invalid_form_data") from None
            return {k: v for k, v in form.items() if isinstance(v, str)}, "form"
        raw = await request.read()
        if not raw:
            return {}, "none"
        if "Content-Type" not in request.headers:
            raise SlackError("missing_post_type")
        if request.content_type == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                raise SlackError("invalid_json") from None
            if not isinstance(body, dict):
                raise SlackError("invalid_json")
            return body, "json"
        if request.content_type == "application/x-www-form-urlencoded":
            try:
                pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
            except (UnicodeDecodeError, ValueError):
                raise SlackError("invalid_form_data") from None
            return dict(pairs), "form"
        raise SlackError("invalid_post_type")

    @staticmethod
    def _client_port(request: web.Request) -> int | None:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        return peer[1] if peer else None

    def _count_connection(self, request: web.Request) -> None:
        port = self._client_port(request)
        if port is not None:
            self.requests_per_connection[port] += 1
            if request.transport is not None:
                self._connections[port] = request.transport

    def connection_closed(self, port: int) -> bool:
        """Whether the client's connection from ``port`` is closed (by the client: an idle one it stopped keeping)."""
        return self._connections[port].is_closing()

    async def _set_up_if_new(self, request: web.Request) -> None:
        """A new connection's handshakes come before its first request can: it arrives ``connection_setup`` later."""
        if self.connection_setup > 0 and self._client_port(request) not in self.requests_per_connection:
            await precise_sleep(self.connection_setup)

    def _arrived(self) -> tuple[int, frozenset[int]]:
        """A request's number and what Slack had answered when it came (the causal record)."""
        return next(self._requests), frozenset(self._answered)

    async def _round_trip_since(self, start: float) -> None:
        """Answer ``latency`` after ``start`` (the call's arrival, or the end of a hold on it): the
        fake's own checking of the call is part of that round trip, not added to it, as
        ``RecordedCall.at`` + latency, the benchmarks' moment of the answer, says."""
        if self.latency > 0:
            await precise_sleep(max(0.0, start + self.latency - self.now()))

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        await self._set_up_if_new(request)
        at = released = self.now()
        cause = self._arrived()
        self._count_connection(request)
        method = request.match_info["method"]
        args: dict[str, Any] = {}
        try:
            if request.method not in ("GET", "POST"):
                self._violate(method, f"HTTP {request.method} is not supported by the Web API")
                raise SlackError("invalid_post_type")
            # slack_sdk sends `params` of POST calls in the query string, so both parts count.
            args = dict(request.query)
            query_token = args.pop("token", None)
            body, kind = await self._read_body(request)
            # Slack ignores `token` inside JSON bodies: JSON callers must use the header.
            body_token = body.pop("token", None)
            if kind == "json":
                body_token = None
            # Keys whose values arrived as strings (query/form) get string-aware type checks.
            string_keys = set(args) | (set(body) if kind == "form" else set())
            args.update(body)
            token = self._bearer(request) or body_token or query_token

            spec = self.specs.get(method)
            if spec is None:
                self._violate(method, "unknown method (no description in tests/slack_api/methods)")
                raise SlackError("unknown_method")

            self._check_call(method, spec, request.method, kind, args, string_keys)

            fault = self._next_fault(method)
            if fault is not None:
                return await self._answer_fault(method, args, at, fault, cause)
            retry_after = self.rate_limits.retry_after(method, args, at) if self.rate_limits is not None else None
            if retry_after is not None:
                return await self._answer_fault(method, args, at, _Fault("ratelimited", 429, retry_after, 0.0), cause)

            if method in APP_TOKEN_METHODS:
                self._check_app_token(method, self._bearer(request))
            elif method == OPENID_TOKEN_METHOD:
                args["_basic"] = request.headers.get("Authorization", "")
            elif method == OPENID_USER_METHOD:
                self._check_user_token(token)
                args["_user_token"] = token
            else:
                self._check_auth(token, spec)
            self._check_arguments(method, spec, args)
            hold = self._take_hold(method, args)
            if hold is not None and not hold.answered:
                hold.arrived.set()
                await hold.wait_released()
                raise SlackError("request_timeout")
            result = self._handlers[method](args)
            body_out: dict[str, Any] = {"ok": True, **result}
            self._record(method, args, at, True, None, cause)
            if hold is not None:
                hold.arrived.set()
                await hold.wait_released()
                released = self.now()
        except SlackError as exc:
            body_out = {"ok": False, "error": exc.error, **exc.extra}
            self._record(method, args, at, False, exc.error, cause)

        for gate in list(self._answer_gates):
            if gate.holds(method, args):
                await gate.wait_open(request)
                released = self.now()
        await self._round_trip_since(released)
        self._answered.add(cause[0])
        return self._json(body_out, headers=self._scope_headers(method))

    def _bearer(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip() or None
        return None

    def _scope_headers(self, method: str) -> dict[str, str]:
        # Real responses name the token's scopes and the scopes the method accepts.
        if method in APP_TOKEN_METHODS:
            return {"x-oauth-scopes": ",".join(sorted(self.app_token_scopes)), "x-accepted-oauth-scopes": APP_TOKEN_METHODS[method]}
        if self.bot_scopes is None:
            granted = sorted({sc for spec in self.specs.values() for sc in spec.get("scope", {}).get("bot", [])})
        else:
            granted = sorted(self.bot_scopes)
        accepted = self.specs.get(method, {}).get("scope", {}).get("bot", [])
        return {"x-oauth-scopes": ",".join(granted), "x-accepted-oauth-scopes": ",".join(accepted)}

    def _record(self, method: str, args: dict, at: float, ok: bool, error: str | None, cause: tuple[int, frozenset[int]]) -> None:
        self.calls.append(RecordedCall(method, args, at, ok, error, *cause))
        for listener in self.listeners:
            listener(method, args)
        self._notify()

    def _next_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        return queue.popleft() if queue else None

    async def _answer_fault(
        self, method: str, args: dict, at: float, fault: _Fault, cause: tuple[int, frozenset[int]]
    ) -> web.StreamResponse:
        # Recorded before the delay so tests can see the call even if the client gives up.
        if fault.status == 429:
            self._record(method, args, at, False, "ratelimited", cause)
        else:
            self._record(method, args, at, False, fault.error, cause)
        if fault.delay > 0:
            # A test that holds a call "for ever" (delay=HANG_SECONDS) ends the hold with
            # clear_faults(), or stop() does, rather than guessing how long its steps take.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._faults_cleared.wait(), fault.delay)
        await self._round_trip_since(at if fault.delay <= 0 else self.now())
        self._answered.add(cause[0])
        if fault.status == 429:
            retry_after = 1 if fault.retry_after is None else fault.retry_after
            answer = load_rate_limits()["ratelimited"]
            return self._json(answer["body"], status=answer["status"], headers={"Retry-After": str(retry_after)})
        if fault.status >= 300:
            return web.Response(status=fault.status, text=f"{fault.status} {fault.error}", content_type="text/plain", charset="utf-8")
        return self._json({"ok": False, "error": fault.error}, headers=self._scope_headers(method))

    def _check_call(self, method: str, spec: dict, verb: str, kind: str, args: dict[str, Any], string_keys: set[str]) -> None:
        """Record contract violations; decode JSON arguments in place. Never answers."""
        if verb != "POST" and spec.get("http_method") == "POST":
            self._violate(method, f"called with HTTP {verb}; the method is POST only")
        if kind == "json" and not spec.get("json_input_supported"):
            self._violate(method, "JSON body sent, but the method does not accept JSON input (send form-encoded arguments)")
        props: dict[str, dict] = spec.get("args", {}).get("properties", {})
        for name in list(args):
            value = args[name]
            prop = props.get(name)
            if prop is None and name in CLIENT_WIDE_ARGS:
                continue
            if prop is None:
                self._violate(method, f"argument {name!r} is not in the method's description (allowed: {sorted(props)})")
                continue
            if value is None:
                types = _allowed_types(prop)
                if types is not None and "null" not in types:
                    self._violate(method, f"argument {name!r} is null")
                del args[name]
                continue
            if name in JSON_ARGS and isinstance(value, str):
                try:
                    args[name] = json.loads(value)
                except ValueError:
                    # Left as a string: the handler answers the method's own format error.
                    self._violate(method, f"argument {name!r} is not valid JSON: {value[:80]!r}")
                continue
            if name in JSON_ARGS:
                continue
            types = _allowed_types(prop)
            if types is not None:
                problem = _type_problem(value, types, name in string_keys)
                if problem:
                    self._violate(method, f"argument {name!r}: {problem}")
            if isinstance(value, str) and "enum" in prop and value not in prop["enum"]:
                self._violate(method, f"argument {name!r} must be one of {prop['enum']}")

    def _check_auth(self, token: str | None, spec: dict) -> None:
        if not token:
            raise SlackError("not_authed")
        if not token.startswith("xoxb-") or (self.bot_tokens is not None and token not in self.bot_tokens):
            raise SlackError("invalid_auth")
        needed: list[str] = spec.get("scope", {}).get("bot", [])
        if self.bot_scopes is None or spec.get("no_scope_required") or not needed:
            return
        if not self.bot_scopes & set(needed):
            raise SlackError("missing_scope", needed=needed[0], provided=",".join(sorted(self.bot_scopes)))

    def _check_app_token(self, method: str, token: str | None) -> None:
        """App-level token methods: an xapp- token in the Authorization header.

        Slack refuses app-level tokens sent as a form or query ``token`` argument for
        apps.connections.open (slackapi/python-slack-sdk#1877), so only the header counts here.
        """
        if not token:
            raise SlackError("missing_args")  # the method's own error: no app-level token
        if not token.startswith("xapp-") or (self.app_tokens is not None and token not in self.app_tokens):
            raise SlackError("invalid_auth")
        needed = APP_TOKEN_METHODS[method]
        if needed not in self.app_token_scopes:
            raise SlackError("missing_scope", needed=needed, provided=",".join(sorted(self.app_token_scopes)))

    def _check_user_token(self, token: str | None) -> None:
        """openid.connect.userInfo: a user token the token exchange issued (a bot token is refused)."""
        if not token:
            raise SlackError("not_authed")
        if not token.startswith("xoxp-") or token not in self._openid_tokens:
            raise SlackError("invalid_auth")

    def _check_arguments(self, method: str, spec: dict, args: dict[str, Any]) -> None:
        """Answer Slack's error for missing required arguments and broken one-of rules."""
        for name in spec.get("args", {}).get("required", []):
            if name == "token" or name in args:
                continue
            self._violate(method, f"missing required argument {name!r}")
            error = MISSING_ARG_ERRORS.get((method, name))
            if error:
                raise SlackError(error)
            raise _invalid_arguments(f"[ERROR] missing required field: {name}")
        rule = ONE_OF_RULES.get(method)
        if rule and not any(args.get(a) not in (None, "", []) for a in rule):
            self._violate(method, f"needs one of {', '.join(rule)}")
            error = ONE_OF_ERRORS.get(method)
            if error:
                raise SlackError(error)
            raise _invalid_arguments(f"[ERROR] must provide one of: {', '.join(rule)}")

    # ---- non-API endpoints ----------------------------------------------------------------

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        arrived, cause = self.now(), self._arrived()
        file_id = request.match_info["file_id"]
        pending = self._pending_uploads.get(file_id)
        if request.method != "POST" or pending is None:
            self.violations.append(f"upload: {request.method} {request.path} is not an upload URL issued by files.getUploadURLExternal")
            return web.Response(status=404, text="not found", content_type="text/plain")
        if request.content_type == "multipart/form-data":
            form = await request.post()
            part = next((v for v in form.values() if isinstance(v, web.FileField)), None)
            if part is not None:
                content = part.file.read()
            else:
                content = next((v.encode() for v in form.values() if isinstance(v, str)), b"")
        else:
            content = await request.read()
        if len(content) != pending["length"]:
            self.violations.append(
                f"upload: {len(content)} bytes uploaded for {file_id}, but files.getUploadURLExternal declared length={pending['length']}"
            )
        pending["content"] = content
        self.uploads.append(RecordedCall("upload", {"file_id": file_id}, arrived, True, None, *cause))
        # Slack's upload host is a round trip away like the Web API.
        await self._round_trip_since(arrived)
        self._answered.add(cause[0])
        # Slack's upload host answers in plain text; slack_sdk only looks at the status.
        return web.Response(text=f"OK - {len(content)}", content_type="text/plain")

    def add_openid_client(self, client_id: str, client_secret: str) -> None:
        self.openid_clients[client_id] = client_secret

    async def _handle_authorize(self, request: web.Request) -> web.StreamResponse:
        """Slack's authorize page, for a browser already signed in to Slack as ``sign_in_user``: it
        asks nothing and sends the browser back to redirect_uri with a code and the state."""
        query = dict(request.query)
        self.authorize_requests.append(query)
        problems = []
        if query.get("response_type") != "code":
            problems.append("response_type must be code")
        if "openid" not in query.get("scope", "").split():
            problems.append("scope must include openid")
        if query.get("client_id") not in self.openid_clients:
            problems.append(f"unknown client_id {query.get('client_id')!r}")
        redirect = query.get("redirect_uri", "")
        if not redirect.startswith(("http://", "https://")):
            problems.append("redirect_uri must be an http(s) URL")
        if problems:
            self.violations.append(f"openid authorize: {'; '.join(problems)}")
            return web.Response(status=400, text="; ".join(problems), content_type="text/plain")
        back: dict[str, str] = {}
        if "state" in query:
            back["state"] = query["state"]
        if self.sign_in_refused or self.sign_in_user is None:
            back["error"] = "access_denied"
        else:
            code = f"{self._new_id('C', 10)}.{uuid.uuid4().hex}"
            self._openid_codes[code] = {
                "client_id": query["client_id"],
                "redirect_uri": redirect,
                "user": self.sign_in_user,
                "team": self.sign_in_team or self.team_id,
                "nonce": query.get("nonce"),
            }
            back["code"] = code
        separator = "&" if "?" in redirect else "?"
        return web.Response(status=302, headers={"Location": f"{redirect}{separator}{urlencode(back)}"})

    def _openid_connect_token(self, args: dict[str, Any]) -> dict[str, Any]:
        basic = str(args.pop("_basic", ""))
        client_id, client_secret = args.get("client_id"), args.get("client_secret")
        if basic.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
            except ValueError:
                raise SlackError("invalid_client") from None
        if client_id not in self.openid_clients:
            raise SlackError("invalid_client_id")
        if self.openid_clients[client_id] != client_secret:
            raise SlackError("bad_client_secret")
        if args.get("grant_type", "authorization_code") != "authorization_code":
            raise SlackError("unsupported_grant_type")
        issued = self._openid_codes.pop(str(args.get("code", "")), None)  # a code is good once
        if issued is None or issued["client_id"] != client_id:
            raise SlackError("invalid_code")
        if args.get("redirect_uri") != issued["redirect_uri"]:
            raise SlackError("bad_redirect_uri")
        token = f"xoxp-{self._new_id('', 12)}-{uuid.uuid4().hex}"
        self._openid_tokens[token] = issued
        now = int(time.time())
        claims = {
            "iss": "https://slack.com",
            "sub": issued["user"],
            "aud": client_id,
            "exp": now + 3600,
            "iat": now,
            "auth_time": now,
            "nonce": issued["nonce"],
            "https://slack.com/user_id": issued["user"],
            "https://slack.com/team_id": issued["team"],
        }

        def part(value: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

        id_token = (
            f"{part({'typ': 'JWT', 'alg': 'RS256'})}.{part(claims)}.{base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b'=').decode()}"
        )
        return {"access_token": token, "token_type": "Bearer", "id_token": id_token}

    def _openid_connect_user_info(self, args: dict[str, Any]) -> dict[str, Any]:
        issued = self._openid_tokens[args.pop("_user_token")]
        user = self.users.get(issued["user"], {})
        profile = user.get("profile", {})
        answer = {
            "sub": issued["user"],
            "https://slack.com/user_id": issued["user"],
            "https://slack.com/team_id": issued["team"],
            "name": user.get("real_name") or issued["user"],
            "locale": "en-US",
            "https://slack.com/team_name": self.team_name,
        }
        if profile.get("email"):
            answer |= {"email": profile["email"], "email_verified": True}
        return answer

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        self._count_connection(request)
        path = request.path
        if path not in self._response_urls:
            self.violations.append(f"response_url: {path} was never issued")
            return web.Response(status=404, text="no_such_url", content_type="text/plain")
        if request.method != "POST":
            self.violations.append(f"response_url: {request.method} {path} (must be POST)")
            return web.Response(status=405, text="method_not_allowed", content_type="text/plain")
        self._response_urls[path] += 1
        if self._response_urls[path] > RESPONSE_URL_MAX_USES:
            self.violations.append(f"response_url: {path} used more than {RESPONSE_URL_MAX_USES} times")
        if request.content_type != "application/json":
            self.violations.append(f"response_url: body must be JSON, got {request.content_type}")
        try:
            body = json.loads(await request.read())
        except ValueError:
            self.violations.append(f"response_url: body of {path} is not valid JSON")
            return web.Response(status=400, text="invalid_payload", content_type="text/plain")
        if not isinstance(body, dict):
            self.violations.append(f"response_url: body of {path} is not a JSON object")
            return web.Response(status=400, text="invalid_payload", content_type="text/plain")
        rtype = body.get("response_type")
        if rtype is not None and rtype not in ("in_channel", "ephemeral"):
            self.violations.append(f"response_url: response_type {rtype!r} is not in_channel/ephemeral")
        if "blocks" in body:
            check = _message_blocks_checked(body["blocks"])
            for problem in check.structural:
                self.violations.append(f"response_url: {problem}")
            self._block_kit_problems("response_url", check.all, blocks=body["blocks"])
        if isinstance(body.get("text"), str) and len(body["text"]) > MAX_MESSAGE_TEXT:
            self.block_kit_problems.append(f"response_url: text of {len(body['text'])} characters")
        self.responses.append({**body, "_url": self.url + path})
        for listener in self.listeners:
            listener("response_url", body)
        self._notify()
        return web.Response(text="ok", content_type="text/plain")

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path not in self._socket_paths:
            self.violations.append(f"socket: {path} was never issued by apps.connections.open")
            return web.Response(status=404, text="not found", content_type="text/plain")
        # autoping: answer the SDK's "sdk-ping-pong:<time>" pings with pongs, as Slack does.
        ws = web.WebSocketResponse(autoping=True)
        if not ws.can_prepare(request).ok:
            self.violations.append(f"socket: GET {path} without a WebSocket upgrade")
            return web.Response(status=400, text="expected a WebSocket upgrade", content_type="text/plain")
        await ws.prepare(request)
        self._sockets.append(ws)
        self.socket_connections += 1
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": sum(1 for w in self._sockets if not w.closed),
                    "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
                    "connection_info": {"app_id": self.app_id},
                }
            )
            self._notify()
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._socket_message(message.data)
                elif message.type == WSMsgType.BINARY:
                    self.violations.append("socket: the app sent a binary frame (acks are JSON text)")
        finally:
            self._sockets.remove(ws)
            self._notify()
        return ws

    def _socket_message(self, data: str) -> None:
        """The app's side of the socket: only acks ``{envelope_id, payload?}`` are expected."""
        try:
            message = json.loads(data)
        except ValueError:
            self.violations.append(f"socket: the app sent text that is not JSON: {data[:80]!r}")
            return
        if not isinstance(message, dict) or not isinstance(message.get("envelope_id"), str):
            self.violations.append(f"socket: the app sent something that is not an ack: {data[:120]!r}")
            return
        envelope_id = message["envelope_id"]
        self.socket_acks.append(message)
        self._notify()
        extra = set(message) - {"envelope_id", "payload"}
        if extra:
            self.violations.append(f"socket: ack of {envelope_id} has unknown keys {sorted(extra)}")
        pending = self._acks_pending.pop(envelope_id, None)
        if pending is None:
            if not any(e["envelope_id"] == envelope_id for e in self.socket_envelopes):
                self.violations.append(f"socket: ack of envelope {envelope_id}, which was never sent")
            elif sum(a.get("envelope_id") == envelope_id for a in self.socket_acks) > 1:
                self.violations.append(f"socket: envelope {envelope_id} acked more than once")
            else:
                self.violations.append(f"socket: ack of {envelope_id} arrived after socket_send stopped waiting")
            return
        future, sent_at, accepts_payload = pending
        elapsed = asyncio.get_running_loop().time() - sent_at
        if elapsed > SOCKET_ACK_DEADLINE:
            self.late_socket_acks.append((envelope_id, elapsed))
        if "payload" in message:
            body = message["payload"]
            if not accepts_payload:
                self.violations.append(
                    f"socket: ack of {envelope_id} carries a payload, but the envelope does not accept one (Slack drops it)"
                )
            if not isinstance(body, dict):
                self.violations.append(f"socket: ack payload of {envelope_id} is not a JSON object")
            elif "blocks" in body:
                check = _message_blocks_checked(body["blocks"])
                for problem in check.structural:
                    self.violations.append(f"socket: ack payload of {envelope_id}: {problem}")
        if not future.done():
            future.set_result(message)

    async def _handle_unknown_path(self, request: web.Request) -> web.StreamResponse:
        self.violations.append(f"request to unknown path {request.method} {request.path}")
        return web.Response(status=404, text="not found", content_type="text/plain")

    # ---- object builders ------------------------------------------------------------------

    def _user_object(self, user_id: str, name: str, *, tz: str, tz_offset: int, email: str | None, is_bot: bool = False) -> dict:
        profile: dict[str, Any] = {
            "real_name": name,
            "real_name_normalized": name,
            "display_name": name,
            "display_name_normalized": name,
            "title": "",
            "status_text": "",
            "status_emoji": "",
            "team": self.team_id,
            "image_72": f"https://fake.slack.com/avatars/{user_id}_72.png",
        }
        if email is not None:
            profile["email"] = email
        if is_bot:
            profile.update(bot_id=self.bot_id, api_app_id=self.app_id, always_active=True)
        return {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "color": "9f69e7",
            "real_name": name,
            "tz": tz,
            "tz_label": _TZ_LABELS.get(tz, tz),
            "tz_offset": tz_offset,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
        }

    def _conversation(self, ch: FakeChannel, *, num_members: bool = False, locale: bool = False) -> dict:
        if ch.is_im:
            other = next((m for m in ch.members if m != self.bot_user_id), self.bot_user_id)
            return {
                "id": ch.id,
                "created": ch.created,
                "is_archived": ch.is_archived,
                "is_im": True,
                "is_org_shared": False,
                "context_team_id": self.team_id,
                "updated": ch.created * 1000,
                "user": other,
                "is_user_deleted": False,
                "priority": 0,
            }
        obj: dict[str, Any] = {
            "id": ch.id,
            "name": ch.name,
            # Private channels created since 2021 are is_channel=true, is_group=false.
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": ch.is_private,
            "created": ch.created,
            "is_archived": ch.is_archived,
            "is_general": False,
            "unlinked": 0,
            "name_normalized": ch.name,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": self.team_id,
            "updated": ch.created * 1000,
            "creator": ch.creator,
            "is_member": self.bot_user_id in ch.members,
            "last_read": "0000000000.000000",
            "topic": {"value": ch.topic, "creator": ch.topic_creator, "last_set": ch.topic_last_set},
            "purpose": {"value": ch.purpose, "creator": ch.purpose_creator, "last_set": ch.purpose_last_set},
            "previous_names": [],
            "priority": 0,
        }
        if num_members:
            obj["num_members"] = len(ch.members)
        if locale:
            obj["locale"] = "en-US"
        return obj

    def _bot_profile(self) -> dict:
        return {
            "id": self.bot_id,
            "app_id": self.app_id,
            "name": "incident-bot",
            "deleted": False,
            "team_id": self.team_id,
            "updated": 1700000000,
            "icons": {"image_36": "https://fake.slack.com/bot_36.png"},
        }

    def _public_message(self, msg: dict, *, with_ts: bool = True) -> dict:
        """The message object as Slack returns it (not the delivery options we stored)."""
        keys = (
            "type",
            "subtype",
            "user",
            "bot_id",
            "app_id",
            "text",
            "blocks",
            "attachments",
            "metadata",
            "ts",
            "thread_ts",
            "team",
            "edited",
            "files",
            "upload",
        )
        out = {k: msg[k] for k in keys if k in msg and (with_ts or k != "ts")}
        out["bot_profile"] = self._bot_profile()
        return out

    def _view_object(self, view: dict, view_id: str, *, previous: dict | None = None) -> dict:
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": view.get("type"),
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{self._rng.randrange(10**7, 10**8)}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "submit_disabled": bool(view.get("submit_disabled", False)),
            "root_view_id": (previous or {}).get("root_view_id", view_id),
            "previous_view_id": None,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    # ---- shared lookups -------------------------------------------------------------------

    def _visible_channel(self, channel_id: Any) -> FakeChannel:
        """A channel the bot can see: private channels it is not in do not exist for it."""
        ch = self.channels.get(str(channel_id or ""))
        if ch is None or (ch.is_private and self.bot_user_id not in ch.members):
            raise SlackError("channel_not_found")
        return ch

    def _member_channel(self, channel_id: Any) -> FakeChannel:
        ch = self._visible_channel(channel_id)
        if self.bot_user_id not in ch.members:
            raise SlackError("not_in_channel")
        return ch

    def _dm_with(self, user_id: str) -> FakeChannel:
        for ch in self.channels.values():
            if ch.is_im and user_id in ch.members:
                return ch
        ch = FakeChannel(
            id=self._new_id("D0"),
            name="",
            is_private=True,
            creator=self.bot_user_id,
            members={user_id, self.bot_user_id},
            created=int(time.time()),
            is_im=True,
        )
        self.channels[ch.id] = ch
        return ch

    def _message_target(self, channel: Any) -> FakeChannel:
        """chat.post*: channel ID, user ID (opens the app DM) or channel name."""
        ref = str(channel or "")
        if ref in self.channels:
            ch = self._visible_channel(ref)
        elif ref in self.users and ref != self.bot_user_id:
            ch = self._dm_with(ref)
        else:
            by_name = self.channel_by_name(ref) if ref else None
            if by_name is None:
                raise SlackError("channel_not_found")
            ch = self._visible_channel(by_name.id)
        if self.bot_user_id not in ch.members and not self._may_post_without_joining(ch):
            raise SlackError("not_in_channel")
        if ch.is_archived:
            raise SlackError("is_archived")
        return ch

    def _may_post_without_joining(self, ch: FakeChannel) -> bool:
        # chat:write.public lets a bot post to public channels it has not joined. Only honour
        # an explicit grant: "all scopes" (None) must still surface not_in_channel.
        return not ch.is_private and self.bot_scopes is not None and "chat:write.public" in self.bot_scopes

    def _check_message_content(self, method: str, args: dict[str, Any]) -> None:
        text = args.get("text")
        if args.get("markdown_text") and (text or args.get("blocks")):
            raise SlackError("markdown_text_conflict")
        if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
            raise SlackError("msg_too_long")
        if "blocks" not in args:
            return
        blocks = args["blocks"]
        if not isinstance(blocks, list):
            self._violate(method, "blocks must be a JSON array of block objects")
            raise SlackError("invalid_blocks_format")
        check = _message_blocks_checked(blocks)
        for problem in check.structural:
            self._violate(method, f"invalid Block Kit: {problem}")
        self._block_kit_problems(method, check.all, blocks=blocks)
        if check.all:
            raise SlackError("invalid_blocks", errors=check.all, response_metadata={"messages": [f"[ERROR] {m}" for m in check.all]})

    def _block_kit_problems(self, where: str, limit_problems: list[str], *, blocks: Any = None, view: Any = None) -> None:
        """Slack's limits as checked above, then slack_sdk's own Block Kit models."""
        from slack_sdk.errors import SlackObjectFormationError
        from slack_sdk.models.blocks import Block
        from slack_sdk.models.views import View

        self.block_kit_problems.extend(f"{where}: {problem}" for problem in limit_problems)
        try:
            if view is not None and isinstance(view, dict):
                View(**view).validate_json()
            elif isinstance(blocks, list):
                for block in Block.parse_all(blocks):
                    if block is None:
                        raise ValueError("a block slack_sdk does not know")
                    block.validate_json()
        except (SlackObjectFormationError, TypeError, KeyError, ValueError, AttributeError) as error:
            self.block_kit_problems.append(f"{where}: slack_sdk: {error}")

    def _check_view_arg(self, method: str, view: Any, expected_type: str) -> dict:
        check = _check_view(view, expected_type)
        for problem in check.structural:
            self._violate(method, f"invalid view: {problem}")
        self._block_kit_problems(method, check.all, view=view)
        if check.all:
            raise _invalid_arguments(*(f"[ERROR] {m}" for m in check.all))
        assert isinstance(view, dict)
        return view

    # ---- methods --------------------------------------------------------------------------

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.com/",
            "team": self.team_name,
            "user": "incident-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "is_enterprise_install": False,
        }

    def _conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = str(args.get("name", ""))
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > MAX_CHANNEL_NAME:
            raise SlackError("invalid_name_maxlength")
        # Slack also allows non-ASCII lowercase letters; this fake deliberately accepts only
        # ASCII so the bot's own slugging is held to the portable subset.
        if not re.fullmatch(r"[a-z0-9_-]+", name):
            raise SlackError("invalid_name_specials")
        if not re.search(r"[a-z0-9]", name):
            raise SlackError("invalid_name_punctuation")
        if self.channel_by_name(name) is not None:
            raise SlackError("name_taken")
        channel = FakeChannel(
            id=self._new_id("C0"),
            name=name,
            is_private=_truthy(args.get("is_private")),
            creator=self.bot_user_id,
            members={self.bot_user_id},
            created=int(time.time()),
        )
        self.channels[channel.id] = channel
        return {"channel": self._conversation(channel)}

    def _conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._visible_channel(args.get("channel"))
        if ch.is_im:
            raise SlackError("method_not_supported_for_channel_type")
        if self.bot_user_id not in ch.members:
            raise SlackError("not_in_channel")
        if ch.is_archived:
            raise SlackError("is_archived")
        users = _csv(args.get("users"))
        if not users:
            raise SlackError("no_user")
        if len(users) > 100:
            raise _invalid_arguments("[ERROR] no more than 100 users allowed [json-pointer:/users]")
        failures, new = [], []
        for user in users:
            if user == self.bot_user_id:
                failures.append({"user": user, "ok": False, "error": "cant_invite_self"})
            elif user not in self.users:
                failures.append({"user": user, "ok": False, "error": "user_not_found"})
            elif user not in ch.members and user not in new:
                new.append(user)
        if failures and not _truthy(args.get("force")):
            raise SlackError(failures[0]["error"], errors=failures)
        if not new and not failures:
            # Every listed user is already in: Slack reports it as an error.
            raise SlackError("already_in_channel", errors=[{"user": u, "ok": False, "error": "already_in_channel"} for u in users])
        ch.members.update(new)
        out: dict[str, Any] = {"channel": self._conversation(ch)}
        if failures:
            out["errors"] = failures
        return out

    def _conversations_set_topic(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._member_channel(args.get("channel"))
        if ch.is_archived:
            raise SlackError("is_archived")
        topic = str(args.get("topic", ""))
        if len(topic) > MAX_TOPIC:
            raise SlackError("too_long")
        ch.topic, ch.topic_creator, ch.topic_last_set = topic, self.bot_user_id, int(time.time())
        return {"channel": self._conversation(ch)}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._visible_channel(args.get("channel"))
        return {
            "channel": self._conversation(
                ch, num_members=_truthy(args.get("include_num_members")), locale=_truthy(args.get("include_locale"))
            )
        }

    def _conversations_members(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._visible_channel(args.get("channel"))
        page, next_cursor = _page(sorted(ch.members), args, "next")
        return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """Public channels, and the private ones the bot is in, a page at a time (by id)."""
        kinds = _csv(args.get("types")) or ["public_channel"]
        if any(k not in ("public_channel", "private_channel", "mpim", "im") for k in kinds):
            raise SlackError("invalid_types")
        listed = []
        for ch in sorted(self.channels.values(), key=lambda c: c.id):
            kind = "im" if ch.is_im else "private_channel" if ch.is_private else "public_channel"
            if kind not in kinds or (ch.is_private and self.bot_user_id not in ch.members):
                continue
            if ch.is_archived and _truthy(args.get("exclude_archived")):
                continue
            listed.append(ch)
        if not 1 <= int(args.get("limit") or 100) <= 1000:
            raise SlackError("invalid_limit")
        page, next_cursor = _page(listed, args, "list")
        return {"channels": [self._conversation(ch) for ch in page], "response_metadata": {"next_cursor": next_cursor}}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Newest first; message metadata only with include_all_metadata (Slack's rule)."""
        ch = self._member_channel(args.get("channel"))
        try:
            oldest = float(args.get("oldest") or 0)
        except ValueError:
            raise SlackError("invalid_ts_oldest") from None
        try:
            latest = float(args.get("latest") or 0) or None
        except ValueError:
            raise SlackError("invalid_ts_latest") from None
        inclusive = _truthy(args.get("inclusive"))
        chosen = [
            m
            for m in reversed(ch.messages)
            if (float(m["ts"]) > oldest or (inclusive and float(m["ts"]) == oldest))
            and (latest is None or float(m["ts"]) < latest or (inclusive and float(m["ts"]) == latest))
            and (not m.get("thread_ts") or m["thread_ts"] == m["ts"])  # replies live in their thread
        ]
        page, next_cursor = _page(chosen, args, "history")
        with_metadata = _truthy(args.get("include_all_metadata"))
        messages = []
        for message in page:
            public = self._public_message(message)
            public.pop("bot_profile", None)
            if not with_metadata:
                public.pop("metadata", None)
            messages.append(public)
        return {
            "messages": messages,
            "has_more": bool(next_cursor),
            "pin_count": len(ch.pins),
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        """A 1:1 DM with one user (the only use the bot makes of it); Slack answers with the
        channel's ID only unless return_im is set, and says when it was open already."""
        if args.get("channel"):
            ch = self._visible_channel(args.get("channel"))
            return {"no_op": True, "already_open": True, "channel": {"id": ch.id}}
        users = _csv(args.get("users"))
        if not users:
            raise SlackError("users_list_not_supplied")
        if len(users) > 1:
            self._violate("conversations.open", "the fake opens only 1:1 DMs; a group DM is not modelled")
        if users[0] not in self.users:
            raise SlackError("user_not_found")
        opened = any(c.is_im and users[0] in c.members for c in self.channels.values())
        ch = self._dm_with(users[0])
        return {"no_op": opened, "already_open": opened, "channel": {"id": ch.id}}

    def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._visible_channel(args.get("channel"))
        if ch.is_im or ch.is_private:
            raise SlackError("method_not_supported_for_channel_type")
        if ch.is_archived:
            raise SlackError("is_archived")
        if self.bot_user_id in ch.members:
            return {
                "channel": self._conversation(ch),
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        ch.members.add(self.bot_user_id)
        return {"channel": self._conversation(ch)}

    def _check_metadata(self, method: str, args: dict[str, Any]) -> None:
        """Message metadata: {"event_type": "<word>", "event_payload": {...}}, at most 8 KB
        (Slack's descriptions of chat.postMessage and of message metadata)."""
        if "metadata" not in args:
            return
        metadata = args["metadata"]
        if not isinstance(metadata, dict):
            self._violate(method, "metadata must be a JSON object")
            raise SlackError("invalid_metadata_format")
        if not (
            isinstance(metadata.get("event_type"), str)
            and re.fullmatch(r"[A-Za-z0-9_]+", metadata["event_type"])
            and isinstance(metadata.get("event_payload"), dict)
        ):
            self._violate(method, f"metadata needs an event_type word and an event_payload object: {metadata}")
            raise SlackError("invalid_metadata_schema")
        if len(json.dumps(metadata)) > 8192:
            raise SlackError("metadata_too_large")

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._message_target(args.get("channel"))
        self._check_message_content("chat.postMessage", args)
        self._check_metadata("chat.postMessage", args)
        thread_ts = args.get("thread_ts")
        if thread_ts and ch.message(str(thread_ts)) is None:
            self._violate("chat.postMessage", f"thread_ts {thread_ts!r} matches no message in {ch.id}")
        ts = self._new_ts()
        extra = {k: v for k, v in args.items() if k != "channel"}
        text = args.get("text") or args.get("markdown_text") or ""
        msg = {**extra, **self._bot_message(text, args.get("blocks", []), ts)}
        ch.messages.append(msg)
        return {"channel": ch.id, "ts": ts, "message": self._public_message(msg)}

    def _bot_message(self, text: str, blocks: list, ts: str) -> dict[str, Any]:
        """A message as the bot's posts and uploads leave it in a channel's history."""
        return {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": text,
            "blocks": blocks,
            "ts": ts,
        }

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._message_target(args.get("channel"))
        user = str(args.get("user", ""))
        if user not in ch.members:
            raise SlackError("user_not_in_channel")
        self._check_message_content("chat.postEphemeral", args)
        ts = self._new_ts()
        ch.ephemerals.append(
            {
                **{k: v for k, v in args.items() if k != "channel"},
                "text": args.get("text") or args.get("markdown_text") or "",
                "blocks": args.get("blocks", []),
                "ts": ts,
                "message_ts": ts,
            }
        )
        return {"message_ts": ts}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._visible_channel(args.get("channel"))
        msg = ch.message(str(args.get("ts", "")))
        if msg is None:
            raise SlackError("message_not_found")
        if msg.get("user") != self.bot_user_id:
            raise SlackError("cant_update_message")
        self._check_message_content("chat.update", args)
        if "text" in args or "markdown_text" in args:
            msg["text"] = args.get("text") or args.get("markdown_text") or ""
        # Omitted blocks/attachments are kept; an empty array removes them (Slack's rule).
        for key in ("blocks", "attachments", "metadata", "markdown_text", "file_ids"):
            if key in args:
                msg[key] = args[key]
        msg["edited"] = {"user": self.bot_user_id, "ts": self._new_ts()}
        # chat.update's message carries no ts of its own: it is the top-level `ts`.
        return {"channel": ch.id, "ts": msg["ts"], "text": msg["text"], "message": self._public_message(msg, with_ts=False)}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._visible_channel(args.get("channel"))
        ts = str(args.get("message_ts", ""))
        msg = ch.message(ts)
        if msg is None:
            raise SlackError("message_not_found")
        link = f"https://fake.slack.com/archives/{ch.id}/p{ts.replace('.', '')}"
        if msg.get("thread_ts") and msg["thread_ts"] != ts:
            link += f"?thread_ts={msg['thread_ts']}&cid={ch.id}"
        return {"channel": ch.id, "permalink": link}

    def _pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._member_channel(args.get("channel"))
        ts = args.get("timestamp")
        if not ts:
            raise SlackError("no_item_specified")
        if not re.fullmatch(r"\d+\.\d+", str(ts)):
            raise SlackError("bad_timestamp")
        if ch.message(str(ts)) is None:
            raise SlackError("message_not_found")
        if ts in ch.pins:
            raise SlackError("already_pinned")
        ch.pins.append(str(ts))
        return {}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = str(args.get("trigger_id") or args.get("interactivity_pointer"))
        view = self._check_view_arg("views.open", args.get("view"), "modal")
        if trigger in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        external_id = view.get("external_id")
        if external_id and any(v.get("external_id") == external_id for v in self.views.values()):
            raise SlackError("duplicate_external_id")
        self._used_triggers.add(trigger)
        view_id = self._new_id("V0")
        stored = self._view_object(view, view_id)
        self.views[view_id] = stored
        return {"view": stored}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        if view_id:
            current = self.views.get(str(view_id))
        else:
            current = next((v for v in self.views.values() if v.get("external_id") and v["external_id"] == args.get("external_id")), None)
        if current is None:
            raise SlackError("not_found")
        view = self._check_view_arg("views.update", args.get("view"), current["type"])
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        stored = self._view_object(view, current["id"], previous=current)
        if not view.get("external_id"):
            stored["external_id"] = current.get("external_id", "")
        self.views[current["id"]] = stored
        for user_id, home in self.published_home.items():
            if home["id"] == current["id"]:
                self.published_home[user_id] = stored
        return {"view": stored}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user_id", ""))
        if user_id not in self.users:
            raise _invalid_arguments("invalid `user_id`")
        view = self._check_view_arg("views.publish", args.get("view"), "home")
        self._check_slack_files("views.publish", view.get("blocks", []))
        current = self.published_home.get(user_id)
        if args.get("hash") and current is not None and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        # A user's Home tab keeps its view id across publishes.
        view_id = current["id"] if current else self._new_id("V0")
        stored = self._view_object(view, view_id)
        self.views[view_id] = stored
        self.published_home[user_id] = stored
        return {"view": stored}

    def _check_slack_files(self, method: str, blocks: list) -> None:
        """An image block's ``slack_file`` must name a file the app uploaded (and completed): Slack
        refuses the view otherwise, and the bot would lose the whole tab for one picture."""
        for index, block in enumerate(blocks):
            file_ref = block.get("slack_file") if isinstance(block, dict) and block.get("type") == "image" else None
            if file_ref is not None and (not isinstance(file_ref, dict) or file_ref.get("id") not in self.files):
                self.block_kit_problems.append(f"{method}: /blocks/{index}/slack_file names no uploaded file: {file_ref!r}")
                raise SlackError("invalid_blocks", errors=[f"invalid slack file [json-pointer:/view/blocks/{index}/slack_file]"])

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user", "")))
        if user is None:
            raise SlackError("user_not_found")
        out = json.loads(json.dumps(user))
        # Without users:read.email Slack silently leaves the email out of profiles.
        if self.bot_scopes is not None and "users:read.email" not in self.bot_scopes:
            out["profile"].pop("email", None)
        if _truthy(args.get("include_locale")):
            out["locale"] = "en-US"
        return {"user": out}

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email", "")).lower()
        for user in self.users.values():
            if str(user["profile"].get("email", "")).lower() == email and email:
                return {"user": json.loads(json.dumps(user))}
        raise SlackError("users_not_found")

    def add_usergroup(self, usergroup_id: str, handle: str, members: list[str]) -> None:
        self.usergroups[usergroup_id] = list(members)
        self.usergroup_handles[usergroup_id] = handle

    def _usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        groups = []
        for group_id, members in self.usergroups.items():
            handle = self.usergroup_handles.get(group_id, group_id.lower())
            group = {
                "id": group_id,
                "team_id": self.team_id,
                "is_usergroup": True,
                "name": handle,
                "handle": handle,
                "description": "",
                "is_external": False,
                "date_create": 1700000000,
                "date_update": 1700000000,
                "date_delete": 0,
                "auto_type": None,
                "created_by": "U0ADMIN",
                "updated_by": "U0ADMIN",
                "deleted_by": None,
                "prefs": {"channels": [], "groups": []},
                "user_count": len(members),
            }
            if str(args.get("include_users", "")).lower() in ("1", "true"):
                group["users"] = list(members)
            groups.append(group)
        return {"usergroups": groups}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self.usergroups.get(str(args.get("usergroup", "")))
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group)}

    def _bookmarks_add(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._visible_channel(args.get("channel_id"))
        kind = args.get("type")
        if kind != "link":
            # message/file bookmarks need entity ids this fake does not model.
            raise SlackError("invalid_bookmark_type")
        link = str(args.get("link", ""))
        if not re.match(r"https?://\S+$", link):
            raise SlackError("invalid_link")
        title = str(args.get("title", ""))
        if len(title) > 256 or len(link) > 2048:
            raise _invalid_arguments("[ERROR] title/link too long")
        if len(ch.bookmarks) >= 100:
            raise SlackError("too_many_bookmarks")
        now = int(time.time())
        bookmark = {
            "id": self._new_id("Bk0"),
            "channel_id": ch.id,
            "title": title,
            "link": link,
            "emoji": args.get("emoji"),
            "icon_url": None,
            "type": "link",
            "entity_id": None,
            "date_created": now,
            "date_updated": 0,
            "rank": string.ascii_lowercase[len(ch.bookmarks) % 26],
            "last_updated_by_user_id": self.bot_user_id,
            "last_updated_by_team_id": self.team_id,
            "shortcut_id": None,
            "app_id": None,
        }
        ch.bookmarks.append(bookmark)
        return {"bookmark": bookmark}

    def _bookmarks_list(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._visible_channel(args.get("channel_id"))
        return {"bookmarks": [dict(b) for b in ch.bookmarks]}

    def _files_get_upload_url_external(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            length = int(args["length"])
        except (TypeError, ValueError):
            raise _invalid_arguments("[ERROR] expected an integer [json-pointer:/length]") from None
        if length < 1:
            raise _invalid_arguments("[ERROR] must be at least 1 [json-pointer:/length]")
        file_id = self._new_id("F0")
        self._pending_uploads[file_id] = {
            "filename": str(args["filename"]),
            "length": length,
            "content": None,
            "alt_txt": args.get("alt_txt"),
            "snippet_type": args.get("snippet_type"),
        }
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload_external(self, args: dict[str, Any]) -> dict[str, Any]:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) and e.get("id") for e in entries):
            self._violate("files.completeUploadExternal", "files must be a JSON array of {id, title} objects")
            raise _invalid_arguments("[ERROR] invalid files [json-pointer:/files]")
        # Only files whose bytes reached the upload URL can be completed, each once.
        for entry in entries:
            pending = self._pending_uploads.get(str(entry["id"]))
            if pending is None or pending["content"] is None:
                raise SlackError("file_not_found")
        targets: list[FakeChannel] = []
        channel_ids = ([args["channel_id"]] if args.get("channel_id") else []) + _csv(args.get("channels"))
        for cid in channel_ids:
            targets.append(self._message_target(cid))
        now = int(time.time())
        out_files = []
        for entry in entries:
            file_id = str(entry["id"])
            pending = self._pending_uploads.pop(file_id)
            title = entry.get("title") or pending["filename"]
            record = {
                "id": file_id,
                "title": title,
                "name": pending["filename"],
                "filename": pending["filename"],
                "content": pending["content"],
                "size": len(pending["content"]),
                "channel_id": targets[0].id if targets else None,
                "channels": [c.id for c in targets],
                "initial_comment": args.get("initial_comment"),
                "thread_ts": args.get("thread_ts"),
                "alt_txt": pending["alt_txt"],
                "snippet_type": pending["snippet_type"],
                "created": now,
                "user": self.bot_user_id,
            }
            self.files[file_id] = record
            out_files.append(
                {
                    "id": file_id,
                    "title": title,
                    "name": pending["filename"],
                    "created": now,
                    "timestamp": now,
                    "user": self.bot_user_id,
                    "user_team": self.team_id,
                    "size": record["size"],
                    "mimetype": "",
                    "filetype": "",
                    "is_external": False,
                    "is_public": any(not c.is_private for c in targets),
                    "url_private": f"https://files.fake.slack.com/files-pri/{self.team_id}-{file_id}/{pending['filename']}",
                    "permalink": f"https://fake.slack.com/files/{self.bot_user_id}/{file_id}/{pending['filename']}",
                }
            )
        for ch in targets:
            msg = {
                **self._bot_message(args.get("initial_comment") or "", args.get("blocks", []), self._new_ts()),
                "files": out_files,
                "upload": True,
                "display_as_bot": False,
            }
            if args.get("thread_ts"):
                msg["thread_ts"] = args["thread_ts"]
            ch.messages.append(msg)
        return {"files": out_files}

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        # Slack answers wss://wss-primary.slack.com/link/?ticket=...; a new URL on every call.
        path = f"/socket/{len(self._socket_paths) + 1}"
        self._socket_paths.add(path)
        return {"url": "ws" + self.url.removeprefix("http") + path}
