"""The columns MTTR reports read, streamed: a report over 100,000 incidents never holds ORM objects."""

from __future__ import annotations

import asyncio
import contextlib
import math
import queue
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any, TypeVarTuple

import numpy as np
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    LargeBinary,
    Row,
    Select,
    SQLColumnExpression,
    String,
    and_,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import REAL_INCIDENTS, TIMELINE_STAMPS, Deploy, Incident, IncidentDeploy, TimelineEvent
from storage.types import UTCDateTime

# The incidents table's own columns, not the mapped class's attributes: a report's statements then
# need neither SQLAlchemy's mapper configuration nor its ORM compilation (a process's first
# aggregate took 15 ms to run through the ORM's path, 3 ms as plain columns).
_INCIDENTS = Incident.__table__.c
# The timeline's five stamps (storage.models.TIMELINE_STAMPS), as the table's columns.
_TIMELINE = tuple(_INCIDENTS[stamp.key] for stamp in TIMELINE_STAMPS)
# Measured from detection apart from the phases (bot.analytics.stats.MILESTONES), in that order.
_MILESTONES = (_INCIDENTS.acknowledged_at, _INCIDENTS.assembled_at, _INCIDENTS.commander_set_at)

FACT_COLUMNS = (
    _INCIDENTS.id,
    _INCIDENTS.severity,
    _INCIDENTS.service,
    _INCIDENTS.detection_method,
    *_TIMELINE,
    _INCIDENTS.deploy_found,
    _INCIDENTS.channel_id,
    *_MILESTONES,
    _INCIDENTS.is_private,
)

FACT_FIELDS = tuple(column.key for column in FACT_COLUMNS)
# A row of FACT_COLUMNS (read by name: ``row.started_at``).
FactRow = Row[*tuple[Any, ...]]
_Columns = TypeVarTuple("_Columns")


async def fact_rows(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    scope: IncidentScope,
    batch: int = 5000,
    include_open: bool = True,
) -> AsyncIterator[FactRow]:
    """Restored incidents that started in [since, until), and (``include_open``) every incident
    still open that started before ``until`` (reports list those apart, never drop them)."""
    restored = and_(_INCIDENTS.verified_at.is_not(None), _INCIDENTS.started_at >= since, _INCIDENTS.started_at < until)
    still_open = and_(_INCIDENTS.verified_at.is_(None), _INCIDENTS.started_at < until)
    query = _scoped(select(*FACT_COLUMNS).where(or_(restored, still_open) if include_open else restored), scope)
    # On the connection, not the ORM session: plain rows, without the ORM's per-row work.
    connection = await session.connection()
    result = await connection.stream(query.order_by(_INCIDENTS.id).execution_options(yield_per=batch))
    async for partition in result.partitions():
        for row in partition:
            yield row


PRIVATE_TITLE = "Private incident"


def shown_title(title: str, is_private: bool) -> str:
    return PRIVATE_TITLE if is_private else title


# What the digest names each incident of its week by; its figures come from the report's columns.
TITLED_COLUMNS = (_INCIDENTS.id, _INCIDENTS.title, _INCIDENTS.service, _INCIDENTS.is_private, _INCIDENTS.channel_id)


async def titled_rows(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    scope: IncidentScope,
    ids: Sequence[int] | None = None,
) -> Sequence[Row[*tuple[Any, ...]]]:
    """TITLED_COLUMNS of the scope's incidents restored that started in [since, until); with ``ids``,
    of the incidents with these ids instead, wherever they started."""
    connection = await session.connection()
    if ids is not None:
        query = select(*TITLED_COLUMNS).where(_INCIDENTS.id.in_(list(ids)))
    else:
        restored = and_(_INCIDENTS.verified_at.is_not(None), _INCIDENTS.started_at >= since, _INCIDENTS.started_at < until)
        query = _scoped(select(*TITLED_COLUMNS).where(restored), scope)
    return (await connection.execute(query)).all()


async def restored_before(session: AsyncSession, moment: datetime) -> tuple[int, datetime | None]:
    """How many real incidents restored started before ``moment``, and when the earliest did."""
    restored = _scoped(
        select(func.count(), func.min(_INCIDENTS.started_at)).where(_INCIDENTS.verified_at.is_not(None), _INCIDENTS.started_at < moment),
        EVERY_INCIDENT,
    )
    count, earliest = (await session.execute(restored)).one()
    return int(count), earliest


def _scoped(query: Select[*_Columns], scope: IncidentScope) -> Select[*_Columns]:
    """The scope's incidents: real ones, or (``drills``) drills alone, since a figure never mixes the two."""
    query = query.where(_INCIDENTS.is_drill.is_(scope.drills))
    if scope.services:
        query = query.where(_INCIDENTS.service.in_(list(scope.services)))
    if scope.severities:
        query = query.where(_INCIDENTS.severity.in_(list(scope.severities)))
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
    # int64 (n, 8) epoch microseconds: started, detected, diagnose end, mitigate end, verified, then
    # acknowledged, assembled, commander set (NumPy's NaT, the int64 minimum, where it never came).
    stamps_us: np.ndarray


# Rows per aggregated batch: bounds the text one batch holds (about 250 bytes a row) and the names
# split from it (tracemalloc: the 100,000-incident report peaks at 16.7 MB with 10,000, 19.9 MB with 20,000).
AGGREGATED_ROWS = 10_000


