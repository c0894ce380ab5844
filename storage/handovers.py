"""Handovers of command and the Slack steps each one made. Callers own the transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Handover


async def find_by_request_key(session: AsyncSession, request_key: str) -> Handover | None:
    return await session.scalar(select(Handover).where(Handover.request_key == request_key))


async def get(session: AsyncSession, handover_id: int, *, for_update: bool = False) -> Handover | None:
    query = select(Handover).where(Handover.id == handover_id)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def for_incident(session: AsyncSession, incident_id: int) -> list[Handover]:
    return list(await session.scalars(select(Handover).where(Handover.incident_id == incident_id).order_by(Handover.id)))


async def insert(session: AsyncSession, handover: Handover) -> Handover:
    session.add(handover)
    await session.flush()
    return handover


async def record_fields(session: AsyncSession, handover_id: int, **fields: Any) -> None:
    await session.execute(update(Handover).where(Handover.id == handover_id).values(**fields))
