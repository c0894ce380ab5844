"""What recording an incident a person opened runs before its ack, in SQLAlchemy Core inside
``Database.run_transaction`` (as storage/clicks.py does for clicks): the request key looked for,
the incident inserted, its deploys linked and its war room's first steps claimed (and a
verifying click's summaries, claimed the same way in its own transaction). The war room's
channel waits for this commit, so it is one go: on SQLite one trip to a worker thread, instead of
one or more per statement through the ORM session."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, insert, select

from storage import deploys as deploy_rows
from storage import slack_steps
from storage.clicks import read
from storage.db import Statements
from storage.models import Deploy, Incident, SlackStepClaim

_INCIDENTS = cast(Table, Incident.__table__)
_DEPLOYS = cast(Table, Deploy.__table__)
_CLAIMS = cast(Table, SlackStepClaim.__table__)


# Built once, as storage.clicks' statements are: made anew for each open (their clauses, then their
# cache keys walked again), these three took about 1.6 ms of the 3 ms the open's transaction holds
# the event loop on SQLite, more than SQLite's own work on them.
_BY_REQUEST_KEY = select(_INCIDENTS).where(_INCIDENTS.c.request_key == bindparam("request_key"))
_INSERT_INCIDENT = insert(_INCIDENTS)
_INSERT_INCIDENT_RETURNING = _INSERT_INCIDENT.returning(*_INCIDENTS.c)
_DEPLOYS_IN_WINDOW = deploy_rows.InWindowQuery(select(_DEPLOYS))


def find_by_request_key(work: Statements, request_key: str) -> Row[Any] | None:
    return work.execute(_BY_REQUEST_KEY, {"request_key": request_key}).one_or_none()


def lock_incident(work: Statements, incident_id: int) -> bool:
    """Lock the incident's row until the transaction ends (PostgreSQL; SQLite's BEGIN IMMEDIATE
    holds the whole database already); False when there is no such incident."""
    return work.execute(select(_INCIDENTS.c.id).where(_INCIDENTS.c.id == incident_id).with_for_update()).one_or_none() is not None


def insert_incident(work: Statements, columns: dict[str, Any]) -> Row[Any]:
    """The new incident's row, every column (as storage.clicks.read gives it)."""
    if work.dialect.insert_returning:
        return work.execute(_INSERT_INCIDENT_RETURNING, columns).one()
    inserted = work.execute(_INSERT_INCIDENT, columns).inserted_primary_key
    assert inserted is not None
    row = read(work, inserted[0])
    assert row is not None
    return row


def deploys_in_window(work: Statements, services: list[str], start: datetime, end: datetime, *, environment: str | None) -> list[Row[Any]]:
    """storage.deploys.in_window in Core."""
    if not services:
        return []
    return list(work.execute(*_DEPLOYS_IN_WINDOW.statement(services, start, end, environment=environment)))


def link_deploys(work: Statements, incident_id: int, deploy_ids: Iterable[int], *, replace: bool) -> None:
    """storage.deploys.link_to_incident in Core (``replace``: earlier links removed; an incident
    inserted in this same transaction has none)."""
    for statement in deploy_rows.link_statements(work.dialect.name, incident_id, deploy_ids, replace=replace):
        work.execute(statement)


def claim_unheld(work: Statements, incident_id: int, tokens: dict[str, str], *, by: str, at: datetime) -> set[str]:
    """Claim each step nobody holds (``tokens``: each step's token); the steps claimed."""
    won: set[str] = set()
    statement = slack_steps.claim_unheld_statement(work.dialect.name)
    for step, token in tokens.items():
        if work.execute(statement, slack_steps.claim_row(incident_id, step, token=token, by=by, at=at)).rowcount == 1:
            won.add(step)
    return won


def claim_for_new_incident(work: Statements, incident_id: int, tokens: dict[str, str], *, by: str, at: datetime) -> None:
    """Claim steps of an incident inserted in this same transaction: nobody else can see it yet, so
    nobody holds any of them; one INSERT of every claim (``tokens``: each step's token)."""
    work.execute(
        insert(_CLAIMS),
        [slack_steps.claim_row(incident_id, step, token=token, by=by, at=at) for step, token in tokens.items()],
    )