@dataclass(frozen=True)
class IncidentScope:
    """Which incidents a read covers: these services and severities (None: all), the real
    incidents or (``drills``) the drills alone."""

    services: Sequence[str] | None = None
    severities: Sequence[str] | None = None
    drills: bool = False


EVERY_INCIDENT = IncidentScope()


async def incident_columns(
    db: Database,
    *,
    since: datetime,
    until: datetime,
    add: Callable[[RestoredBatch], None],
    found_open: Callable[[Sequence[FactRow]], None],
    scope: IncidentScope = EVERY_INCIDENT,
) -> None:
    """Restored incidents that started in [since, until), handed to ``add`` a batch at a time
    (a missing diagnosed or mitigated stamp reads as the next present one: the implied stamp, as
    the buttons set it), and every incident still open that started before ``until``, with
    FACT_COLUMNS, by id, handed to ``found_open``: all of one snapshot. On SQLite the open ones
    come first, so that the caller's work on them is done while the database steps through the
    rest. Should ``add`` raise, the read stops there."""
    if db.reads_in_a_thread:
        await _sqlite_incident_columns(db, since, until, add, scope, found_open)
        return
    async with db.reading() as session:
        # Closed here even when a batch is refused: the statement it has in flight then ends
        # before the session does, not whenever the loop finalises the generator.
        batches = _postgresql_restored_batches(session, since=since, until=until, scope=scope)
        async with contextlib.aclosing(batches):
            async for batch in batches:
                add(batch)
        found_open(await open_rows(session, until=until, scope=scope))


@dataclass(frozen=True)
class _OpenRows:
    """The open incidents, as the thread reading SQLite hands them over first."""

    rows: Sequence[FactRow]


@dataclass(frozen=True)
class _Aggregated:
    """One part's aggregate, as the thread reading SQLite hands it over."""

    where: tuple[ColumnElement[bool], ...]
    row: Row[*tuple[Any, ...]]


# What the thread reading SQLite hands over after its last aggregate, and after its last row-by-row batch.
_ALL_HANDED_OVER = object()


async def _sqlite_incident_columns(
    db: Database,
    since: datetime,
    until: datetime,
    add: Callable[[RestoredBatch], None],
    scope: IncidentScope,
    found_open: Callable[[Sequence[FactRow]], None],
) -> None:
    """``incident_columns`` on SQLite. One worker thread reads every part's aggregate on a plain
    connection, one after the other with nothing in between, and hands each row over as it comes;
    here each is parsed (in another thread) and added while the database steps through the next.
    Through aiosqlite, each statement waited for the event loop to come round between its trips to
    aiosqlite's thread (a cursor, the statement, its row), so the database mostly waited on the
    parsing: 100,000 incidents read, parsed and added in 190-230 ms that way and 126-137 ms with a
    thread of their own (plain sqlite3, the same statements, one interleaved run). The open
    incidents are read first, and handed over while the database steps through the first
    aggregate (the caller's objects of them built then, not after the last: 100,000 incidents, 2,019
    open, 13 ms to read and 7 ms to build); the parts the parser could not read (a name holding the
    separator, a stamp in another form) are read row by row last, all in the same transaction."""
    loop = asyncio.get_running_loop()
    found: asyncio.Queue[object] = asyncio.Queue()
    # The parts to read row by row, once every aggregate is parsed; None: stop.
    to_read_by_row: queue.SimpleQueue[list[tuple[ColumnElement[bool], ...]] | None] = queue.SimpleQueue()
    stopping = threading.Event()
    # Aggregates read and not yet parsed: each holds a batch's joined text (a few MB at
    # AGGREGATED_ROWS), and a reader running ahead of the parsing held them all at once (the
    # 100,000-incident report's tracemalloc peak 23.4 MB instead of 19.0).
    ahead = threading.Semaphore(_AGGREGATES_AHEAD)
    aggregate = _scoped(select(*_SQLITE_AGGREGATED), scope)
    by_row = _scoped(select(*_ROW_COLUMNS, *_text_stamps()), scope)

    def hand_over(item: object) -> None:
        loop.call_soon_threadsafe(found.put_nowait, item)

    def read(connection: Connection) -> None:
        hand_over(_OpenRows(connection.execute(_open_query(until, scope)).all()))
        for bounds in _chunks(connection, since, until, by_rowid=True):
            ahead.acquire()
            if stopping.is_set():
                return
            where = (_INCIDENTS.verified_at.is_not(None), *bounds)
            hand_over(_Aggregated(where, connection.execute(aggregate.where(*where)).one()))
        hand_over(_ALL_HANDED_OVER)
        parts = to_read_by_row.get()
        if parts is None:
            return
        for where in parts:
            for partition in connection.execute(by_row.where(*where).execution_options(yield_per=_ROWS_AT_A_TIME)).partitions():
                if stopping.is_set():
                    return
                hand_over(_batch_of_rows(partition))
        hand_over(_ALL_HANDED_OVER)

    def stop_reading() -> None:
        # Each idempotent, and heard wherever the reader waits or steps: ahead of the parsing, for
        # the parts to read row by row (a None behind the parts, once they are asked for, is
        # never taken: the reader takes one item), between two batches.
        stopping.set()
        ahead.release()
        to_read_by_row.put(None)

    reader = asyncio.ensure_future(db.read_in_thread(read, stop=stop_reading))
    # However the reader ends (its connection refused before ``read`` began, too), it says so last:
    # nothing waits for it in vain.
    reader.add_done_callback(lambda _reader: found.put_nowait(_READER_DONE))

    async def received() -> object:
        item = await found.get()
        if item is _READER_DONE:
            await reader  # its error, if it failed
            raise RuntimeError("the reader of the incidents' columns stopped before handing everything over")
        return item

    try:
        first = await received()
        assert isinstance(first, _OpenRows)  # read() hands them over first, or fails (received() raises its error)
        found_open(first.rows)
        unread: list[tuple[ColumnElement[bool], ...]] = []
        while isinstance(item := await received(), _Aggregated):
            batch = await asyncio.to_thread(_sqlite_batch, item.row)
            ahead.release()
            if batch is None:
                unread.append(item.where)
            elif len(batch.ids):
                add(batch)
        to_read_by_row.put(unread)
        while isinstance(item := await received(), RestoredBatch):
            add(item)
        await reader
    finally:
        # Also when the reader was cancelled with this caller and ended first (as at shutdown).
        stop_reading()
        if not reader.done():
            # The connection goes back to the pool only once its statement in flight has ended.
            await asyncio.wait([reader])


