"""What a commander hands over with command: a free note (``/incident handover @bob <note>``) or
the form's four fields. Pure: parsing, checking and the words each field is shown with."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime

from bot.core.roles import person_named

HANDOVER_USAGE = "`/incident handover @person <what they need to know>` in the war room, or `/incident handover INC-42 @person <note>`"
# Each field is shown in a section of its own (Slack's limit for section text is 3000 characters).
MAX_FIELD = 2000
# The form's fields, in the order they are asked and shown: (field, label, required).
FORM_FIELDS = (
    ("hypothesis", "Current hypothesis", True),
    ("tried", "What was tried", False),
    ("next_steps", "Next steps", True),
    ("risks", "Risks", False),
)
LABELS = {"note": "Note", **{name: label for name, label, _required in FORM_FIELDS}}
_REFERENCE = re.compile(r"^(?:inc-?)?([0-9]+)$", re.IGNORECASE)


class HandoverTextError(ValueError):
    """What was wrong with the command's text, and the right form. Shown as it is."""


@dataclass(frozen=True)
class HandoverNote:
    note: str = ""
    hypothesis: str = ""
    tried: str = ""
    next_steps: str = ""
    risks: str = ""

    def shown(self) -> list[tuple[str, str]]:
        """(label, text) of each field that says something, in the form's order (the note first)."""
        return [(LABELS[f.name], getattr(self, f.name)) for f in fields(self) if getattr(self, f.name)]

    def as_data(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class HandoverText:
    reference: str | None  # "INC-42" as typed, when the command named the incident
    to_user: str
    note: HandoverNote


def parse_handover_text(text: str) -> HandoverText:
    """``[INC-42] <@U123|bob> the note...`` (the text Slack sent, entities unescaped by the caller
    except mentions, which stay Slack's ``<@U…>``)."""
    words = text.split(maxsplit=1)
    reference = None
    if words and _REFERENCE.match(words[0]):
        reference = words[0]
        words = words[1].split(maxsplit=1) if len(words) > 1 else []
    if not words:
        raise HandoverTextError(f"Name the new commander and what they need to know: {HANDOVER_USAGE}.")
    user = person_named(words[0], HandoverTextError, f"`{words[0]}` is not a person; mention the new commander with @. {HANDOVER_USAGE}.")
    note = words[1].strip() if len(words) > 1 else ""
    if not note:
        raise HandoverTextError(
            f"Say what the new commander needs to know (the hypothesis, what was tried, next steps, risks): {HANDOVER_USAGE}."
        )
    if len(note) > MAX_FIELD:
        raise HandoverTextError(f"The note is {len(note)} characters; keep it to {MAX_FIELD} and put the rest in the war room.")
    return HandoverText(reference, user, HandoverNote(note=note))


def note_from_form(values: dict[str, str | None]) -> HandoverNote:
    """The form's fields as a note; ValueError-free: ``form_errors`` says what is wrong first."""
    return HandoverNote(**{name: (values.get(name) or "").strip() for name, _label, _required in FORM_FIELDS})


def form_errors(values: dict[str, str | None], to_user: str | None) -> dict[str, str]:
    """Problems with the handover form, keyed by the modal's block id (Slack shows each under its field)."""
    errors: dict[str, str] = {}
    if not to_user:
        errors["to_user"] = "Pick the new commander."
    for name, label, required in FORM_FIELDS:
        value = (values.get(name) or "").strip()
        if required and not value:
            errors[name] = f"{label}: say something the new commander can act on."
        elif len(value) > MAX_FIELD:
            errors[name] = f"Keep it to {MAX_FIELD} characters."
    return errors


@dataclass(frozen=True)
class HandoverRecord:
    """A handover as stored (storage.models.Handover)."""

    id: int
    incident_id: int
    from_user: str
    to_user: str
    by_user: str
    note: HandoverNote
    created_at: datetime
    answer: str | None
    answered_at: datetime | None
    dm_channel: str | None
    dm_ts: str | None
    room_ts: str | None
    topic_set_at: datetime | None
    declined_room_ts: str | None
    declined_dm_ts: str | None
    declined_topic_set_at: datetime | None
