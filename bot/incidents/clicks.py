"""What a click or a quick command writes before its ack, in one short transaction with the read
its permission is decided on (storage/clicks.py, Core statements): stamps (stamping.py),
acknowledgements and notes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row

from bot.core.records import IncidentRecord
from bot.incidents.operations import to_record
from bot.incidents.permissions import PermissionChecks, PermissionFacts, Refusal, SlackNeeded, permission_facts, refusal_while_changing
from storage import clicks as click_rows
from storage.db import Database, Statements

# An attempt that loses a race reads again; the phase count bounds how often that helps.
_ATTEMPTS = 4


@dataclass(frozen=True)
class ClickPermission:
    """Whether the clicker may do the click's action on the incident as read, asked of
    PermissionChecks for one action and one person: ``decide_now`` answers from what is known
    (None, or the refusal) or raises SlackNeeded; ``ask_slack`` fetches what it needs."""

    decide_now: Callable[[IncidentRecord], Refusal | None]
    ask_slack: Callable[[IncidentRecord], Awaitable[Refusal | None]]
    while_changing: Refusal  # the answer when the incident kept changing under the check


def click_permission(checks: PermissionChecks, action: str, user: str) -> ClickPermission:
    return ClickPermission(
        decide_now=lambda incident: checks.decide_now(action, incident, user),
        ask_slack=lambda incident: checks.check(action, incident, user),
        while_changing=refusal_while_changing(action),
    )


@dataclass(frozen=True)
class _AskSlackFirst:
    """The permission needs Slack: the transaction ends with nothing written, and Slack is asked."""

    incident: IncidentRecord


@dataclass(frozen=True)
class NotPermitted:
    incident: IncidentRecord
    refusal: Refusal


Outcome = TypeVar("Outcome")
# One attempt, in its transaction, on the incident as read (None: there is none): its outcome, or
# None when the row changed under the plan (a racing click won): the attempt is made again.
Attempt = Callable[[Statements, IncidentRecord | None], Outcome | None]


async def permitted_in_one_transaction(
    db: Database, incident_id: int | Callable[[Statements], Row[Any] | None], permission: ClickPermission | None, attempt: Attempt[Outcome]
) -> Outcome | NotPermitted | None:
    """Read the incident (by its number, or with the given read), decide ``permission`` on that read and make the ``attempt``, in one short
    transaction (Core statements, one trip to the database thread on SQLite), so that the
    permission and the write see the same row. A permission that needs Slack (a war-room member
    not seen lately) is asked outside the transaction, with nothing written, and holds for a later
    read that shows the same facts (``permission_facts``). None after _ATTEMPTS lost races."""
    granted: PermissionFacts | None = None  # the facts a permission asked with Slack allowed

    def in_transaction(work: Statements) -> Outcome | _AskSlackFirst | NotPermitted | None:
        row = click_rows.read(work, incident_id) if isinstance(incident_id, int) else incident_id(work)
        record = to_record(row) if row is not None else None
        if record is not None and permission is not None and permission_facts(record) != granted:
            try:
                refusal = permission.decide_now(record)
            except SlackNeeded:
                return _AskSlackFirst(record)
            if refusal is not None:
                return NotPermitted(record, refusal)
        return attempt(work, record)

    for _ in range(_ATTEMPTS):
        outcome = await db.run_transaction(in_transaction)
        if isinstance(outcome, _AskSlackFirst):
            assert permission is not None
            if (refusal := await permission.ask_slack(outcome.incident)) is not None:
                return NotPermitted(outcome.incident, refusal)
            granted = permission_facts(outcome.incident)
        elif outcome is not None:
            return outcome
    return None


@dataclass(frozen=True)
class Noted:
    incident: IncidentRecord | None  # None: the channel is no incident's war room, nothing written


async def add_note(
    db: Database, channel_id: str, kind: str, *, actor: str, text: str, at: datetime, permission: ClickPermission
) -> Noted | NotPermitted:
    """An event on the timeline of the incident whose war room ``channel_id`` is, with its permission
    read, in one short transaction."""

    def attempt(work: Statements, record: IncidentRecord | None) -> Noted:
        if record is None:
            return Noted(None)
        click_rows.add_event(work, record.id, kind, at=at, actor=actor, text=text)
        click_rows.set_fields(work, record.id, at=at)
        return Noted(record)

    def in_war_room(work: Statements) -> Row[Any] | None:
        return click_rows.find_by_channel(work, channel_id)

    noted = await permitted_in_one_transaction(db, in_war_room, permission, attempt)
    assert noted is not None  # the attempt never asks for another
    return noted
