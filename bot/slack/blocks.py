"""Block Kit builders (slack_sdk's typed models). Pure: they take records, return dicts.

slack_sdk's ``to_dict()`` checks some of Slack's limits; ``within_message_limits`` checks the
ones it does not (50 blocks, 150-character headers, 3000/2000-character section text and fields).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    DatePickerElement,
    DateTimePickerElement,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.core.command_text import DEFAULT_SEVERITY, DETECTION_LABELS, MAX_TITLE, SEVERITIES
from bot.core.phases import BUTTON_STAMPS, PHASES, Stamp
from bot.core.records import IncidentRecord, WarRoomContext
from bot.core.roles import ROLES
from bot.core.text_input import clip, escape, person
from bot.core.timefmt import human_duration, slack_time

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_TOPIC = 250
MAX_MODAL_TITLE = 24

OPEN_MODAL_CALLBACK = "incident_open_modal"
STAMP_ACTION_PREFIX = "stamp_phase_"
ACKNOWLEDGE_ACTION = "incident_acknowledge"
REOPEN_ACTION = "incident_reopen"
SEVERITY_EMOJI = {"P1": "🔴", "P2": "🟠", "P3": "🟡", "P4": "🔵"}
SEVERITY_HINT = {
    "P1": "Critical: customers can't use a core service",
    "P2": "Major: a key feature is degraded for many",
    "P3": "Minor: limited impact or a workaround exists",
    "P4": "Low: cosmetic or internal only",
}
STATUS_LABELS = {"open": "Open", "resolved": "Resolved"}


def status_label(incident: IncidentRecord) -> str:
    if incident.status == "resolved":
        return "Resolved · closed" if incident.closed_at else "Resolved · monitoring"
    return STATUS_LABELS.get(incident.status, incident.status)


def acknowledgement_text(incident: IncidentRecord) -> str:
    if incident.acknowledged_at is None:
        return "_not yet_"
    who = f"{person(incident.acknowledged_by)} " if incident.acknowledged_by else ""
    return f"{who}{slack_time(incident.acknowledged_at, '{time}')}"


def stamp_action_id(stamp: Stamp) -> str:
    return f"{STAMP_ACTION_PREFIX}{stamp.value}"


# Every message the bot posts about a drill starts with this (docs/incidents.md, Drills), so
# nobody mistakes a rehearsal for an outage, in the war room, the announcement channel or a DM.
DRILL_BANNER = "🧪 DRILL"


def drill_text(drill: bool, text: str) -> str:
    """``text`` with the drill banner in front when it is about a drill (once, however often applied)."""
    return f"{DRILL_BANNER} · {text}" if drill and not text.startswith(DRILL_BANNER) else text


DRILL_CONTEXT = f"{DRILL_BANNER}: a rehearsal, not a real incident. It pages only the people named for drills and counts in no figure."


def drill_blocks(drill: bool, blocks: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """A drill's message opens with the banner (unless its first block already shows it)."""
    if not drill or not blocks or DRILL_BANNER in json.dumps(blocks[0], ensure_ascii=False):
        return blocks
    banner = {"type": "context", "elements": [{"type": "mrkdwn", "text": DRILL_CONTEXT}]}
    return [banner, *blocks][:MAX_BLOCKS]


def header_text(incident: IncidentRecord) -> str:
    prefix = f"{SEVERITY_EMOJI[incident.severity]} {incident.reference} · {incident.severity} · "
    return clip(drill_text(incident.is_drill, prefix + incident.title), MAX_HEADER)


def notification_text(incident: IncidentRecord) -> str:
    """The plain-text fallback Slack shows in notifications and screen readers."""
    return drill_text(incident.is_drill, f"{incident.reference} ({incident.severity}): {escape(incident.title)}")


