"""Slack's rate limits for the Web API methods the bot calls: pure data and one lookup.

The tiers are copied from Slack's published method descriptions, the ``rate_limits`` field of
``https://docs.slack.dev/reference/methods/<method>.json`` (as mirrored by
github.com/slack-ruby/slack-api-ref at f4837c0cb6dba1b1122ce66a5b69195ce47213f8, 2026-08-20;
tests/slack_api/methods holds the same files and a test checks this table against them).
The calls a tier allows per minute are from Slack's rate-limit page
(https://docs.slack.dev/apis/web-api/rate-limits): Tier 1 1+, Tier 2 20+, Tier 3 50+, Tier 4 100+
per minute, per method, per app and workspace. ``t5`` is Slack's "special" tier: for
``chat.postMessage`` about one message a second per channel (five per five seconds here); ``auth.test`` and
``chat.getPermalink`` have no published figure and are not paced (a 429 is still waited out).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TIERS: Mapping[str, str] = {
    "apps.connections.open": "t3",
    "auth.test": "t5",
    "bookmarks.add": "t2",
    "bookmarks.list": "t3",
    "chat.getPermalink": "t5",
    "chat.postEphemeral": "t4",
    "chat.postMessage": "t5",
    "chat.update": "t3",
    "conversations.create": "t2",
    "conversations.history": "t3",
    "conversations.info": "t3",
    "conversations.invite": "t3",
    "conversations.join": "t3",
    "conversations.list": "t2",
    "conversations.members": "t4",
    "conversations.open": "t3",
    "conversations.setTopic": "t2",
    "files.completeUploadExternal": "t4",
    "files.getUploadURLExternal": "t4",
    "openid.connect.token": "t4",
    "openid.connect.userInfo": "t3",
    "pins.add": "t2",
    "usergroups.list": "t2",
    "usergroups.users.list": "t2",
    "users.info": "t4",
    "users.lookupByEmail": "t3",
    "views.open": "t4",
    "views.publish": "t4",
    "views.update": "t4",
}

CALLS_PER_MINUTE: Mapping[str, int] = {"t1": 1, "t2": 20, "t3": 50, "t4": 100}

# chat.postMessage: one message a second per channel, "short bursts above this limit allowed" with
# no published figure: five per five seconds keeps the average and lets a war room's own few posts
# at set-up or resolution go out together (tests/slack_api/README.md).
POSTS_PER_CHANNEL = 5
POST_WINDOW_SECONDS = 5.0
MINUTE = 60.0


@dataclass(frozen=True)
class RateLimit:
    """At most ``calls`` calls of ``bucket`` in any ``window`` seconds."""

    bucket: str
    calls: int
    window: float


def rate_limit(method: str, args: Mapping[str, Any], *, speed: float = 1.0) -> RateLimit | None:
    """The limit a call counts against, or None for a method Slack publishes no figure for.
    ``speed`` shortens every window by that factor (tests and benchmarks only: a storm in seconds)."""
    tier = TIERS.get(method)
    if method == "chat.postMessage":
        return RateLimit(f"{method} {args.get('channel', '')}", POSTS_PER_CHANNEL, POST_WINDOW_SECONDS / speed)
    if tier is None or tier not in CALLS_PER_MINUTE:
        return None
    return RateLimit(method, CALLS_PER_MINUTE[tier], MINUTE / speed)
