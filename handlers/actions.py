"""Buttons: which flow each click on a bot's message or form lands in (the ``BUTTONS`` table).
What every listener shares (validating, who clicked and when, the ack) is in handlers/listeners.py."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.core.phases import BUTTON_STAMPS, Stamp
from bot.core.roles import ROLES
from bot.core.text_input import row_number
from bot.interactions import Interactions
from bot.interactions.replies import Requester
from bot.runtime import Runtime
from bot.slack.blocks import (
    ACKNOWLEDGE_ACTION,
    ACTION_DONE_ACTION,
    ADD_ACTION_ACTION,
    EDIT_TIMES_ACTION,
    HANDOVER_ACTION,
    REOPEN_ACTION,
    ROLE_ACTION_PREFIX,
    SERVICE_ACTION,
    STAMP_ACTION_PREFIX,
)
from bot.slack.handover_messages import ACCEPT_ACTION, DECLINE_ACTION
from bot.slack.runbook_blocks import (
    ACTION_RUN_PREFIX,
    CHECKLIST_ACTION_PREFIX,
    parse_action_click,
    parse_checklist_block_id,
    step_indexes,
    ticked_in_message,
)
from handlers.listeners import Button, Click, listen
from handlers.payloads import string_metadata

Work = Coroutine[Any, Any, Any] | None


def stamp_phase(flows: Interactions, click: Click) -> Work:
    stamp = Stamp(click.payload.action.action_id.removeprefix(STAMP_ACTION_PREFIX))
    incident_id = row_number(click.payload.action.value)
    if stamp not in BUTTON_STAMPS:
        return None
    return flows.phase_stamps.stamp(click.requester, incident_id, stamp, at=click.at)


def acknowledge(flows: Interactions, click: Click) -> Work:
    return flows.phase_stamps.acknowledge_incident(click.requester, row_number(click.payload.action.value), at=click.at)


def reopen(flows: Interactions, click: Click) -> Work:
    return flows.phase_stamps.reopen_incident(click.requester, row_number(click.payload.action.value), at=click.at)


def pick_role_holder(flows: Interactions, click: Click) -> Work:
    action = click.payload.action
    role = action.action_id.removeprefix(ROLE_ACTION_PREFIX)
    incident_id = row_number(action.block_id.partition(":")[2])
    if role not in ROLES or not action.selected_user:
        return None
    return flows.roles_and_severity.role_from_select(click.requester, incident_id, role, action.selected_user)


def tick_checklist(flows: Interactions, click: Click) -> Work:
    action = click.payload.action
    post = parse_checklist_block_id(action.block_id)
    if post is None:
        raise ValueError(f"block_id {action.block_id[:60]!r}")
    # Slack sends the new selection, not the click: compare with what the clicker saw.
    seen = ticked_in_message(click.payload.message.blocks if click.payload.message else [], action.block_id)
    now = step_indexes(o.value for o in action.selected_options)
    return flows.runbooks.tick(click.requester, post[0], seen=seen, now=now, at=click.at)


def run_runbook_action(flows: Interactions, click: Click) -> Work:
    action = click.payload.action
    parsed = parse_action_click(action.action_id, action.value or "")
    if parsed is None:
        raise ValueError(f"runbook action {action.action_id[:60]!r} {str(action.value)[:30]!r}")
    action_id, post_id, attempt = parsed
    return flows.runbook_actions.run(click.requester, post_id, action_id, attempt)


def mark_action_item_done(flows: Interactions, click: Click) -> Work:
    return flows.action_items.mark_done(click.requester, row_number(click.payload.action.value))


def _form_of(click: Click, open_form: Callable[[Requester, int, str], Coroutine[Any, Any, None]]) -> Work:
    """A button that opens a form for the incident it names: Slack opens a form only with the
    click's trigger ID, so a payload without one opens nothing."""
    incident_id = row_number(click.payload.action.value)
    if not click.payload.trigger_id:
        return None
    return open_form(click.requester, incident_id, click.payload.trigger_id)


def open_edit_times_form(flows: Interactions, click: Click) -> Work:
    return _form_of(click, flows.time_corrections.open_form)


def open_action_item_form(flows: Interactions, click: Click) -> Work:
    return _form_of(click, flows.action_items.open_form)


def open_handover_form(flows: Interactions, click: Click) -> Work:
    return _form_of(click, flows.handovers.open_form)


def accept_handover(flows: Interactions, click: Click) -> Work:
    return flows.handovers.answer(click.requester, row_number(click.payload.action.value), accept=True)


def decline_handover(flows: Interactions, click: Click) -> Work:
    return flows.handovers.answer(click.requester, row_number(click.payload.action.value), accept=False)


def offer_deploys_of_service(flows: Interactions, click: Click) -> Work:
    """A service was picked in the open form."""
    view, option = click.payload.view, click.payload.action.selected_option
    if view is None or option is None:
        return None
    return flows.opening.offer_deploy_start(
        view_id=view.id, view_hash=view.hash, metadata=string_metadata(view.private_metadata), service=option.value
    )


BUTTONS = (
    # On the control message and the war room's posts: each records something, so each is
    # acknowledged once its write is committed.
    Button(re.compile(f"^{STAMP_ACTION_PREFIX}"), "stamp", stamp_phase, records=True, records_request=True),
    Button(ACKNOWLEDGE_ACTION, "acknowledge", acknowledge, records=True, records_request=True),
    Button(REOPEN_ACTION, "reopen", reopen, records=True),
    Button(re.compile(f"^{ROLE_ACTION_PREFIX}"), "role", pick_role_holder, records=True),
    Button(re.compile(f"^{CHECKLIST_ACTION_PREFIX}"), "runbook-tick", tick_checklist, records=True),
    # Acknowledged once the run's claim is committed; the request goes out after the ack.
    Button(re.compile(f"^{ACTION_RUN_PREFIX}"), "runbook-action", run_runbook_action, records=True),
    Button(ACTION_DONE_ACTION, "action-done", mark_action_item_done, records=True),
    Button(ACCEPT_ACTION, "handover-accept", accept_handover, records=True),
    Button(DECLINE_ACTION, "handover-decline", decline_handover, records=True),
    # Buttons that open or update a form record nothing: acknowledged at once.
    Button(EDIT_TIMES_ACTION, "edit-times", open_edit_times_form, records=False),
    Button(ADD_ACTION_ACTION, "add-action", open_action_item_form, records=False),
    Button(HANDOVER_ACTION, "handover-form", open_handover_form, records=False),
    Button(SERVICE_ACTION, "form-service", offer_deploys_of_service, records=False),
)


def register(app: AsyncApp, runtime: Runtime) -> None:
    for button in BUTTONS:
        listen(app, runtime, button)