def phase_lines(incident: IncidentRecord) -> list[str]:
    timeline = incident.timeline
    lines = [f"🟥 *Impact started* {slack_time(timeline.started_at)}"]
    current = timeline.current_phase
    for phase in PHASES:
        stamp = phase.ends_with
        value = timeline.get(stamp)
        duration = timeline.duration(phase)
        if value is not None:
            who = f" by <@{value.by}>" if value.by else ""
            implied = " _(implied)_" if value.implied else ""
            took = f" · {phase.value} {human_duration(duration)}" if duration is not None else ""
            lines.append(f"✅ *{stamp.label}* {slack_time(value.at)}{who}{implied}{took}")
        elif phase is current:
            since = timeline.phase_start(phase)
            since_text = f" since {slack_time(since, '{time} ({ago})')}" if since else ""
            lines.append(f"⏳ *{phase.doing}…*{since_text}")
        else:
            lines.append(f"▫️ {stamp.label}")
    if timeline.time_to_restore is not None:
        lines.append(f"*Time to restore:* {human_duration(timeline.time_to_restore)}")
    return lines


def incident_fields(incident: IncidentRecord) -> list[MarkdownTextObject]:
    fields = [
        ("Severity", f"{SEVERITY_EMOJI[incident.severity]} {incident.severity}"),
        ("Status", status_label(incident)),
        ("Service", escape(incident.service) if incident.service else "_not set_"),
        ("Commander", f"<@{incident.commander}>"),
        ("Detection", DETECTION_LABELS.get(incident.detection_method, incident.detection_method)),
        ("Opened by", f"<@{incident.opened_by}>"),
        ("Acknowledged", acknowledgement_text(incident)),
    ]
    return [MarkdownTextObject(text=clip(f"*{name}*\n{value}", MAX_FIELD_TEXT)) for name, value in fields]


def context_lines(context: WarRoomContext | None) -> list[str]:
    if context is None:
        return []
    lines = []
    if context.call_url:
        lines.append(f"📞 *Call:* {link(context.call_url, 'Join the incident call')}")
    if context.paging is not None:
        page = context.paging
        lines.append(f"📟 *Paging:* level {page.level}, {page.who}, {slack_time(page.at, '{ago}')}")
    if context.upstream or context.downstream:
        up = ", ".join(escape(s) for s in context.upstream) or "none"
        down = ", ".join(escape(s) for s in context.downstream) or "none"
        lines.append(f"*Depends on:* {up} · *Depended on by:* {down}")
    if context.deploy_window is not None:
        if context.deploy_lines:
            lines.append(f"*Deploys in the {context.deploy_window} before impact:*")
            lines.extend(f"• {line}" for line in context.deploy_lines[:10])
            if len(context.deploy_lines) > 10:
                lines.append(f"…and {len(context.deploy_lines) - 10} more (`/incident deploys`)")
        else:
            lines.append(f"*Deploys in the {context.deploy_window} before impact:* none recorded")
    return lines


def link(url: str, text: str) -> str:
    """A mrkdwn link; a URL with a character that would end Slack's link syntax is shown as text."""
    if any(c in url for c in "<>|"):
        return escape(url)
    return f"<{url}|{escape(text)}>"


def control_message(incident: IncidentRecord, context: WarRoomContext | None = None) -> list[dict[str, Any]]:
    """The pinned message a war room is run from: facts, what changed, phase progress, buttons."""
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=header_text(incident), emoji=True)),
        SectionBlock(text=MarkdownTextObject(text=f"*{escape(incident.title)}*"), fields=incident_fields(incident)),
    ]
    if lines := context_lines(context):
        blocks.append(SectionBlock(block_id="what_changed", text=MarkdownTextObject(text=clip("\n".join(lines), MAX_SECTION_TEXT))))
    blocks += [
        DividerBlock(),
        SectionBlock(block_id="phase_progress", text=MarkdownTextObject(text="\n".join(phase_lines(incident)))),
    ]
    open_stamps = [s for s in BUTTON_STAMPS if s in incident.timeline.open_stamps()]
    buttons: list[ButtonElement] = []
    if incident.status == "open" and incident.acknowledged_at is None:
        buttons.append(
            ButtonElement(text=PlainTextObject(text="Acknowledge"), action_id=ACKNOWLEDGE_ACTION, value=str(incident.id), style="danger")
        )
    buttons += [
        ButtonElement(
            text=PlainTextObject(text=f"Mark {stamp.value}"),
            action_id=stamp_action_id(stamp),
            value=str(incident.id),
            style="primary" if index == 0 and not buttons else None,
        )
        for index, stamp in enumerate(open_stamps)
    ]
    if incident.monitoring:
        buttons.append(ButtonElement(text=PlainTextObject(text="Reopen"), action_id=REOPEN_ACTION, value=str(incident.id)))
    if buttons:
        blocks.append(ActionsBlock(block_id="phase_buttons", elements=buttons))
    blocks += role_blocks(incident)
    blocks.append(handover_block(incident))
    blocks += correction_blocks(incident)
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="A click stamps who and when; skipping ahead fills earlier phases as _implied_. "
                    "`/incident help` lists the commands."
                )
            ]
        )
    )
    return within_message_limits([b.to_dict() for b in blocks])


