"""The slots of Slack's rate limits, shared by every process on the database.

A bucket's slots are its calls per window. Taking one is a single conditional UPDATE (the slot's
window has passed), so two processes never take the same slot, and a quiet bot pays one short
statement per call. Rows are made on a bucket's first call.
"""

from __future__ import annotations

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_with_on_conflict
from storage.models import SlackCallSlot


async def take(session: AsyncSession, bucket: str, *, slots: int, now: float, busy_until: float) -> float | None:
    """Take a free slot of ``bucket`` and mark it busy until ``busy_until``: None when taken, else
    the Unix time the next slot frees (after which the caller tries again)."""
    for _ in range(2):
        free = select(SlackCallSlot.slot).where(SlackCallSlot.bucket == bucket, SlackCallSlot.free_at <= now)
        free = free.order_by(SlackCallSlot.free_at).limit(1)
        if session.get_bind().dialect.name == "postgresql":
            free = free.with_for_update(skip_locked=True)  # concurrent takers each find a different slot
        taken = await session.execute(
            update(SlackCallSlot)
            .where(SlackCallSlot.bucket == bucket, SlackCallSlot.slot == free.scalar_subquery(), SlackCallSlot.free_at <= now)
            .values(free_at=busy_until)
            .returning(SlackCallSlot.slot)
            .execution_options(synchronize_session=False)
        )
        if taken.first() is not None:
            return None
        next_free, count = (
            await session.execute(select(func.min(SlackCallSlot.free_at), func.count()).where(SlackCallSlot.bucket == bucket))
        ).one()
        if count:
            return float(next_free) if next_free > now else now  # freed meanwhile: try again at once
        insert = insert_with_on_conflict(session)
        await session.execute(
            insert(SlackCallSlot)
            .values([{"bucket": bucket, "slot": n, "free_at": 0.0} for n in range(slots)])
            .on_conflict_do_nothing(index_elements=["bucket", "slot"])
        )
    return now


async def hold_back(session: AsyncSession, bucket: str, *, until: float) -> None:
    """Slack answered 429 with a Retry-After: no slot of the bucket frees before ``until``."""
    await session.execute(
        update(SlackCallSlot)
        .where(SlackCallSlot.bucket == bucket)
        .values(free_at=case((SlackCallSlot.free_at < until, until), else_=SlackCallSlot.free_at))
        .execution_options(synchronize_session=False)
    )
