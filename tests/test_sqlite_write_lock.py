"""On SQLite a click's transaction waits for the write lock in a worker thread, never on the event
loop: when another process holds the lock, the click is acknowledged only once its stamp is
committed after the lock is let go, the bot answers other requests meanwhile, and the stamp is made
once."""

from __future__ import annotations

import asyncio
import sqlite3

from bot.core.phases import Stamp
from tests.team_helpers import open_incident
from tests.waiting import eventually


async def test_a_click_waits_for_another_processes_write_lock_without_holding_up_the_bot(bot, database_url):
    incident = await open_incident(bot)
    other_process = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None, timeout=0)
    other_process.execute("BEGIN IMMEDIATE")  # the write lock, as another serve process holds it while it commits
    try:
        clicked = asyncio.ensure_future(
            bot.slack.block_action(
                "stamp_phase_mitigated", str(incident.id), user="U_BOB", channel=incident.channel_id, message_ts=incident.control_message_ts
            )
        )
        # The click's flow has started, and so waits for the lock (its replay record first).
        await eventually(lambda: any(task.get_name() == "stamp" for task in bot.runtime.background.in_flight), what="the click's flow")
        # The bot answers while the click waits: its event loop is not stuck behind the lock.
        status = await bot.slack.command("status", user="U_BOB", channel=incident.channel_id)
        assert status.status == 200
        assert not clicked.done(), "the click was acknowledged before its stamp could be committed"
    finally:
        other_process.execute("ROLLBACK")
        other_process.close()
    assert (await clicked).status == 200
    await bot.settle()
    assert (await bot.incident(incident.id)).timeline.stamps[Stamp.MITIGATED].by == "U_BOB"
