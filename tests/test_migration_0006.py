"""Migration 0006 on a database with history: resolved incidents count as closed, incidents open
at the upgrade are not paged for escalations they missed, and it downgrades cleanly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import select, text

from bot.runtime import incident_timers_of
from storage.db import Database
from storage.migrate import _alembic_config
from storage.models import Incident, TimerFiring
from tests.clocks import FakeClock
from tests.team_helpers import SINGLE_PAGE_TIMERS

pytestmark = [pytest.mark.both_databases, pytest.mark.empty_database]

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def _to(database: Database, revision: str, *, down: bool = False) -> None:
    def run(connection) -> None:
        (command.downgrade if down else command.upgrade)(_alembic_config(connection), revision)

    async with database.engine.begin() as connection:
        await connection.run_sync(run)


async def test_upgrade_closes_old_resolved_incidents_and_skips_their_missed_escalations(database_url):
    database = Database(database_url)
    try:
        await _to(database, "0005")
        insert = text(
            "INSERT INTO incidents (title, severity, status, detection_method, opened_by, commander, channel_id, "
            "started_at, detected_at, verified_at, diagnosed_implied, mitigated_implied, created_at, updated_at) "
            "VALUES (:title, 'P1', :status, 'engineer', 'U_ALICE', 'U_ALICE', :channel, :t0, :t0, :verified, false, false, :t0, :t0)"
        )
        async with database.transaction() as session:
            await session.execute(
                insert,
                {"title": "old and restored", "status": "resolved", "channel": "C0OLD00001", "t0": T0, "verified": T0 + timedelta(hours=1)},
            )
            await session.execute(insert, {"title": "still open", "status": "open", "channel": "C0OPEN0001", "t0": T0, "verified": None})
            await session.execute(
                text(
                    "INSERT INTO timeline_events (incident_id, kind, occurred_at, text, data) "
                    "VALUES (1, 'opened', :t0, '', '{}'), (2, 'opened', :now, '', '{}')"
                ),
                {"t0": T0, "now": T0 + timedelta(days=3)},
            )
        await _to(database, "head")
        async with database.transaction() as session:
            restored, still_open = list(await session.scalars(select(Incident).order_by(Incident.id)))
            skipped = list(await session.scalars(select(TimerFiring)))
        assert restored.closed_at == T0 + timedelta(hours=1)
        assert still_open.closed_at is None and still_open.acknowledged_at is None
        assert sorted((f.incident_id, f.kind, f.status) for f in skipped) == [
            (2, "ack_escalation", "skipped"),
            (2, "mitigation_escalation", "skipped"),
        ]

        # nothing is due for them (this scheduler has no Slack: any firing would raise)
        timers = incident_timers_of(
            database,
            FakeClock(T0 + timedelta(days=3, minutes=10)),
            SINGLE_PAGE_TIMERS,  # the page 0006 skipped (the chain's levels came later)
            slack=None,
            catalog=None,
            war_rooms=None,  # type: ignore[arg-type]
            announce_channel=None,
        )
        assert await timers.run_once() == []

        await _to(database, "0005", down=True)
        await _to(database, "head")
    finally:
        await database.dispose()
