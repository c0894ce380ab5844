"""The runbook message in a war room: the runbook's first steps as checkboxes, with progress, and
its actions as buttons behind Slack's confirmation dialog.

Pure: takes the runbook and which steps are ticked, returns Block Kit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
)

from bot.catalog.runbook_actions import RunbookAction
from bot.catalog.runbooks import Runbook
from bot.core.text_input import clip, escape, row_number
from bot.slack.blocks import MAX_HEADER, MAX_SECTION_TEXT, within_message_limits

CHECKLIST_ACTION_PREFIX = "runbook_step_"
CHECKLIST_BLOCK_PREFIX = "runbook_checklist"
OPTIONS_PER_ELEMENT = 10  # Slack's limit for one checkboxes element
OPTION_TEXT = 75  # Slack's limit for an option's text
ACTION_RUN_PREFIX = "runbook_action_"
ACTIONS_BLOCK_PREFIX = "runbook_actions"
CONFIRM_TEXT = 300  # Slack's limit for a confirmation dialog's text


def action_button(
    action: RunbookAction, *, post_id: int, attempt: int, label: str | None = None, confirm: str | None = None
) -> ButtonElement:
    """The button that runs ``action`` (attempt ``attempt``) of the runbook posted as ``post_id``,
    behind Slack's confirmation dialog. Its value names the post and the attempt: a click runs
    exactly that attempt, once (bot/warroom/action_runs.py)."""
    return ButtonElement(
        text=PlainTextObject(text=clip(label or action.label, OPTION_TEXT)),
        action_id=f"{ACTION_RUN_PREFIX}{action.id}",
        value=f"{post_id}:{attempt}",
        style="danger" if action.mitigation else None,
        confirm=ConfirmObject(
            title=PlainTextObject(text=clip(f"Run “{action.label}”?", 100)),
            text=PlainTextObject(text=clip(confirm or action.confirm, CONFIRM_TEXT)),
            confirm=PlainTextObject(text="Run it"),
            deny=PlainTextObject(text="Cancel"),
        ),
    )


def parse_action_click(action_id: str, value: str) -> tuple[str, int, int] | None:
    """(action id, post number, attempt) of an action button's click; None for anything the bot did not write."""
    action = action_id.removeprefix(ACTION_RUN_PREFIX)
    match = re.fullmatch(r"([0-9]{1,12}):([0-9]{1,4})", value)
    if action == action_id or match is None or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", action):
        return None
    try:
        post, attempt = row_number(match.group(1)), int(match.group(2))
    except ValueError:
        return None
    return (action, post, attempt) if attempt >= 1 else None


def checklist_block_id(post_id: int, chunk: int) -> str:
    return f"{CHECKLIST_BLOCK_PREFIX}:{post_id}:{chunk}"


def parse_checklist_block_id(block_id: str) -> tuple[int, int] | None:
    """(post number, chunk) of a checklist's block_id; None for anything the bot did not write."""
    match = re.fullmatch(rf"{CHECKLIST_BLOCK_PREFIX}:([0-9]+):([0-9]{{1,2}})", block_id)
    if match is None:
        return None
    try:
        return row_number(match.group(1)), int(match.group(2))
    except ValueError:
        return None


def step_indexes(values: Iterable[object]) -> set[int]:
    """The checklist steps named by checkbox option values (the bot writes "0" to "19"); any
    other value, from a forged or damaged payload, names none."""
    return {int(v) for v in values if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) <= 3}


def markdown_to_mrkdwn(markdown: str) -> str:
    """Enough of Markdown for Slack: headings and bold to *bold*, links to <url|text>."""
    text = escape(markdown)
    text = re.sub(r"^#{1,6}\s*(.+)$", r"*\1*", text, flags=re.MULTILINE)
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    text = re.sub(r"\[([^\]|]+)\]\((https?://[^)\s|]+)\)", r"<\2|\1>", text)
    return text


def runbook_message(runbook: Runbook, *, post_id: int, checked: set[int], reference: str) -> list[dict[str, Any]]:
    checklist = runbook.checklist
    done = len([i for i in checked if 0 <= i < len(checklist)])
    progress = f"{done}/{len(checklist)} first steps done" if checklist else "no checklist"
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=clip(f"📘 Runbook: {runbook.title}", MAX_HEADER), emoji=True)),
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*{progress}* · `{escape(runbook.name)}`"
                + (f" · <{escape(runbook.url).replace('|', '%7C')}|full runbook>" if runbook.url else "")
            )
        ),
    ]
    for chunk_start in range(0, len(checklist), OPTIONS_PER_ELEMENT):
        chunk = chunk_start // OPTIONS_PER_ELEMENT
        options = [
            Option(value=str(index), text=MarkdownTextObject(text=clip(escape(step), OPTION_TEXT)))
            for index, step in enumerate(checklist[chunk_start : chunk_start + OPTIONS_PER_ELEMENT], start=chunk_start)
        ]
        ticked = [o for o in options if int(o.value) in checked]
        blocks.append(
            ActionsBlock(
                block_id=checklist_block_id(post_id, chunk),
                elements=[
                    CheckboxesElement(
                        action_id=f"{CHECKLIST_ACTION_PREFIX}{chunk}",
                        options=options,
                        initial_options=ticked or None,
                    )
                ],
            )
        )
    if runbook.actions:
        blocks.append(
            ActionsBlock(
                block_id=f"{ACTIONS_BLOCK_PREFIX}:{post_id}",
                elements=[action_button(action, post_id=post_id, attempt=1) for action in runbook.actions],
            )
        )
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text="Each action asks you to confirm, then runs once; who ran it and the answer go to the timeline and this room."
                    )
                ]
            )
        )
    for heading, body in runbook.sections.items():
        if body.strip():
            blocks.append(DividerBlock())
            blocks.append(
                SectionBlock(
                    text=MarkdownTextObject(
                        text=clip(f"*{escape(heading.capitalize())}*\n{markdown_to_mrkdwn(body.strip())}", MAX_SECTION_TEXT)
                    )
                )
            )
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"Each tick is recorded in the {reference} timeline with who and when.")]))
    return within_message_limits([b.to_dict() for b in blocks])


def ticked_in_message(message_blocks: list[dict[str, Any]], block_id: str) -> set[int]:
    """Which steps the clicker saw ticked in their copy of the message (the element's initial_options)."""
    for block in message_blocks:
        if block.get("block_id") == block_id:
            for element in block.get("elements", []):
                return step_indexes(o.get("value") for o in element.get("initial_options") or [] if isinstance(o, dict))
    return set()