# How many aggregates the thread reading SQLite may read before the oldest of them is parsed.
_AGGREGATES_AHEAD = 2
# What the thread reading SQLite hands over last, however it ends.
_READER_DONE = object()
# Rows fetched at a time by the row-by-row reads.
_ROWS_AT_A_TIME = 5_000


async def _postgresql_restored_batches(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    scope: IncidentScope,
) -> AsyncGenerator[RestoredBatch, None]:
    """``incident_columns``' restored incidents on PostgreSQL. Close it (``contextlib.aclosing``)
    when leaving before its end: a read may be in flight."""
    restored = _INCIDENTS.verified_at.is_not(None)
    connection = await session.connection()
    # asyncpg prepares each statement, and after five runs PostgreSQL may keep one generic plan
    # for every part, blind to where each part's bounds fall: on 100,000 incidents ten parts took
    # 127 ms that way, 95 ms planned for their own bounds (PostgreSQL 12 and later; until the
    # reading transaction ends).
    await connection.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    parts = [(restored, *bounds) for bounds in await connection.run_sync(_chunks, since, until, by_rowid=False)]
    aggregate = _scoped(select(*_POSTGRESQL_AGGREGATED), scope)

    def read(where: tuple[ColumnElement[bool], ...]) -> asyncio.Task[Row[*tuple[Any, ...]]]:
        async def aggregated() -> Row[*tuple[Any, ...]]:
            return (await connection.execute(aggregate.where(*where))).one()

        return asyncio.create_task(aggregated())

    # PostgreSQL evaluates the next part's aggregate in its own process while Python parses this
    # one and the caller adds it up: the two took about the same time one after the other.
    pending = read(parts[0]) if parts else None
    try:
        for index, where in enumerate(parts):
            assert pending is not None
            row = await pending
            pending = read(parts[index + 1]) if index + 1 < len(parts) else None
            found = await asyncio.to_thread(_postgresql_batch, row)
            if found is None:
                # A name holds the separator or a stamp lies centuries away: read this part row by
                # row, once the connection has answered the next part's aggregate.
                if pending is not None:
                    await asyncio.wait([pending])
                by_row = _scoped(select(*_ROW_COLUMNS, *_epoch_stamps()), scope).where(*where)
                async for rows in _row_batches(session, by_row):
                    yield rows
            elif len(found.ids):
                yield found
    finally:
        if pending is not None and not pending.done():
            # The connection is used again after this: let the statement in flight finish.
            await asyncio.wait([pending])


# What the row-by-row reads select before the stamps.
_ROW_COLUMNS = (_INCIDENTS.id, _INCIDENTS.severity, _INCIDENTS.service, _INCIDENTS.detection_method, _INCIDENTS.deploy_found)


def _stamps() -> tuple[SQLColumnExpression[Any], ...]:
    return (
        _INCIDENTS.started_at,
        _INCIDENTS.detected_at,
        func.coalesce(_INCIDENTS.diagnosed_at, _INCIDENTS.mitigated_at, _INCIDENTS.verified_at),
        func.coalesce(_INCIDENTS.mitigated_at, _INCIDENTS.verified_at),
        _INCIDENTS.verified_at,
        *_MILESTONES,
    )


_STAMP_COLUMNS = 5 + len(_MILESTONES)


def _epoch_stamps() -> list[ColumnElement[int]]:
    return [_epoch_us(stamp) for stamp in _stamps()]


def _text_stamps() -> list[ColumnElement[str]]:
    # The stored text as it is ('YYYY-MM-DD HH:MM:SS.ffffff', naive UTC): NumPy reads it to the
    # microsecond faster than SQLite's date functions, which also round to milliseconds.
    # A missing acknowledgement (assembly, commander) reads as 'NaT' text: NumPy parses a column of text alone many
    # times faster than one with None in it.
    return [type_coerce(func.coalesce(stamp, literal_column("'NaT'")), String) for stamp in _stamps()]


