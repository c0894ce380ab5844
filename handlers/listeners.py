"""The preamble every button listener shares: validate Slack's payload, read who clicked and
when, hand the click to its flow, and acknowledge at the right moment. A button's own code only
picks what it needs from the click (``handlers/actions.py``)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.interactions import Interactions
from bot.interactions.replies import Requester
from bot.runtime import Runtime
from handlers.after_ack import ack_once_recorded, run_after_ack
from handlers.payloads import BlockAction

log = logging.getLogger(__name__)


def click_time(action_ts: str | None, now: datetime) -> datetime:
    """When the person clicked: Slack's action_ts, so a late retry still stamps the click's moment.
    Never later than now, in case Slack's clock runs ahead of ours."""
    try:
        clicked = datetime.fromtimestamp(float(action_ts), UTC) if action_ts else now
    except (TypeError, ValueError, OverflowError):
        return now
    return min(clicked, now)


@dataclass(frozen=True)
class Click:
    payload: BlockAction
    requester: Requester
    at: datetime  # when the person clicked (see click_time)


# What a click starts: its flow's work, not yet running; None when the click asks for nothing
# (a button the bot does not act on, an empty pick). ValueError when the payload carries something
# no button of the bot's can send.
Start = Callable[[Interactions, Click], Coroutine[Any, Any, Any] | None]


@dataclass(frozen=True)
class Button:
    action_id: str | re.Pattern[str]
    name: str  # in logs, metrics and background task names
    start: Start
    # True: acknowledged only once the click's write is committed (ack_once_recorded), so a click
    # Slack saw acknowledged is never lost. False: acknowledged at once, the work runs after
    # (it opens or updates a form and records nothing).
    records: bool
    # True: the click's first transaction also records the request against replays, first thing,
    # so its ack waits for one commit, not two (handlers/after_ack.start_recording). Only for a
    # flow that writes and answers nothing before that transaction but through the doors that
    # wait for the answer (Database.transaction, replies).
    records_request: bool = False


def listen(app: AsyncApp, runtime: Runtime, button: Button) -> None:
    async def listener(ack: AsyncAck, body: dict) -> None:
        try:
            payload = BlockAction.model_validate(body)
            requester = Requester(payload.user.id, payload.channel_id, payload.response_url)
            click = Click(payload, requester, click_time(payload.action.action_ts, runtime.clock()))
            work = button.start(runtime.interactions, click)
        except (ValidationError, ValueError) as error:
            await ack()
            log.warning("malformed %s payload: %s", button.name, error)
            return
        if work is None:
            await ack()
        elif button.records:
            await ack_once_recorded(ack, runtime, requester, work, name=button.name, records_request=button.records_request)
        else:
            await ack()
            run_after_ack(runtime, requester, work, name=button.name)

    listener.__name__ = listener.__qualname__ = f"{button.name.replace('-', '_')}_clicked"
    app.action(button.action_id)(listener)
