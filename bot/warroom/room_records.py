"""A war room's step bookkeeping: what the database shows done, recording each step as Slack
confirms it, the failures noted in the timeline and the words that tell them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.clock import Clock
from bot.core.records import IncidentRecord
from bot.incidents.operations import to_record
from bot.slack import SlackError
from bot.slack.steps import StepFailure, StepOutcome, StillNeeded, is_database_error, still_empty
from storage import clicks as click_rows
from storage import incidents as incident_rows
from storage.db import Database, Statements

log = logging.getLogger(__name__)

BUSY = "{step}: another repair is doing this right now; check `/incident status` in a minute"
DATABASE_AWAY = "the incident database stopped answering before this was done or recorded"


async def always_needed(_session: AsyncSession, _incident_id: int) -> bool:
    return True


def lacks(column: str) -> StillNeeded:
    """A check, run under a step's claim, that the incident's ``column`` is still empty."""
    return still_empty(incident_rows.get, column)


def failure_words(failure: StepFailure, *, database_away: str = DATABASE_AWAY) -> str:
    if failure.slack_error is not None:
        return f"{failure.what}: {failure.slack_error}"
    if failure.busy:
        return BUSY.format(step=failure.what)
    return f"{failure.what}: {database_away}"


@dataclass(frozen=True)
class Progress:
    incident: IncidentRecord
    pinned: bool
    announced: bool
    bookmarked: bool


@dataclass
class WarRoomReport:
    channel_id: str | None = None
    done: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    # What a repair found already in place (in the database, or made by an interrupted attempt).
    already: list[str] = field(default_factory=list)

    def add(self, outcome: StepOutcome[Any], made: str, adopted: str, recorded: str | None) -> None:
        outcome.tell(self.done, self.already, made=made, adopted=adopted, recorded=recorded)


class WarRoomRecords:
    """Owns the incident row's war-room columns and timeline events: reads the progress, records each step."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def progress(self, incident_id: int) -> Progress:
        async with self._db.lookup() as session:
            row = await incident_rows.get(session, incident_id)
            if row is None:
                raise LookupError(f"INC-{incident_id} does not exist")
            return Progress(
                to_record(row),
                pinned=row.control_pinned_at is not None,
                announced=row.announcement_ts is not None,
                bookmarked=row.bookmarked_at is not None,
            )

    async def record(
        self, incident_id: int, event: str | None = None, text: str = "", data: dict[str, Any] | None = None, **fields: object
    ) -> None:
        if not event:
            await self._set_fields(incident_id, fields)
            return
        now = self._clock()

        def recorded(work: Statements) -> None:
            if fields:
                click_rows.set_fields(work, incident_id, at=now, **fields)
            click_rows.add_event(work, incident_id, event, at=now, text=text, data=data)

        # In one go (on SQLite one trip to a worker thread): a war room records each step while its
        # next call is on its way, and a statement at a time through the ORM session held the event
        # loop for about a millisecond each time. With an event the two go together.
        await self._db.run_transaction(recorded)

    async def stamp(self, incident_id: int, column: str) -> None:
        """Record that the step kept in ``column`` is done now."""
        await self.record_column(incident_id, column, self._clock())

    async def record_column(self, incident_id: int, column: str, value: object) -> None:
        """``record`` of one column named at run time (a step's message ts, when a step was done)."""
        await self._set_fields(incident_id, {column: value})

    async def _set_fields(self, incident_id: int, fields: Mapping[str, object]) -> None:
        # Progress alone is one UPDATE and needs no transaction (see record).
        if not fields:
            return
        now = self._clock()
        await self._db.run_statements(lambda work: click_rows.set_fields(work, incident_id, at=now, **fields))

    def note_step_failed(self, incident_id: int) -> Callable[[str, SlackError], Awaitable[None]]:
        """A ``note`` for run_steps: a step that failed goes in the timeline as ``what: error``."""

        async def note(what: str, error: SlackError) -> None:
            await self.record(incident_id, "slack_step_failed", f"{what}: {error}", {"error": error.code})

        return note

    async def note_failure(self, incident_id: int, step: str, error: SlackError) -> None:
        """A Slack step that failed goes in the timeline, unless the database is away too."""
        log.warning("INC-%s: %s failed: %s (%s)", incident_id, step, error.code, error)
        try:
            await self.record(incident_id, "slack_step_failed", f"Could not {step}: {error}", {"step": step, "error": error.code})
        except Exception as db_error:
            if not is_database_error(db_error):
                raise
            log.warning("INC-%s: could not note the failure in the timeline: %s", incident_id, db_error)