async def _row_batches(session: AsyncSession, query: Select[*_Columns]) -> AsyncIterator[RestoredBatch]:
    # On the connection, not the ORM session: plain rows, without the ORM's per-row work.
    connection = await session.connection()
    result = await connection.stream(query.execution_options(yield_per=_ROWS_AT_A_TIME))
    async for partition in result.partitions():
        yield _batch_of_rows(partition)


def _batch_of_rows(rows: Sequence[Row[*tuple[Any, ...]]]) -> RestoredBatch:
    """Rows of _ROW_COLUMNS and the stamps as a batch."""
    ids, severity, service, method, deploy, *stamp_columns = zip(*rows, strict=True)
    codes = np.fromiter((_DEPLOY_CODES[d] for d in deploy), dtype=np.int8, count=len(deploy))
    return RestoredBatch(ids, severity, service, method, codes, _stamp_array(stamp_columns))


_DEPLOY_CODES = {None: -1, False: 0, True: 1}
# Between the values of a text column joined by group_concat: a control character no name holds
# (should one, the parts no longer match the count and the batch is read row by row instead).
_SEPARATOR = "\x1f"
_STAMP_WIDTH = len("2026-11-23 09:00:00.000000")
# Where a stamp is missing, the SQLite read joins this in its place: as wide as a stamp, never one.
_NO_STAMP = " " * _STAMP_WIDTH


def _sqlite_joined(column: SQLColumnExpression[Any], separator: str = "") -> ColumnElement[str]:
    # The separator as a literal in the statement's text: char(31) would be a call for every row.
    return type_coerce(func.group_concat(type_coerce(column, String), literal_column(f"'{separator}'")), String)


def _postgresql_joined(column: SQLColumnExpression[Any], separator: str = "") -> ColumnElement[str]:
    return type_coerce(func.string_agg(cast(column, String), literal_column(f"chr({ord(separator)})") if separator else ""), String)


def _epoch_us(stamp: SQLColumnExpression[Any]) -> ColumnElement[int]:
    return cast(func.extract("epoch", stamp) * 1_000_000, BigInteger)


def _float_epoch_us(stamp: SQLColumnExpression[Any]) -> ColumnElement[int]:
    """Epoch microseconds through date_part's double, twice the speed of extract's numeric, and
    exact while |t| < 2⁵² µs (1827 to 2112): the stored int64 µs / 10⁶ and then × 10⁶ are each
    correctly rounded, off by under ¼ µs each there, so the cast's rounding gives the integer back."""
    return cast(func.date_part("epoch", stamp) * 1_000_000, BigInteger)


# Where _float_epoch_us is exact; a batch with a stamp outside is read with extract instead.
_EXACT_FLOAT_EPOCH_US = 2**52


def _postgresql_aggregated() -> tuple[ColumnElement[Any], ...]:
    """One row per batch: each column's values joined into one value by the database, in the same
    row order for every column (the database steps each aggregate of a row together: PostgreSQL
    does, in a parallel plan as well, combining each worker's part in one order), so Python never
    holds an object per value. The ids and stamps in binary, as PostgreSQL sends them
    (``int8send``, ``timestamptz_send``: big-endian int64, the stamps in µs since 2000-01-01, the
    int64 minimum where there is none; the implied diagnosed and mitigated stamps are taken in
    NumPy); the names as text, a missing service and the deploy data as digits beside them.
    Measured on 100,000 incidents, ten batches through asyncpg: 82 ms, against 171 ms for the
    same figures as decimal text of ``date_part('epoch')`` (whose float also needed a range check)."""
    joined = _postgresql_joined
    return (
        func.count(),
        _postgresql_binary_joined(func.int8send(_INCIDENTS.id)),
        joined(_INCIDENTS.severity, _SEPARATOR),
        joined(func.coalesce(_INCIDENTS.service, ""), _SEPARATOR),
        joined(case((_INCIDENTS.service.is_(None), "1"), else_="0")),
        joined(_INCIDENTS.detection_method, _SEPARATOR),
        joined(case((_INCIDENTS.deploy_found.is_(None), "2"), (_INCIDENTS.deploy_found.is_(True), "1"), else_="0")),
        *(_postgresql_binary_joined(func.coalesce(func.timestamptz_send(stamp), _POSTGRESQL_NO_STAMP)) for stamp in _STORED_STAMPS),
    )


def _postgresql_binary_joined(column: SQLColumnExpression[Any]) -> ColumnElement[bytes]:
    return type_coerce(func.string_agg(column, literal_column("''::bytea")), LargeBinary)


# Where a stamp is missing, the PostgreSQL read joins the int64 minimum (NumPy's NaT) in its place.
_POSTGRESQL_NO_STAMP: ColumnElement[bytes] = literal_column("'\\x8000000000000000'::bytea")
# PostgreSQL's epoch, 2000-01-01, in µs after the Unix epoch.
_POSTGRESQL_EPOCH_US = 946_684_800 * 1_000_000


