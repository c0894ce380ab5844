"""Queries for incident history: imported incidents found again, stored in bulk, and every incident
streamed for export. Callers own the transaction (see Database.transaction)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import REAL_INCIDENTS, TIMELINE_STAMPS, Incident, TimelineEvent

# The facts an import compares with what is stored to tell "already present" from "changed".
COMPARED = (
    Incident.title,
    Incident.severity,
    Incident.service,
    Incident.detection_method,
    *TIMELINE_STAMPS,
    Incident.diagnosed_implied,
    Incident.mitigated_implied,
    Incident.commander,
)

# What an export writes; never whole ORM objects, so a large table streams in bounded memory.
EXPORTED = (
    Incident.id,
    Incident.external_id,
    Incident.status,
    *COMPARED,
    Incident.is_drill,
)

# Bound parameters per IN list: far below SQLite's and asyncpg's limits.
_CHUNK = 500


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


async def find_imported(session: AsyncSession, source: str, external_ids: Sequence[str]) -> dict[str, RowMapping]:
    """The stored incidents imported from ``source`` under these external IDs: id and ``COMPARED``."""
    found: dict[str, RowMapping] = {}
    unique = sorted(set(external_ids))
    for chunk in _chunks(unique, _CHUNK):
        result = await session.execute(
            select(Incident.id, Incident.external_id, *COMPARED).where(
                Incident.imported_from == source, Incident.external_id.in_(list(chunk))
            )
        )
        for row in result.mappings():
            found[row["external_id"]] = row
    return found


async def insert_imported(session: AsyncSession, source: str, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert imported incidents of one source in bulk; their ids, in the order of ``rows``.

    One multi-row INSERT, then the ids looked up by (source, external ID), the unique key:
    RETURNING in parameter order would send SQLite one statement per row.
    """
    if not rows:
        return []
    # Imported incidents happened elsewhere: a restored one is closed, never "monitoring" here.
    await session.execute(insert(Incident), [{**row, "imported_from": source, "closed_at": row.get("verified_at")} for row in rows])
    numbers = {
        external_id: number
        for number, external_id in await session.execute(
            select(Incident.id, Incident.external_id).where(
                Incident.imported_from == source, Incident.external_id.in_([row["external_id"] for row in rows])
            )
        )
    }
    return [numbers[row["external_id"]] for row in rows]


async def insert_events(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        await session.execute(insert(TimelineEvent), [dict(row) for row in rows])


async def exported_rows(
    session: AsyncSession,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    batch: int = 1000,
    drills: bool = False,
) -> AsyncIterator[RowMapping]:
    """Every incident whose impact started in [since, until) (either bound may be None), by number;
    drills only with ``drills`` (a rehearsal is no incident of the team's history unless asked for).

    Streamed: ``yield_per`` fetches ``batch`` rows at a time (a server-side cursor on PostgreSQL).
    """
    query = select(*EXPORTED).order_by(Incident.id)
    if not drills:
        query = query.where(REAL_INCIDENTS)
    if since is not None:
        query = query.where(Incident.started_at >= since)
    if until is not None:
        query = query.where(Incident.started_at < until)
    result = await session.stream(query.execution_options(yield_per=batch))
    # A batch per await, not a row per await: each await on the result is a greenlet switch.
    async for partition in result.mappings().partitions():
        for row in partition:
            yield row
