"""Stamping a phase: one short transaction per click (the read its permission is decided on, one
conditional UPDATE, the timeline event), so exactly one of any racing clicks wins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

from sqlalchemy import Row

from bot.core.clock import Clock
from bot.core.phases import Stamp, StampRefused, StampValue, plan_stamp
from bot.core.records import IncidentRecord
from bot.incidents.clicks import ClickPermission, Noted, NotPermitted, add_note, permitted_in_one_transaction
from bot.incidents.operations import to_record
from storage import clicks as click_rows
from storage import incidents as incident_rows
from storage.db import Database, Statements

T = TypeVar("T")


class StampResult(str, Enum):
    STAMPED = "stamped"
    ALREADY = "already"
    REFUSED = "refused"  # the phase rules say no (out of order, in the future)
    NOT_PERMITTED = "not_permitted"  # the permissions say no: nothing was tried
    UNKNOWN_INCIDENT = "unknown_incident"


@dataclass(frozen=True)
class StampOutcome:
    result: StampResult
    stamp: Stamp
    record: IncidentRecord | None = None
    value: StampValue | None = None  # the stamp as it now stands (ours, or the earlier one)
    implied: tuple[Stamp, ...] = ()
    reason: str = ""
    incident_id: int = 0


@dataclass(frozen=True)
class StampedWith(Generic[T]):
    """A click's outcome, and what ``along`` wrote with its stamp (None when it did not stamp)."""

    outcome: StampOutcome
    along: T | None = None


class Stamper:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def stamp(
        self,
        incident_id: int,
        stamp: Stamp,
        *,
        by: str,
        at: datetime | None = None,
        read: IncidentRecord | None = None,
        permission: ClickPermission | None = None,
        along: Callable[[Statements, Row[Any]], T] | None = None,
    ) -> StampedWith[T]:
        """The permission read, the conditional UPDATE and the timeline event in one short
        transaction (``permitted_in_one_transaction``).

        ``read`` is the incident as the caller just read it (its permission already checked):
        the first attempt plans from it instead of reading again. The conditional UPDATE checks
        the plan against the row as it is at that moment, so a stale read costs a second
        attempt, never a wrong stamp. ``along`` writes, in the same transaction, what the stamp
        makes due, given the stamped row (only when this click stamped); what it returns comes
        back with the outcome."""
        at = at or self._clock()

        def attempt(work: Statements, record: IncidentRecord | None) -> StampedWith[T] | None:
            nonlocal read
            planned_from, read = read, None
            record = planned_from or record
            if record is None:
                return StampedWith(StampOutcome(StampResult.UNKNOWN_INCIDENT, stamp, incident_id=incident_id))
            return _stamp_read(work, record, stamp, by=by, at=at, along=along)

        outcome = await permitted_in_one_transaction(self._db, incident_id, permission, attempt)
        if isinstance(outcome, StampedWith):
            return outcome
        if isinstance(outcome, NotPermitted):
            return StampedWith(
                StampOutcome(StampResult.NOT_PERMITTED, stamp, outcome.incident, reason=outcome.refusal.text, incident_id=incident_id)
            )
        async with self._db.lookup() as session:
            found = await incident_rows.get(session, incident_id)
            assert found is not None
            record = to_record(found)
        if (existing := record.timeline.get(stamp)) is None:
            assert permission is not None  # without one, each attempt either stamps or loses to a stamp
            return StampedWith(
                StampOutcome(StampResult.NOT_PERMITTED, stamp, record, reason=permission.while_changing.text, incident_id=incident_id)
            )
        return StampedWith(StampOutcome(StampResult.ALREADY, stamp, record, existing))

    async def note(self, channel_id: str, kind: str, *, actor: str, text: str, permission: ClickPermission) -> Noted | NotPermitted:
        """A note or a status update onto the timeline of the war room's incident, with its permission
        read, in one short transaction (bot/incidents/clicks.py)."""
        return await add_note(self._db, channel_id, kind, actor=actor, text=text, at=self._clock(), permission=permission)

    async def acknowledge(
        self, incident_id: int, *, by: str, at: datetime | None = None, permission: ClickPermission | None = None
    ) -> AckOutcome:
        return await acknowledge(self._db, incident_id, by=by, at=at or self._clock(), permission=permission)