def _sqlite_aggregated() -> tuple[ColumnElement[Any], ...]:
    """As ``_postgresql_aggregated``, in the cheapest form for SQLite, which evaluates every
    expression of every row in its virtual machine: each stamp as it is stored (fixed-width text,
    _NO_STAMP where there is none; the implied diagnosed and mitigated stamps are taken in NumPy),
    separators as literals, and a missing service and the deploy data as digits from the stored
    values themselves (``service IS NULL``, ``ifnull(deploy_found, 2)``) rather than through CASE.
    Measured on 100,000 incidents: about two thirds of the time of the coalesce-and-CASE form."""
    joined = _sqlite_joined
    return (
        func.count(),
        joined(_INCIDENTS.id, ","),
        joined(_INCIDENTS.severity, _SEPARATOR),
        joined(func.ifnull(_INCIDENTS.service, ""), _SEPARATOR),
        joined(_INCIDENTS.service.is_(None)),
        joined(_INCIDENTS.detection_method, _SEPARATOR),
        joined(func.ifnull(_INCIDENTS.deploy_found, 2)),
        *(joined(stamp if stamp.key in _NEVER_MISSING else _or_no_stamp(stamp)) for stamp in _STORED_STAMPS),
    )


# The stored stamps the aggregated reads join, in RestoredBatch.stamps_us's order before the implied ones are filled.
_STORED_STAMPS = (*_TIMELINE, *_MILESTONES)

# Stamps no row an aggregate reads is without (NOT NULL columns, and verified_at by the read's own
# condition): joined as stored, without an ifnull evaluated for each row (the ten aggregates over
# 100,000 incidents, plain sqlite3, best of 5, three alternations: 100-104 ms with it, 95-99 without).
# Should one be missing all the same, its text is short of the count and the part is read row by row.
_NEVER_MISSING = frozenset({stamp.key for stamp in _STORED_STAMPS if not stamp.nullable} | {_INCIDENTS.verified_at.key})


def _or_no_stamp(stamp: SQLColumnExpression[Any]) -> ColumnElement[str]:
    return type_coerce(func.ifnull(stamp, literal_column(f"'{_NO_STAMP}'")), String)


_SQLITE_AGGREGATED = _sqlite_aggregated()
_POSTGRESQL_AGGREGATED = _postgresql_aggregated()


def _split_texts(
    severity: str, service: str, no_service: str, method: str, count: int
) -> tuple[list[str], list[str | None], list[str]] | None:
    """The name columns of an aggregated batch; None when a name holds the separator."""
    texts = [severity.split(_SEPARATOR), service.split(_SEPARATOR), method.split(_SEPARATOR)]
    if any(len(values) != count for values in texts) or len(no_service) != count:
        return None
    missing = _digits(no_service) == 1
    services: list[str | None] = list(texts[1])
    if missing.any():
        services = [None if none else name for name, none in zip(services, missing.tolist(), strict=True)]
    return texts[0], services, texts[2]


def _deploy_codes(deploy: str, count: int) -> np.ndarray | None:
    """RestoredBatch.deploys from the digits (2: no deploy data); None when not one digit 0-2 each."""
    codes = _digits(deploy)
    if len(codes) != count or (codes > 2).any():
        return None
    deploy_codes = codes.astype(np.int8)
    deploy_codes[deploy_codes == 2] = -1
    return deploy_codes


def _checked_batch(
    ids: np.ndarray, count: int, names: tuple[list[str], list[str | None], list[str]], deploys: np.ndarray, stamps: np.ndarray
) -> RestoredBatch:
    batch = RestoredBatch(ids, *names, deploys, stamps)
    if len(batch.ids) != count or len(batch.deploys) != count or batch.stamps_us.shape != (count, _STAMP_COLUMNS):
        raise ValueError(f"an aggregated batch of {count} incidents came back misaligned")
    return batch


def _empty_batch() -> RestoredBatch:
    return RestoredBatch((), (), (), (), np.empty(0, dtype=np.int8), np.empty((0, _STAMP_COLUMNS), dtype=np.int64))


def _sqlite_batch(row: Row[*tuple[Any, ...]]) -> RestoredBatch | None:
    """The batch from one row of _SQLITE_AGGREGATED; None when a name holds the separator or a
    stamp is not in SQLAlchemy's fixed-width text."""
    count, ids, severity, service, no_service, method, deploy, *stamps = row
    if not count:
        return _empty_batch()
    names = _split_texts(severity, service, no_service, method, count)
    deploys = _deploy_codes(deploy, count)
    parsed = [stored_stamps_us(text, count) for text in stamps]
    columns = [column for column in parsed if column is not None]
    if names is None or deploys is None or len(columns) != len(parsed):
        return None
    started, detected, diagnosed, mitigated, verified, *milestones = columns
    if ((started == _NAT) | (detected == _NAT) | (verified == _NAT)).any():
        return None  # not what the query selects: read it row by row, which says what is wrong
    return _checked_batch(
        np.fromstring(ids, dtype=np.int64, sep=","),
        count,
        names,
        deploys,
        _with_implied(started, detected, diagnosed, mitigated, verified, milestones),
    )


