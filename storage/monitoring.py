"""The monitoring window's writes on the incident row: reopening a verified incident and closing
it when the window ends. Both are conditional UPDATEs (only a resolved incident not closed yet),
so a reopen and the close racing at the edge of the window give exactly one winner. Callers own
the transaction (see Database.transaction)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Update, delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import incidents as incident_rows
from storage.db import rows_changed
from storage.models import Incident, Postmortem


def _still_monitored(incident_id: int) -> Update:
    return update(Incident).where(Incident.id == incident_id, Incident.status == "resolved", Incident.closed_at.is_(None))


async def reopen_if_monitored(session: AsyncSession, incident_id: int, *, at: datetime) -> bool:
    """Clear the verification of a resolved incident not closed yet; False when it was closed
    (or reopened) meanwhile. The MTTR summary is posted again at the next verification, with the
    final figures, so its messages are forgotten."""
    result = await session.execute(
        _still_monitored(incident_id).values(
            status="open", verified_at=None, verified_by=None, updated_at=at, summary_ts=None, summary_announcement_ts=None
        )
    )
    return rows_changed(result) == 1


async def close_if_monitored(session: AsyncSession, incident_id: int, *, at: datetime) -> bool:
    """Close a resolved incident not closed yet; False when it was reopened or closed meanwhile."""
    result = await session.execute(_still_monitored(incident_id).values(closed_at=at, updated_at=at))
    return rows_changed(result) == 1


async def forget_postmortem_draft(session: AsyncSession, incident_id: int) -> None:
    """The draft was written for an earlier verification: the next one renders a fresh one."""
    await session.execute(delete(Postmortem).where(Postmortem.incident_id == incident_id))


async def reread(session: AsyncSession, incident_id: int) -> Incident:
    """The incident as the database has it now, past what this session's identity map holds from
    before an UPDATE statement."""
    row = await incident_rows.get(session, incident_id)
    assert row is not None
    await session.refresh(row)
    return row
