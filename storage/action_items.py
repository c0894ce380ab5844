"""Follow-up action items. The overdue reminder is claimed with one conditional UPDATE, so one
process reminds once a week however many run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import rows_changed
from storage.models import ActionItem, Incident


async def insert(session: AsyncSession, item: ActionItem) -> ActionItem:
    session.add(item)
    await session.flush()
    return item


async def get(session: AsyncSession, item_id: int) -> ActionItem | None:
    return await session.scalar(select(ActionItem).where(ActionItem.id == item_id))


async def for_incident(session: AsyncSession, incident_id: int) -> list[ActionItem]:
    return list(await session.scalars(select(ActionItem).where(ActionItem.incident_id == incident_id).order_by(ActionItem.id)))


def listing_query(
    *,
    owner: str | None = None,
    incident_id: int | None = None,
    open_only: bool = True,
    due_before: date | None = None,
    services: Sequence[str] | None = None,
) -> Select[ActionItem, Incident]:
    """Action items with their incidents, soonest due first (``listing``, and read with an
    incident's other facts: storage/resolution_reads.py)."""
    query = select(ActionItem, Incident).join(Incident, Incident.id == ActionItem.incident_id)
    if open_only:
        query = query.where(ActionItem.status == "open")
    if owner is not None:
        query = query.where(ActionItem.owner == owner)
    if incident_id is not None:
        query = query.where(ActionItem.incident_id == incident_id)
    if due_before is not None:
        query = query.where(ActionItem.due_date < due_before)
    if services:
        query = query.where(Incident.service.in_(list(services)))
    return query.order_by(ActionItem.due_date.is_(None), ActionItem.due_date, ActionItem.id)


async def listing(
    session: AsyncSession,
    *,
    owner: str | None = None,
    incident_id: int | None = None,
    open_only: bool = True,
    due_before: date | None = None,
    services: Sequence[str] | None = None,
) -> list[tuple[ActionItem, Incident]]:
    query = listing_query(owner=owner, incident_id=incident_id, open_only=open_only, due_before=due_before, services=services)
    return [(row[0], row[1]) for row in await session.execute(query)]


async def mark_done(session: AsyncSession, item_id: int, *, by: str, at: datetime) -> bool:
    """True when this call closed the item (a second click finds it done)."""
    result = await session.execute(
        update(ActionItem).where(ActionItem.id == item_id, ActionItem.status == "open").values(status="done", done_by=by, done_at=at)
    )
    return rows_changed(result) == 1


async def record_dm(session: AsyncSession, item_id: int, *, channel: str, ts: str) -> None:
    await session.execute(update(ActionItem).where(ActionItem.id == item_id).values(dm_channel=channel, dm_ts=ts))


async def overdue_candidates(session: AsyncSession, *, today: date, reminded_before: datetime) -> list[int]:
    result = await session.scalars(
        select(ActionItem.id)
        .where(
            ActionItem.status == "open",
            ActionItem.owner.is_not(None),
            ActionItem.due_date < today,
            or_(ActionItem.last_reminded_at.is_(None), ActionItem.last_reminded_at <= reminded_before),
        )
        .order_by(ActionItem.id)
    )
    return list(result)


async def claim_reminder(session: AsyncSession, item_id: int, *, at: datetime, reminded_before: datetime) -> bool:
    """One winner per item and week: the UPDATE only matches while the last reminder is old enough."""
    result = await session.execute(
        update(ActionItem)
        .where(
            ActionItem.id == item_id,
            ActionItem.status == "open",
            or_(ActionItem.last_reminded_at.is_(None), ActionItem.last_reminded_at <= reminded_before),
        )
        .values(last_reminded_at=at)
    )
    return rows_changed(result) == 1


async def release_reminder(session: AsyncSession, item_id: int, *, claimed_at: datetime, previous: datetime | None) -> None:
    """A reminder that could not be sent gives its claim back, so the next tick tries again."""
    await session.execute(
        update(ActionItem).where(ActionItem.id == item_id, ActionItem.last_reminded_at == claimed_at).values(last_reminded_at=previous)
    )
