"""Incident timers: the incidents worth looking at, and claims on each firing (one row per
incident, kind and slot, inserted once however many processes try)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Incident, TimelineEvent, TimerFiring


async def watched(session: AsyncSession) -> list[tuple[Incident, datetime]]:
    """Open incidents with a war room, and verified ones not closed yet (imported ones never),
    each with the time of its last timeline event."""
    incidents = list(
        await session.scalars(
            select(Incident)
            .where(
                Incident.imported_from.is_(None),
                or_(
                    and_(Incident.status == "open", Incident.channel_id.is_not(None)),
                    and_(Incident.status == "resolved", Incident.closed_at.is_(None)),
                ),
            )
            .order_by(Incident.id)
        )
    )
    if not incidents:
        return []
    # Only the watched incidents' events (the index on incident_id), not the whole history.
    last = dict(
        (
            await session.execute(
                select(TimelineEvent.incident_id, func.max(TimelineEvent.occurred_at))
                .where(TimelineEvent.incident_id.in_([i.id for i in incidents]))
                .group_by(TimelineEvent.incident_id)
            )
        ).all()
    )
    return [(row, last[row.id]) for row in incidents if row.id in last]


async def last_activity(session: AsyncSession, incident_id: int) -> datetime | None:
    return await session.scalar(select(func.max(TimelineEvent.occurred_at)).where(TimelineEvent.incident_id == incident_id))


async def claim(session: AsyncSession, incident_id: int, kind: str, slot: str, *, by: str, at: datetime) -> bool:
    try:
        async with session.begin_nested():
            session.add(TimerFiring(incident_id=incident_id, kind=kind, slot=slot, status="fired", claimed_by=by, claimed_at=at))
    except IntegrityError:
        return False
    return True


async def finish(session: AsyncSession, incident_id: int, kind: str, slot: str, *, status: str, error: str | None = None) -> None:
    await session.execute(
        update(TimerFiring)
        .where(TimerFiring.incident_id == incident_id, TimerFiring.kind == kind, TimerFiring.slot == slot)
        .values(status=status, error=error)
    )


async def firings(session: AsyncSession, incident_id: int) -> list[TimerFiring]:
    return list(await session.scalars(select(TimerFiring).where(TimerFiring.incident_id == incident_id).order_by(TimerFiring.id)))
