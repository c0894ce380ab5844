"""What a verified incident's resolution shows, read in one go: the incident, its timeline, its
action items and its deploys, all of one snapshot.

Plain (synchronous) ORM reads, for ``Database.read_snapshot``: on SQLite in a thread of their own
with no trip back to the event loop between two statements (aiosqlite makes several for each, and
the resolution's other work holds the loop meanwhile); on PostgreSQL through the session as usual.
The statements are the ones the async readers send (storage/incidents.py, storage/action_items.py,
storage/deploys.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.action_items import listing_query
from storage.deploys import for_incident_query
from storage.incidents import timeline_query
from storage.models import ActionItem, Deploy, Incident, TimelineEvent


@dataclass(frozen=True)
class ResolutionRows:
    incident: Incident
    timeline: list[TimelineEvent]
    action_items: list[tuple[ActionItem, Incident]]
    deploys: list[Deploy]


def resolution_rows(session: Session, incident_id: int) -> ResolutionRows | None:
    """None when there is no such incident."""
    incident = session.scalar(select(Incident).where(Incident.id == incident_id))
    if incident is None:
        return None
    return ResolutionRows(
        incident,
        list(session.scalars(timeline_query(incident_id))),
        [(row[0], row[1]) for row in session.execute(listing_query(incident_id=incident_id, open_only=False))],
        list(session.scalars(for_incident_query(incident_id))),
    )
