"""At verification the resolution reads each fact once: the incident and its timeline, its action
items, its deploy links and its correction notes, and nothing of the kind before it knows the
incident is resolved. Each person's name (``users.info``) is asked once, while the incident runs
(bot/warroom/people_names.py): none at a verification that follows an earlier stamp.

Counted as Slack and the database see them: the fake Slack's recorded calls, and the statements
the bot's engine sends (a SQLAlchemy ``before_cursor_execute`` listener)."""

from __future__ import annotations

import re
from collections import Counter
from contextlib import contextmanager
from datetime import date

from sqlalchemy import event

from bot.incidents.action_items import ActionRequest
from tests.team_helpers import bot, click, clock, command, open_incident  # noqa: F401 (fixtures)

FACTS = ("action_items", "incident_deploys", "audit_records", "timeline_events")


@contextmanager
def reads_of(db):
    """Counts the SELECTs that read each table of FACTS while the block runs, on every engine of
    the database (on SQLite a click's transaction runs on a plain driver's engine of its own)."""
    counted: Counter = Counter()

    def count(_conn, _cursor, statement: str, *_args) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            for table in FACTS:
                if re.search(rf"\b(FROM|JOIN) {table}\b", statement):
                    counted[table] += 1

    for engine in db.sync_engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield counted
    finally:
        for engine in db.sync_engines:
            event.remove(engine, "before_cursor_execute", count)


async def test_verification_reads_each_fact_once(bot, fake_slack, clock):
    incident = await open_incident(bot)
    await bot.runtime.action_items.create(incident.id, ActionRequest("Add a retry budget", "U_CAROL", date(2026, 12, 24)), by="U_BOB")
    begin = len(fake_slack.calls)
    await click(bot, incident, "stamp_phase_diagnosed", "1", "U_BOB", action_ts=clock.at(5))
    await click(bot, incident, "stamp_phase_mitigated", "1", "U_BOB", action_ts=clock.at(8))
    start = len(fake_slack.calls)
    with reads_of(bot.runtime.db) as counted:
        await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.at(18))
    names = Counter(c.args.get("user") for c in fake_slack.calls[begin:] if c.method == "users.info")
    assert (await bot.incident(incident.id)).status == "resolved"
    assert fake_slack.calls_to("files.completeUploadExternal"), "the postmortem draft was not uploaded"
    assert counted == {table: 1 for table in FACTS}, counted
    # Each name once, learned while the incident ran (bot/warroom/people_names.py): none at the verification.
    assert names == {"U_ALICE": 1, "U_BOB": 1, "U_CAROL": 1}, names
    assert [c for c in fake_slack.calls[start:] if c.method == "users.info"] == []


async def test_a_repair_of_an_open_incident_asks_no_names_and_reads_no_postmortem_facts(bot, fake_slack):
    """Repair publishes whatever of the resolution is missing: for an incident not resolved yet,
    that is nothing, and it finds out before rendering a draft."""
    incident = await open_incident(bot)
    await bot.runtime.action_items.create(incident.id, ActionRequest("Add a retry budget", "U_CAROL", date(2026, 12, 24)), by="U_BOB")
    start = len(fake_slack.calls)
    with reads_of(bot.runtime.db) as counted:
        await command(bot, f"repair {incident.reference}", user="U_ALICE", channel=incident.channel_id)
    assert [c for c in fake_slack.calls[start:] if c.method == "users.info"] == []
    assert counted["action_items"] == 0 and counted["audit_records"] == 0, counted
