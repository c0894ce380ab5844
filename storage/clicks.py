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

from sqlalchemy import ColumnElement, CursorResult, Row, Table, Update, bindparam, func, insert, literal, select, update

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
    **also: Any,
) -> Row[Any] | None:
    """storage.incidents.set_if_empty in Core: set ``column`` (and ``also``) only while it and every
    ``also_empty`` column are still empty; the row as it now stands if this call did it, else None.
    The conditional UPDATE is what gives racing clicks, in one process or several, one winner."""
    result = _updated(work, incident_id, {column: value, "updated_at": at, **also}, (column, *also_empty))
    if work.dialect.update_returning:
        return result.one_or_none()
    if result.rowcount != 1:
        return None
    return read(work, incident_id)


def first_of(column: str, at: datetime) -> ColumnElement[Any]:
    """A SET value keeping the column's moment when it has one, else ``at``: a first time stays first."""
    return func.coalesce(_INCIDENTS.c[column], literal(at, UTCDateTime()))


def add_event(work: Statements, incident_id: int, kind: str, *, at: datetime, **details: Unpack[EventDetails]) -> None:
    work.execute(_ADD_EVENT, event_columns(incident_id, kind, at, details))


def set_fields(work: Statements, incident_id: int, *, at: datetime, **fields: Any) -> Row[Any]:
    """Set ``fields`` (none: only ``updated_at``); the row as it now stands."""
    if not any(isinstance(value, ColumnElement) for value in fields.values()):
        result = _updated(work, incident_id, {"updated_at": at, **fields})
        if work.dialect.update_returning:
            return result.one()
        row = read(work, incident_id)
        assert row is not None
        return row
    # A value computed by the database (first_of): built for the click, a rare one.
    statement = update(_INCIDENTS).where(_INCIDENTS.c.id == incident_id).values(updated_at=at, **fields)
    if work.dialect.update_returning:
        return work.execute(statement.returning(*_INCIDENTS.c)).one()
    work.execute(statement)
    row = read(work, incident_id)
    assert row is not None
    return row
