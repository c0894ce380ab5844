"""The reads MTTR reports are computed from: a window's incidents (restored ones as columns, those
still open one object each), what the digest names them by, and the war rooms a report may link.
Nothing is computed here: bot.analytics.stats does every figure."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.analytics.digest import ListedIncident
from bot.analytics.stats import IncidentFacts, RestoredChunks, RestoredIncidents, WindowReport
from bot.core.columns import records_from_rows
from storage.db import Database
from storage.reports import (
    FACT_FIELDS,
    FactRow,
    IncidentScope,
    RestoredBatch,
    fact_rows,
    incident_columns,
    open_rows,
    private_incidents,
    restored_before,
    shown_title,
    titled_rows,
    war_rooms,
)


@dataclass(frozen=True)
class IncidentsRead:
    """One read of the incidents: the restored ones as columns, those still open one object each."""

    restored: RestoredIncidents
    unrestored: list[IncidentFacts]
    open_war_rooms: dict[int, str]  # of the incidents still open that have one, never a private one


class IncidentReads:
    """The incidents of a window, one read each, for the reports, the digest and the dashboard."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def facts(
        self,
        since: datetime,
        until: datetime,
        *,
        services: Sequence[str] | None = None,
        severities: Sequence[str] | None = None,
        include_open: bool = True,
        drills: bool = False,
    ) -> tuple[list[IncidentFacts], dict[int, str]]:
        """The incidents a window report reads (without those still open unless ``include_open``),
        one object each, and the war-room channel of each that has one. Real incidents only, or
        (``drills``) drills alone. Nothing in the bot reads incidents this way any more (the reports
        read columns); it is the plain form tests/test_report_columns.py checks the columns against."""
        async with self._db.reading() as session:
            rows = fact_rows(
                session, since=since, until=until, scope=IncidentScope(services, severities, drills), include_open=include_open
            )
            read = [row async for row in rows]
        return _facts_of(read), _linked_war_rooms(read)

    async def listing(
        self,
        since: datetime,
        until: datetime,
        *,
        services: Sequence[str] | None = None,
        severities: Sequence[str] | None = None,
        ids: Sequence[int] | None = None,
    ) -> dict[int, ListedIncident]:
        """How the digest lists each real incident restored that started in [since, until) (with
        ``ids``: each incident with these ids): its title (never a private incident's), service
        and war room (never a private incident's). The figures of each come from the columns."""
        async with self._db.reading() as session:
            rows = await titled_rows(session, since=since, until=until, scope=IncidentScope(services, severities), ids=ids)
        return {
            row.id: ListedIncident(
                title=shown_title(row.title, row.is_private),
                service=row.service,
                private=row.is_private,
                war_room=_linked_war_room(row.channel_id, row.is_private),
            )
            for row in rows
        }

    async def columns(
        self,
        since: datetime,
        until: datetime,
        *,
        services: Sequence[str] | None = None,
        severities: Sequence[str] | None = None,
        drills: bool = False,
    ) -> tuple[RestoredIncidents, list[IncidentFacts]]:
        """Restored incidents started in [since, until) as columns, and those still open (started
        before ``until``) one object each: the form a report over 100,000 incidents can afford.
        Real incidents only, or (``drills``) drills alone: a figure never mixes the two."""
        read = await self.incidents_read(since, until, IncidentScope(services, severities, drills))
        return read.restored, read.unrestored

    async def restored_before(self, moment: datetime) -> tuple[int, datetime | None]:
        """How many real incidents restored started before ``moment``, and when the earliest did
        (what a report over an empty window suggests widening it to)."""
        async with self._db.reading() as session:
            return await restored_before(session, moment)

    async def incidents_read(self, since: datetime, until: datetime, scope: IncidentScope) -> IncidentsRead:
        """``columns``, with the war rooms of the incidents still open, from the rows they were read from."""
        chunks = RestoredChunks()
        unrestored: list[IncidentFacts] = []
        open_war_rooms: dict[int, str] = {}

        def add(batch: RestoredBatch) -> None:
            chunks.add(batch.ids, batch.severities, batch.services, batch.detection_methods, batch.deploys, batch.stamps_us)

        def found_open(rows: Sequence[FactRow]) -> None:
            # While the database steps through the restored incidents, on SQLite.
            unrestored.extend(_facts_of(rows))
            open_war_rooms.update(_linked_war_rooms(rows))

        await incident_columns(
            self._db,
            since=since,
            until=until,
            add=add,
            found_open=found_open,
            scope=scope,
        )
        return IncidentsRead(chunks.finish(), unrestored, open_war_rooms)

    async def still_open(self, until: datetime, *, services: Sequence[str] | None = None) -> list[IncidentFacts]:
        """Every real incident still open that started before ``until``, one object each."""
        async with self._db.reading() as session:
            return _facts_of(await open_rows(session, until=until, scope=IncidentScope(services)))

    async def war_rooms(self, incident_ids: Sequence[int]) -> dict[int, str]:
        """The war rooms of these incidents, for links: never a private incident's."""
        async with self._db.reading() as session:
            return await war_rooms(session, incident_ids)

    async def hide_private_longest(self, report: WindowReport) -> WindowReport:
        """The longest incident is named with its time to restore: not when it is private."""
        if report.longest is None:
            return report
        async with self._db.reading() as session:
            private = await private_incidents(session, [report.longest.id])
        if not private:
            return report
        return dataclasses.replace(report, longest=dataclasses.replace(report.longest, private=True))


def _linked_war_room(channel_id: str | None, is_private: bool) -> str | None:
    """An incident's war room as a report may link it: a private incident's never is (as
    storage.reports.war_rooms reads them)."""
    return channel_id if channel_id and not is_private else None


def _linked_war_rooms(rows: Sequence[FactRow]) -> dict[int, str]:
    """The war room of each incident that has one, as a report may link it."""
    return {row.id: room for row in rows if (room := _linked_war_room(row.channel_id, row.is_private)) is not None}


def _facts_of(rows: Sequence[FactRow]) -> list[IncidentFacts]:
    """Rows of FACT_COLUMNS as IncidentFacts (``is_private`` is a boolean column that is never NULL)."""
    return records_from_rows(IncidentFacts, FACT_FIELDS, rows, deploy_linked="deploy_found", private="is_private")