# ---- Roles and corrections on the control message (issue 7) ---------------------------------

ROLE_ACTION_PREFIX = "assign_role_"
EDIT_TIMES_ACTION = "edit_times"
EDIT_TIMES_CALLBACK = "edit_times_modal"


def role_action_id(role: str) -> str:
    return f"{ROLE_ACTION_PREFIX}{role}"


def role_lines(incident: IncidentRecord) -> str:
    return " · ".join(
        f"*{label}:* {f'<@{holder}>' if (holder := incident.holder(role)) else '_unassigned_'}" for role, label in ROLES.items()
    )


def role_blocks(incident: IncidentRecord) -> list[Block]:
    """Who holds each role, and a person picker per role (the block id carries the incident)."""
    return [
        SectionBlock(block_id="roles", text=MarkdownTextObject(text=clip(role_lines(incident), MAX_SECTION_TEXT))),
        ActionsBlock(
            block_id=f"role_pickers:{incident.id}",
            elements=[
                UserSelectElement(
                    action_id=role_action_id(role),
                    placeholder=PlainTextObject(text=label),
                    initial_user=incident.holder(role) or None,
                )
                for role, label in ROLES.items()
            ],
        ),
    ]


HANDOVER_ACTION = "handover_open"


def handover_block(incident: IncidentRecord) -> Block:
    """ "Hand over": the commander (or whoever may assign roles) hands command over with a note."""
    return ActionsBlock(
        block_id="handover",
        elements=[ButtonElement(text=PlainTextObject(text="Hand over"), action_id=HANDOVER_ACTION, value=str(incident.id))],
    )


def correction_blocks(incident: IncidentRecord) -> list[Block]:
    """ "Edit times": the commander and admins correct a wrong stamp, with a reason."""
    return [
        ActionsBlock(
            block_id="corrections",
            elements=[ButtonElement(text=PlainTextObject(text="Edit times"), action_id=EDIT_TIMES_ACTION, value=str(incident.id))],
        )
    ]


def edit_times_modal(incident: IncidentRecord, times: dict[str, datetime], labels: dict[str, str]) -> dict[str, Any]:
    """Every phase time the incident has, each in a picker, and the reason."""
    fields: list[Block] = [
        InputBlock(
            block_id=f"time_{name}",
            label=PlainTextObject(text=labels[name]),
            element=DateTimePickerElement(action_id=f"time_{name}", initial_date_time=int(moment.timestamp())),
        )
        for name, moment in times.items()
    ]
    fields.append(
        InputBlock(
            block_id="reason",
            label=PlainTextObject(text="Why are the times corrected?"),
            hint=PlainTextObject(text="Goes to the audit trail with the old and new times, who and when"),
            element=PlainTextInputElement(action_id="reason", multiline=True, max_length=500),
        )
    )
    metadata = {"incident_id": incident.id, "original": {name: moment.isoformat() for name, moment in times.items()}}
    return _form(
        EDIT_TIMES_CALLBACK,
        f"Edit times · {incident.reference}",
        "Correct",
        metadata,
        [SectionBlock(text=MarkdownTextObject(text="Phases must stay in order and none may be in the future.")), *fields],
    )


