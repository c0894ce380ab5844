"""The audit trail. Append-only: this module inserts and reads; nothing updates or deletes a row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
