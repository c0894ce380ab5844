"""Buttons. A phase button on the control message lands in ``phase_button``."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from pydantic import ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.core.phases import BUTTON_STAMPS, Stamp
from bot.core.roles import ROLES
from bot.core.text_input import row_number
from bot.interactions.flows import Requester
from bot.runtime import Runtime
from bot.slack.blocks import (
    ACKNOWLEDGE_ACTION,
    ACTION_DONE_ACTION,
    ADD_ACTION_ACTION,
    EDIT_TIMES_ACTION,
    REOPEN_ACTION,
    ROLE_ACTION_PREFIX,
    SERVICE_ACTION,
    STAMP_ACTION_PREFIX,
)
from bot.slack.runbook_blocks import CHECKLIST_ACTION_PREFIX, parse_checklist_block_id, step_indexes, ticked_in_message
from handlers.after_ack import ack_once_recorded, run_after_ack
from handlers.payloads import BlockAction, string_metadata
from storage.db import recording_done

log = logging.getLogger(__name__)


def click_time(action_ts: str | None, now: datetime) -> datetime:
    """When the person clicked: Slack's action_ts, so a late retry still stamps the click's moment.
    Never later than now, in case Slack's clock runs ahead of ours."""
    try:
        clicked = datetime.fromtimestamp(float(action_ts), UTC) if action_ts else now
    except (TypeError, ValueError, OverflowError):
        return now
    return min(clicked, now)


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.action(re.compile(f"^{CHECKLIST_ACTION_PREFIX}"))
    async def runbook_checkbox(ack: AsyncAck, body: dict) -> None:
        try:
            action = BlockAction.model_validate(body)
        except ValidationError as error:
            await ack()
            log.warning("malformed checklist payload: %s", error)
            return
        post = parse_checklist_block_id(action.action.block_id)
        if post is None:
            log.warning("malformed checklist payload: block_id %r", action.action.block_id[:60])
            await ack()
            return
        # Slack sends the new selection, not the click: compare with what the clicker saw.
        seen = ticked_in_message(action.message.blocks if action.message else [], action.action.block_id)
        now = step_indexes(o.value for o in action.action.selected_options)
        requester = Requester(action.user.id, action.channel_id, action.response_url)
        at = click_time(action.action.action_ts, runtime.clock())
        work = runtime.flows.tick_runbook(requester, post[0], seen=seen, now=now, at=at)
        await ack_once_recorded(ack, runtime, requester, work, name="runbook-tick")

    @app.action(SERVICE_ACTION)
    async def form_service_chosen(ack: AsyncAck, body: dict) -> None:
        await ack()
        try:
            action = BlockAction.model_validate(body)
        except ValidationError as error:
            log.warning("malformed form action: %s", error)
            return
        if action.view is None or action.action.selected_option is None:
            return
        requester = Requester(action.user.id)
        work = runtime.flows.offer_deploy_start(
            view_id=action.view.id,
            view_hash=action.view.hash,
            metadata=string_metadata(action.view.private_metadata),
            service=action.action.selected_option.value,
        )
        run_after_ack(runtime, requester, work, name="form-service")

    @app.action(re.compile(f"^{STAMP_ACTION_PREFIX}"))
    async def phase_button(ack: AsyncAck, body: dict) -> None:
        """Acknowledged once the stamp is committed (see ``ack_once_recorded``): once Slack has its
        200 the click is durable, even if the process dies the next moment. Slack's updates run
        after the ack."""
        try:
            action = BlockAction.model_validate(body)
            stamp = Stamp(action.action.action_id.removeprefix(STAMP_ACTION_PREFIX))
            incident_id = row_number(action.action.value)
        except (ValidationError, ValueError) as error:
            await ack()
            log.warning("malformed phase button payload: %s", error)
            return
        if stamp not in BUTTON_STAMPS:
            await ack()
            return
        requester = Requester(action.user.id, action.channel_id, action.response_url)
        at = click_time(action.action.action_ts, runtime.clock())

        async def record_then_show() -> None:
            outcome = await runtime.flows.record_stamp(requester, incident_id, stamp, at=at)
            await recording_done()  # stamped and committed, or nothing to stamp
            await runtime.flows.show_stamp(requester, outcome)

        await ack_once_recorded(ack, runtime, requester, record_then_show(), name="stamp")

    @app.action(ACKNOWLEDGE_ACTION)
    async def acknowledge_button(ack: AsyncAck, body: dict) -> None:
        try:
            action = BlockAction.model_validate(body)
            incident_id = row_number(action.action.value)
        except (ValidationError, ValueError) as error:
            await ack()
            log.warning("malformed acknowledge payload: %s", error)
            return
        requester = Requester(action.user.id, action.channel_id, action.response_url)
        at = click_time(action.action.action_ts, runtime.clock())
        await ack_once_recorded(
            ack, runtime, requester, runtime.flows.acknowledge_incident(requester, incident_id, at=at), name="acknowledge"
        )

    @app.action(REOPEN_ACTION)
    async def reopen_button(ack: AsyncAck, body: dict) -> None:
        try:
            action = BlockAction.model_validate(body)
            incident_id = row_number(action.action.value)
        except (ValidationError, ValueError) as error:
            await ack()
            log.warning("malformed reopen payload: %s", error)
            return
        requester = Requester(action.user.id, action.channel_id, action.response_url)
        at = click_time(action.action.action_ts, runtime.clock())
        await ack_once_recorded(ack, runtime, requester, runtime.flows.reopen_incident(requester, incident_id, at=at), name="reopen")

    # ---- issue 7: roles, corrections, action items -------------------------------------------

    @app.action(re.compile(f"^{ROLE_ACTION_PREFIX}"))
    async def role_picked(ack: AsyncAck, body: dict) -> None:
        try:
            action = BlockAction.model_validate(body)
            role = action.action.action_id.removeprefix(ROLE_ACTION_PREFIX)
            incident_id = row_number(action.action.block_id.partition(":")[2])
        except (ValidationError, ValueError) as error:
            await ack()
            log.warning("malformed role picker payload: %s", error)
            return
        if role not in ROLES or not action.action.selected_user:
            await ack()
            return
        requester = Requester(action.user.id, action.channel_id, action.response_url)
        work = runtime.response.role_from_select(requester, incident_id, role, action.action.selected_user)
        await ack_once_recorded(ack, runtime, requester, work, name="role")

    @app.action(EDIT_TIMES_ACTION)
    async def edit_times(ack: AsyncAck, body: dict) -> None:
        await ack()
        try:
            action = BlockAction.model_validate(body)
            incident_id = row_number(action.action.value)
        except (ValidationError, ValueError) as error:
            log.warning("malformed edit-times payload: %s", error)
            return
        if not action.trigger_id:
            return
        requester = Requester(action.user.id, action.channel_id, action.response_url)
        work = runtime.response.open_edit_times(requester, incident_id, action.trigger_id)
        run_after_ack(runtime, requester, work, name="edit-times")

    @app.action(ADD_ACTION_ACTION)
    async def add_action_item(ack: AsyncAck, body: dict) -> None:
        await ack()
        try:
            action = BlockAction.model_validate(body)
            incident_id = row_number(action.action.value)
        except (ValidationError, ValueError) as error:
            log.warning("malformed add-action payload: %s", error)
            return
        if not action.trigger_id:
            return
        requester = Requester(action.user.id, action.channel_id, action.response_url)
        work = runtime.response.open_action_form(requester, incident_id, action.trigger_id)
        run_after_ack(runtime, requester, work, name="add-action")

    @app.action(ACTION_DONE_ACTION)
    async def action_item_done(ack: AsyncAck, body: dict) -> None:
        try:
            action = BlockAction.model_validate(body)
            item_id = row_number(action.action.value)
        except (ValidationError, ValueError) as error:
            await ack()
            log.warning("malformed action-done payload: %s", error)
            return
        requester = Requester(action.user.id, action.channel_id, action.response_url)
        await ack_once_recorded(ack, runtime, requester, runtime.response.action_done(requester, item_id), name="action-done")