def _with_implied(
    started: np.ndarray,
    detected: np.ndarray,
    diagnosed: np.ndarray,
    mitigated: np.ndarray,
    verified: np.ndarray,
    milestones: list[np.ndarray],
) -> np.ndarray:
    """RestoredBatch.stamps_us from the stored stamps: the implied stamps, as the buttons set them
    (a missing diagnosed or mitigated one takes the next present one's time)."""
    mitigated = np.where(mitigated == _NAT, verified, mitigated)
    diagnosed = np.where(diagnosed == _NAT, mitigated, diagnosed)
    return np.stack([started, detected, diagnosed, mitigated, verified, *milestones], axis=1)


def _postgresql_batch(row: Row[*tuple[Any, ...]]) -> RestoredBatch | None:
    """The batch from one row of _POSTGRESQL_AGGREGATED; None when a name holds the separator or a
    stamp is infinite."""
    count, ids, severity, service, no_service, method, deploy, *stamps = row
    if not count:
        return _empty_batch()
    names = _split_texts(severity, service, no_service, method, count)
    deploys = _deploy_codes(deploy, count)
    if names is None or deploys is None:
        return None
    columns = [np.frombuffer(stamp, dtype=">i8").astype(np.int64) for stamp in stamps]
    if any(len(column) != count for column in columns) or len(ids) != 8 * count:
        raise ValueError(f"an aggregated batch of {count} incidents came back misaligned")
    for column in columns:
        if (column == _PG_INFINITY).any():
            return None  # 'infinity': read it row by row, which says what is wrong
        column[column != _NAT] += _POSTGRESQL_EPOCH_US
    started, detected, diagnosed, mitigated, verified, *milestones = columns
    if ((started == _NAT) | (detected == _NAT) | (verified == _NAT)).any():
        return None
    return _checked_batch(
        np.frombuffer(ids, dtype=">i8").astype(np.int64),
        count,
        names,
        deploys,
        _with_implied(started, detected, diagnosed, mitigated, verified, milestones),
    )


_PG_INFINITY = np.iinfo(np.int64).max


def _digits(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8) - ord("0")


def stored_stamps_us(text: str, count: int) -> np.ndarray | None:
    """``count`` stamps as SQLAlchemy stores them on SQLite ('YYYY-MM-DD HH:MM:SS.ffffff', naive
    UTC), joined with nothing between them, as int64 epoch microseconds (NumPy reads them to the
    microsecond; SQLite's date functions round to milliseconds); _NO_STAMP reads as NaT. None when
    any is not in that form (the batch is then read row by row)."""
    if len(text) != count * _STAMP_WIDTH:
        return None
    try:
        stamps = np.frombuffer(bytearray(text.encode("ascii")), dtype=f"S{_STAMP_WIDTH}")
        stamps[stamps == _NO_STAMP.encode("ascii")] = b"NaT"
        parsed: np.ndarray = stamps.astype("datetime64[us]").astype(np.int64)
    except (UnicodeEncodeError, ValueError):
        return None
    return parsed


@dataclass(frozen=True)
class _Table:
    """What the read of a window is planned from: the incidents' count, and the first and last of
    their starts and ids (each an index's end, read in one statement)."""

    count: int
    first_start: datetime | None
    last_start: datetime | None
    low_id: int | None
    high_id: int | None

    def share_started(self, since: datetime, until: datetime) -> float:
        """About how many of the incidents started in [since, until), as the share of the span of
        their starts it covers: the plan's estimate (counting them took as long as a tenth of the read)."""
        first, last = self.first_start, self.last_start
        if first is None or last is None or until <= first or since > last:
            return 0.0
        if last == first:
            return 1.0
        return (min(until, last) - max(since, first)) / (last - first)


def _table(connection: Connection) -> _Table:
    # One scalar subquery each: SQLite reads a lone min() or max() from the end of an index, and
    # min() and max() side by side in one select by a scan.
    values = (
        select(func.count()).select_from(Incident.__table__),
        select(func.min(_INCIDENTS.started_at)),
        select(func.max(_INCIDENTS.started_at)),
        select(func.min(_INCIDENTS.id)),
        select(func.max(_INCIDENTS.id)),
    )
    row = connection.execute(select(*(value.scalar_subquery() for value in values))).one()
    return _Table(*row)


def _chunks(connection: Connection, since: datetime, until: datetime, *, by_rowid: bool) -> list[tuple[ColumnElement[bool], ...]]:
    """The parts [since, until) is read in, each about AGGREGATED_ROWS incidents: a batch's text
    stays bounded however long the history."""
    table = _table(connection)
    share = table.share_started(since, until)
    if not share or table.low_id is None or table.high_id is None:
        return []
    if 2 * share > 1:
        # Most of the table: by ranges of ids, which follow the table's order on disk. SQLite has
        # no statistics to see that the window holds most incidents, and would walk the started_at
        # index row by row: a unary + keeps the column out of its index choice (its documented way).
        started: SQLColumnExpression[datetime] = _INCIDENTS.started_at
        if by_rowid:
            started = type_coerce(literal_column(f"+{Incident.__tablename__}.started_at"), UTCDateTime())
        low, high = table.low_id, table.high_id
        step = max(1, math.ceil((high - low + 1) * AGGREGATED_ROWS / table.count))
        return [
            (_INCIDENTS.id >= start, _INCIDENTS.id < start + step, started >= since, started < until)
            for start in range(low, high + 1, step)
        ]
    # Through the started_at index, cut where every AGGREGATED_ROWS-th start falls (index-only reads).
    cuts = [since]
    while True:
        after = connection.execute(
            select(_INCIDENTS.started_at)
            .where(_INCIDENTS.started_at >= cuts[-1], _INCIDENTS.started_at < until)
            .order_by(_INCIDENTS.started_at)
            .offset(AGGREGATED_ROWS)
            .limit(1)
        ).scalar_one_or_none()
        if after is None:
            break
        if after <= cuts[-1]:  # more than a batch started at the same moment: cut after it
            after = connection.execute(
                select(func.min(_INCIDENTS.started_at)).where(_INCIDENTS.started_at > cuts[-1], _INCIDENTS.started_at < until)
            ).scalar_one_or_none()
            if after is None:
                break
        cuts.append(after)
    cuts.append(until)
    return [(_INCIDENTS.started_at >= low, _INCIDENTS.started_at < high) for low, high in pairwise(cuts)]


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
    scope: IncidentScope,
) -> Sequence[FactRow]:
    """Every incident of the scope still open that started before ``until``, with FACT_COLUMNS."""
    connection = await session.connection()
    return (await connection.execute(_open_query(until, scope))).all()


