"""The dashboard's and ``/incident stats``' reads are reused only while fresh
(bot/analytics/fresh_reads.py): every kind of write a figure reads (a new incident, a stamp, a field
changed, a deploy, a link between them) is in the very next read, and a read is never older than a
minute by the bot's clock. Unchanged data within the minute: the same read, not computed again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.analytics.reports import Reports
from bot.analytics.stats import ReportSettings
from bot.core.tiers import TierTables
from storage import incidents as incident_rows
from storage.models import Deploy, Incident, IncidentDeploy, TimelineEvent
from tests.stored_incidents import incident_row

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


async def _add_incident(session, clock: Clock) -> int:
    row = incident_row("Checkout down", clock.now - timedelta(hours=2), detected_at=clock.now - timedelta(hours=2))
    session.add(row)
    await session.flush()
    return row.id


async def _stamp(session, clock: Clock, incident_id: int) -> None:
    await incident_rows.set_if_empty(session, incident_id, "verified_at", clock.now, at=clock.now)
    await incident_rows.add_event(session, incident_id, "stamp", at=clock.now, actor="U_ALICE", text="verified")


async def _change_field(session, clock: Clock, incident_id: int) -> None:
    await incident_rows.record_fields(session, incident_id, at=clock.now, deploy_found=True)


async def _deploy(session, clock: Clock) -> int:
    deploy = Deploy(
        service="payments-api",
        version=f"v{clock.now:%H%M%S%f}",
        environment="production",
        deployed_at=clock.now - timedelta(hours=3),
        source="webhook",
        recorded_at=clock.now,
    )
    session.add(deploy)
    await session.flush()
    return deploy.id


@pytest.mark.both_databases
async def test_a_read_is_reused_only_while_the_data_and_the_minute_are_unchanged(db):
    clock = Clock()
    reports = Reports(db, clock, tiers=TierTables.default(), settings=ReportSettings(min_count=1))

    async def read():
        return await reports.recent_window_read(30, delivery=True)

    first = await read()
    assert await read() is first  # nothing changed: computed once
    clock.now += timedelta(seconds=59)
    assert await read() is first

    state: dict[str, int] = {}

    async def new_incident(session):
        state["incident"] = await _add_incident(session, clock)

    async def new_deploy(session):
        state["deploy"] = await _deploy(session, clock)

    async def link(session):
        session.add(IncidentDeploy(incident_id=state["incident"], deploy_id=state["deploy"]))

    async def unlink(session):
        from sqlalchemy import delete

        await session.execute(delete(IncidentDeploy).where(IncidentDeploy.deploy_id == state["deploy"]))

    async def delete_incident(session):
        from sqlalchemy import delete

        await session.execute(delete(TimelineEvent).where(TimelineEvent.incident_id == state["incident"]))
        await session.execute(delete(Incident).where(Incident.id == state["incident"]))

    writes = {
        "a new incident": new_incident,
        "a stamp": lambda session: _stamp(session, clock, state["incident"]),
        "a field": lambda session: _change_field(session, clock, state["incident"]),
        "a deploy": new_deploy,
        "a link": link,
        "a link removed": unlink,
        "an incident removed": delete_incident,
    }
    previous = await read()
    for name, write in writes.items():
        clock.now += timedelta(milliseconds=3)  # time passes between writes, as it does
        async with db.transaction() as session:
            await write(session)
        fresh = await read()
        assert fresh is not previous, f"{name} is not in the next read"
        assert await read() is fresh
        previous = fresh

    # A stamp within the same microsecond as the write before it (a frozen clock): the timeline
    # event it writes is still a change.
    async with db.transaction() as session:
        state["incident"] = await _add_incident(session, clock)
        await incident_rows.record_fields(session, state["incident"], at=clock.now)  # updated_at is now
    previous = await read()
    async with db.transaction() as session:
        await _stamp(session, clock, state["incident"])
    assert await read() is not previous

    # No write, a minute later: computed again, for a window ending at the new now.
    previous = await read()
    clock.now += timedelta(minutes=1)
    later = await read()
    assert later is not previous and later.report.until == clock.now
