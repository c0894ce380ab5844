"""The columns MTTR reports read, streamed: a report over 100,000 incidents never holds ORM objects."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from sqlalchemy import Row, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Incident

FACT_COLUMNS = (
    Incident.id,
    Incident.severity,
    Incident.service,
    Incident.detection_method,
    Incident.started_at,
    Incident.detected_at,
    Incident.diagnosed_at,
    Incident.mitigated_at,
    Incident.verified_at,
    Incident.deploy_found,
    Incident.channel_id,
)


async def fact_rows(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    services: Sequence[str] | None = None,
    severities: Sequence[str] | None = None,
    batch: int = 5000,
) -> AsyncIterator[Row]:
    """Restored incidents that started in [since, until), and every incident still open that
    started before ``until`` (reports list those apart, never drop them)."""
    restored = and_(Incident.verified_at.is_not(None), Incident.started_at >= since, Incident.started_at < until)
    still_open = and_(Incident.verified_at.is_(None), Incident.started_at < until)
    query = select(*FACT_COLUMNS).where(or_(restored, still_open))
    if services:
        query = query.where(Incident.service.in_(list(services)))
    if severities:
        query = query.where(Incident.severity.in_(list(severities)))
    result = await session.stream(query.order_by(Incident.id).execution_options(yield_per=batch))
    async for row in result:
        yield row


PRIVATE_TITLE = "Private incident"


async def titles(session: AsyncSession, incident_ids: Sequence[int]) -> dict[int, str]:
    """A private incident is counted in reports and digests, but its title is never shown."""
    if not incident_ids:
        return {}
    rows = await session.execute(
        select(Incident.id, Incident.title, Incident.is_private).where(Incident.id.in_(list(incident_ids)))
    )
    return {row.id: PRIVATE_TITLE if row.is_private else row.title for row in rows}
