"""Claims on an incident's Slack steps. The unique (incident, step) row decides which process does
a step; an UPDATE conditional on the claim's age takes over one whose process died."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SlackStepClaim


async def claim(
    session: AsyncSession, incident_id: int, step: str, *, token: str, by: str, at: datetime, stale_before: datetime
) -> bool:
    """True when this caller now holds the step: no one had it, or the holder's lease ran out."""
    try:
        async with session.begin_nested():
            session.add(SlackStepClaim(incident_id=incident_id, step=step, token=token, claimed_by=by, claimed_at=at))
    except IntegrityError:
        result = await session.execute(
            update(SlackStepClaim)
            .where(
                SlackStepClaim.incident_id == incident_id,
                SlackStepClaim.step == step,
                SlackStepClaim.claimed_at < stale_before,
            )
            .values(token=token, claimed_by=by, claimed_at=at)
        )
        return result.rowcount == 1
    return True


async def release(session: AsyncSession, incident_id: int, step: str, *, token: str) -> None:
    """Give the step back (done or failed); a claim taken over meanwhile is not ours to delete."""
    await session.execute(
        delete(SlackStepClaim).where(
            SlackStepClaim.incident_id == incident_id, SlackStepClaim.step == step, SlackStepClaim.token == token
        )
    )
