"""Runs of runbook actions. The unique (incident, runbook, action, attempt) row decides which click,
retry or process sends a request; conditional UPDATEs on the claim's token and status move it
from ``claimed`` to ``sending`` to its answer, so a request is never sent by two holders, and never
sent again once it may have left."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Table, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Statements, insert_for_dialect, rows_changed
from storage.models import RunbookActionRun

_RUNS = cast(Table, RunbookActionRun.__table__)

CLAIMED, SENDING, SUCCEEDED, FAILED, UNKNOWN = "claimed", "sending", "succeeded", "failed", "unknown"
FINISHED = (SUCCEEDED, FAILED, UNKNOWN)


@dataclass(frozen=True)
class RunKey:
    incident_id: int
    runbook: str
    action: str
    attempt: int


@dataclass(frozen=True)
class RunFacts:
    """What a click is told of a run someone else claimed."""

    id: int
    attempt: int
    requested_by: str
    status: str
    reason: str | None


def facts(run: RunbookActionRun | Row[Any]) -> RunFacts:
    return RunFacts(run.id, run.attempt, run.requested_by, run.status, run.reason)


def _of(key: RunKey) -> ColumnElement[bool]:
    return and_(
        RunbookActionRun.incident_id == key.incident_id,
        RunbookActionRun.runbook == key.runbook,
        RunbookActionRun.action == key.action,
        RunbookActionRun.attempt == key.attempt,
    )


async def get(session: AsyncSession, key: RunKey) -> RunbookActionRun | None:
    return await session.scalar(select(RunbookActionRun).where(_of(key)))


async def by_id(session: AsyncSession, run_id: int) -> RunbookActionRun | None:
    return await session.scalar(select(RunbookActionRun).where(RunbookActionRun.id == run_id))


def claim_in(work: Statements, key: RunKey, *, by: str, token: str, at: datetime) -> tuple[bool, RunFacts | None]:
    """Claim a run, inside ``Database.run_transaction`` (the click's ack waits for it: SQLAlchemy
    Core, on SQLite one trip to a worker thread). Whether this caller now holds the run and must
    send it, and the run as it now stands. An attempt after the first is claimed only once the
    attempt before it has finished (a "Run again" is never a second copy of a run still in flight,
    and never skips a number): None then."""
    if key.attempt > 1:
        earlier = work.execute(select(_RUNS.c.status).where(_of(RunKey(key.incident_id, key.runbook, key.action, key.attempt - 1)))).first()
        if earlier is None or earlier.status not in FINISHED:
            return False, None
    insert = insert_for_dialect(work.dialect.name)
    values = {
        "incident_id": key.incident_id,
        "runbook": key.runbook,
        "action": key.action,
        "attempt": key.attempt,
        "status": CLAIMED,
        "requested_by": by,
        "token": token,
        "claimed_at": at,
    }
    inserted = work.execute(
        insert(_RUNS).values(values).on_conflict_do_nothing(index_elements=["incident_id", "runbook", "action", "attempt"])
    )
    row = work.execute(select(_RUNS).where(_of(key))).one_or_none()
    return inserted.rowcount == 1, facts(row) if row is not None else None


async def take_over_unsent(session: AsyncSession, run_id: int, *, token: str, at: datetime, stale_before: datetime) -> bool:
    """Take over a claim whose holder stopped before sending (its lease ran out): the claim says the
    request never left, so sending it now sends it once."""
    result = await session.execute(
        update(RunbookActionRun)
        .where(RunbookActionRun.id == run_id, RunbookActionRun.status == CLAIMED, RunbookActionRun.claimed_at < stale_before)
        .values(token=token, claimed_at=at)
    )
    return rows_changed(result) == 1


async def start_sending(session: AsyncSession, run_id: int, *, token: str, at: datetime) -> bool:
    """Committed before the request leaves: from here on the bot never sends it again by itself.
    False when another holder took the claim over."""
    result = await session.execute(
        update(RunbookActionRun)
        .where(RunbookActionRun.id == run_id, RunbookActionRun.token == token, RunbookActionRun.status == CLAIMED)
        .values(status=SENDING, sent_at=at)
    )
    return rows_changed(result) == 1


async def finish(
    session: AsyncSession, run_id: int, *, token: str, status: str, http_status: int | None, reason: str | None, at: datetime
) -> bool:
    """Record the answer of a request this caller sent."""
    result = await session.execute(
        update(RunbookActionRun)
        .where(RunbookActionRun.id == run_id, RunbookActionRun.token == token, RunbookActionRun.status == SENDING)
        .values(status=status, http_status=http_status, reason=reason[:300] if reason else None, finished_at=at)
    )
    return rows_changed(result) == 1


async def give_up_on_lost(session: AsyncSession, run_id: int, *, at: datetime, stale_before: datetime, reason: str) -> bool:
    """A request whose sender stopped while it was in flight (its lease ran out): nobody knows whether
    it ran, so it is recorded as ``unknown`` and never sent again by the bot."""
    result = await session.execute(
        update(RunbookActionRun)
        .where(RunbookActionRun.id == run_id, RunbookActionRun.status == SENDING, RunbookActionRun.sent_at < stale_before)
        .values(status=UNKNOWN, reason=reason[:300], finished_at=at)
    )
    return rows_changed(result) == 1


async def set_result_message(session: AsyncSession, run_id: int, channel: str, ts: str) -> None:
    await session.execute(update(RunbookActionRun).where(RunbookActionRun.id == run_id).values(result_channel=channel, result_ts=ts))


async def for_incident(session: AsyncSession, incident_id: int) -> list[RunbookActionRun]:
    return list(
        await session.scalars(select(RunbookActionRun).where(RunbookActionRun.incident_id == incident_id).order_by(RunbookActionRun.id))
    )