def _open_query(until: datetime, scope: IncidentScope) -> Select[*tuple[Any, ...]]:
    query = select(*FACT_COLUMNS).where(_INCIDENTS.verified_at.is_(None), _INCIDENTS.started_at < until)
    return _scoped(query, scope).order_by(_INCIDENTS.id)


async def private_incidents(session: AsyncSession, incident_ids: Sequence[int]) -> set[int]:
    if not incident_ids:
        return set()
    rows = await session.execute(select(_INCIDENTS.id).where(_INCIDENTS.id.in_(list(incident_ids)), _INCIDENTS.is_private.is_(True)))
    return set(rows.scalars())


async def war_rooms(session: AsyncSession, incident_ids: Sequence[int]) -> dict[int, str]:
    """The war rooms reports link to: a private incident's war room is never linked."""
    if not incident_ids:
        return {}
    rows = await session.execute(
        select(_INCIDENTS.id, _INCIDENTS.channel_id).where(
            _INCIDENTS.id.in_(list(incident_ids)), _INCIDENTS.channel_id.is_not(None), _INCIDENTS.is_private.is_(False)
        )
    )
    return {row.id: row.channel_id for row in rows}


# --------------------------------------------------------------------------------------------
# Deploys, for DORA's four keys


@dataclass(frozen=True)
class DeployReportColumns:
    """The deploys a report reads, as columns: the service as codes into ``service_keys``,
    deployed_at and commit_time as epoch microseconds (commit: _NAT where none was reported), and
    whether an incident is linked."""

    service_keys: tuple[str, ...]
    service_codes: np.ndarray  # int32
    deployed_us: np.ndarray
    commit_us: np.ndarray
    failed: np.ndarray


# Deploys per aggregated read: bounds the text one read holds, as AGGREGATED_ROWS does for incidents.
DEPLOY_ROWS = 50_000