def _stamp_read(
    work: Statements, record: IncidentRecord, stamp: Stamp, *, by: str, at: datetime, along: Callable[[Statements, Row[Any]], T] | None
) -> StampedWith[T] | None:
    """The outcome of stamping the incident as ``record`` shows it; None when the row no longer
    matches the plan (a racing click stamped first)."""
    existing = record.timeline.get(stamp)
    if existing is not None:
        return StampedWith(StampOutcome(StampResult.ALREADY, stamp, record, existing))
    try:
        plan = plan_stamp(record.timeline, stamp, at, by)
    except StampRefused as refusal:
        return StampedWith(StampOutcome(StampResult.REFUSED, stamp, record, reason=str(refusal)))
    assert plan is not None
    columns: dict[str, object] = {}
    for implied in plan.implied:
        columns |= {f"{implied.value}_at": at, f"{implied.value}_by": by, f"{implied.value}_implied": True}
    columns[f"{stamp.value}_by"] = by
    if stamp is Stamp.VERIFIED:
        columns["status"] = "resolved"
    stamped = click_rows.set_if_empty(
        work, record.id, f"{stamp.value}_at", at, at=at, also_empty=[f"{s.value}_at" for s in plan.implied], **columns
    )
    if stamped is None:
        return None
    implied_text = f" ({', '.join(s.value for s in plan.implied)} implied)" if plan.implied else ""
    click_rows.add_event(
        work,
        record.id,
        "phase_stamped",
        at=at,
        actor=by,
        text=f"Marked {stamp.value}{implied_text}",
        data={"stamp": stamp.value, "at": at.isoformat(), "implied": [s.value for s in plan.implied]},
    )
    if stamp is Stamp.VERIFIED:
        click_rows.add_event(work, record.id, "resolved", at=at, actor=by, text="Service confirmed healthy; incident resolved")
    written = along(work, stamped) if along is not None else None
    return StampedWith(StampOutcome(StampResult.STAMPED, stamp, to_record(stamped), plan.value, plan.implied), written)


class AckResult(str, Enum):
    ACKNOWLEDGED = "acknowledged"
    ALREADY = "already"
    NOT_OPEN = "not_open"
    NOT_PERMITTED = "not_permitted"  # the permissions say no: nothing was tried
    UNKNOWN_INCIDENT = "unknown_incident"


@dataclass(frozen=True)
class AckOutcome:
    result: AckResult
    record: IncidentRecord | None = None
    reason: str = ""


async def acknowledge(db: Database, incident_id: int, *, by: str, at: datetime, permission: ClickPermission | None = None) -> AckOutcome:
    """Stamp who took the incident on, once, in one short transaction with its permission read:
    the conditional UPDATE picks one winner of racing clicks. Not a phase: it is never implied by
    a stamp and implies none."""

    def attempt(work: Statements, record: IncidentRecord | None) -> AckOutcome | None:
        if record is None:
            return AckOutcome(AckResult.UNKNOWN_INCIDENT)
        if record.acknowledged_at is not None:
            return AckOutcome(AckResult.ALREADY, record)
        if record.status != "open":
            return AckOutcome(AckResult.NOT_OPEN, record)
        fresh = click_rows.set_if_empty(work, incident_id, "acknowledged_at", at, at=at, acknowledged_by=by)
        if fresh is None:
            return None  # a racing click acknowledged it first: read again
        click_rows.add_event(work, incident_id, "acknowledged", at=at, actor=by, text="Acknowledged", data={"at": at.isoformat()})
        if fresh.detection_method == "alert" and fresh.commander == fresh.opened_by:
            # An alert opened it and the bot holds command: whoever takes it on takes command, so
            # that someone may mark it verified, correct times and assign roles.
            fresh = click_rows.set_fields(
                work, incident_id, at=at, commander=by, commander_set_at=click_rows.first_of("commander_set_at", at)
            )
            click_rows.add_event(
                work,
                incident_id,
                "role_assigned",
                at=at,
                actor=by,
                text=f"Incident commander: <@{by}> (was <@{record.opened_by}>, by acknowledging)",
                data={"role": "commander", "user": by, "previous": record.opened_by},
            )
        return AckOutcome(AckResult.ACKNOWLEDGED, to_record(fresh))

    outcome = await permitted_in_one_transaction(db, incident_id, permission, attempt)
    if isinstance(outcome, AckOutcome):
        return outcome
    if isinstance(outcome, NotPermitted):
        return AckOutcome(AckResult.NOT_PERMITTED, outcome.incident, reason=outcome.refusal.text)
    # Every attempt lost a race: the incident was acknowledged meanwhile, or kept changing.
    async with db.lookup() as session:
        found = await incident_rows.get(session, incident_id)
        assert found is not None
        record = to_record(found)
    if record.acknowledged_at is not None:
        return AckOutcome(AckResult.ALREADY, record)
    assert permission is not None
    return AckOutcome(AckResult.NOT_PERMITTED, record, reason=permission.while_changing.text)
