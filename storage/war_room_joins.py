"""War-room joins and what the catch-up reads: the open questions of an incident's timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_with_on_conflict, rows_changed
from storage.models import Incident, TimelineEvent, WarRoomJoin

# Timeline kinds: a question asked with ``/incident question`` and an answer. A note whose text
# ends with "?" is a question too.
QUESTION = "question"
ANSWER = "answer"
NOTE = "note"


def is_question(event: TimelineEvent) -> bool:
    return event.kind == QUESTION or (event.kind == NOTE and event.text.rstrip().endswith("?"))


async def record_join(
    session: AsyncSession, incident_id: int, user: str, *, at: datetime, event_id: str, inviter: str | None, counts: bool
) -> bool:
    """Record one join event; False when this event was recorded already (a redelivery). A join
    that ``counts`` moves the incident's ``assembled_at`` to it when it is the earliest such join."""
    insert = insert_with_on_conflict(session)
    statement = (
        insert(WarRoomJoin)
        .values(incident_id=incident_id, user_id=user, joined_at=at, event_id=event_id, inviter=inviter, counts=counts)
        .on_conflict_do_nothing()
    )
    if rows_changed(await session.execute(statement)) != 1:
        return False
    if counts:
        # Conditional: concurrent joins keep the earliest, whichever commits last.
        await session.execute(
            update(Incident)
            .where(Incident.id == incident_id, or_(Incident.assembled_at.is_(None), Incident.assembled_at > at))
            .values(assembled_at=at)
        )
    return True


async def joins(session: AsyncSession, incident_id: int) -> list[WarRoomJoin]:
    return list(await session.scalars(select(WarRoomJoin).where(WarRoomJoin.incident_id == incident_id).order_by(WarRoomJoin.id)))


@dataclass(frozen=True)
class Question:
    number: int  # 1, 2, …: the incident's questions in the order they were asked
    event: TimelineEvent
    answer: TimelineEvent | None


async def questions(session: AsyncSession, incident_id: int) -> list[Question]:
    """Every question of the incident, numbered in the order asked, each with its first answer."""
    events = await session.scalars(
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident_id, TimelineEvent.kind.in_((QUESTION, NOTE, ANSWER)))
        .order_by(TimelineEvent.id)
    )
    asked: list[TimelineEvent] = []
    answers: dict[int, TimelineEvent] = {}
    for event in events:
        if is_question(event):
            asked.append(event)
        elif isinstance(event.data.get("question"), int):
            answers.setdefault(event.data["question"], event)
    return [Question(number, event, answers.get(number)) for number, event in enumerate(asked, start=1)]


async def recent_events(session: AsyncSession, incident_id: int, limit: int) -> list[TimelineEvent]:
    """The incident's last ``limit`` timeline events, oldest first."""
    newest = await session.scalars(
        select(TimelineEvent).where(TimelineEvent.incident_id == incident_id).order_by(TimelineEvent.id.desc()).limit(limit)
    )
    return list(reversed(list(newest)))
