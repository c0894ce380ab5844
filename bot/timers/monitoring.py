"""After verification an incident is "monitoring" for a window (30 min by default): it can be
reopened, which clears the verification and keeps the earlier one on the timeline, so the final
time to restore runs to the last verification. When the window ends it is closed for good.

Both are conditional UPDATEs on the incident row, so a reopen and the close racing at the edge
of the window give exactly one winner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.records import IncidentRecord
from bot.incidents.operations import to_record
from bot.timers.rules import TimerSettings, monitoring_ends
from storage import alerts as alert_rows
from storage import incidents as incident_rows
from storage.db import Database, rows_changed
from storage.models import Incident, Postmortem


class ReopenResult(str, Enum):
    REOPENED = "reopened"
    STILL_OPEN = "still_open"
    CLOSED = "closed"
    UNKNOWN_INCIDENT = "unknown_incident"


@dataclass(frozen=True)
class ReopenOutcome:
    result: ReopenResult
    record: IncidentRecord | None = None
    earlier_verified_at: datetime | None = None
    earlier_verified_by: str | None = None
    closed_at: datetime | None = None  # for CLOSED: when it closed (or its window ended)


async def reopen(db: Database, incident_id: int, settings: TimerSettings, *, by: str, at: datetime) -> ReopenOutcome:
    async with db.transaction() as session:
        row = await incident_rows.get(session, incident_id, for_update=True)
        if row is None:
            return ReopenOutcome(ReopenResult.UNKNOWN_INCIDENT)
        if row.status == "open":
            return ReopenOutcome(ReopenResult.STILL_OPEN, to_record(row))
        assert row.verified_at is not None
        window_end = monitoring_ends(row.verified_at, settings)
        if row.closed_at is not None or at >= window_end:
            return ReopenOutcome(ReopenResult.CLOSED, to_record(row), closed_at=row.closed_at or window_end)
        earlier_at, earlier_by = row.verified_at, row.verified_by
        result = await session.execute(
            update(Incident)
            .where(Incident.id == incident_id, Incident.status == "resolved", Incident.closed_at.is_(None))
            .values(
                status="open",
                verified_at=None,
                verified_by=None,
                updated_at=at,
                # The MTTR summary is posted again at the next verification, with the final figures.
                summary_ts=None,
                summary_announcement_ts=None,
            )
        )
        if rows_changed(result) != 1:
            fresh = await incident_rows.get(session, incident_id)
            assert fresh is not None
            await session.refresh(fresh)
            return ReopenOutcome(ReopenResult.CLOSED, to_record(fresh), closed_at=fresh.closed_at or window_end)
        # The draft was written for the earlier verification: the next one renders and uploads a
        # fresh draft from the whole timeline, reopening included (the old file stays in Slack).
        earlier_draft = await incident_rows.postmortem(session, incident_id)
        await session.execute(delete(Postmortem).where(Postmortem.incident_id == incident_id))
        await incident_rows.add_event(
            session,
            incident_id,
            "reopened",
            at=at,
            actor=by,
            text=f"Reopened; the verification at {earlier_at.isoformat()} by {earlier_by or 'someone'} is cleared",
            data={
                "earlier_verified_at": earlier_at.isoformat(),
                "earlier_verified_by": earlier_by,
                "earlier_postmortem_file_id": earlier_draft.file_id if earlier_draft else None,
            },
        )
        fresh = await incident_rows.get(session, incident_id)
        assert fresh is not None
        await session.refresh(fresh)
        return ReopenOutcome(ReopenResult.REOPENED, to_record(fresh), earlier_at, earlier_by)


class Monitoring:
    """The monitoring window's operations for the flows, with the team's window."""

    def __init__(self, db: Database, settings: TimerSettings) -> None:
        self._db = db
        self.settings = settings

    async def reopen(self, incident_id: int, *, by: str, at: datetime) -> ReopenOutcome:
        return await reopen(self._db, incident_id, self.settings, by=by, at=at)

    def ends(self, verified_at: datetime) -> datetime:
        return monitoring_ends(verified_at, self.settings)


async def close(session: AsyncSession, incident_id: int, *, at: datetime, window: str) -> bool:
    """Close a monitoring incident (inside the caller's transaction); False when it was reopened
    or closed meanwhile. Its alert groups are released: the next alert opens a new incident."""
    result = await session.execute(
        update(Incident)
        .where(Incident.id == incident_id, Incident.status == "resolved", Incident.closed_at.is_(None))
        .values(closed_at=at, updated_at=at)
    )
    if rows_changed(result) != 1:
        return False
    await alert_rows.release(session, incident_id)
    await incident_rows.add_event(
        session, incident_id, "closed", at=at, text=f"Closed after {window} of monitoring without a reopen", data={"window": window}
    )
    return True
