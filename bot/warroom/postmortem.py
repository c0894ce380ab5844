"""The postmortem draft: Markdown rendered with Jinja2 from the incident and its timeline.

The default template ships in the package; a team points POSTMORTEM_TEMPLATE at its own file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2

from bot.analytics.summary import MttrSummary, percent
from bot.core.command_text import DETECTION_LABELS
from bot.core.handover_notes import LABELS, HandoverNote
from bot.core.phases import Stamp
from bot.core.records import IncidentRecord
from bot.core.text_files import not_text
from bot.core.timefmt import human_duration

DEFAULT_TEMPLATE = Path(__file__).parent / "templates" / "postmortem.md.j2"


@dataclass(frozen=True)
class TimelineEntry:
    occurred_at: datetime
    actor: str | None
    kind: str
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PageLine:
    """One escalation level as it ran: when it paged whom, and how long until the next level or
    the acknowledgement (``waited`` None: nothing came after it)."""

    level: int
    at: datetime
    who: tuple[str, ...]  # mentions: <@U…>, <!subteam^S…>, PagerDuty…
    waited: timedelta | None
    then: str  # "acknowledged", "level 3", "not acknowledged"


def page_lines(incident: IncidentRecord, events: Sequence[TimelineEntry]) -> list[PageLine]:
    pages = [e for e in events if e.kind == "page"]
    lines = []
    for index, page in enumerate(pages):
        following = pages[index + 1] if index + 1 < len(pages) else None
        acked = incident.acknowledged_at
        level = int(page.data.get("level", index + 1))
        who = tuple(page.data.get("mentions") or ())
        if acked is not None and acked >= page.occurred_at and (following is None or acked <= following.occurred_at):
            lines.append(PageLine(level, page.occurred_at, who, acked - page.occurred_at, "acknowledged"))
        elif following is not None:
            then = f"level {following.data.get('level', index + 2)}"
            lines.append(PageLine(level, page.occurred_at, who, following.occurred_at - page.occurred_at, then))
        else:
            lines.append(PageLine(level, page.occurred_at, who, None, "not acknowledged" if acked is None else "acknowledged earlier"))
    return lines


@dataclass(frozen=True)
class HandoverLine:
    """One handover of command as the timeline has it: when, from whom to whom, the note's fields
    (label, text) and how the new commander answered ("accepted", "declined" or "")."""

    at: datetime
    from_user: str
    to_user: str
    fields: tuple[tuple[str, str], ...]
    answer: str


def handover_lines(events: Sequence[TimelineEntry]) -> list[HandoverLine]:
    answers = {
        e.data.get("handover"): e.kind.removeprefix("handover_") for e in events if e.kind in ("handover_accepted", "handover_declined")
    }
    lines = []
    for event in events:
        if event.kind != "handover":
            continue
        data = event.data
        note = HandoverNote(**{name: str(data.get(name) or "") for name in LABELS})
        lines.append(
            HandoverLine(
                event.occurred_at,
                str(data.get("from", "")),
                str(data.get("to", "")),
                tuple(note.shown()),
                answers.get(data.get("handover"), ""),
            )
        )
    return lines


@dataclass(frozen=True)
class Changes:
    """Deploys found before the impact: ``checked`` is False when no service was named."""

    checked: bool = False
    window: str = ""
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActionLine:
    text: str
    owner: str
    due: str
    status: str


class TemplateProblem(Exception):
    pass


def _utc(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime(fmt)


def _cell(text: str) -> str:
    """Keep a table cell on one line and its pipes from splitting the row."""
    return " ".join(text.split()).replace("|", "\\|")


# Entities already in the text (a mrkdwn line escaped for Slack) stay as they are, so nothing is
# escaped twice; every other ``&`` and every ``<`` and ``>`` becomes an entity, so no HTML survives.
_BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);)")
# A Markdown link or image whose target is not http(s) or mailto (``javascript:``, ``data:``,
# ``vbscript:``, an entity-encoded scheme, a relative path): its ``(`` or ``[`` is backslash-escaped,
# which leaves the text as typed and no link.
_UNSAFE_LINK = re.compile(r"\]\((?!\s*(?:https?://|mailto:))", re.IGNORECASE)
_UNSAFE_REFERENCE = re.compile(r"^([ \t>*+-]*)\[([^\]\n]*)\]:(?![ \t]*(?:https?://|mailto:))", re.IGNORECASE | re.MULTILINE)


def markdown_text(value: object) -> object:
    """Every value a template prints (titles, notes, action items, names...): shown as typed,
    with no raw HTML and no link other than http(s) and mailto. Jinja's ``finalize``, so a team's
    own template gets it too."""
    if not isinstance(value, str):
        return value
    text = _BARE_AMPERSAND.sub("&amp;", value).replace("<", "&lt;").replace(">", "&gt;")
    text = _UNSAFE_LINK.sub(r"]\\(", text)
    return _UNSAFE_REFERENCE.sub(r"\1\\[\2]:", text)


def _environment(template_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Markdown, not HTML: markdown_text escapes what HTML needs, and links
        finalize=markdown_text,
    )
    env.filters.update(utc=_utc, duration=lambda d: human_duration(d) if isinstance(d, timedelta) else "", percent=percent, cell=_cell)
    return env


def load_template(path: Path | None = None) -> jinja2.Template:
    path = path or DEFAULT_TEMPLATE
    if not path.is_file():
        raise TemplateProblem(f"postmortem template {path} not found (POSTMORTEM_TEMPLATE)")
    try:
        return _environment(path.parent).get_template(path.name)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateProblem(f"{path} line {error.lineno}: {error.message}") from None
    except UnicodeDecodeError as error:  # read by jinja2's loader, as UTF-8
        raise TemplateProblem(f"{path}: {not_text(error)}") from None


def render_postmortem(
    template: jinja2.Template,
    incident: IncidentRecord,
    events: Sequence[TimelineEntry],
    summary: MttrSummary | None,
    *,
    generated_at: datetime,
    names: dict[str, str] | None = None,
    changes: Changes | None = None,
    corrections: Sequence[str] = (),
    breakglass: Sequence[TimelineEntry] = (),
    action_items: Sequence[ActionLine] = (),
) -> str:
    """``names`` maps Slack user IDs to display names; unknown IDs stay as <@ID> mentions."""
    names = names or {}

    def people(user_id: str | None) -> str:
        if not user_id:
            return ""
        return names.get(user_id, f"<@{user_id}>")

    def named(mention: str) -> str:
        return people(mention[2:-1]) if mention.startswith("<@") and mention.endswith(">") else mention

    implied = [f.phase.label.lower() for f in summary.phases if f.implied] if summary else []
    # Outside the template, so that a team's own template says it too.
    banner = (
        "> 🧪 **DRILL**: a rehearsal, not a real incident. Its figures are kept apart from the team's.\n\n" if incident.is_drill else ""
    )
    try:
        return banner + template.render(
            incident=incident,
            events=events,
            summary=summary,
            implied=implied,
            stamps=Stamp,
            detection_label=DETECTION_LABELS.get(incident.detection_method, incident.detection_method),
            friction=[e for e in events if e.kind == "slack_step_failed"],
            people=people,
            generated_at=generated_at,
            changes=changes or Changes(),
            corrections=corrections,
            breakglass=breakglass,
            action_items=action_items,
            pages=[replace(page, who=tuple(map(named, page.who))) for page in page_lines(incident, events)],
            handovers=handover_lines(events),
        )
    except jinja2.TemplateError as error:
        raise TemplateProblem(f"postmortem template: {error}") from None
