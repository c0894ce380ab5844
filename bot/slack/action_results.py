"""The message a runbook action's run leaves in the war room: who ran what, and what came back,
with *Mark mitigated* when a mitigation succeeded and *Run again* behind a new confirmation.

Pure: takes what the run recorded, returns the text and Block Kit. Never the request's headers
or body: only the action's label, the person, and the answer's status in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ContextBlock, MarkdownTextObject, PlainTextObject, SectionBlock

from bot.catalog.runbook_actions import RunbookAction
from bot.core.phases import Stamp
from bot.core.text_input import clip, escape
from bot.core.timefmt import utc_clock
from bot.slack.blocks import MAX_SECTION_TEXT, stamp_action_id, within_message_limits
from bot.slack.runbook_blocks import CONFIRM_TEXT, action_button

ICONS = {"succeeded": "✅", "failed": "❌", "unknown": "⚠️"}


@dataclass(frozen=True)
class ActionResult:
    incident_id: int
    reference: str
    runbook: str  # the runbook's name
    post_id: int
    action: RunbookAction
    attempt: int
    by: str  # who clicked
    outcome: str  # succeeded | failed | unknown
    reason: str  # the answer in words (bot/integrations/action_requests.py)
    finished_at: datetime
    offer_mitigated: bool  # a mitigation that succeeded, on an incident not yet mitigated
    by_repair: bool = False  # sent, or found lost, by a repair after the clicker's process stopped


def result_line(result: ActionResult) -> str:
    again = f" (run {result.attempt})" if result.attempt > 1 else ""
    how = " by a repair, after the bot restarted," if result.by_repair else ""
    line = f"{ICONS[result.outcome]} <@{result.by}> ran *{escape(result.action.label)}*{again}{how}: {escape(result.reason)}."
    if result.outcome == "unknown":
        line += " Nobody knows whether it ran: check there before running it again."
    return line


def action_result_message(result: ActionResult) -> tuple[str, list[dict[str, Any]]]:
    line = result_line(result)
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip(line, MAX_SECTION_TEXT)))]
    buttons: list[ButtonElement] = []
    if result.offer_mitigated:
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text="Mark mitigated"),
                action_id=stamp_action_id(Stamp.MITIGATED),
                value=str(result.incident_id),
                style="primary",
            )
        )
    asked = f"“{result.action.label}” ran at {utc_clock(result.finished_at)}: {result.reason}. Run it again? "
    buttons.append(
        action_button(
            result.action,
            post_id=result.post_id,
            attempt=result.attempt + 1,
            label="Run again",
            confirm=clip(asked + result.action.confirm, CONFIRM_TEXT),
        )
    )
    blocks.append(ActionsBlock(block_id=f"runbook_action_result:{result.post_id}:{result.attempt}", elements=buttons))
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(text=f"`{escape(result.runbook)}` · recorded in the {result.reference} timeline with who and when.")
            ]
        )
    )
    return line, within_message_limits([b.to_dict() for b in blocks])
