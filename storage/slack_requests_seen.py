"""Signed Slack requests already taken: the row a replayed copy runs into."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Statements, insert_for_dialect, rows_changed
from storage.models import SlackRequestSeen


def record_if_new(work: Statements, signature: str, slack_timestamp: int) -> bool:
    """True for the first copy of a request; False when a copy with this signature was taken.
    Core, in ``Database.run_statements``: every Slack request's work waits for it."""
    insert = insert_for_dialect(work.dialect.name)
    inserted = work.execute(
        insert(SlackRequestSeen)
        .values(signature=signature, slack_timestamp=slack_timestamp)
        .on_conflict_do_nothing(index_elements=["signature"])
    )
    return inserted.rowcount == 1


async def forget(session: AsyncSession, signature: str) -> None:
    await session.execute(delete(SlackRequestSeen).where(SlackRequestSeen.signature == signature))


async def forget_older_than(session: AsyncSession, slack_timestamp: int) -> int:
    result = await session.execute(delete(SlackRequestSeen).where(SlackRequestSeen.slack_timestamp < slack_timestamp))
    return rows_changed(result) or 0
