"""Claims on an incident's Slack steps. The unique (incident, step) row decides which process does
a step; an UPDATE conditional on the claim's age takes over one whose process died."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Executable, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_for_dialect, insert_with_on_conflict, rows_changed
from storage.models import SlackStepClaim


async def claim(
    session: AsyncSession,
    incident_id: int,
    step: str,
    *,
    token: str,
    by: str,
    at: datetime,
    stale_before: datetime,
    holder_is_dead: Callable[[str, str], bool] = lambda _holder, _token: False,
) -> bool:
    """True when this caller now holds the step: no one had it, the holder's lease ran out, or
    ``holder_is_dead`` knows the holder (by its ``claimed_by`` and the claim's token) is gone."""
    # ON CONFLICT DO NOTHING rather than a savepoint around a plain INSERT: one statement, so the
    # claim needs no transaction of its own (see Database.single_statements).
    insert = insert_with_on_conflict(session)
    inserted = await session.execute(
        insert(SlackStepClaim)
        .values(incident_id=incident_id, step=step, token=token, claimed_by=by, claimed_at=at)
        .on_conflict_do_nothing(index_elements=["incident_id", "step"])
    )
    if rows_changed(inserted) == 1:
        return True
    held = (
        await session.execute(
            select(SlackStepClaim.token, SlackStepClaim.claimed_by, SlackStepClaim.claimed_at).where(
                SlackStepClaim.incident_id == incident_id, SlackStepClaim.step == step
            )
        )
    ).one_or_none()
    if held is None:
        return False  # released meanwhile; the caller may try again
    if not (held.claimed_at < stale_before or holder_is_dead(held.claimed_by, held.token)):
        return False
    # Conditional on the token read above: of two processes taking over a dead claim, one wins.
    result = await session.execute(
        update(SlackStepClaim)
        .where(SlackStepClaim.incident_id == incident_id, SlackStepClaim.step == step, SlackStepClaim.token == held.token)
        .values(token=token, claimed_by=by, claimed_at=at)
    )
    return rows_changed(result) == 1


@functools.cache
def claim_unheld_statement(dialect: str) -> Executable:
    """``claim_if_unheld`` built once per dialect, executed with a claim's values (incident_id, step,
    token, claimed_by, claimed_at): a verifying click runs it before its ack."""
    return insert_for_dialect(dialect)(SlackStepClaim).on_conflict_do_nothing(index_elements=["incident_id", "step"])


def claim_if_unheld(dialect: str, incident_id: int, step: str, *, token: str, by: str, at: datetime) -> Executable:
    """The INSERT that claims a step nobody holds, and does nothing when someone does (or did and
    died: ``claim`` takes that over). One row changed: claimed. For the ORM and for Core."""
    insert = insert_for_dialect(dialect)
    claim = {"incident_id": incident_id, "step": step, "token": token, "claimed_by": by, "claimed_at": at}
    return insert(SlackStepClaim).values(claim).on_conflict_do_nothing(index_elements=["incident_id", "step"])


async def release(session: AsyncSession, incident_id: int, step: str, *, token: str) -> None:
    """Give the step back (done or failed); a claim taken over meanwhile is not ours to delete."""
    await session.execute(
        delete(SlackStepClaim).where(SlackStepClaim.incident_id == incident_id, SlackStepClaim.step == step, SlackStepClaim.token == token)
    )


async def renew(session: AsyncSession, incident_id: int, step: str, *, token: str, at: datetime) -> bool:
    """The holder's heartbeat: False when the claim is no longer this token's (taken over)."""
    result = await session.execute(
        update(SlackStepClaim)
        .where(SlackStepClaim.incident_id == incident_id, SlackStepClaim.step == step, SlackStepClaim.token == token)
        .values(claimed_at=at)
    )
    return rows_changed(result) == 1