async def deploy_columns(
    session: AsyncSession, since: datetime, until: datetime, *, environment: str, services: Sequence[str] | None = None
) -> DeployReportColumns:
    """Deploys to ``environment`` with since <= deployed_at < until (in no order), and whether an
    incident is linked to each (change failure rate). As the incidents are read: each column of up
    to DEPLOY_ROWS deploys joined into one text by the database and parsed by NumPy; a part whose
    text is not in the expected form is read row by row instead."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    where: list[ColumnElement[bool]] = [Deploy.environment == environment, Deploy.deployed_at >= since, Deploy.deployed_at < until]
    if services:
        where.append(Deploy.service.in_(sorted(set(services))))
    connection = await session.connection()
    low, high = (await connection.execute(select(func.min(Deploy.id), func.max(Deploy.id)).where(*where))).one()
    # A year of deploys names a few dozen services: the database answers each deploy's as a code.
    names = (await connection.execute(select(Deploy.service).where(*where).distinct())).scalars().all()
    keys: dict[str, int] = {name: code for code, name in enumerate(sorted(names))}
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    if low is not None:
        aggregate = _deploy_aggregate(sqlite, keys)
        for start in range(low, high + 1, DEPLOY_ROWS):
            part = (*where, Deploy.id >= start, Deploy.id < start + DEPLOY_ROWS)
            found = _deploy_batch((await connection.execute(select(*aggregate).where(*part))).one(), sqlite=sqlite)
            if found is None:
                batch_ids, batch_names, deployed_us, commit_us = await _deploy_rows(connection, part, sqlite=sqlite)
                codes = np.fromiter((keys.setdefault(name, len(keys)) for name in batch_names), dtype=np.int32, count=len(batch_names))
                found = (batch_ids, codes, deployed_us, commit_us)
            parts.append(found)
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return DeployReportColumns((), np.empty(0, dtype=np.int32), empty, empty.copy(), np.empty(0, dtype=bool))
    ids = np.concatenate([p[0] for p in parts])
    # The deploys a real incident is linked to (a drill's link is a rehearsal, not a failed change).
    real_links = select(IncidentDeploy.deploy_id).join(Incident, Incident.id == IncidentDeploy.incident_id).where(REAL_INCIDENTS)
    linked = np.fromiter((await connection.execute(real_links.distinct())).scalars(), dtype=np.int64)
    return DeployReportColumns(
        tuple(keys),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        np.concatenate([p[3] for p in parts]),
        np.isin(ids, linked),
    )


def _deploy_aggregate(sqlite: bool, service_codes: Mapping[str, int]) -> tuple[ColumnElement[Any], ...]:
    """One row: the count, then ids, service codes (-1: a service not in ``service_codes``),
    deployed_at and commit_time joined. SQLite: the fixed-width stored text, _NO_STAMP where no
    commit time was reported; PostgreSQL: epoch µs, deployed_at where none, with a digit saying which."""
    code = case(dict(service_codes), value=Deploy.service, else_=-1) if service_codes else literal_column("-1")
    if sqlite:
        return (
            func.count(),
            _sqlite_joined(Deploy.id, ","),
            _sqlite_joined(code, ","),
            _sqlite_joined(Deploy.deployed_at),
            _sqlite_joined(_or_no_stamp(Deploy.commit_time)),
        )
    commit = func.coalesce(Deploy.commit_time, Deploy.deployed_at)
    return (
        func.count(),
        _postgresql_joined(Deploy.id, ","),
        _postgresql_joined(code, ","),
        *(_postgresql_joined(_float_epoch_us(stamp), ",") for stamp in (Deploy.deployed_at, commit)),
        _postgresql_joined(case((Deploy.commit_time.is_(None), "0"), else_="1")),
    )


def _deploy_batch(row: Row[*tuple[Any, ...]], *, sqlite: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    count, ids, service_codes, deployed, committed, *has_commit = row
    if not count:
        empty = np.empty(0, dtype=np.int64)
        return empty, np.empty(0, dtype=np.int32), empty.copy(), empty.copy()
    codes = np.fromstring(service_codes, dtype=np.int64, sep=",")
    if len(codes) != count or (codes < 0).any():  # a service added since the codes were read
        return None
    if sqlite:
        deployed_read, commit_read = stored_stamps_us(deployed, count), stored_stamps_us(committed, count)
        if deployed_read is None or commit_read is None or (deployed_read == _NAT).any():
            return None
        deployed_us, commit_us = deployed_read, commit_read
    else:
        deployed_us, commit_us = (np.fromstring(text, dtype=np.int64, sep=",") for text in (deployed, committed))
        if any(len(c) and np.abs(c).max() >= _EXACT_FLOAT_EPOCH_US for c in (deployed_us, commit_us)):
            return None
        commit_us[_digits(has_commit[0]) == 0] = _NAT
    batch_ids = np.fromstring(ids, dtype=np.int64, sep=",")
    if not len(batch_ids) == len(deployed_us) == len(commit_us) == count:
        raise ValueError(f"an aggregated read of {count} deploys came back misaligned")
    return batch_ids, codes.astype(np.int32), deployed_us, commit_us


async def _deploy_rows(
    connection: Any, where: Sequence[ColumnElement[bool]], *, sqlite: bool
) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """The same part row by row (a service name holding the separator, a stamp in another form)."""

    def stamp(column: Any) -> ColumnElement[Any]:
        if sqlite:  # 'YYYY-MM-DD HH:MM:SS.ffffff', naive UTC; a missing one as NumPy's 'NaT'
            return type_coerce(func.coalesce(column, literal_column("'NaT'")), String)
        return _epoch_us(column)

    rows = (
        await connection.execute(select(Deploy.id, Deploy.service, stamp(Deploy.deployed_at), stamp(Deploy.commit_time)).where(*where))
    ).all()
    if not rows:
        empty = np.empty(0, dtype=np.int64)
        return empty, [], empty.copy(), empty.copy()
    ids, names, deployed, committed = zip(*rows, strict=True)
    if sqlite:
        deployed_us = np.array(deployed, dtype="datetime64[us]").astype(np.int64)
        commit_us = np.array(committed, dtype="datetime64[us]").astype(np.int64)
    else:
        deployed_us = np.asarray(deployed, dtype=np.int64)
        commit_us = np.fromiter((_NAT if v is None else v for v in committed), dtype=np.int64, count=len(committed))
    return np.asarray(ids, dtype=np.int64), list(names), deployed_us, commit_us


async def data_version(session: AsyncSession) -> tuple[object, ...]:
    """What changes whenever a figure's rows change: the incidents' count, newest id and latest
    update (every write of an incident sets ``updated_at``), the newest timeline event, the
    deploys' count and newest id, and the links between them. One indexed-or-scanned aggregate each, read together (milliseconds at
    100,000 incidents, against the hundreds a report's read takes)."""
    values = (
        select(func.count()).select_from(Incident),
        select(func.max(Incident.id)),
        select(func.max(Incident.updated_at)),
        # Every stamp and change is also a timeline event: a second write within the same
        # microsecond (a frozen test clock) leaves updated_at as it was, never the newest event.
        select(func.max(TimelineEvent.id)),
        select(func.count()).select_from(Deploy),
        select(func.max(Deploy.id)),
        select(func.count()).select_from(IncidentDeploy),
    )
    row = (await session.execute(select(*(value.scalar_subquery() for value in values)))).one()
    return tuple(row)
