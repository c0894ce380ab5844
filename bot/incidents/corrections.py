"""Correcting phase times: "Edit times" on the control message.

A correction must keep the phases in order, may not lie in the future and needs a reason. The old
value, new value, who, when and why go to the append-only audit trail; the stamp's ``_by`` stays
who stamped it, and an implied stamp given a time of its own is no longer implied. Only the
times the person changed are recorded: a field left as the form showed it changes nothing, its
implied mark included.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row

from bot.core.clock import Clock
from bot.core.phases import Stamp
from bot.core.records import IncidentRecord
from bot.core.text_input import escape
from bot.incidents.operations import to_record
from storage import audit
from storage import incidents as incident_rows
from storage.db import Database
from storage.models import AuditRecord

# Modal field -> (incident column, label), in phase order.
TIME_FIELDS = {
    "started": ("started_at", "Impact started"),
    "detected": ("detected_at", "Detected"),
    "diagnosed": ("diagnosed_at", "Diagnosed"),
    "mitigated": ("mitigated_at", "Mitigated"),
    "verified": ("verified_at", "Verified"),
}
MAX_REASON = 500


def current_times(incident: IncidentRecord) -> dict[str, datetime]:
    """Every phase time the incident has, by modal field."""
    times = {"started": incident.timeline.started_at}
    for name, stamp in (
        ("detected", Stamp.DETECTED),
        ("diagnosed", Stamp.DIAGNOSED),
        ("mitigated", Stamp.MITIGATED),
        ("verified", Stamp.VERIFIED),
    ):
        value = incident.timeline.get(stamp)
        if value is not None:
            times[name] = value.at
    return times


def _untouched(shown: datetime, submitted: datetime) -> bool:
    """Whether a picker came back as the form showed it. Slack's datetimepicker takes and gives
    whole seconds and shows minutes, so a field left alone comes back as the shown time without
    its fraction of a second (a stamp has microseconds), or as the start of its minute."""
    shown_second, submitted_second = math.floor(shown.timestamp()), math.floor(submitted.timestamp())
    return submitted_second == shown_second or (submitted_second % 60 == 0 and submitted_second // 60 == shown_second // 60)


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class CorrectionPlan:
    changes: dict[str, tuple[datetime, datetime]]  # field -> (old, new)
    reason: str


class CorrectionErrors(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors  # modal block id -> message


def plan_correction(
    original: dict[str, datetime], submitted: dict[str, datetime | None], reason: str | None, *, now: datetime
) -> CorrectionPlan:
    """Check a submitted "Edit times" form against the times it showed. Pure."""
    errors: dict[str, str] = {}
    merged: dict[str, datetime] = {}
    changes: dict[str, tuple[datetime, datetime]] = {}
    for name in TIME_FIELDS:
        if name not in original:
            continue
        new = submitted.get(name)
        if new is None:
            errors[f"time_{name}"] = "A phase time can be corrected, not removed; pick a time."
            continue
        if _untouched(original[name], new):
            merged[name] = original[name]
            continue
        if new > now:
            errors[f"time_{name}"] = "That is in the future; pick a time before now."
        merged[name] = new
        changes[name] = (original[name], new)
    previous: tuple[str, datetime] | None = None
    for name, moment in merged.items():
        if previous is not None and moment < previous[1] and f"time_{name}" not in errors:
            errors[f"time_{name}"] = (
                f"{TIME_FIELDS[name][1]} can't be before {TIME_FIELDS[previous[0]][1].lower()} "
                f"({utc_text(previous[1])}): phases stay in order."
            )
        previous = (name, moment)
    clean_reason = (reason or "").strip()
    if not clean_reason:
        errors["reason"] = "Say why the times are corrected; it goes to the audit trail."
    elif len(clean_reason) > MAX_REASON:
        errors["reason"] = f"Keep the reason to {MAX_REASON} characters."
    if not changes and not errors:
        errors["reason"] = "No time was changed; change a time or cancel."
    if errors:
        raise CorrectionErrors(errors)
    return CorrectionPlan(changes, clean_reason)


class CorrectionConflict(Exception):
    """The times changed since the form was opened (a stamp or another correction)."""


class Corrections:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def apply(self, incident_id: int, plan: CorrectionPlan, *, by: str) -> IncidentRecord:
        """One transaction: the new times, an audit record per time, a timeline event."""
        now = self._clock()
        async with self._db.transaction() as session:
            row = await incident_rows.get(session, incident_id, for_update=True)
            if row is None:
                raise LookupError(f"INC-{incident_id} does not exist")
            for name, (old, _new) in plan.changes.items():
                column = TIME_FIELDS[name][0]
                if getattr(row, column) != old:
                    raise CorrectionConflict(name)
            fields: dict[str, object] = {}
            for name, (old, new) in plan.changes.items():
                fields[TIME_FIELDS[name][0]] = new
                if name in ("diagnosed", "mitigated"):
                    fields[f"{name}_implied"] = False
                await audit.append(
                    session,
                    incident_id=incident_id,
                    action="correct_time",
                    field=name,
                    old_value=old.isoformat(),
                    new_value=new.isoformat(),
                    actor=by,
                    at=now,
                    reason=plan.reason,
                )
            await incident_rows.record_fields(session, incident_id, at=now, **fields)
            described = "; ".join(
                f"{TIME_FIELDS[name][1].lower()} {utc_text(old)} → {utc_text(new)}" for name, (old, new) in plan.changes.items()
            )
            await incident_rows.add_event(
                session,
                incident_id,
                "time_corrected",
                at=now,
                actor=by,
                text=f"Corrected {described} (reason: {plan.reason})",
                data={name: {"old": old.isoformat(), "new": new.isoformat()} for name, (old, new) in plan.changes.items()}
                | {"reason": plan.reason},
            )
            fresh = await incident_rows.get(session, incident_id)
            assert fresh is not None
            await session.refresh(fresh)
            return to_record(fresh)

    async def notes(self, incident_id: int) -> list[str]:
        """One line per corrected time, for summaries and postmortems."""
        async with self._db.reading() as session:
            records = await audit.trail(session, incident_id)
        return correction_notes(records)


def correction_notes(records: Iterable[AuditRecord | Row[Any]]) -> list[str]:
    """From the trail's records (the ORM's, or Core rows of its columns)."""
    lines = []
    for record in records:
        if record.action != "correct_time":
            continue
        old = datetime.fromisoformat(record.old_value) if record.old_value else None
        new = datetime.fromisoformat(record.new_value) if record.new_value else None
        label = TIME_FIELDS.get(record.field or "", (None, record.field or "time"))[1]
        lines.append(
            f"{label} corrected from {utc_text(old) if old else '—'} to {utc_text(new) if new else '—'} "
            f"by <@{record.actor}> on {utc_text(record.at)}: {escape(record.reason or '')}"
        )
    return lines
