"""Incident operations: open, look up, report status. The row is committed before Slack is called."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import logs, metrics
from bot.core.clock import Clock
from bot.core.columns import record_from_columns
from bot.core.command_text import OpenRequest
from bot.core.phases import Stamp, StampValue, Timeline
from bot.core.records import IncidentRecord
from bot.core.roles import ROLES
from bot.core.text_input import row_number
from storage import audit
from storage import clicks as click_rows
from storage import incidents as incident_rows
from storage import openings as opening_rows
from storage.db import Database, Statements
from storage.incidents import EventDetails
from storage.models import Incident

log = logging.getLogger(__name__)
T = TypeVar("T")

_REFERENCE = re.compile(r"^(?:inc-?)?([0-9]+)$", re.IGNORECASE)


def parse_reference(text: str) -> int | None:
    """``INC-42``, ``inc42`` or ``42`` -> 42; None for anything no incident can be numbered
    (bot.core.text_input.row_number), so that it never reaches the database."""
    match = _REFERENCE.match(text.strip())
    try:
        return row_number(match.group(1)) if match else None
    except ValueError:
        return None


def to_record(row: Incident | Row[Any]) -> IncidentRecord:
    """From the ORM object or a Core row of every column (storage/clicks.py): the same names."""
    stamps = {Stamp.DETECTED: StampValue(at=row.detected_at, by=row.opened_by)}
    if row.diagnosed_at:
        stamps[Stamp.DIAGNOSED] = StampValue(row.diagnosed_at, row.diagnosed_by, row.diagnosed_implied)
    if row.mitigated_at:
        stamps[Stamp.MITIGATED] = StampValue(row.mitigated_at, row.mitigated_by, row.mitigated_implied)
    if row.verified_at:
        stamps[Stamp.VERIFIED] = StampValue(row.verified_at, row.verified_by)
    timeline = Timeline(started_at=row.started_at, stamps=stamps)
    return record_from_columns(IncidentRecord, row, timeline=timeline, is_private=bool(row.is_private), is_drill=bool(row.is_drill))


def opened_columns(
    request: OpenRequest, *, opener: str, at: datetime, request_key: str | None, origin_channel: str | None, from_alert: bool
) -> dict[str, Any]:
    """A new incident's row; its opener holds command until someone else takes it."""
    return {
        "request_key": request_key,
        "title": request.title,
        "severity": request.severity,
        "service": request.service,
        "status": "open",
        "detection_method": request.detection_method,
        "opened_by": opener,
        "commander": opener,
        # A person who opens an incident holds command from that moment; an alert's incident
        # has a commander once a person takes it on (bot.incidents.stamping.acknowledge, roles).
        "commander_set_at": None if from_alert else at,
        "origin_channel_id": origin_channel,
        "is_private": request.private,
        "is_drill": request.drill,
        "started_at": request.started_at,
        "detected_at": request.detected_at,
        "diagnosed_implied": False,
        "mitigated_implied": False,
        "created_at": at,
        "updated_at": at,
    }


def opened_event(reference: str, request: OpenRequest, *, opener: str, from_alert: bool) -> EventDetails:
    """The "opened" event of a new incident."""
    how = " from an alert" if from_alert else ""
    private = " (private)" if request.private else ""
    drill = " (drill)" if request.drill else ""
    return {
        "actor": opener,
        "text": f"Opened {reference}{how}: {request.title}{private}{drill}",
        "data": {
            "severity": request.severity,
            "service": request.service,
            "detection_method": request.detection_method,
            "started_at": request.started_at.isoformat(),
            "detected_at": request.detected_at.isoformat(),
            "private": request.private,
            "drill": request.drill,
        },
    }


async def insert_opened(
    session: AsyncSession,
    request: OpenRequest,
    *,
    opener: str,
    at: datetime,
    request_key: str | None = None,
    origin_channel: str | None = None,
    from_alert: bool = False,
) -> Incident:
    """A new incident and its "opened" event, however it was opened (a person, an alert)."""
    columns = opened_columns(request, opener=opener, at=at, request_key=request_key, origin_channel=origin_channel, from_alert=from_alert)
    row = await incident_rows.insert(session, Incident(**columns))
    await incident_rows.add_event(
        session, row.id, "opened", at=at, **opened_event(row.reference, request, opener=opener, from_alert=from_alert)
    )
    return row


def insert_opened_now(
    work: Statements, request: OpenRequest, *, opener: str, at: datetime, request_key: str, origin_channel: str | None
) -> Row[Any]:
    """``insert_opened`` for a person's open, in Core inside ``Database.run_transaction``: the row."""
    columns = opened_columns(request, opener=opener, at=at, request_key=request_key, origin_channel=origin_channel, from_alert=False)
    row = opening_rows.insert_incident(work, columns)
    click_rows.add_event(work, row.id, "opened", at=at, **opened_event(f"INC-{row.id}", request, opener=opener, from_alert=False))
    return row


async def record_role(
    session: AsyncSession, incident_id: int, role: str, user: str, *, previous: str | None, by: str, at: datetime, text: str
) -> None:
    """``role`` (a column named in bot.core.roles.ROLES) passes from ``previous`` to ``user``: on
    the incident's row and, in ``text``, on its timeline."""
    fields: dict[str, Any] = {role: user}
    if role == "commander":
        fields["commander_set_at"] = click_rows.first_of("commander_set_at", at)
    await incident_rows.record_fields(session, incident_id, at=at, **fields)
    await incident_rows.add_event(
        session, incident_id, "role_assigned", at=at, actor=by, text=text, data={"role": role, "user": user, "previous": previous}
    )


