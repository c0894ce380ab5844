"""The audit trail. Append-only: this module inserts and reads; nothing updates or deletes a row."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Statements
from storage.models import AuditRecord


async def append(
    session: AsyncSession,
    *,
    incident_id: int | None,
    action: str,
    actor: str,
    at: datetime,
    reason: str,
    field: str | None = None,
    old_value: str | None = None,
    new_value: str | None = None,
) -> AuditRecord:
    record = AuditRecord(
        incident_id=incident_id,
        action=action,
        field=field,
        old_value=old_value,
        new_value=new_value,
        actor=actor,
        at=at,
        reason=reason,
    )
    session.add(record)
    await session.flush()
    return record


async def trail(session: AsyncSession, incident_id: int | None = None) -> list[AuditRecord]:
    query = select(AuditRecord).order_by(AuditRecord.id)
    if incident_id is not None:
        query = query.where(AuditRecord.incident_id == incident_id)
    return list(await session.scalars(query))


_TRAIL = cast(Table, AuditRecord.__table__)
# Built once: a verifying click runs it before its ack.
_CORRECTED_TIMES = (
    select(_TRAIL).where(_TRAIL.c.incident_id == bindparam("incident_id"), _TRAIL.c.action == "correct_time").order_by(_TRAIL.c.id)
)


def corrected_times(work: Statements, incident_id: int) -> list[Row[Any]]:
    """The incident's corrected times in the trail, oldest first, in Core inside
    ``Database.run_transaction`` (a verifying click reads them for its summaries): the rows have
    the model's column names."""
    return list(work.execute(_CORRECTED_TIMES, {"incident_id": incident_id}))
