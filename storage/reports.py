"""The columns MTTR reports read, streamed: a report over 100,000 incidents never holds ORM objects."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any, TypeVarTuple

import numpy as np
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Row,
    Select,
    SQLColumnExpression,
    String,
    and_,
    cast,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import TIMELINE_STAMPS, Incident
from storage.types import UTCDateTime

FACT_COLUMNS = (
    Incident.id,
    Incident.severity,
    Incident.service,
    Incident.detection_method,
    *TIMELINE_STAMPS,
    Incident.deploy_found,
    Incident.channel_id,
    Incident.acknowledged_at,
    Incident.is_private,
)

# A row of FACT_COLUMNS (read by name: ``row.started_at``).
FactRow = Row[*tuple[Any, ...]]
_Columns = TypeVarTuple("_Columns")


async def fact_rows(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    services: Sequence[str] | None = None,
    severities: Sequence[str] | None = None,
    batch: int = 5000,
) -> AsyncIterator[FactRow]:
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
    rows = await session.execute(select(Incident.id, Incident.title, Incident.is_private).where(Incident.id.in_(list(incident_ids))))
    return {row.id: PRIVATE_TITLE if row.is_private else row.title for row in rows}


def _scoped(query: Select[*_Columns], services: Sequence[str] | None, severities: Sequence[str] | None) -> Select[*_Columns]:
    if services:
        query = query.where(Incident.service.in_(list(services)))
    if severities:
        query = query.where(Incident.severity.in_(list(severities)))
    return query


@dataclass(frozen=True)
class RestoredBatch:
    """Restored incidents, a batch at a time, as columns."""

    ids: Sequence[int] | np.ndarray
    severities: Sequence[str]
    services: Sequence[str | None]
    detection_methods: Sequence[str]
    # int8: 1 linked to a deploy, 0 not, -1 no deploy data (deploy_found NULL).
    deploys: np.ndarray
    # int64 (n, 6) epoch microseconds: started, detected, diagnose end, mitigate end, verified,
    # acknowledged (NumPy's NaT, the int64 minimum, where nobody acknowledged).
    stamps_us: np.ndarray


# Rows per aggregated batch on SQLite: bounds the text one batch holds (about 250 bytes a row).
AGGREGATED_ROWS = 20_000


async def restored_batches(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    services: Sequence[str] | None = None,
    severities: Sequence[str] | None = None,
    batch: int = 5_000,
) -> AsyncIterator[RestoredBatch]:
    """Restored incidents that started in [since, until). A missing diagnosed or mitigated stamp
    reads as the next present one: the implied stamp, as the buttons set it."""
    restored = Incident.verified_at.is_not(None)
    if session.get_bind().dialect.name != "sqlite":
        query = _scoped(select(*_ROW_COLUMNS, *_epoch_stamps()), services, severities).where(
            restored, Incident.started_at >= since, Incident.started_at < until
        )
        async for rows in _row_batches(session, query, batch):
            yield rows
        return
    total, inside = await _counts(session, since, until)
    if not inside:
        return
    connection = await session.connection()
    for bounds in await _sqlite_chunks(session, since, until, total=total, inside=inside):
        where = (restored, *bounds)
        aggregated = _scoped(select(*_AGGREGATED), services, severities).where(*where)
        found = _aggregated_batch((await connection.execute(aggregated)).one())
        if found is None:
            # Stamps stored in another text form than SQLAlchemy's: read this part row by row.
            by_row = _scoped(select(*_ROW_COLUMNS, *_text_stamps()), services, severities).where(*where)
            async for rows in _row_batches(session, by_row, batch):
                yield rows
        elif len(found.ids):
            yield found


# What the row-by-row reads select before the stamps.
_ROW_COLUMNS = (Incident.id, Incident.severity, Incident.service, Incident.detection_method, Incident.deploy_found)


def _stamps() -> tuple[SQLColumnExpression[Any], ...]:
    return (
        Incident.started_at,
        Incident.detected_at,
        func.coalesce(Incident.diagnosed_at, Incident.mitigated_at, Incident.verified_at),
        func.coalesce(Incident.mitigated_at, Incident.verified_at),
        Incident.verified_at,
        Incident.acknowledged_at,
    )


def _epoch_stamps() -> list[ColumnElement[int]]:
    return [cast(func.extract("epoch", stamp) * 1_000_000, BigInteger) for stamp in _stamps()]


def _text_stamps() -> list[ColumnElement[str]]:
    # The stored text as it is ('YYYY-MM-DD HH:MM:SS.ffffff', naive UTC): NumPy reads it to the
    # microsecond faster than SQLite's date functions, which also round to milliseconds.
    # A missing acknowledgement reads as 'NaT' text: NumPy parses a column of text alone many
    # times faster than one with None in it.
    return [type_coerce(func.coalesce(stamp, literal_column("'NaT'")), String) for stamp in _stamps()]


async def _row_batches(session: AsyncSession, query: Select[*_Columns], batch: int) -> AsyncIterator[RestoredBatch]:
    # On the connection, not the ORM session: plain rows, without the ORM's per-row work.
    connection = await session.connection()
    result = await connection.stream(query.execution_options(yield_per=batch))
    async for partition in result.partitions():
        ids, severity, service, method, deploy, *stamp_columns = zip(*partition, strict=True)
        codes = np.fromiter((_DEPLOY_CODES[d] for d in deploy), dtype=np.int8, count=len(deploy))
        yield RestoredBatch(ids, severity, service, method, codes, _stamp_array(stamp_columns))


_DEPLOY_CODES = {None: -1, False: 0, True: 1}
# Between the values of a text column joined by group_concat: a control character no name holds
# (should one, the parts no longer match the count and the batch is read row by row instead).
_SEPARATOR = "\x1f"
_STAMP_WIDTH = len("2026-11-23 09:00:00.000000")


def _joined(column: SQLColumnExpression[Any], separator: str = "") -> ColumnElement[str]:
    return type_coerce(
        func.group_concat(type_coerce(column, String), literal_column(f"char({ord(separator)})") if separator else ""), String
    )


# One row per batch on SQLite: each column's values joined into one text by the database, in the
# same row order for every column (SQLite steps each aggregate once per row, in step), so Python
# never holds an object per value: NumPy reads the fixed-width stamps straight from the text.
_AGGREGATED: tuple[ColumnElement[Any], ...] = (
    func.count(),
    _joined(Incident.id, ","),
    _joined(Incident.severity, _SEPARATOR),
    _joined(func.coalesce(Incident.service, ""), _SEPARATOR),
    _joined(Incident.service.is_(None)),
    _joined(Incident.detection_method, _SEPARATOR),
    _joined(func.coalesce(Incident.deploy_found, 2)),  # 2: no deploy data
    *(_joined(stamp) for stamp in _stamps()[:5]),
    _joined(func.coalesce(Incident.acknowledged_at, Incident.detected_at)),
    _joined(Incident.acknowledged_at.is_not(None)),
)


def _aggregated_batch(row: Row[*tuple[Any, ...]]) -> RestoredBatch | None:
    """The batch from one aggregated row; None when a stamp is not in SQLAlchemy's fixed-width
    text or a name holds the separator."""
    count, ids, severity, service, no_service, method, deploy, *stamps, acknowledged = row
    if not count:
        return RestoredBatch((), (), (), (), np.empty(0, dtype=np.int8), np.empty((0, 6), dtype=np.int64))
    texts = [severity.split(_SEPARATOR), service.split(_SEPARATOR), method.split(_SEPARATOR)]
    if any(len(values) != count for values in texts) or any(len(stamp) != count * _STAMP_WIDTH for stamp in stamps):
        return None
    try:
        stamp_columns = [
            np.frombuffer(stamp.encode("ascii"), dtype=f"S{_STAMP_WIDTH}").astype("datetime64[us]").astype(np.int64) for stamp in stamps
        ]
    except (UnicodeEncodeError, ValueError):
        return None
    missing = np.frombuffer(no_service.encode("ascii"), dtype=np.uint8) == ord("1")
    services: list[str | None] = texts[1]
    if missing.any():
        services = [None if none else name for name, none in zip(services, missing.tolist(), strict=True)]
    stamp_columns[5][np.frombuffer(acknowledged.encode("ascii"), dtype=np.uint8) == ord("0")] = _NAT
    deploy_codes = (np.frombuffer(deploy.encode("ascii"), dtype=np.uint8) - ord("0")).astype(np.int8)
    deploy_codes[deploy_codes == 2] = -1
    return RestoredBatch(
        np.fromstring(ids, dtype=np.int64, sep=","),
        texts[0],
        services,
        texts[2],
        deploy_codes,
        np.stack(stamp_columns, axis=1),
    )


async def _counts(session: AsyncSession, since: datetime, until: datetime) -> tuple[int, int]:
    """All incidents, and those started in [since, until) (two index-only counts)."""
    total = (await session.execute(select(func.count()).select_from(Incident))).scalar_one()
    inside = (
        await session.execute(select(func.count()).select_from(Incident).where(Incident.started_at >= since, Incident.started_at < until))
    ).scalar_one()
    return total, inside


async def _sqlite_chunks(
    session: AsyncSession, since: datetime, until: datetime, *, total: int, inside: int
) -> list[tuple[ColumnElement[bool], ...]]:
    """The parts [since, until) is read in, each about AGGREGATED_ROWS incidents."""
    if 2 * inside > total:
        # SQLite has no statistics to see that the window holds most incidents, and would walk
        # the started_at index row by row: a plain scan in rowid order reads it faster. A unary +
        # keeps a column out of SQLite's index choice (its documented way).
        started = type_coerce(literal_column(f"+{Incident.__tablename__}.started_at"), UTCDateTime())
        low, high = (await session.execute(select(func.min(Incident.id), func.max(Incident.id)))).one()
        step = max(1, math.ceil((high - low + 1) * AGGREGATED_ROWS / total))
        return [
            (Incident.id >= start, Incident.id < start + step, started >= since, started < until) for start in range(low, high + 1, step)
        ]
    # Through the started_at index, cut where every AGGREGATED_ROWS-th start falls (index-only reads).
    cuts = [since]
    while True:
        after = (
            await session.execute(
                select(Incident.started_at)
                .where(Incident.started_at >= cuts[-1], Incident.started_at < until)
                .order_by(Incident.started_at)
                .offset(AGGREGATED_ROWS)
                .limit(1)
            )
        ).scalar_one_or_none()
        if after is None:
            break
        if after <= cuts[-1]:  # more than a batch started at the same moment: cut after it
            after = (
                await session.execute(
                    select(func.min(Incident.started_at)).where(Incident.started_at > cuts[-1], Incident.started_at < until)
                )
            ).scalar_one_or_none()
            if after is None:
                break
        cuts.append(after)
    cuts.append(until)
    return [(Incident.started_at >= low, Incident.started_at < high) for low, high in pairwise(cuts)]


_NAT = np.iinfo(np.int64).min


def _stamp_array(columns: Sequence[Sequence[str | int | None]]) -> np.ndarray:
    if columns and columns[0] and isinstance(columns[0][0], str):
        parsed = [np.array(column, dtype="datetime64[us]").astype(np.int64) for column in columns]
    else:
        parsed = [np.fromiter((_NAT if v is None else v for v in column), dtype=np.int64, count=len(column)) for column in columns]
    return np.stack(parsed, axis=1)


async def open_rows(
    session: AsyncSession,
    *,
    until: datetime,
    services: Sequence[str] | None = None,
    severities: Sequence[str] | None = None,
) -> Sequence[FactRow]:
    """Every incident still open that started before ``until``, with FACT_COLUMNS."""
    query = select(*FACT_COLUMNS).where(Incident.verified_at.is_(None), Incident.started_at < until)
    return (await session.execute(_scoped(query, services, severities).order_by(Incident.id))).all()


async def private_incidents(session: AsyncSession, incident_ids: Sequence[int]) -> set[int]:
    if not incident_ids:
        return set()
    rows = await session.execute(select(Incident.id).where(Incident.id.in_(list(incident_ids)), Incident.is_private.is_(True)))
    return set(rows.scalars())


async def war_rooms(session: AsyncSession, incident_ids: Sequence[int]) -> dict[int, str]:
    """The war rooms reports link to: a private incident's war room is never linked."""
    if not incident_ids:
        return {}
    rows = await session.execute(
        select(Incident.id, Incident.channel_id).where(
            Incident.id.in_(list(incident_ids)), Incident.channel_id.is_not(None), Incident.is_private.is_(False)
        )
    )
    return {row.id: row.channel_id for row in rows}
