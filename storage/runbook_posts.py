"""Runbooks posted in war rooms, and which of their first steps are ticked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import RunbookPost


async def find(session: AsyncSession, incident_id: int, runbook: str) -> RunbookPost | None:
    return await session.scalar(select(RunbookPost).where(RunbookPost.incident_id == incident_id, RunbookPost.runbook == runbook))


async def get(session: AsyncSession, post_id: int, *, for_update: bool = False) -> RunbookPost | None:
    query = select(RunbookPost).where(RunbookPost.id == post_id)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def for_incident(session: AsyncSession, incident_id: int) -> list[RunbookPost]:
    return list(await session.scalars(select(RunbookPost).where(RunbookPost.incident_id == incident_id).order_by(RunbookPost.id)))


async def claim(session: AsyncSession, incident_id: int, runbook: str, *, by: str | None, at: datetime) -> RunbookPost:
    """The incident's post of this runbook, created on first use (one per incident and runbook)."""
    existing = await find(session, incident_id, runbook)
    if existing is not None:
        return existing
    post = RunbookPost(incident_id=incident_id, runbook=runbook, checked=[], attached_by=by, attached_at=at)
    session.add(post)
    await session.flush()
    return post


async def set_message(session: AsyncSession, post_id: int, channel_id: str, ts: str) -> None:
    await session.execute(update(RunbookPost).where(RunbookPost.id == post_id).values(channel_id=channel_id, message_ts=ts))


async def set_checked(session: AsyncSession, post_id: int, checked: list[int]) -> None:
    await session.execute(update(RunbookPost).where(RunbookPost.id == post_id).values(checked=sorted(checked)))