def _form(callback_id: str, title: str, submit: str, metadata: dict[str, Any], blocks: list[Block]) -> dict[str, Any]:
    """A modal the bot opens: its title within Slack's 24 characters, a Cancel button, and what the
    submission needs to know carried as JSON in private_metadata."""
    view = View(
        type="modal",
        callback_id=callback_id,
        title=PlainTextObject(text=clip(title, MAX_MODAL_TITLE)),
        submit=PlainTextObject(text=submit),
        close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps(metadata),
        blocks=blocks,
    )
    return view.to_dict()


# ---- Action items (issue 7) -----------------------------------------------------------------

ACTION_DONE_ACTION = "action_item_done"
ADD_ACTION_ACTION = "add_action_item"
ADD_ACTION_CALLBACK = "add_action_item_modal"


def buttons_until_answered(answered: str | None, block_id: str, buttons: list[ButtonElement]) -> Block:
    """What stands under a direct message that asks its reader one thing: the buttons, and once
    they answered, the line that says how in their place (nothing left to click twice)."""
    if answered:
        return ContextBlock(elements=[MarkdownTextObject(text=answered)])
    return ActionsBlock(block_id=block_id, elements=buttons)


def action_item_blocks(line: str, item_id: int, *, done_line: str | None = None) -> list[dict[str, Any]]:
    """The owner's direct message: the item and a Done button (gone once done)."""
    done = ButtonElement(text=PlainTextObject(text="Done"), action_id=ACTION_DONE_ACTION, value=str(item_id), style="primary")
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=clip(line, MAX_SECTION_TEXT))),
        buttons_until_answered(done_line, f"action_item:{item_id}", [done]),
    ]
    return within_message_limits([b.to_dict() for b in blocks])


def postmortem_actions_blocks(incident: IncidentRecord, lines: list[str]) -> list[dict[str, Any]]:
    """Under the uploaded postmortem draft: the action items and a button to add one."""
    listed = "\n".join(f"• {line}" for line in lines[:20]) or "_None yet._"
    if len(lines) > 20:
        listed += f"\n…and {len(lines) - 20} more (`/incident actions`)"
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=clip(f"*Action items for {incident.reference}*\n{listed}", MAX_SECTION_TEXT))),
        ActionsBlock(
            block_id="postmortem_actions",
            elements=[ButtonElement(text=PlainTextObject(text="Add action item"), action_id=ADD_ACTION_ACTION, value=str(incident.id))],
        ),
    ]
    return within_message_limits([b.to_dict() for b in blocks])


def add_action_modal(incident: IncidentRecord, *, private_metadata: dict[str, str]) -> dict[str, Any]:
    return _form(
        ADD_ACTION_CALLBACK,
        "Add action item",
        "Add",
        {"incident_id": str(incident.id), **private_metadata},
        [
            InputBlock(
                block_id="text",
                label=PlainTextObject(text=f"What will be done ({incident.reference})"),
                element=PlainTextInputElement(action_id="text", max_length=500),
            ),
            InputBlock(block_id="owner", label=PlainTextObject(text="Owner"), optional=True, element=UserSelectElement(action_id="owner")),
            InputBlock(block_id="due", label=PlainTextObject(text="Due date"), optional=True, element=DatePickerElement(action_id="due")),
        ],
    )


def status_blocks(incident: IncidentRecord) -> list[dict[str, Any]]:
    where = f"War room <#{incident.channel_id}>" if incident.channel_id else "No war room yet"
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=header_text(incident), emoji=True)),
        SectionBlock(text=MarkdownTextObject(text=f"*{escape(incident.title)}*\n{where}"), fields=incident_fields(incident)),
        SectionBlock(text=MarkdownTextObject(text="\n".join(phase_lines(incident)))),
    ]
    return within_message_limits([b.to_dict() for b in blocks])


