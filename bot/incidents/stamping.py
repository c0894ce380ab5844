"""Stamping a phase: one short transaction per click (the read its permission is decided on, one
conditional UPDATE, the timeline event), so exactly one of any racing clicks wins."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TypeVar

from bot.core.clock import Clock
from bot.core.phases import Stamp, StampRefused, StampValue, plan_stamp
from bot.core.records import IncidentRecord
from bot.incidents.operations import to_record
from bot.incidents.permissions import PermissionChecks, PermissionFacts, Refusal, SlackNeeded, permission_facts, refusal_while_changing
from storage import clicks as click_rows
from storage import incidents as incident_rows
from storage.db import Database, Statements

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


@dataclass(frozen=True)
class ClickPermission:
    """Whether the clicker may do the click's action on the incident as read, asked of
    PermissionChecks for one action and one person: ``decide_now`` answers from what is known
    (None, or the refusal) or raises SlackNeeded; ``ask_slack`` fetches what it needs."""

    decide_now: Callable[[IncidentRecord], Refusal | None]
    ask_slack: Callable[[IncidentRecord], Awaitable[Refusal | None]]
    while_changing: Refusal  # the answer when the incident kept changing under the check


def click_permission(checks: PermissionChecks, action: str, user: str) -> ClickPermission:
    return ClickPermission(
        decide_now=lambda incident: checks.decide_now(action, incident, user),
        ask_slack=lambda incident: checks.check(action, incident, user),
        while_changing=refusal_while_changing(action),
    )


@dataclass(frozen=True)
class _AskSlackFirst:
    """The permission needs Slack: the transaction ends with nothing written, and Slack is asked."""

    incident: IncidentRecord


@dataclass(frozen=True)
class _NotPermitted:
    incident: IncidentRecord
    refusal: Refusal


Outcome = TypeVar("Outcome")
# One attempt, in its transaction, on the incident as read (None: there is none): its outcome, or
# None when the row changed under the plan (a racing click won): the attempt is made again.
Attempt = Callable[[Statements, IncidentRecord | None], Outcome | None]


async def _permitted_in_one_transaction(
    db: Database, incident_id: int, permission: ClickPermission | None, attempt: Attempt[Outcome]
) -> Outcome | _NotPermitted | None:
    """Read the incident, decide ``permission`` on that read and make the ``attempt``, in one short
    transaction (Core statements, one trip to the database thread on SQLite), so that the
    permission and the write see the same row. A permission that needs Slack (a war-room member
    not seen lately) is asked outside the transaction, with nothing written, and holds for a later
    read that shows the same facts (``permission_facts``). None after _ATTEMPTS lost races."""
    granted: PermissionFacts | None = None  # the facts a permission asked with Slack allowed

    def in_transaction(work: Statements) -> Outcome | _AskSlackFirst | _NotPermitted | None:
        row = click_rows.read(work, incident_id)
        record = to_record(row) if row is not None else None
        if record is not None and permission is not None and permission_facts(record) != granted:
            try:
                refusal = permission.decide_now(record)
            except SlackNeeded:
                return _AskSlackFirst(record)
            if refusal is not None:
                return _NotPermitted(record, refusal)
        return attempt(work, record)

    for _ in range(_ATTEMPTS):
        outcome = await db.run_transaction(in_transaction)
        if isinstance(outcome, _AskSlackFirst):
            assert permission is not None
            if (refusal := await permission.ask_slack(outcome.incident)) is not None:
                return _NotPermitted(outcome.incident, refusal)
            granted = permission_facts(outcome.incident)
        elif outcome is not None:
            return outcome
    return None


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
    ) -> StampOutcome:
        """The permission read, the conditional UPDATE and the timeline event in one short
        transaction (``_permitted_in_one_transaction``).

        ``read`` is the incident as the caller just read it (its permission already checked):
        the first attempt plans from it instead of reading again. The conditional UPDATE checks
        the plan against the row as it is at that moment, so a stale read costs a second
        attempt, never a wrong stamp."""
        at = at or self._clock()

        def attempt(work: Statements, record: IncidentRecord | None) -> StampOutcome | None:
            nonlocal read
            planned_from, read = read, None
            record = planned_from or record
            if record is None:
                return StampOutcome(StampResult.UNKNOWN_INCIDENT, stamp, incident_id=incident_id)
            return _stamp_read(work, record, stamp, by=by, at=at)

        outcome = await _permitted_in_one_transaction(self._db, incident_id, permission, attempt)
        if isinstance(outcome, StampOutcome):
            return outcome
        if isinstance(outcome, _NotPermitted):
            return StampOutcome(StampResult.NOT_PERMITTED, stamp, outcome.incident, reason=outcome.refusal.text, incident_id=incident_id)
        async with self._db.lookup() as session:
            found = await incident_rows.get(session, incident_id)
            assert found is not None
            record = to_record(found)
        if (existing := record.timeline.get(stamp)) is None:
            assert permission is not None  # without one, each attempt either stamps or loses to a stamp
            return StampOutcome(StampResult.NOT_PERMITTED, stamp, record, reason=permission.while_changing.text, incident_id=incident_id)
        return StampOutcome(StampResult.ALREADY, stamp, record, existing)

    async def acknowledge(
        self, incident_id: int, *, by: str, at: datetime | None = None, permission: ClickPermission | None = None
    ) -> AckOutcome:
        return await acknowledge(self._db, incident_id, by=by, at=at or self._clock(), permission=permission)


def _stamp_read(work: Statements, record: IncidentRecord, stamp: Stamp, *, by: str, at: datetime) -> StampOutcome | None:
    """The outcome of stamping the incident as ``record`` shows it; None when the row no longer
    matches the plan (a racing click stamped first)."""
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
    return StampOutcome(StampResult.STAMPED, stamp, to_record(stamped), plan.value, plan.implied)


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
            fresh = click_rows.set_fields(work, incident_id, at=at, commander=by)
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

    outcome = await _permitted_in_one_transaction(db, incident_id, permission, attempt)
    if isinstance(outcome, AckOutcome):
        return outcome
    if isinstance(outcome, _NotPermitted):
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
