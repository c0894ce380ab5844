"""Reading the audit trail (``incident-bot audit [INC-42]``). There is no way to delete a record."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.columns import record_from_columns
from storage import audit
from storage import incidents as incident_rows
from storage.db import Database


@dataclass(frozen=True)
class AuditLine:
    id: int
    incident: str | None
    action: str
    field: str | None
    old_value: str | None
    new_value: str | None
    actor: str
    at: datetime
    reason: str

    def line(self) -> str:
        when = self.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        change = ""
        if self.field:
            change = f" {self.field}: {self.old_value or '—'} -> {self.new_value or '—'}"
        return f"{when}  {self.incident or '-':<8} {self.action}{change}  by {self.actor}  reason: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


async def read_audit_trail(db: Database, incident_id: int | None = None) -> list[AuditLine]:
    """Raises LookupError for an incident that does not exist (an empty trail is for one that does)."""
    async with db.reading() as session:
        records = await audit.trail(session, incident_id)
        if incident_id is not None and not records and await incident_rows.get(session, incident_id) is None:
            raise LookupError(f"there is no incident INC-{incident_id}")
    return [record_from_columns(AuditLine, r, incident=f"INC-{r.incident_id}" if r.incident_id else None) for r in records]
