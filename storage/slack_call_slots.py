"""The slots of Slack's rate limits, shared by every process on the database.

A bucket's slots are its calls per window. Taking one is a single conditional UPDATE (the slot's
window has passed), so two processes never take the same slot, and a quiet bot pays one short
statement per call. Rows are made on a bucket's first call; a bucket idle for an hour is
forgotten then (every war room's channel has a bucket for its posts), and made again, all free,
if it is called again: the same as slots free since long ago.
"""

from __future__ import annotations

from sqlalchemy import case, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_with_on_conflict
from storage.models import SlackCallSlot, SlackCallWaiting

IDLE_BUCKET_SECONDS = 3600.0


async def take(
    session: AsyncSession,
    bucket: str,
    *,
    slots: int,
    now: float,
    busy_until: float,
    process: str,
    urgency: int,
    waiting_since: float,
) -> tuple[int | None, float]:
    """Take a free slot of ``bucket`` for a call this ``urgent`` and mark it busy until
    ``busy_until``: (the slot, now) when taken, else (None, the Unix time to try again). No slot
    is taken while another process has a more urgent call waiting (seen since ``waiting_since``)."""
    more_urgent_elsewhere = exists().where(
        SlackCallWaiting.bucket == bucket,
        SlackCallWaiting.process != process,
        SlackCallWaiting.urgency < urgency,
        SlackCallWaiting.seen_at >= waiting_since,
    )
    for _ in range(2):
        free = select(SlackCallSlot.slot).where(SlackCallSlot.bucket == bucket, SlackCallSlot.free_at <= now)
        free = free.order_by(SlackCallSlot.free_at).limit(1)
        if session.get_bind().dialect.name == "postgresql":
            free = free.with_for_update(skip_locked=True)  # concurrent takers each find a different slot
        taken = await session.execute(
            update(SlackCallSlot)
            .where(
                SlackCallSlot.bucket == bucket,
                SlackCallSlot.slot == free.scalar_subquery(),
                SlackCallSlot.free_at <= now,
                ~more_urgent_elsewhere,
            )
            .values(free_at=busy_until)
            .returning(SlackCallSlot.slot)
            .execution_options(synchronize_session=False)
        )
        slot = taken.scalar_one_or_none()
        if slot is not None:
            return slot, now
        next_free, count = (
            await session.execute(select(func.min(SlackCallSlot.free_at), func.count()).where(SlackCallSlot.bucket == bucket))
        ).one()
        if count >= slots:
            return None, float(next_free) if next_free > now else now  # free, but for a more urgent call, or taken meanwhile
        if not count:
            await forget_idle(session, now=now)
        insert = insert_with_on_conflict(session)
        await session.execute(
            insert(SlackCallSlot)
            .values([{"bucket": bucket, "slot": n, "free_at": 0.0} for n in range(slots)])
            .on_conflict_do_nothing(index_elements=["bucket", "slot"])
        )
    return None, now


async def forget_idle(session: AsyncSession, *, now: float) -> None:
    """Forget the buckets no call has used for an hour, and the waiting of processes long gone.
    A slot a concurrent call takes meanwhile is kept (its ``free_at`` is no longer old), and the
    bucket's missing slots are made again on its next call (``take``)."""
    before = now - IDLE_BUCKET_SECONDS
    idle = select(SlackCallSlot.bucket).group_by(SlackCallSlot.bucket).having(func.max(SlackCallSlot.free_at) < before)
    await session.execute(
        delete(SlackCallSlot)
        .where(SlackCallSlot.bucket.in_(idle.scalar_subquery()), SlackCallSlot.free_at < before)
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(SlackCallWaiting).where(SlackCallWaiting.seen_at < before).execution_options(synchronize_session=False))


async def free_after_call(session: AsyncSession, bucket: str, slot: int, *, held_until: float, until: float) -> None:
    """A slot held while its call was in flight frees a window after the call ended, unless a 429
    held it back meanwhile (its ``free_at`` is then no longer the one set when it was taken)."""
    await session.execute(
        update(SlackCallSlot)
        .where(SlackCallSlot.bucket == bucket, SlackCallSlot.slot == slot, SlackCallSlot.free_at == held_until)
        .values(free_at=until)
        .execution_options(synchronize_session=False)
    )


async def hold_back(session: AsyncSession, bucket: str, *, until: float) -> None:
    """Slack answered 429 with a Retry-After: no slot of the bucket frees before ``until``."""
    await session.execute(
        update(SlackCallSlot)
        .where(SlackCallSlot.bucket == bucket)
        .values(free_at=case((SlackCallSlot.free_at < until, until), else_=SlackCallSlot.free_at))
        .execution_options(synchronize_session=False)
    )


async def wait(session: AsyncSession, bucket: str, *, process: str, urgency: int, now: float) -> None:
    """This process has calls waiting for the bucket, the most urgent this urgent (renewed while it waits)."""
    insert = insert_with_on_conflict(session)
    statement = insert(SlackCallWaiting).values(bucket=bucket, process=process, urgency=urgency, seen_at=now)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["bucket", "process"], set_={"urgency": statement.excluded.urgency, "seen_at": statement.excluded.seen_at}
        )
    )


async def stop_waiting(session: AsyncSession, bucket: str, *, process: str) -> None:
    await session.execute(delete(SlackCallWaiting).where(SlackCallWaiting.bucket == bucket, SlackCallWaiting.process == process))
