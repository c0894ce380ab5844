"""What a handover of command shows in Slack: the form, the post in the war room, the direct
message to the new commander with its Accept and Decline buttons, and the lines a decline sends.
Pure: records in, text and Block Kit out. Every typed field is escaped (``escape``)."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    UserSelectElement,
)

from bot.core.handover_notes import FORM_FIELDS, MAX_FIELD, HandoverNote, HandoverRecord
from bot.core.records import IncidentRecord
from bot.core.text_input import clip, escape
from bot.slack.blocks import MAX_SECTION_TEXT, _form, buttons_until_answered, within_message_limits

HANDOVER_CALLBACK = "handover_modal"
ACCEPT_ACTION = "handover_accept"
DECLINE_ACTION = "handover_decline"


def handover_modal(incident: IncidentRecord, *, private_metadata: dict[str, str]) -> dict[str, Any]:
    """The "Hand over" form: the new commander and the four things they need to know."""
    inputs: list[Block] = [
        InputBlock(block_id="to_user", label=PlainTextObject(text="New commander"), element=UserSelectElement(action_id="to_user")),
    ]
    inputs += [
        InputBlock(
            block_id=name,
            label=PlainTextObject(text=label),
            optional=not required,
            element=PlainTextInputElement(action_id=name, multiline=True, max_length=MAX_FIELD),
        )
        for name, label, required in FORM_FIELDS
    ]
    return _form(
        HANDOVER_CALLBACK, f"Hand over {incident.reference}", "Hand over", {"incident_id": str(incident.id), **private_metadata}, inputs
    )


def note_sections(note: HandoverNote) -> list[Block]:
    return [
        SectionBlock(text=MarkdownTextObject(text=clip(f"*{label}*\n{escape(text)}", MAX_SECTION_TEXT))) for label, text in note.shown()
    ]


def handed_line(handover: HandoverRecord, reference: str) -> str:
    """Who handed command of the incident to whom (the war room's post, and its notification text)."""
    if handover.by_user == handover.from_user:
        return f"🔁 <@{handover.by_user}> handed command of {reference} to <@{handover.to_user}>"
    return f"🔁 <@{handover.by_user}> handed command of {reference} from <@{handover.from_user}> to <@{handover.to_user}>"


def room_post(handover: HandoverRecord, incident: IncidentRecord) -> tuple[str, list[dict[str, Any]]]:
    line = handed_line(handover, incident.reference)
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=line)), *note_sections(handover.note)]
    return line, within_message_limits([b.to_dict() for b in blocks])


def new_commander_dm(
    handover: HandoverRecord, incident: IncidentRecord, *, answered: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The new commander's DM: the incident, the note, and Accept/Decline (``answered`` replaces
    the buttons once they answered)."""
    where = f" in <#{incident.channel_id}>" if incident.channel_id else ""
    text = f"<@{handover.by_user}> handed you command of *{incident.reference}*{where}: {escape(incident.title)}"
    answers = [
        ButtonElement(text=PlainTextObject(text="Accept"), action_id=ACCEPT_ACTION, value=str(handover.id), style="primary"),
        ButtonElement(text=PlainTextObject(text="Decline"), action_id=DECLINE_ACTION, value=str(handover.id)),
    ]
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=clip(text, MAX_SECTION_TEXT))),
        *note_sections(handover.note),
        buttons_until_answered(answered, f"handover_answer:{handover.id}", answers),
    ]
    return text, within_message_limits([b.to_dict() for b in blocks])


ACCEPTED = "✅ You accepted command."


def declined_answer(handover: HandoverRecord) -> str:
    return f"↩️ You declined command; <@{handover.from_user}> is commander again."


def declined_room_line(handover: HandoverRecord, reference: str) -> str:
    return f"↩️ <@{handover.to_user}> declined command of {reference}; <@{handover.from_user}> is commander again"


def declined_dm(handover: HandoverRecord, incident: IncidentRecord) -> str:
    where = f" in <#{incident.channel_id}>" if incident.channel_id else ""
    return (
        f"<@{handover.to_user}> declined the handover of *{incident.reference}*{where}, so you are its commander again: "
        f"{escape(incident.title)}"
    )
