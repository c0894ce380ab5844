"""Signed Slack requests already taken: the row a replayed copy runs into."""

from __future__ import annotations

import functools

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from storage.db import Statements, insert_for_dialect, rows_changed
from storage.models import SlackRequestSeen


@functools.cache
def _record_if_new(dialect: str) -> Insert:
    """Built once per dialect, executed with each request's values (every Slack request runs it)."""
    return insert_for_dialect(dialect)(SlackRequestSeen).on_conflict_do_nothing(index_elements=["signature"])


def record_if_new(work: Statements, signature: str, slack_timestamp: int) -> bool:
    """True for the first copy of a request; False when a copy with this signature was taken.
    Core, in ``Database.run_statements`` or in the transaction of the write the request's ack
    waits for: every Slack request's work waits for it."""
    inserted = work.execute(_record_if_new(work.dialect.name), {"signature": signature, "slack_timestamp": slack_timestamp})
    return inserted.rowcount == 1


async def forget(session: AsyncSession, signature: str) -> None:
    await session.execute(delete(SlackRequestSeen).where(SlackRequestSeen.signature == signature))


async def forget_older_than(session: AsyncSession, slack_timestamp: int) -> int:
    result = await session.execute(delete(SlackRequestSeen).where(SlackRequestSeen.slack_timestamp < slack_timestamp))
    return rows_changed(result) or 0
