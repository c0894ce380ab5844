"""Stamping a phase: one conditional UPDATE per click, so exactly one of any racing clicks wins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from bot.core.clock import Clock
from bot.core.phases import Stamp, StampRefused, StampValue, plan_stamp
from bot.core.records import IncidentRecord
from bot.incidents.operations import record_role, to_record
from storage import incidents as incident_rows
from storage.db import Database

# A click that loses a race re-reads and plans again; the phase count bounds how often that helps.
_ATTEMPTS = 4


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


class Stamper:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def stamp(
        self, incident_id: int, stamp: Stamp, *, by: str, at: datetime | None = None, read: IncidentRecord | None = None
    ) -> StampOutcome:
        """``read`` is the incident as the caller just read it: the first attempt plans from it
        instead of reading again. The conditional UPDATE checks the plan against the row as it is
        at that moment, so a stale read costs a second attempt, never a wrong stamp."""
        at = at or self._clock()
        for _ in range(_ATTEMPTS):
            async with self._db.transaction() as session:
                if read is not None:
                    record, read = read, None
                else:
                    row = await incident_rows.get(session, incident_id)
                    if row is None:
                        return StampOutcome(StampResult.UNKNOWN_INCIDENT, stamp, incident_id=incident_id)
                    record = to_record(row)
                existing = record.timeline.get(stamp)
                if existing is not None:
                    return StampOutcome(StampResult.ALREADY, stamp, record, existing)
                try:
                    plan = plan_stamp(record.timeline, stamp, at, by)
                except StampRefused as refusal:
                    return StampOutcome(StampResult.REFUSED, stamp, record, reason=str(refusal))
                assert plan is not None
                columns: dict[str, object] = {}
                for implied in plan.implied:
                    columns |= {f"{implied.value}_at": at, f"{implied.value}_by": by, f"{implied.value}_implied": True}
                columns[f"{stamp.value}_by"] = by
                if stamp is Stamp.VERIFIED:
                    columns["status"] = "resolved"
                stamped = await incident_rows.set_if_empty(
                    session,
                    incident_id,
                    f"{stamp.value}_at",
                    at,
                    at=at,
                    also_empty=[f"{s.value}_at" for s in plan.implied],
                    **columns,
                )
                if stamped is None:
                    continue  # someone stamped this or an earlier phase meanwhile: look again
                implied_text = f" ({', '.join(s.value for s in plan.implied)} implied)" if plan.implied else ""
                await incident_rows.add_event(
                    session,
                    incident_id,
                    "phase_stamped",
                    at=at,
                    actor=by,
                    text=f"Marked {stamp.value}{implied_text}",
                    data={"stamp": stamp.value, "at": at.isoformat(), "implied": [s.value for s in plan.implied]},
                )
                if stamp is Stamp.VERIFIED:
                    await incident_rows.add_event(
                        session, incident_id, "resolved", at=at, actor=by, text="Service confirmed healthy; incident resolved"
                    )
                return StampOutcome(StampResult.STAMPED, stamp, to_record(stamped), plan.value, plan.implied)
        async with self._db.transaction() as session:
            row = await incident_rows.get(session, incident_id)
            assert row is not None
            record = to_record(row)
        return StampOutcome(StampResult.ALREADY, stamp, record, record.timeline.get(stamp))

    async def acknowledge(self, incident_id: int, *, by: str, at: datetime | None = None) -> AckOutcome:
        return await acknowledge(self._db, incident_id, by=by, at=at or self._clock())


class AckResult(str, Enum):
    ACKNOWLEDGED = "acknowledged"
    ALREADY = "already"
    NOT_OPEN = "not_open"
    UNKNOWN_INCIDENT = "unknown_incident"


@dataclass(frozen=True)
class AckOutcome:
    result: AckResult
    record: IncidentRecord | None = None


async def acknowledge(db: Database, incident_id: int, *, by: str, at: datetime) -> AckOutcome:
    """Stamp who took the incident on, once: the conditional UPDATE picks one winner of racing clicks.
    Not a phase: it is never implied by a stamp and implies none."""
    async with db.transaction() as session:
        row = await incident_rows.get(session, incident_id, for_update=True)
        if row is None:
            return AckOutcome(AckResult.UNKNOWN_INCIDENT)
        if row.acknowledged_at is not None:
            return AckOutcome(AckResult.ALREADY, to_record(row))
        if row.status != "open":
            return AckOutcome(AckResult.NOT_OPEN, to_record(row))
        fresh = await incident_rows.set_if_empty(session, incident_id, "acknowledged_at", at, at=at, acknowledged_by=by)
        if fresh is None:  # the row lock above rules it out; the database has the last word all the same
            return AckOutcome(AckResult.ALREADY, to_record(row))
        await incident_rows.add_event(
            session, incident_id, "acknowledged", at=at, actor=by, text="Acknowledged", data={"at": at.isoformat()}
        )
        if fresh.detection_method == "alert" and fresh.commander == fresh.opened_by:
            # An alert opened it and the bot holds command: whoever takes it on takes command, so
            # that someone may mark it verified, correct times and assign roles.
            text = f"Incident commander: <@{by}> (was <@{fresh.opened_by}>, by acknowledging)"
            await record_role(session, incident_id, "commander", by, previous=fresh.opened_by, by=by, at=at, text=text)
            await session.refresh(fresh)
        return AckOutcome(AckResult.ACKNOWLEDGED, to_record(fresh))
