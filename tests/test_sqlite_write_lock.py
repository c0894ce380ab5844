"""On SQLite a click's transaction waits for the write lock in a worker thread, never on the event
loop: when another process holds the lock, the click is acknowledged only once its stamp is
committed after the lock is let go, the bot answers other requests meanwhile, and the stamp is made
once. While the lock is free, the transaction runs on the event loop's own thread: a few statements
and one commit cost less than two hand-offs to a thread and back."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

from sqlalchemy import event

from bot.core.phases import Stamp
from tests.team_helpers import click, command, open_incident
from tests.waiting import eventually


def threads_that_sent(db, prefix: str, containing: str = "") -> list[int]:
    """The thread each statement starting with ``prefix`` (and containing ``containing``) runs on."""
    threads: list[int] = []

    def sent(_conn, _cursor, statement: str, *_args) -> None:
        if statement.startswith(prefix) and containing in statement:
            threads.append(threading.get_ident())

    for engine in db.sync_engines:
        event.listen(engine, "before_cursor_execute", sent)
    return threads


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


async def test_a_click_commits_on_the_event_loops_own_thread_while_the_write_lock_is_free(bot):
    incident = await open_incident(bot)
    stamped_on = threads_that_sent(bot.runtime.db, "UPDATE incidents", "mitigated_at=")
    await click(bot, incident, "stamp_phase_mitigated", str(incident.id), "U_BOB")
    assert (await bot.incident(incident.id)).timeline.stamps[Stamp.MITIGATED].by == "U_BOB"
    assert stamped_on == [threading.main_thread().ident]


async def test_a_transaction_no_ack_waits_for_stays_off_the_event_loop(bot):
    """The replay check of a request answered at once (``/incident status``) runs in the worker
    thread: on the event loop's thread it would hold up that very answer on its way out."""
    incident = await open_incident(bot)
    checked_on = threads_that_sent(bot.runtime.db, "INSERT INTO slack_requests_seen")
    await command(bot, "status", user="U_BOB", channel=incident.channel_id)
    assert checked_on and threading.main_thread().ident not in checked_on
