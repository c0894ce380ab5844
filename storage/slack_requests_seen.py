"""Signed Slack requests already taken: the row a replayed copy runs into."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_with_on_conflict, rows_changed
from storage.models import SlackRequestSeen


async def record_if_new(session: AsyncSession, signature: str, slack_timestamp: int) -> bool:
    """True for the first copy of a request; False when a copy with this signature was taken."""
    insert = insert_with_on_conflict(session)
    inserted = await session.execute(
        insert(SlackRequestSeen)
        .values(signature=signature, slack_timestamp=slack_timestamp)
        .on_conflict_do_nothing(index_elements=["signature"])
    )
    return rows_changed(inserted) == 1


async def forget(session: AsyncSession, signature: str) -> None:
    await session.execute(delete(SlackRequestSeen).where(SlackRequestSeen.signature == signature))


async def forget_older_than(session: AsyncSession, slack_timestamp: int) -> int:
    result = await session.execute(delete(SlackRequestSeen).where(SlackRequestSeen.slack_timestamp < slack_timestamp))
    return rows_changed(result) or 0
