"""On SQLite a click's transaction waits for the write lock in a worker thread, never on the event
loop: when another process holds the lock, the click is acknowledged only once its stamp is
committed after the lock is let go, the bot answers other requests meanwhile, and the stamp is made
once. While the lock is free, the transaction runs on the event loop's own thread: a few statements
and one commit cost less than two hand-offs to a thread and back. Clicks that arrive together share
one transaction and one commit, each in a savepoint of its own: a copy of one rolls back alone."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from bot.core.phases import Stamp
from bot.incidents import permissions
from bot.slack import messages
from bot.slack.blocks import ACKNOWLEDGE_ACTION
from storage import db as db_module
from tests.team_helpers import click, command, open_incident
from tests.test_click_transactions import StatementLog, send_signed, signed_body
from tests.test_secrets_and_refusals import sample
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


async def test_clicks_that_arrive_together_share_one_commit_and_a_copy_among_them_rolls_back_alone(bot, monkeypatch):
    """A phase click, an Acknowledge click, a note and a copy of the phase click, all waiting while
    this process's write before them holds the lock: one BEGIN and one COMMIT for the three writes
    (one WAL sync, not three), and the copy, refused at its record, rolls back only its own
    savepoint."""
    incident = await open_incident(bot)
    # Bob's membership of the war room, asked of Slack once, is known however slow the machine:
    # each click decides on its first read (else it ends that transaction having written only its
    # record, and asks Slack).
    monkeypatch.setattr(permissions, "MEMBERS_FRESH", float("inf"))
    await command(bot, "note looking", user="U_BOB", channel=incident.channel_id)
    db = bot.runtime.db
    log = StatementLog()
    log.watch(db)
    bodies = [signed_body(bot, kind, incident, "U_BOB") for kind in ("stamp_phase_mitigated", ACKNOWLEDGE_ACTION, "note")]
    timestamp = str(int(time.time()))
    refused_before = sample("incident_bot_refused_requests_total", door="slack", reason="replayed")
    async with db._sqlite_writer:  # the write before them, still committing
        sent = [asyncio.ensure_future(send_signed(bot, body, timestamp)) for body in [*bodies, bodies[0]]]
        await eventually(lambda: len(db._commits_together._batch or []) == 4, what="the four transactions waiting for the lock")
    assert [response.status for response in await asyncio.gather(*sent)] == [200] * 4
    writes = log.writes("incidents", "mitigated_at=") + log.writes("incidents", "acknowledged_at=") + log.writes("timeline_events", "")
    # The stamp, the acknowledgement, and the timeline events of the stamp, the acknowledgement and the note.
    assert len(writes) == 5, [log.seen[i].what for i in writes]
    [transaction] = {tuple(id(seen) for seen in log.transaction_of(i)) for i in writes}
    whats = [seen.what for seen in log.seen if id(seen) in transaction]
    assert whats.count("begin") == 1 and whats.count("commit") == 1, whats
    assert sum(what.startswith("INSERT INTO slack_requests_seen") for what in whats) == 4, whats
    assert sum(what.startswith("ROLLBACK TO SAVEPOINT") for what in whats) == 1, whats  # the copy's, alone
    await bot.settle()
    stored = await bot.incident(incident.id)
    assert stored.timeline.stamps[Stamp.MITIGATED].by == "U_BOB" and stored.acknowledged_by == "U_BOB"
    kinds = [event.kind for event in await bot.timeline(incident.id)]
    assert (kinds.count("phase_stamped"), kinds.count("acknowledged"), kinds.count("note")) == (1, 1, 2), kinds
    assert sample("incident_bot_refused_requests_total", door="slack", reason="replayed") == refused_before + 1


async def test_a_click_no_other_request_waits_with_commits_at_once_without_waiting_for_company(bot, monkeypatch):
    """Alone, a click's transaction is made right where it is asked for: no task to gather others
    and no turn of the loop waited, since no other request waits for a commit that could join it."""
    incident = await open_incident(bot)
    # A gate an earlier test left awaiting would count as a request waiting for its commit.
    assert len(db_module._gates_awaiting) == 0, "a gate of an earlier test was never opened, expired or stopped"
    together = type(bot.runtime.db._commits_together)
    gatherings: list[object] = []
    lead = together._lead

    async def counted(self, batch) -> None:
        gatherings.append(self)
        await lead(self, batch)

    monkeypatch.setattr(together, "_lead", counted)
    await click(bot, incident, "stamp_phase_mitigated", str(incident.id), "U_BOB")
    assert (await bot.incident(incident.id)).timeline.stamps[Stamp.MITIGATED].by == "U_BOB"
    assert gatherings == []


async def test_clicks_that_commit_together_are_each_told_nothing_was_recorded_when_their_commit_fails(bot, fake_slack, monkeypatch):
    """Acknowledged only once committed, together too: when the COMMIT they share fails, after each
    one's statements went through, none of the three is stored and each clicker is told the
    database did not record it."""
    incident = await open_incident(bot)
    monkeypatch.setattr(permissions, "MEMBERS_FRESH", float("inf"))  # as in the test above
    await command(bot, "note looking", user="U_BOB", channel=incident.channel_id)
    db = bot.runtime.db
    kinds_before = [event.kind for event in await bot.timeline(incident.id)]
    answers_before = len(fake_slack.responses)
    bodies = [signed_body(bot, kind, incident, "U_BOB") for kind in ("stamp_phase_mitigated", ACKNOWLEDGE_ACTION, "note")]
    timestamp = str(int(time.time()))

    def disk_failed(_connection) -> None:
        raise OperationalError("COMMIT", {}, sqlite3.OperationalError("disk I/O error"))

    async with db._sqlite_writer:
        sent = [asyncio.ensure_future(send_signed(bot, body, timestamp)) for body in bodies]
        await eventually(lambda: len(db._commits_together._batch or []) == 3, what="the three transactions waiting for the lock")
        event.listen(db._sqlite_here, "commit", disk_failed)
    try:
        assert [response.status for response in await asyncio.gather(*sent)] == [200] * 3
        await bot.settle()
    finally:
        event.remove(db._sqlite_here, "commit", disk_failed)
    stored = await bot.incident(incident.id)
    assert Stamp.MITIGATED not in stored.timeline.stamps and stored.acknowledged_by is None
    assert [event.kind for event in await bot.timeline(incident.id)] == kinds_before
    told = [r["text"] for r in fake_slack.responses[answers_before:]]
    assert told == [messages.database_unavailable()] * 3, told


async def test_clicks_whose_gatherer_is_cancelled_before_its_turn_are_made_on_the_worker_thread(bot, monkeypatch):
    """The task that gathers clicks to commit together, cancelled while it waits for the lock (as
    the loop's shutdown does), leaves none of them waiting for ever and none acknowledged unstored:
    each is made on the worker thread, and the next clicks gather again."""
    incident = await open_incident(bot)
    monkeypatch.setattr(permissions, "MEMBERS_FRESH", float("inf"))  # as in the tests above
    await command(bot, "note looking", user="U_BOB", channel=incident.channel_id)
    db = bot.runtime.db
    bodies = [signed_body(bot, kind, incident, "U_BOB") for kind in ("stamp_phase_mitigated", ACKNOWLEDGE_ACTION)]
    timestamp = str(int(time.time()))
    async with db._sqlite_writer:
        sent = [asyncio.ensure_future(send_signed(bot, body, timestamp)) for body in bodies]
        await eventually(lambda: len(db._commits_together._batch or []) == 2, what="the two transactions waiting for the lock")
        [gatherer] = [task for task in asyncio.all_tasks() if task.get_name() == "sqlite-commits-together"]
        gatherer.cancel()
    assert [response.status for response in await asyncio.gather(*sent)] == [200] * 2
    await bot.settle()
    stored = await bot.incident(incident.id)
    assert stored.timeline.stamps[Stamp.MITIGATED].by == "U_BOB" and stored.acknowledged_by == "U_BOB"
    await click(bot, incident, "stamp_phase_diagnosed", str(incident.id), "U_BOB")
    assert (await bot.incident(incident.id)).timeline.stamps[Stamp.DIAGNOSED].by == "U_BOB"


async def test_a_new_file_another_process_holds_is_put_in_wal_mode_once_it_lets_go(tmp_path, monkeypatch):
    """Two ``serve`` processes started together on a new SQLite file: the one that opens it second
    waits while the first holds it (SQLite answers the switch to WAL mode "database is locked" at
    once, without its busy handler), rather than exit."""
    from sqlalchemy import text

    from storage.db import Database

    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the other process, writing its first transaction (its migration)
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        if holder.in_transaction:
            holder.execute("COMMIT")  # it lets go after this connection's first try

    monkeypatch.setattr(db_module, "_pause", pause)
    db = Database(f"sqlite:///{path}")
    try:
        async with db.reading() as session:
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
    finally:
        await db.dispose()
        holder.close()
    assert pauses, "the file was put in WAL mode while another connection held it"