def announcement_blocks(incident: IncidentRecord) -> list[dict[str, Any]]:
    service = f" · service *{escape(incident.service)}*" if incident.service else ""
    text = (
        f"{SEVERITY_EMOJI[incident.severity]} *{incident.reference}* ({incident.severity}) "
        f"{escape(incident.title)}{service}\nWar room: <#{incident.channel_id}> · commander <@{incident.commander}>"
    )
    text = drill_text(incident.is_drill, text)
    return within_message_limits([SectionBlock(text=MarkdownTextObject(text=clip(text, MAX_SECTION_TEXT))).to_dict()])


PRIVATE_ANNOUNCEMENT = "🔒 A private incident was opened."


def channel_topic(incident: IncidentRecord) -> str:
    """Topics render no date tokens or blocks, and Slack caps them at 250 characters. A topic
    shows mentions (the commander's), so the title is escaped as in a message."""
    phase = incident.timeline.current_phase
    state = f"{phase.doing}" if phase else "Restored"
    commander = f"IC <@{incident.commander}>" if incident.commander else "no commander"
    tail = f" | {state} | {commander} | {incident.reference}"
    head = f"{DRILL_BANNER} | {incident.severity} | " if incident.is_drill else f"{incident.severity} | "
    return head + __clip_escaped(incident.title, MAX_TOPIC - len(head) - len(tail)) + tail


def __clip_escaped(text: str, limit: int) -> str:
    """``escape(text)`` within ``limit`` characters, never cutting an entity such as ``&amp;`` in two."""
    shown = escape(text)
    if len(shown) <= limit:
        return shown
    while text and len(escape(text)) > limit - 1:
        text = text[:-1]
    return escape(text) + "…"


MAX_SELECT_OPTIONS = 100  # Slack's limit for a static select


