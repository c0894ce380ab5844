"""Alert groups: which incident takes the alerts of a group key. The unique ``active_key`` decides
a race between deliveries, never a read made before the write."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AlertGroup


def active_key(source: str, dedup_key: str) -> str:
    return hashlib.sha256(f"{source}\n{dedup_key}".encode()).hexdigest()


async def claim(session: AsyncSession, source: str, dedup_key: str, *, at: datetime) -> AlertGroup | None:
    """Insert the group as active; None when an open incident already holds the key (the caller
    then adds the alert to that incident). Runs in a savepoint so the caller's transaction goes on."""
    group = AlertGroup(
        active_key=active_key(source, dedup_key),
        source=source,
        dedup_key=dedup_key,
        alerts_seen=1,
        first_seen_at=at,
        last_seen_at=at,
    )
    try:
        async with session.begin_nested():
            session.add(group)
    except IntegrityError:
        return None
    return group


async def active(session: AsyncSession, source: str, dedup_key: str) -> AlertGroup | None:
    return await session.scalar(select(AlertGroup).where(AlertGroup.active_key == active_key(source, dedup_key)))


async def seen_again(session: AsyncSession, group_id: int, *, at: datetime) -> None:
    await session.execute(
        update(AlertGroup).where(AlertGroup.id == group_id).values(alerts_seen=AlertGroup.alerts_seen + 1, last_seen_at=at)
    )


async def release(session: AsyncSession, incident_id: int) -> None:
    """The incident is closed: the next alert of its groups opens a new one."""
    await session.execute(update(AlertGroup).where(AlertGroup.incident_id == incident_id).values(active_key=None))
