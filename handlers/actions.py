"""Buttons. A phase button on the control message lands in ``phase_button``."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone

from pydantic import ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.blocks import STAMP_ACTION_PREFIX
from bot.flows import Requester
from bot.phases import BUTTON_STAMPS, Stamp
from bot.runtime import Runtime
from handlers.after_ack import run_after_ack
from handlers.payloads import BlockAction

log = logging.getLogger(__name__)


def click_time(action_ts: str | None, now: datetime) -> datetime:
    """When the person clicked: Slack's action_ts, so a late retry still stamps the click's moment.
    Never later than now, in case Slack's clock runs ahead of ours."""
    try:
        clicked = datetime.fromtimestamp(float(action_ts), timezone.utc) if action_ts else now
    except (TypeError, ValueError, OverflowError):
        return now
    return min(clicked, now)


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.action(re.compile(f"^{STAMP_ACTION_PREFIX}"))
    async def phase_button(ack: AsyncAck, body: dict) -> None:
        await ack()
        try:
            action = BlockAction.model_validate(body)
            stamp = Stamp(action.action.action_id.removeprefix(STAMP_ACTION_PREFIX))
            incident_id = int(action.action.value or "")
        except (ValidationError, ValueError) as error:
            log.warning("malformed phase button payload: %s", error)
            return
        if stamp not in BUTTON_STAMPS:
            return
        requester = Requester(action.user.id, action.channel_id, action.response_url)
        at = click_time(action.action.action_ts, runtime.clock())
        run_after_ack(runtime, requester, runtime.flows.stamp(requester, incident_id, stamp, at=at), name="stamp")
