"""Incident timers: the incidents worth looking at, and claims on each firing (one row per
incident, kind and slot, inserted once however many processes try)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, not_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_with_on_conflict, rows_changed
from storage.models import Incident, TimelineEvent, TimerFiring

# A firing's Slack steps and its retries are rows of their own beside the firing: kind
# "<kind>:step" with slot "<slot>><step>" once Slack confirmed the step, kind "<kind>:attempt"
# with slot "<slot>><n>" for its n-th retry (the unique key makes one process take each).
_STEP = ":step"
_ATTEMPT = ":attempt"


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
    """The incident's firings, without the rows that record their steps and retries."""
    return list(
        await session.scalars(select(TimerFiring).where(TimerFiring.incident_id == incident_id, _is_firing()).order_by(TimerFiring.id))
    )


def _is_firing() -> ColumnElement[bool]:
    return not_(or_(TimerFiring.kind.endswith(_STEP), TimerFiring.kind.endswith(_ATTEMPT)))


async def steps_done(session: AsyncSession, incident_id: int, kind: str, slot: str) -> set[str]:
    prefix = f"{slot}>"
    slots = await session.scalars(select(TimerFiring.slot).where(TimerFiring.incident_id == incident_id, TimerFiring.kind == kind + _STEP))
    return {s.removeprefix(prefix) for s in slots if s.startswith(prefix)}


async def record_step(session: AsyncSession, incident_id: int, kind: str, slot: str, step: str, *, by: str, at: datetime) -> None:
    """Slack confirmed this step of the firing: a retry leaves it alone."""
    insert = insert_with_on_conflict(session)
    await session.execute(
        insert(TimerFiring)
        .values(incident_id=incident_id, kind=kind + _STEP, slot=f"{slot}>{step}"[:64], status="notified", claimed_by=by, claimed_at=at)
        .on_conflict_do_nothing(index_elements=["incident_id", "kind", "slot"])
    )


async def failed_firings(session: AsyncSession, *, failed_before: datetime) -> list[TimerFiring]:
    return list(
        await session.scalars(
            select(TimerFiring)
            .where(TimerFiring.status == "failed", TimerFiring.claimed_at < failed_before, _is_firing())
            .order_by(TimerFiring.id)
        )
    )


async def claim_retry(
    session: AsyncSession,
    incident_id: int,
    kind: str,
    slot: str,
    *,
    by: str,
    at: datetime,
    failed_before: datetime,
    max_attempts: int,
) -> bool:
    """Take a failed firing back for one more attempt; one process wins, and at most
    ``max_attempts`` attempts are made in all."""
    retries = (
        await session.execute(
            select(func.count())
            .select_from(TimerFiring)
            .where(TimerFiring.incident_id == incident_id, TimerFiring.kind == kind + _ATTEMPT, TimerFiring.slot.startswith(f"{slot}>"))
        )
    ).scalar_one()
    if retries + 1 >= max_attempts:
        return False
    taken = await session.execute(
        update(TimerFiring)
        .where(
            TimerFiring.incident_id == incident_id,
            TimerFiring.kind == kind,
            TimerFiring.slot == slot,
            TimerFiring.status == "failed",
            TimerFiring.claimed_at < failed_before,
        )
        .values(status="fired", claimed_by=by, claimed_at=at, error=None)
    )
    if rows_changed(taken) != 1:
        return False
    session.add(
        TimerFiring(
            incident_id=incident_id, kind=kind + _ATTEMPT, slot=f"{slot}>{retries + 2}"[:64], status="fired", claimed_by=by, claimed_at=at
        )
    )
    return True