def open_modal(
    *,
    now: datetime,
    private_metadata: dict[str, str],
    services: list[str] | None = None,
    title: str = "",
    deploy_choices: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The open-incident form. With a catalog, the service is a select that reports each choice
    (dispatch_action), so the form can offer "impact started at that deploy" (``deploy_choices``:
    value, label) before it is submitted."""
    severity_options = [
        Option(value=s, text=PlainTextObject(text=f"{SEVERITY_EMOJI[s]} {s}"), description=PlainTextObject(text=SEVERITY_HINT[s]))
        for s in SEVERITIES
    ]
    detection_options = [Option(value=key, text=PlainTextObject(text=label)) for key, label in DETECTION_LABELS.items()]
    return _form(
        OPEN_MODAL_CALLBACK,
        "Open an incident",
        "Open war room",
        private_metadata,
        [
            InputBlock(
                block_id="title",
                label=PlainTextObject(text="Title"),
                hint=PlainTextObject(text="What users see going wrong, e.g. “Checkout returns 500s”"),
                element=PlainTextInputElement(action_id="title", max_length=MAX_TITLE, initial_value=title or None, focus_on_load=True),
            ),
            _choice("severity", "Severity", severity_options, DEFAULT_SEVERITY),
            service_input(services or []),
            _choice("detection", "How was it detected?", detection_options, "engineer"),
            InputBlock(
                block_id="started",
                label=PlainTextObject(text="Impact started"),
                hint=PlainTextObject(text="When users were first affected; leave as is if that is now"),
                element=DateTimePickerElement(action_id="started", initial_date_time=int(now.timestamp())),
            ),
            *impact_choice(deploy_choices or []),
            private_input(),
            drill_input(),
        ],
    )


def _choice(name: str, label: str, options: list[Option], initial: str) -> InputBlock:
    """A required select of the form, ``initial`` chosen; ``name`` is its block_id and action_id."""
    return InputBlock(
        block_id=name,
        label=PlainTextObject(text=label),
        element=StaticSelectElement(action_id=name, options=options, initial_option=next(o for o in options if o.value == initial)),
    )


PRIVATE_OPTION = "private"


def _one_checkbox(name: str, label: str, value: str, text: str, description: str) -> InputBlock:
    """An optional form field of a single checkbox; ``name`` is its block and action ID."""
    return InputBlock(
        block_id=name,
        label=PlainTextObject(text=label),
        optional=True,
        element=CheckboxesElement(
            action_id=name,
            options=[Option(value=value, text=PlainTextObject(text=text), description=PlainTextObject(text=description))],
        ),
    )


def private_input() -> InputBlock:
    """The form's "private incident" checkbox (issue 7)."""
    return _one_checkbox(
        "visibility", "Visibility", PRIVATE_OPTION, "Private incident", "Security or personnel: private channel, no title outside it"
    )


DRILL_OPTION = "drill"


def drill_input() -> InputBlock:
    """The form's "drill" checkbox: a rehearsal, counted in no figure (docs/incidents.md, Drills)."""
    return _one_checkbox(
        "drill", "Drill", DRILL_OPTION, "Drill", "A rehearsal or game day: pages only the drill contacts, counts in no figure"
    )


SERVICE_ACTION = "open_form_service"
IMPACT_CHOICE_PICKER = "picker"


def service_input(services: list[str]) -> InputBlock:
    if services and len(services) <= MAX_SELECT_OPTIONS:
        return InputBlock(
            block_id="service",
            label=PlainTextObject(text="Service"),
            optional=True,
            dispatch_action=True,
            hint=PlainTextObject(text="From the service catalog; deploys just before the impact are shown"),
            element=StaticSelectElement(
                action_id=SERVICE_ACTION,
                placeholder=PlainTextObject(text="Pick the affected service"),
                options=[Option(value=name, text=PlainTextObject(text=clip(name, 75))) for name in services],
            ),
        )
    return InputBlock(
        block_id="service",
        label=PlainTextObject(text="Service"),
        optional=True,
        hint=PlainTextObject(text="The affected service, e.g. payments-api"),
        element=PlainTextInputElement(action_id="service", max_length=80),
    )


def impact_choice(deploy_choices: list[tuple[str, str]]) -> list[InputBlock]:
    """One click to say the impact began with a recent deploy instead of the time picked above."""
    if not deploy_choices:
        return []
    options = [Option(value=IMPACT_CHOICE_PICKER, text=PlainTextObject(text="At the time picked above"))]
    options += [Option(value=value, text=PlainTextObject(text=clip(label, 75))) for value, label in deploy_choices[:9]]
    return [
        InputBlock(
            block_id="impact_choice",
            label=PlainTextObject(text="Impact started at a recent deploy?"),
            element=RadioButtonsElement(action_id="impact_choice", options=options, initial_option=options[0]),
        )
    ]


def within_message_limits(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Raise if a message breaks a Slack limit that slack_sdk's models do not check."""
    if len(blocks) > MAX_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks; Slack allows {MAX_BLOCKS} per message")
    for block in blocks:
        if block["type"] == "header" and len(block["text"]["text"]) > MAX_HEADER:
            raise ValueError(f"header longer than {MAX_HEADER} characters")
        if block["type"] == "section":
            if "text" in block and len(block["text"]["text"]) > MAX_SECTION_TEXT:
                raise ValueError(f"section text longer than {MAX_SECTION_TEXT} characters")
            for field in block.get("fields", []):
                if len(field["text"]) > MAX_FIELD_TEXT:
                    raise ValueError(f"section field longer than {MAX_FIELD_TEXT} characters")
    return blocks


def action_items_digest_blocks(lines: list[str]) -> list[dict[str, Any]]:
    """A digest's section of open and overdue action items (overdue first)."""
    if not lines:
        text = "*Action items:* none open."
    else:
        shown = lines[:25]
        text = "*Open action items* (overdue first):\n" + "\n".join(shown)
        if len(lines) > len(shown):
            text += f"\n…and {len(lines) - len(shown)} more (`/incident actions open`)"
    return [SectionBlock(block_id="action_items", text=MarkdownTextObject(text=clip(text, MAX_SECTION_TEXT))).to_dict()]
