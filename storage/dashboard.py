"""What the dashboard reads beyond the report's columns (the incidents it lists, one incident's
page), and the claim on App Home's chart upload."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import REAL_INCIDENTS, ChartUpload, Incident

LISTED_COLUMNS = (
    Incident.id,
    Incident.title,
    Incident.severity,
    Incident.service,
    Incident.is_private,
    Incident.channel_id,
    Incident.commander,
    Incident.opened_by,
    Incident.started_at,
    Incident.verified_at,
)


@dataclass(frozen=True)
class ListedIncident:
    """An incident as a list shows it; who may see a private one is decided from these fields."""

    id: int
    title: str
    severity: str
    service: str | None
    is_private: bool
    channel_id: str | None
    commander: str
    opened_by: str
    started_at: datetime
    verified_at: datetime | None


async def listed(session: AsyncSession, incident_ids: Sequence[int]) -> dict[int, ListedIncident]:
    if not incident_ids:
        return {}
    rows = await session.execute(select(*LISTED_COLUMNS).where(Incident.id.in_(list(incident_ids))))
    return {row.id: ListedIncident(**row._asdict()) for row in rows}


async def recently_restored(session: AsyncSession, *, limit: int, services: Sequence[str] | None = None) -> list[ListedIncident]:
    """The last ``limit`` restored incidents, newest restore first; drills are no incidents here."""
    query = select(*LISTED_COLUMNS).where(Incident.verified_at.is_not(None), REAL_INCIDENTS)
    if services:
        query = query.where(Incident.service.in_(list(services)))
    rows = await session.execute(query.order_by(Incident.verified_at.desc(), Incident.id.desc()).limit(limit))
    return [ListedIncident(**row._asdict()) for row in rows]


async def claim_chart(session: AsyncSession, chart: str, period: str, *, at: datetime) -> bool:
    """Claim drawing and uploading ``chart`` for ``period``; False when a process already has."""
    try:
        async with session.begin_nested():
            session.add(ChartUpload(chart=chart, period=period, claimed_at=at))
    except IntegrityError:
        return False
    return True


async def record_chart_file(session: AsyncSession, chart: str, period: str, file_id: str) -> None:
    await session.execute(update(ChartUpload).where(ChartUpload.chart == chart, ChartUpload.period == period).values(file_id=file_id))


async def newest_chart_file(session: AsyncSession, chart: str) -> str | None:
    """The file of the newest period whose upload Slack confirmed."""
    return await session.scalar(
        select(ChartUpload.file_id)
        .where(ChartUpload.chart == chart, ChartUpload.file_id.is_not(None))
        .order_by(ChartUpload.period.desc())
        .limit(1)
    )
