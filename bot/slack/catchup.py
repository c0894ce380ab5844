"""The catch-up a late joiner sees (only them: an ephemeral message) and ``/incident catchup``
gives again: where the incident stands, built from the database, with the buttons the reader may
press. Pure: the flow (bot/interactions/catchup.py) reads the facts and the reader's permissions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.core.phases import Stamp
from bot.core.records import IncidentRecord
from bot.core.roles import ROLES
from bot.core.text_input import clip, escape, person
from bot.core.timefmt import human_duration, slack_time
from bot.slack.blocks import (
    ACKNOWLEDGE_ACTION,
    MAX_SECTION_TEXT,
    SEVERITY_EMOJI,
    acknowledgement_text,
    header_text,
    notification_text,
    stamp_action_id,
    status_label,
    within_message_limits,
)

RECENT_EVENTS = 5  # the timeline events a catch-up lists, newest last
MAX_LINE = 300  # one event, question or update: the catch-up is read at a glance


@dataclass(frozen=True)
class Line:
    """One timeline entry as stored: when, who, what (the text as typed or as the bot wrote it)."""

    at: datetime
    actor: str | None
    text: str


@dataclass(frozen=True)
class OpenQuestion:
    number: int
    asked: Line


@dataclass(frozen=True)
class RunbookProgress:
    name: str
    done: int
    total: int


@dataclass(frozen=True)
class CatchUp:
    incident: IncidentRecord
    now: datetime
    recent: tuple[Line, ...] = ()
    questions: tuple[OpenQuestion, ...] = ()
    runbooks: tuple[RunbookProgress, ...] = ()
    deploy_lines: tuple[str, ...] = ()  # each already mrkdwn (bot.integrations.deploys.deploy_line)
    deploy_window: str | None = None  # "2 h"; None when no correlation was made (no service)
    last_update: Line | None = None
    # The buttons this reader may press: Acknowledge, then the phase stamps.
    may_acknowledge: bool = False
    stamps: tuple[Stamp, ...] = field(default=())


_ESCAPED_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]+)&gt;")


def shown(text: str, people: set[str]) -> str:
    """Stored text shown as typed (escaped: no live broadcast, link or stranger's mention), with
    the mentions the bot itself writes into the timeline ("Incident commander: <@U1>") of the
    incident's own people kept as mentions."""

    def mention(match: re.Match[str]) -> str:
        return f"<@{match.group(1)}>" if match.group(1) in people else match.group(0)

    return _ESCAPED_MENTION.sub(mention, escape(clip(" ".join(text.split()), MAX_LINE)))


def _people(incident: IncidentRecord) -> set[str]:
    people = {incident.commander, incident.opened_by}
    people |= {holder for role in ROLES if (holder := incident.holder(role))}
    if incident.acknowledged_by:
        people.add(incident.acknowledged_by)
    return people


def _line(line: Line, people: set[str]) -> str:
    who = f" {person(line.actor)}" if line.actor else ""
    return f"{slack_time(line.at, '{time}')}{who}: {shown(line.text, people)}"


def phase_text(incident: IncidentRecord, now: datetime) -> str:
    """ "Mitigating, for 12 min" while open; the status once verified."""
    timeline = incident.timeline
    phase = timeline.current_phase
    if phase is None or incident.status != "open":
        return status_label(incident)
    since = timeline.phase_start(phase)
    return f"{phase.doing}, for {human_duration(now - since)}" if since else phase.doing


def catchup_text(catchup: CatchUp) -> str:
    """The notification fallback: no more than a status line gives."""
    return f"Catch-up: {notification_text(catchup.incident)}"


def catchup_blocks(catchup: CatchUp) -> list[dict[str, Any]]:
    incident = catchup.incident
    people = _people(incident) | {line.actor for line in catchup.recent if line.actor}
    roles = [f"{label}: <@{holder}>" for role, label in ROLES.items() if (holder := incident.holder(role))]
    facts = [
        f"*{escape(incident.title)}*",
        f"{SEVERITY_EMOJI[incident.severity]} {incident.severity} · *Phase:* {phase_text(incident, catchup.now)}",
        "*Roles:* " + " · ".join(roles),
        f"*Acknowledged:* {acknowledgement_text(incident)}",
    ]
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=header_text(incident), emoji=True)),
        ContextBlock(elements=[MarkdownTextObject(text="Only you can see this catch-up. `/incident catchup` shows it again.")]),
        SectionBlock(block_id="catchup_facts", text=MarkdownTextObject(text=clip("\n".join(facts), MAX_SECTION_TEXT))),
    ]
    update = catchup.last_update
    blocks.append(
        _section(
            "catchup_update",
            "*Last status update:* " + (_line(update, people) if update else "_none yet_"),
        )
    )
    recent = [_line(line, people) for line in catchup.recent] or ["_nothing yet_"]
    blocks.append(_section("catchup_timeline", "\n".join([f"*Last {RECENT_EVENTS} timeline events:*", *recent])))
    questions = [f"Q{q.number} · {_line(q.asked, people)}" for q in catchup.questions]
    blocks.append(
        _section(
            "catchup_questions",
            "\n".join(
                [f"*Open questions ({len(questions)}):*", *(questions or ["_none_"])]
                + (["_Answer one with_ `/incident answer <number> <answer>`."] if questions else [])
            ),
        )
    )
    runbooks = [f"{escape(r.name)}: {r.done} of {r.total} checklist steps done" for r in catchup.runbooks]
    deploys = _deploy_lines(catchup)
    blocks.append(
        _section("catchup_work", "\n".join(["*Runbooks:* " + ("; ".join(runbooks) if runbooks else "_none attached_"), *deploys]))
    )
    buttons: list[ButtonElement] = []
    if catchup.may_acknowledge:
        buttons.append(
            ButtonElement(text=PlainTextObject(text="Acknowledge"), action_id=ACKNOWLEDGE_ACTION, value=str(incident.id), style="danger")
        )
    buttons += [
        ButtonElement(text=PlainTextObject(text=f"Mark {stamp.value}"), action_id=stamp_action_id(stamp), value=str(incident.id))
        for stamp in catchup.stamps
    ]
    if buttons:
        blocks.append(ActionsBlock(block_id="catchup_buttons", elements=buttons))
    return within_message_limits([b.to_dict() for b in blocks])


def _deploy_lines(catchup: CatchUp) -> list[str]:
    if catchup.deploy_window is None:
        return []
    if not catchup.deploy_lines:
        return [f"*Deploys in the {catchup.deploy_window} before impact:* none recorded"]
    more = len(catchup.deploy_lines) - 5
    return [
        f"*Deploys in the {catchup.deploy_window} before impact:*",
        *(f"• {line}" for line in catchup.deploy_lines[:5]),
        *([f"…and {more} more (`/incident deploys`)"] if more > 0 else []),
    ]


def _section(block_id: str, text: str) -> SectionBlock:
    return SectionBlock(block_id=block_id, text=MarkdownTextObject(text=clip(text, MAX_SECTION_TEXT)))
