"""Claims on weekly digests. The database decides which process posts: the unique (channel, week)
row for a first attempt, a conditional UPDATE for a retry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import rows_changed
from storage.models import DigestRun


async def get(session: AsyncSession, channel: str, week: str) -> DigestRun | None:
    return await session.scalar(select(DigestRun).where(DigestRun.channel == channel, DigestRun.week == week))


async def claim_first(session: AsyncSession, channel: str, week: str, *, by: str, at: datetime) -> bool:
    """Insert the run; False when another process (or an earlier run) already has it."""
    try:
        async with session.begin_nested():
            session.add(DigestRun(channel=channel, week=week, status="posting", attempts=1, claimed_by=by, claimed_at=at))
    except IntegrityError:
        return False
    return True


async def claim_retry(
    session: AsyncSession, channel: str, week: str, *, by: str, at: datetime, failed_before: datetime, max_attempts: int
) -> bool:
    """Take over a failed run whose last attempt is old enough; one process wins."""
    result = await session.execute(
        update(DigestRun)
        .where(
            DigestRun.channel == channel,
            DigestRun.week == week,
            DigestRun.status == "failed",
            DigestRun.attempts < max_attempts,
            DigestRun.finished_at < failed_before,
        )
        .values(status="posting", attempts=DigestRun.attempts + 1, claimed_by=by, claimed_at=at, error=None)
    )
    return rows_changed(result) == 1


async def record_message(session: AsyncSession, channel: str, week: str, message_ts: str) -> None:
    """The digest's message is in Slack: a retry of this run posts only what follows it."""
    await session.execute(update(DigestRun).where(DigestRun.channel == channel, DigestRun.week == week).values(message_ts=message_ts))


async def finish(
    session: AsyncSession,
    channel: str,
    week: str,
    *,
    status: str,
    at: datetime,
    message_ts: str | None = None,
    error: str | None = None,
) -> None:
    """Close the attempt. A message_ts recorded earlier in the run is kept when none is given."""
    values: dict[str, object] = {"status": status, "finished_at": at, "error": error}
    if message_ts is not None:
        values["message_ts"] = message_ts
    await session.execute(update(DigestRun).where(DigestRun.channel == channel, DigestRun.week == week).values(**values))
