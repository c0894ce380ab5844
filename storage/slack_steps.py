"""Claims on an incident's Slack steps. The unique (incident, step) row decides which process does
a step; an UPDATE conditional on the claim's age takes over one whose process died."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_for_dialect, rows_changed
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
    unheld = claim_unheld_statement(session.get_bind().dialect.name)
    if rows_changed(await session.execute(unheld.values(claim_row(incident_id, step, token=token, by=by, at=at)))) == 1:
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


def claim_row(incident_id: int, step: str, *, token: str, by: str, at: datetime) -> dict[str, object]:
    """A claim's column values, for the statements below and for Core (storage.openings)."""
    return {"incident_id": incident_id, "step": step, "token": token, "claimed_by": by, "claimed_at": at}


@functools.cache
def claim_unheld_statement(dialect: str) -> PostgresqlInsert | SqliteInsert:
    """The INSERT that claims a step nobody holds, and does nothing when someone does (or did and
    died: ``claim`` takes that over); one row changed: claimed. Built once per dialect and run with
    a ``claim_row`` by Core (a verifying click runs it before its ack), given its ``values`` by the
    ORM (whose bulk INSERT, which parameters would choose, counts no rows)."""
    return insert_for_dialect(dialect)(SlackStepClaim).on_conflict_do_nothing(index_elements=["incident_id", "step"])


async def release(session: AsyncSession, incident_id: int, tokens: Iterable[str]) -> None:
    """Give the steps back (done or failed), by their claims' tokens, in one statement; a claim
    taken over meanwhile has another token, and is not ours to delete."""
    await session.execute(delete(SlackStepClaim).where(SlackStepClaim.incident_id == incident_id, SlackStepClaim.token.in_(list(tokens))))


async def renew(session: AsyncSession, incident_id: int, tokens: Iterable[str], *, at: datetime) -> None:
    """The holder's heartbeat for its claims, by their tokens, in one statement; a claim taken over
    meanwhile has another token, and is not renewed."""
    await session.execute(
        update(SlackStepClaim)
        .where(SlackStepClaim.incident_id == incident_id, SlackStepClaim.token.in_(list(tokens)))
        .values(claimed_at=at)
    )