@dataclass
class Recorded(Generic[T]):
    """The outcome of recording an incident: the record, whether this request created it, and
    what ``along`` wrote with it (None when it did not create it)."""

    record: IncidentRecord
    created: bool
    along: T | None = None


class Incidents:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def record_new(
        self,
        request: OpenRequest,
        *,
        opener: str,
        request_key: str,
        origin_channel: str | None,
        along: Callable[[Statements, IncidentRecord], T] | None = None,
    ) -> Recorded[T]:
        """Commit the incident and its first timeline event, once per Slack request.

        A retried delivery or a double-submitted modal carries the same request key and gets the
        incident the first one created. The unique key, not a prior read, is what decides a race.
        ``along`` writes what belongs with a new incident (its deploys, its war room's first step
        claims) in the same transaction: one commit before the war room's channel is created. The
        transaction is plain Core statements in one go (on SQLite one trip to a worker thread, where
        ``along`` runs too), as a click's: the war room waits for this commit.
        """
        now = self._clock()

        def record(work: Statements) -> Recorded[T]:
            # Looking first keeps PostgreSQL's id sequence free of gaps from retried deliveries.
            existing = opening_rows.find_by_request_key(work, request_key)
            if existing is not None:
                return Recorded(to_record(existing), created=False)
            incident = to_record(
                insert_opened_now(work, request, opener=opener, at=now, request_key=request_key, origin_channel=origin_channel)
            )
            return Recorded(incident, created=True, along=along(work, incident) if along is not None else None)

        try:
            recorded = await self._db.run_transaction(record)
        except IntegrityError:
            existing_row = await self._db.run_transaction(lambda work: opening_rows.find_by_request_key(work, request_key))
            if existing_row is None:
                raise
            recorded = Recorded(to_record(existing_row), created=False)
        logs.set_incident(recorded.record.id)
        if recorded.created:
            metrics.INCIDENTS_OPENED.inc()
            log.info("recorded %s", recorded.record.reference)
        return recorded

    async def get(self, incident_id: int) -> IncidentRecord | None:
        async with self._db.lookup() as session:
            row = await incident_rows.get(session, incident_id)
            return to_record(row) if row else None

    async def in_channel(self, channel_id: str) -> IncidentRecord | None:
        async with self._db.lookup() as session:
            row = await incident_rows.find_by_channel(session, channel_id)
            return to_record(row) if row else None

    async def add_to_timeline(
        self, incident_id: int, kind: str, *, actor: str, text: str, data: dict[str, Any] | None = None, unique_key: str | None = None
    ) -> bool:
        """Add an event; with ``unique_key`` (in data) an event of that kind and key is added once."""
        async with self._db.transaction() as session:
            if unique_key is not None:
                for event in await incident_rows.timeline(session, incident_id):
                    if event.kind == kind and event.data.get("key") == unique_key:
                        return False
            payload = dict(data or {})
            if unique_key is not None:
                payload["key"] = unique_key
            await incident_rows.add_event(session, incident_id, kind, at=self._clock(), actor=actor, text=text, data=payload)
            await incident_rows.record_fields(session, incident_id, at=self._clock())
        return True

    async def assign_role(self, incident_id: int, role: str, user: str, *, by: str) -> tuple[IncidentRecord, str | None] | None:
        """Give ``role`` to ``user``: the record and who held it before; None when they already do."""
        now = self._clock()
        async with self._db.transaction() as session:
            row = await incident_rows.get(session, incident_id, for_update=True)
            if row is None:
                raise LookupError(f"INC-{incident_id} does not exist")
            previous = getattr(row, role)
            if previous == user:
                return None
            was = f" (was <@{previous}>)" if previous else ""
            await record_role(session, incident_id, role, user, previous=previous, by=by, at=now, text=f"{ROLES[role]}: <@{user}>{was}")
            await session.refresh(row)
            return to_record(row), previous

    async def change_severity(self, incident_id: int, severity: str, *, by: str) -> tuple[IncidentRecord, str] | None:
        """The record and the severity before; None when it already is ``severity``."""
        now = self._clock()
        async with self._db.transaction() as session:
            row = await incident_rows.get(session, incident_id, for_update=True)
            if row is None:
                raise LookupError(f"INC-{incident_id} does not exist")
            previous = row.severity
            if previous == severity:
                return None
            await incident_rows.record_fields(session, incident_id, at=now, severity=severity)
            await incident_rows.add_event(
                session,
                incident_id,
                "severity_changed",
                at=now,
                actor=by,
                text=f"Severity {previous} → {severity}",
                data={"from": previous, "to": severity},
            )
            await session.refresh(row)
            return to_record(row), previous

    async def record_breakglass(self, incident_id: int, reason: str, *, by: str) -> None:
        """An emergency-access grant: on the timeline (for the postmortem) and in the audit trail."""
        now = self._clock()
        async with self._db.transaction() as session:
            await incident_rows.add_event(
                session, incident_id, "breakglass", at=now, actor=by, text=f"Break-glass access: {reason}", data={"reason": reason}
            )
            await audit.append(session, incident_id=incident_id, action="breakglass", actor=by, at=now, reason=reason)
            await incident_rows.record_fields(session, incident_id, at=now)
