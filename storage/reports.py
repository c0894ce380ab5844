"""The columns MTTR reports read, streamed: a report over 100,000 incidents never holds ORM objects."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from sqlalchemy import BigInteger, ColumnElement, Integer, Row, and_, cast, func, or_, select
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
    Incident.acknowledged_at,
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
    query = _scoped(select(*FACT_COLUMNS).where(or_(restored, still_open)), services, severities)
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


# unixepoch() came with SQLite 3.38; strftime('%s') is the same number, slower.
_SQLITE_UNIXEPOCH = sqlite3.sqlite_version_info >= (3, 38, 0)


def _epoch_microseconds(column: ColumnElement, dialect: str) -> ColumnElement:
    """Whole microseconds since 1970 UTC, computed by the database: a report then reads integers
    instead of building a datetime per stamp."""
    if dialect == "sqlite":
        # UTCDateTime stores naive UTC text, 'YYYY-MM-DD HH:MM:SS.ffffff': the whole seconds, then
        # the digits after the point. The fraction is cut off before SQLite reads the time: it
        # keeps milliseconds and rounds them, so '…:10.999928' would read as second 11.
        whole = func.substr(column, 1, 19)
        seconds = func.unixepoch(whole) if _SQLITE_UNIXEPOCH else cast(func.strftime("%s", whole), Integer)
        return seconds * 1_000_000 + cast(func.substr(column, 21, 6), Integer)
    return cast(func.extract("epoch", column) * 1_000_000, BigInteger)


def _scoped(query, services: Sequence[str] | None, severities: Sequence[str] | None):
    if services:
        query = query.where(Incident.service.in_(list(services)))
    if severities:
        query = query.where(Incident.severity.in_(list(severities)))
    return query


async def restored_batches(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    services: Sequence[str] | None = None,
    severities: Sequence[str] | None = None,
    batch: int = 5_000,
) -> AsyncIterator[Sequence[Row]]:
    """Restored incidents that started in [since, until), a batch of rows at a time:
    (id, severity, service, detection_method, deploy_found, started, detected, diagnose end,
    mitigate end, verified, acknowledged or None), the stamps as epoch microseconds. A missing diagnosed or mitigated
    stamp reads as the next present one: the implied stamp, as the buttons set it."""
    dialect = session.get_bind().dialect.name
    stamps = (
        Incident.started_at,
        Incident.detected_at,
        func.coalesce(Incident.diagnosed_at, Incident.mitigated_at, Incident.verified_at),
        func.coalesce(Incident.mitigated_at, Incident.verified_at),
        Incident.verified_at,
    )
    query = select(
        Incident.id, Incident.severity, Incident.service, Incident.detection_method, Incident.deploy_found,
        *(_epoch_microseconds(stamp, dialect) for stamp in stamps),
        _epoch_microseconds(Incident.acknowledged_at, dialect),
    ).where(Incident.verified_at.is_not(None), Incident.started_at >= since, Incident.started_at < until)
    # On the connection, not the ORM session: plain rows, without the ORM's per-row work.
    connection = await session.connection()
    result = await connection.stream(_scoped(query, services, severities).execution_options(yield_per=batch))
    async for partition in result.partitions():
        yield partition


async def open_rows(
    session: AsyncSession,
    *,
    until: datetime,
    services: Sequence[str] | None = None,
    severities: Sequence[str] | None = None,
) -> Sequence[Row]:
    """Every incident still open that started before ``until``, with FACT_COLUMNS."""
    query = select(*FACT_COLUMNS).where(Incident.verified_at.is_(None), Incident.started_at < until)
    return (await session.execute(_scoped(query, services, severities).order_by(Incident.id))).all()


async def war_rooms(session: AsyncSession, incident_ids: Sequence[int]) -> dict[int, str]:
    if not incident_ids:
        return {}
    rows = await session.execute(
        select(Incident.id, Incident.channel_id).where(Incident.id.in_(list(incident_ids)), Incident.channel_id.is_not(None))
    )
    return {row.id: row.channel_id for row in rows}
