"""Handing over command: the new commander, the note, and the answer (accept or decline), each
recorded in one transaction with its timeline events. The commander changes through the same
role assignment as ``/incident role commander`` (``record_role``), so the incident's row and its
``role_assigned`` event read the same whichever way command changed hands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.exc import IntegrityError

from bot.core.clock import Clock
from bot.core.columns import record_from_columns
from bot.core.handover_notes import HandoverNote, HandoverRecord
from bot.core.records import IncidentRecord
from bot.incidents.operations import record_role, to_record
from storage import handovers as handover_rows
from storage import incidents as incident_rows
from storage.db import Database
from storage.models import Handover


def handover_record(row: Handover) -> HandoverRecord:
    note = HandoverNote(note=row.note, hypothesis=row.hypothesis, tried=row.tried, next_steps=row.next_steps, risks=row.risks)
    return record_from_columns(HandoverRecord, row, note=note)


def handover_event_text(from_user: str, to_user: str, note: HandoverNote) -> str:
    """The handover's line in the timeline (and so in the postmortem's timeline table)."""
    said = " ".join(f"{label}: {text}" for label, text in note.shown())
    return f"Handover: <@{from_user}> handed command to <@{to_user}>. {said}"


@dataclass(frozen=True)
class HandedOver:
    """``recorded``: this request handed over; ``already``: an earlier copy of the request did
    (a retry, a double submit); ``commander_changed``: the commander is no longer the one the
    request was checked against; ``already_commander``: the new commander already is."""

    outcome: Literal["recorded", "already", "commander_changed", "already_commander"]
    incident: IncidentRecord
    handover: HandoverRecord | None = None


@dataclass(frozen=True)
class Answered:
    """``answered``: this click recorded the answer; ``not_theirs``: only the new commander may
    answer; ``already``: it was answered before (``handover.answer`` says how);
    ``commander_changed``: someone else is commander now, so nothing changed."""

    outcome: Literal["answered", "not_theirs", "already", "commander_changed"]
    handover: HandoverRecord
    incident: IncidentRecord


class HandoverLog:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def hand_over(
        self, incident_id: int, to_user: str, note: HandoverNote, *, by: str, commander_seen: str, request_key: str
    ) -> HandedOver:
        """Make ``to_user`` commander with ``note``, once per Slack request (``request_key``), and
        only while the commander is still ``commander_seen`` (the one the permission check saw)."""
        try:
            return await self._hand_over(incident_id, to_user, note, by=by, commander_seen=commander_seen, request_key=request_key)
        except IntegrityError:
            # Two copies of one request raced past the look-up: the unique key let one in.
            async with self._db.lookup() as session:
                existing = await handover_rows.find_by_request_key(session, request_key)
                incident = await incident_rows.get(session, incident_id)
            if existing is None or incident is None:
                raise
            return HandedOver("already", to_record(incident), handover_record(existing))

    async def _hand_over(
        self, incident_id: int, to_user: str, note: HandoverNote, *, by: str, commander_seen: str, request_key: str
    ) -> HandedOver:
        now = self._clock()
        async with self._db.transaction() as session:
            row = await incident_rows.get(session, incident_id, for_update=True)
            if row is None:
                raise LookupError(f"INC-{incident_id} does not exist")
            existing = await handover_rows.find_by_request_key(session, request_key)
            if existing is not None:
                return HandedOver("already", to_record(row), handover_record(existing))
            previous = row.commander
            if previous != commander_seen:
                return HandedOver("commander_changed", to_record(row))
            if previous == to_user:
                return HandedOver("already_commander", to_record(row))
            handover = await handover_rows.insert(
                session,
                Handover(
                    incident_id=incident_id,
                    request_key=request_key,
                    from_user=previous,
                    to_user=to_user,
                    by_user=by,
                    created_at=now,
                    **note.as_data(),
                ),
            )
            await record_role(
                session,
                incident_id,
                "commander",
                to_user,
                previous=previous,
                by=by,
                at=now,
                text=f"Commander: <@{to_user}> (was <@{previous}>), handed over",
            )
            await incident_rows.add_event(
                session,
                incident_id,
                "handover",
                at=now,
                actor=by,
                text=handover_event_text(previous, to_user, note),
                data={"handover": handover.id, "from": previous, "to": to_user, **note.as_data()},
            )
            await session.refresh(row)
            return HandedOver("recorded", to_record(row), handover_record(handover))

    async def answer(self, handover_id: int, *, by: str, accept: bool) -> Answered | None:
        """The new commander accepts or declines; a decline gives command back to the commander
        before the handover, unless someone changed the commander since (then nothing changes).
        None when there is no such handover."""
        now = self._clock()
        async with self._db.transaction() as session:
            handover = await handover_rows.get(session, handover_id, for_update=True)
            if handover is None:
                return None
            row = await incident_rows.get(session, handover.incident_id, for_update=True)
            assert row is not None  # a handover's incident is never deleted while it has handovers (ON DELETE CASCADE)
            if by != handover.to_user:
                return Answered("not_theirs", handover_record(handover), to_record(row))
            if handover.answer is not None:
                return Answered("already", handover_record(handover), to_record(row))
            if row.commander != handover.to_user:
                return Answered("commander_changed", handover_record(handover), to_record(row))
            answer = "accepted" if accept else "declined"
            await handover_rows.record_fields(session, handover_id, answer=answer, answered_at=now)
            if accept:
                text = f"<@{by}> accepted command (handed over by <@{handover.by_user}>)"
            else:
                await record_role(
                    session,
                    row.id,
                    "commander",
                    handover.from_user,
                    previous=by,
                    by=by,
                    at=now,
                    text=f"Commander: <@{handover.from_user}> again (<@{by}> declined the handover)",
                )
                text = f"<@{by}> declined command; <@{handover.from_user}> is commander again"
            await incident_rows.add_event(
                session,
                row.id,
                f"handover_{answer}",
                at=now,
                actor=by,
                text=text,
                data={"handover": handover_id, "from": handover.from_user},
            )
            await incident_rows.record_fields(session, row.id, at=now)
            await session.refresh(row)
            await session.refresh(handover)
            return Answered("answered", handover_record(handover), to_record(row))

    async def of_request(self, request_key: str) -> HandoverRecord | None:
        """The handover a Slack request (``request_key``) already made, if any."""
        async with self._db.lookup() as session:
            row = await handover_rows.find_by_request_key(session, request_key)
            return handover_record(row) if row else None

    async def get(self, handover_id: int) -> HandoverRecord | None:
        async with self._db.lookup() as session:
            row = await handover_rows.get(session, handover_id)
            return handover_record(row) if row else None

    async def of_incident(self, incident_id: int) -> list[HandoverRecord]:
        async with self._db.lookup() as session:
            return [handover_record(row) for row in await handover_rows.for_incident(session, incident_id)]

    async def record_step(self, handover_id: int, **fields: object) -> None:
        """A Slack step of the handover, recorded as soon as Slack confirmed it."""
        async with self._db.single_statements() as session:
            await handover_rows.record_fields(session, handover_id, **fields)
