"""Queries on incidents and their timeline. Callers own the transaction (see Database.transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict, Unpack, cast

from sqlalchemy import Row, Select, Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Statements, rows_changed
from storage.models import Incident, Postmortem, TimelineEvent

_POSTMORTEMS = cast(Table, Postmortem.__table__)


async def get(session: AsyncSession, incident_id: int, *, for_update: bool = False) -> Incident | None:
    query = select(Incident).where(Incident.id == incident_id)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def find_by_channel(session: AsyncSession, channel_id: str) -> Incident | None:
    return await session.scalar(select(Incident).where(Incident.channel_id == channel_id).order_by(Incident.id.desc()).limit(1))


async def insert(session: AsyncSession, incident: Incident) -> Incident:
    session.add(incident)
    await session.flush()
    return incident


class EventDetails(TypedDict, total=False):
    """What a timeline event may say besides its incident, kind and moment; every one optional."""

    actor: str | None
    text: str
    data: dict[str, Any] | None


def event_columns(incident_id: int, kind: str, at: datetime, details: EventDetails) -> dict[str, Any]:
    """A timeline event's row, with the defaults of what it leaves out: one mapping for the ORM
    ``add_event`` here and the Core one clicks run before their ack (storage/clicks.py)."""
    return {
        "incident_id": incident_id,
        "kind": kind,
        "occurred_at": at,
        "actor": details.get("actor"),
        "text": details.get("text", ""),
        "data": details.get("data") or {},
    }


async def add_event(session: AsyncSession, incident_id: int, kind: str, *, at: datetime, **details: Unpack[EventDetails]) -> TimelineEvent:
    event = TimelineEvent(**event_columns(incident_id, kind, at, details))
    session.add(event)
    await session.flush()
    return event


def timeline_query(incident_id: int) -> Select[TimelineEvent]:
    return select(TimelineEvent).where(TimelineEvent.incident_id == incident_id).order_by(TimelineEvent.id)


async def timeline(session: AsyncSession, incident_id: int) -> list[TimelineEvent]:
    return list(await session.scalars(timeline_query(incident_id)))


async def latest_event(session: AsyncSession, incident_id: int, kind: str) -> TimelineEvent | None:
    return await session.scalar(
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident_id, TimelineEvent.kind == kind)
        .order_by(TimelineEvent.id.desc())
        .limit(1)
    )


async def record_fields(session: AsyncSession, incident_id: int, *, at: datetime, **fields: Any) -> None:
    """Write war-room progress (channel id, message ts, ...) as soon as Slack confirms a step."""
    await session.execute(update(Incident).where(Incident.id == incident_id).values(updated_at=at, **fields))


async def set_if_empty(
    session: AsyncSession,
    incident_id: int,
    column: str,
    value: Any,
    *,
    at: datetime,
    also_empty: Sequence[str] = (),
    **also: Any,
) -> Incident | None:
    """Set ``column`` (and ``also``) only while ``column`` and every ``also_empty`` column are
    still empty; the row as the database now holds it if this call did it, else None.

    One conditional UPDATE is what makes two processes racing for the same stamp give exactly one
    winner on SQLite and PostgreSQL alike: the database decides, not an in-process lock. Its
    RETURNING hands back the row in the same round trip, where the database can (SQLite 3.35+).
    """
    empty = [getattr(Incident, name).is_(None) for name in (column, *also_empty)]
    statement = update(Incident).where(Incident.id == incident_id, *empty).values({column: value, "updated_at": at, **also})
    fresh = {"populate_existing": True}
    if session.get_bind().dialect.update_returning:
        return await session.scalar(statement.returning(Incident), execution_options=fresh)
    if rows_changed(await session.execute(statement)) != 1:
        return None
    return await session.scalar(select(Incident).where(Incident.id == incident_id), execution_options=fresh)


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count(Incident.id))) or 0)


async def postmortem(session: AsyncSession, incident_id: int) -> Postmortem | None:
    return await session.scalar(select(Postmortem).where(Postmortem.incident_id == incident_id))


def save_postmortem_once(work: Statements, incident_id: int, markdown: str, *, at: datetime) -> Row[Any]:
    """Store the first draft rendered for an incident; a later call gets that one back. In Core
    inside ``Database.run_transaction``: the upload waits for this commit."""
    stored = select(_POSTMORTEMS).where(_POSTMORTEMS.c.incident_id == incident_id)
    existing = work.execute(stored).one_or_none()
    if existing is not None:
        return existing
    work.execute(_POSTMORTEMS.insert().values(incident_id=incident_id, markdown=markdown, created_at=at))
    return work.execute(stored).one()


async def mark_postmortem_uploaded(session: AsyncSession, incident_id: int, file_id: str, *, at: datetime) -> None:
    await session.execute(update(Postmortem).where(Postmortem.incident_id == incident_id).values(file_id=file_id, uploaded_at=at))


async def replace_postmortem_markdown(session: AsyncSession, incident_id: int, markdown: str) -> None:
    """After a correction: the stored draft shows the corrected times and the correction."""
    await session.execute(update(Postmortem).where(Postmortem.incident_id == incident_id).values(markdown=markdown))


async def record_actions_message(session: AsyncSession, incident_id: int, ts: str) -> None:
    await session.execute(update(Postmortem).where(Postmortem.incident_id == incident_id).values(actions_message_ts=ts))
