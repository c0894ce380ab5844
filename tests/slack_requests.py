"""Requests as Slack sends them: the payload shapes of tests/slack_api/payloads, signed with v0 HMAC."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

MEMBER_JOINED_CHANNEL = Path(__file__).parent / "data" / "member_joined_channel.json"
TEAM = {"id": "T0001", "domain": "acme", "enterprise_id": None, "enterprise_name": None}
_counter = itertools.count(1)


def sign(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def new_trigger_id() -> str:
    return f"{next(_counter)}.1234567890.{int(time.time() * 1000)}abcdef"


def _interaction(kind: str, user: str) -> dict[str, Any]:
    """The fields every click and form submission opens with: what it is, from whom, in which team."""
    return {
        "type": kind,
        "enterprise": None,
        "team": {"id": TEAM["id"], "domain": TEAM["domain"]},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM["id"]},
        "api_app_id": "A0001",
        "token": "legacy-verification-token",
    }


@dataclass
class SlackResponse:
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


class SignedSlack:
    """Posts to the bot's /slack/events exactly as Slack does."""

    def __init__(self, url: str, signing_secret: str, *, response_url_factory=None) -> None:
        self.url = url
        self.secret = signing_secret
        self.response_url_factory = response_url_factory

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        retry_num: int | None = None,
        signature: str | None = None,
        timestamp: str | None = None,
    ) -> SlackResponse:
        ts = timestamp or str(int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or sign(self.secret, ts, body),
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        async with aiohttp.ClientSession() as session:
            async with session.post(self.url, data=body.encode(), headers=headers) as response:
                return SlackResponse(response.status, await response.text())

    def command_payload(
        self,
        text: str,
        *,
        user: str = "U_ALICE",
        channel: str = "C_GENERAL",
        trigger_id: str | None = None,
        response_url: str | None = None,
    ) -> dict[str, Any]:
        return {
            "token": "legacy-verification-token",
            "api_app_id": "A0001",
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "enterprise_id": "",
            "enterprise_name": "",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/incident",
            "text": text,
            "response_url": response_url
            or (self.response_url_factory() if self.response_url_factory else "https://hooks.slack.com/commands/T0001/1/x"),
            "trigger_id": trigger_id or new_trigger_id(),
            "is_enterprise_install": "false",
        }

    async def command(self, text: str, *, retry_num: int | None = None, signature: str | None = None, **kwargs) -> SlackResponse:
        payload = self.command_payload(text, **kwargs)
        return await self.post(urlencode(payload), "application/x-www-form-urlencoded", retry_num=retry_num, signature=signature)

    async def interactive(self, payload: dict[str, Any], **kwargs) -> SlackResponse:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded", **kwargs)

    def block_action_payload(
        self,
        action_id: str,
        value: str,
        *,
        user: str = "U_ALICE",
        channel: str,
        message_ts: str,
        message: dict[str, Any] | None = None,
        action_ts: str | None = None,
        ephemeral: bool = False,
    ) -> dict[str, Any]:
        """A click on a button of a message; ``ephemeral``: of a message only the clicker sees,
        which Slack's payload marks in its container and sends without the message itself."""
        payload = {
            **_interaction("block_actions", user),
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": ephemeral},
            "trigger_id": new_trigger_id(),
            "channel": {"id": channel, "name": "war-room"},
            "message": message or {"type": "message", "ts": message_ts, "text": ""},
            "response_url": self.response_url_factory() if self.response_url_factory else "https://hooks.slack.com/actions/T0001/1/x",
            "state": {"values": {}},
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "phase_buttons",
                    "text": {"type": "plain_text", "text": action_id, "emoji": True},
                    "value": value,
                    "type": "button",
                    "action_ts": action_ts or f"{time.time():.6f}",
                }
            ],
            "is_enterprise_install": False,
        }
        if ephemeral:
            del payload["message"]
        return payload

    async def block_action(self, action_id: str, value: str, *, retry_num: int | None = None, **kwargs) -> SlackResponse:
        return await self.interactive(self.block_action_payload(action_id, value, **kwargs), retry_num=retry_num)

    def view_submission_payload(
        self,
        view: dict[str, Any],
        values: dict[str, dict[str, dict[str, Any]]],
        *,
        user: str = "U_ALICE",
    ) -> dict[str, Any]:
        submitted = dict(view)
        submitted["state"] = {"values": values}
        return {
            **_interaction("view_submission", user),
            "trigger_id": new_trigger_id(),
            "view": submitted,
            "is_enterprise_install": False,
            "is_cleared": False,
            "response_urls": [],
        }

    async def view_submission(self, view: dict[str, Any], values: dict, *, user: str = "U_ALICE") -> SlackResponse:
        return await self.interactive(self.view_submission_payload(view, values, user=user))

    def message_shortcut_payload(
        self,
        callback_id: str,
        *,
        channel: str,
        message: dict[str, Any],
        user: str = "U_ALICE",
        channel_name: str = "general",
    ) -> dict[str, Any]:
        """A message shortcut ("message_action") on ``message`` in ``channel``."""
        return {
            "type": "message_action",
            "callback_id": callback_id,
            "trigger_id": new_trigger_id(),
            "message_ts": message["ts"],
            "response_url": self.response_url_factory() if self.response_url_factory else "https://hooks.slack.com/app/T0001/1/x",
            "message": message,
            "enterprise": None,
            "team": {"id": TEAM["id"], "domain": TEAM["domain"]},
            "user": {"id": user, "name": user.lower(), "team_id": TEAM["id"]},
            "channel": {"id": channel, "name": channel_name},
            "token": "legacy-verification-token",
            "action_ts": f"{time.time():.6f}",
            "is_enterprise_install": False,
        }

    async def message_shortcut(self, callback_id: str, **kwargs) -> SlackResponse:
        return await self.interactive(self.message_shortcut_payload(callback_id, **kwargs))

    @staticmethod
    def app_home_opened_payload(user: str) -> dict[str, Any]:
        """The Events API callback Slack sends when ``user`` opens the bot's Home tab."""
        return {
            "token": "x",
            "team_id": TEAM["id"],
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": f"Ev{next(_counter):04d}",
            "event_time": int(time.time()),
            "authorizations": [],
            "event": {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home", "event_ts": f"{time.time():.6f}"},
        }

    async def app_home_opened(self, user: str) -> SlackResponse:
        return await self.post(json.dumps(self.app_home_opened_payload(user)), "application/json")

    @staticmethod
    def member_joined_channel_payload(
        user: str, channel: str, *, inviter: str | None = None, event_id: str | None = None
    ) -> dict[str, Any]:
        """The Events API callback of ``user`` joining ``channel`` (tests/data/member_joined_channel.json,
        Slack's example); ``inviter`` None: they joined by themselves, and Slack sends no inviter."""
        payload = json.loads(MEMBER_JOINED_CHANNEL.read_text())
        event = payload["event"]
        event.update({"user": user, "channel": channel, "team": TEAM["id"], "event_ts": f"{time.time():.6f}"})
        del event["enterprise"]
        if inviter is None:
            del event["inviter"]
        else:
            event["inviter"] = inviter
        payload.update(team_id=TEAM["id"], api_app_id="A0001", event_id=event_id or f"Ev{next(_counter):08d}", event_time=int(time.time()))
        return payload

    async def member_joined_channel(self, user: str, channel: str, *, retry_num: int | None = None, **kwargs) -> SlackResponse:
        return await self.event(self.member_joined_channel_payload(user, channel, **kwargs), retry_num=retry_num)

    async def event(self, payload: dict[str, Any], *, retry_num: int | None = None) -> SlackResponse:
        """An Events API callback; the same ``payload`` again with ``retry_num`` is Slack's redelivery."""
        return await self.post(json.dumps(payload), "application/json", retry_num=retry_num)


def open_form_values(
    *,
    title: str | None = "Checkout returns 500s",
    severity: str = "P2",
    service: str | None = None,
    detection: str = "engineer",
    started: int | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """The state.values Slack sends for the open-incident modal."""
    return {
        "title": {"title": {"type": "plain_text_input", "value": title}},
        "severity": {
            "severity": {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": severity}, "value": severity}}
        },
        # With a service catalog the form's service is a select (bot/blocks.service_input).
        "service": {
            "open_form_service": {
                "type": "static_select",
                "selected_option": ({"text": {"type": "plain_text", "text": service}, "value": service} if service else None),
            }
        },
        "detection": {
            "detection": {
                "type": "static_select",
                "selected_option": {"text": {"type": "plain_text", "text": detection}, "value": detection},
            }
        },
        "started": {"started": {"type": "datetimepicker", "selected_date_time": started}},
    }
