"""What a click runs before its ack, in SQLAlchemy Core inside ``Database.run_transaction``: the read
its permission is decided on, the conditional stamp, and the timeline event. Plain functions: the
whole transaction runs in one go (on SQLite in one trip to a worker thread). The ORM versions in
storage/incidents.py serve everything else; these skip the session and its unit of work because
the ack waits for them."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Unpack, cast

from sqlalchemy import ColumnElement, CursorResult, Row, Select, Table, Update, bindparam, func, insert, literal, select, union_all, update

from storage.db import Statements
from storage.incidents import EventDetails, event_columns
from storage.models import Incident, TimelineEvent
from storage.types import UTCDateTime

_INCIDENTS = cast(Table, Incident.__table__)
_EVENTS = cast(Table, TimelineEvent.__table__)

# Each statement is built once, with bound parameters, and executed with a click's values: building
# one per click (its clauses, then its cache key, walked anew each time) cost more than SQLite's
# own work on it.
_READ = select(_INCIDENTS).where(_INCIDENTS.c.id == bindparam("incident_id"))
_BY_CHANNEL = select(_INCIDENTS).where(_INCIDENTS.c.channel_id == bindparam("channel_id")).order_by(_INCIDENTS.c.id.desc()).limit(1)
_ADD_EVENT = insert(_EVENTS)


@functools.cache
def _update(columns: tuple[str, ...], empty: tuple[str, ...], returning: bool) -> Update:
    """UPDATE incidents SET each of ``columns`` (from parameters named ``set_<column>``) WHERE id =
    :incident_id AND every ``empty`` column is NULL, RETURNING the whole row when asked. One per
    shape: the shapes are the few that clicks make."""
    statement = (
        update(_INCIDENTS)
        .where(_INCIDENTS.c.id == bindparam("incident_id"), *(_INCIDENTS.c[name].is_(None) for name in empty))
        .values({name: bindparam(f"set_{name}", type_=_INCIDENTS.c[name].type) for name in columns})
    )
    return statement.returning(*_INCIDENTS.c) if returning else statement


_EVENT_COLUMNS = ("kind", "occurred_at", "actor", "text", "data")


@functools.cache
def _update_with_events(columns: tuple[str, ...], empty: tuple[str, ...], events: int) -> Select[Any]:
    """PostgreSQL: ``_update`` and, only for the row it changed, ``events`` timeline events (from
    parameters named ``event<n>_<column>``), in one statement: one round trip, not one each. The
    events are one INSERT, in order (UNION ALL), so their ids keep the order they were given in."""
    stamped = _update(columns, empty, True).cte("stamped")
    rows = [
        select(stamped.c.id, *(bindparam(f"event{n}_{name}", type_=_EVENTS.c[name].type) for name in _EVENT_COLUMNS)) for n in range(events)
    ]
    added = insert(_EVENTS).from_select(["incident_id", *_EVENT_COLUMNS], rows[0] if events == 1 else union_all(*rows))
    return select(stamped).add_cte(added.cte("added"))


def _updated(work: Statements, incident_id: int, values: dict[str, Any], empty: Sequence[str] = ()) -> CursorResult[Any]:
    statement = _update(tuple(sorted(values)), tuple(empty), work.dialect.update_returning)
    return work.execute(statement, {"incident_id": incident_id} | {f"set_{name}": value for name, value in values.items()})


def read(work: Statements, incident_id: int) -> Row[Any] | None:
    """The incident's row (every column, by name, as the ORM object has them)."""
    return work.execute(_READ, {"incident_id": incident_id}).one_or_none()


def find_by_channel(work: Statements, channel_id: str) -> Row[Any] | None:
    """The latest incident whose war room ``channel_id`` is (storage.incidents.find_by_channel)."""
    return work.execute(_BY_CHANNEL, {"channel_id": channel_id}).one_or_none()


def set_if_empty(
    work: Statements,
    incident_id: int,
    column: str,
    value: Any,
    *,
    at: datetime,
    also_empty: Sequence[str] = (),
    events: Sequence[tuple[str, EventDetails]] = (),
    **also: Any,
) -> Row[Any] | None:
    """storage.incidents.set_if_empty in Core: set ``column`` (and ``also``) only while it and every
    ``also_empty`` column are still empty; the row as it now stands if this call did it, else None.
    The conditional UPDATE is what gives racing clicks, in one process or several, one winner.
    ``events`` (kind, details), each at ``at``, are added to the timeline only when this call set
    the column: on PostgreSQL in the UPDATE's own statement."""
    return _updated_with_events(work, incident_id, {column: value, "updated_at": at, **also}, (column, *also_empty), events, at=at)


def _updated_with_events(
    work: Statements,
    incident_id: int,
    values: dict[str, Any],
    empty: tuple[str, ...],
    events: Sequence[tuple[str, EventDetails]],
    *,
    at: datetime,
) -> Row[Any] | None:
    """The UPDATE of ``_update`` and then, only when it changed the row, ``events`` at ``at``; on
    PostgreSQL in one statement. The row as it now stands, or None when it did not match."""
    if events and work.dialect.name == "postgresql":
        added = [event_columns(incident_id, kind, at, details) for kind, details in events]
        parameters = {"incident_id": incident_id} | {f"set_{name}": value for name, value in values.items()}
        parameters |= {f"event{n}_{name}": row[name] for n, row in enumerate(added) for name in _EVENT_COLUMNS}
        return work.write(_update_with_events(tuple(sorted(values)), empty, len(events)), parameters).one_or_none()
    result = _updated(work, incident_id, values, empty)
    if work.dialect.update_returning:
        row = result.one_or_none()
    else:
        row = read(work, incident_id) if result.rowcount == 1 else None
    if row is not None:
        for kind, details in events:
            add_event(work, incident_id, kind, at=at, **details)
    return row


def first_of(column: str, at: datetime) -> ColumnElement[Any]:
    """A SET value keeping the column's moment when it has one, else ``at``: a first time stays first."""
    return func.coalesce(_INCIDENTS.c[column], literal(at, UTCDateTime()))


def add_event(work: Statements, incident_id: int, kind: str, *, at: datetime, **details: Unpack[EventDetails]) -> None:
    work.execute(_ADD_EVENT, event_columns(incident_id, kind, at, details))


def set_fields(
    work: Statements, incident_id: int, *, at: datetime, events: Sequence[tuple[str, EventDetails]] = (), **fields: Any
) -> Row[Any]:
    """Set ``fields`` (none: only ``updated_at``) and add ``events`` at ``at`` (on PostgreSQL in the
    same statement); the row as it now stands."""
    if not any(isinstance(value, ColumnElement) for value in fields.values()):
        row = _updated_with_events(work, incident_id, {"updated_at": at, **fields}, (), events, at=at)
        assert row is not None
        return row
    assert not events, "events with a value the database computes: not a shape any click makes"
    # A value computed by the database (first_of): built for the click, a rare one.
    statement = update(_INCIDENTS).where(_INCIDENTS.c.id == incident_id).values(updated_at=at, **fields)
    if work.dialect.update_returning:
        return work.execute(statement.returning(*_INCIDENTS.c)).one()
    work.execute(statement)
    row = read(work, incident_id)
    assert row is not None
    return row
