"""What a resolution shows, read once: the incident and its timeline, where its summaries were
posted, its action items, deploys and corrections, and the display names of its people."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass

from sqlalchemy.orm import Session

from bot.analytics.summary import MttrSummary, summarize
from bot.core.records import IncidentRecord
from bot.core.tiers import TierTables
from bot.incidents.action_items import ActionItemRecord, ActionItems, item_record
from bot.incidents.corrections import Corrections
from bot.incidents.operations import to_record
from bot.integrations.deploys import DeployMatch, Deploys, matches_of
from bot.warroom.people_names import PeopleNames
from bot.warroom.postmortem import TimelineEntry
from storage import incidents as incident_rows
from storage.db import Database
from storage.models import Incident, TimelineEvent
from storage.resolution_reads import resolution_rows

# An incident's action items and linked deploys, as ``ResolutionFacts.lists`` reads them.
Lists = tuple[list[ActionItemRecord], list[DeployMatch]]


@dataclass(frozen=True)
class ReadIncident:
    """The incident, its timeline, and where its summaries were posted: one read."""

    incident: IncidentRecord
    events: list[TimelineEntry]
    summary_ts: str | None
    announced_ts: str | None


@dataclass(frozen=True)
class Facts:
    incident: IncidentRecord
    events: list[TimelineEntry]
    summary: MttrSummary | None
    action_items: list[ActionItemRecord]
    deploys: list[DeployMatch]
    corrections: list[str]
    names: dict[str, str]  # display names by user ID; empty when not asked for


@dataclass(frozen=True, eq=False)
class ResolutionFacts:
    """Owns reading what a resolution shows: each fact once, the people's names found meanwhile."""

    db: Database
    names: PeopleNames
    _: KW_ONLY
    tiers: TierTables
    action_items: ActionItems
    deploys: Deploys
    corrections: Corrections

    async def correction_notes(self, incident_id: int) -> list[str]:
        return await self.corrections.notes(incident_id)

    def learn_names(self, incident_id: int) -> None:
        """Put on file, in the background, the display names of the incident's people as they stand
        now, so that its resolution need not ask Slack for them (bot/warroom/people_names.py)."""
        self.names.learn_later(lambda: self._people_of(incident_id), name=f"INC-{incident_id}: display names learned")

    async def _people_of(self, incident_id: int) -> set[str]:
        read = await self.read(incident_id)
        items = await self.action_items.for_incident(incident_id)
        return _people(read) | {i.owner for i in items if i.owner}

    async def read(self, incident_id: int) -> ReadIncident:
        # One snapshot, and no write lock: the resolution's writes do not queue behind it.
        async with self.db.reading() as session:
            row = await incident_rows.get(session, incident_id)
            if row is None:
                raise LookupError(f"there is no incident INC-{incident_id}")
            return _read_incident(row, await incident_rows.timeline(session, incident_id))

    async def read_with_lists(self, incident_id: int) -> tuple[ReadIncident, Lists]:
        """``read`` and ``lists`` at once, of one snapshot, in one go (storage/resolution_reads.py):
        what a verification reads while its summaries go out, on the way to the postmortem's upload."""

        def records(session: Session) -> tuple[ReadIncident, Lists]:
            rows = resolution_rows(session, incident_id)
            if rows is None:
                raise LookupError(f"there is no incident INC-{incident_id}")
            items = [item_record(item, incident) for item, incident in rows.action_items]
            return _read_incident(rows.incident, rows.timeline), (items, matches_of(rows.incident.started_at, rows.deploys))

        return await self.db.read_snapshot(records)

    async def lists(self, incident_id: int) -> Lists:
        """The incident's action items and linked deploys (for ``facts``, which reads them itself
        unless given them, e.g. read while the incident was)."""
        items, deploys = await asyncio.gather(self.action_items.for_incident(incident_id), self.deploys.for_incident(incident_id))
        return items, deploys

    async def facts(
        self,
        read: ReadIncident,
        *,
        names: bool,
        corrections: list[str] | None = None,
        lists: Lists | None = None,
        asking: asyncio.Event | None = None,
    ) -> Facts:
        """Each fact the resolution shows, read once: its summary, postmortem and action items
        are all made from these (``corrections`` and ``lists`` when the caller read them already).
        ``asking`` is set when a display name is asked of Slack (the facts then wait a round trip)."""
        incident = read.incident
        summary = summarize(incident, self.tiers) if incident.timeline.restored else None
        actors = _people(read)
        # The people of the timeline are found while the database is read.
        asked = asyncio.create_task(self.names.names(actors, asking)) if names else None
        try:
            items, deploys = lists if lists is not None else await self.lists(incident.id)
            if corrections is None:
                corrections = await self.corrections.notes(incident.id)
        except BaseException:
            if asked is not None:
                asked.cancel()
            raise
        display = await asked if asked is not None else {}
        owners = {i.owner for i in items if i.owner} - actors
        if names and owners:
            display |= await self.names.names(owners, asking)
        return Facts(incident, read.events, summary, items, deploys, corrections, display)


def _read_incident(row: Incident, timeline: Iterable[TimelineEvent]) -> ReadIncident:
    events = [TimelineEntry(e.occurred_at, e.actor, e.kind, e.text, e.data or {}) for e in timeline]
    return ReadIncident(to_record(row), events, summary_ts=row.summary_ts, announced_ts=row.summary_announcement_ts)


def _people(read: ReadIncident) -> set[str]:
    """The people of the incident's timeline: whoever acted on it, its commander and whoever was paged."""
    paged = {person for e in read.events if e.kind == "page" for person in e.data.get("people", [])}
    return {e.actor for e in read.events if e.actor} | {read.incident.commander} | paged
