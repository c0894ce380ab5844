"""What a click writes before its ack runs in one short transaction with the read its permission
is decided on: a phase stamp, an acknowledgement and a note each read the incident, write, and add
their timeline event between one BEGIN and one COMMIT on one connection, so the permission is
decided on the very row the write changes; Slack is never asked while that transaction is open;
on every phase, a second click (or twelve at once) never stamps twice; the click's request is
recorded against replays first thing in that same transaction (one commit before the ack, not
two), so a copy sent with it or after it rolls back having done nothing; and the statements are
built once, not per click.

Watched on the statements the database receives (SQLAlchemy's engine events on every engine the
bot's ``Database`` uses), driven through the real HTTP endpoint."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import event, text

from bot.core.phases import Stamp
from bot.incidents.clicks import ClickPermission
from bot.incidents.permissions import refusal_while_changing
from bot.incidents.stamping import Stamper
from bot.integrations.deploys import parse_deploy
from bot.slack import messages
from bot.slack.blocks import ACKNOWLEDGE_ACTION
from storage import audit as audit_rows
from storage import openings as opening_rows
from storage import slack_requests_seen
from storage.db import Statements
from tests.slack_requests import sign
from tests.stored_incidents import incident_row
from tests.team_helpers import T0, click, command, open_incident
from tests.test_secrets_and_refusals import sample

pytestmark = pytest.mark.both_databases


@dataclass
class Seen:
    connection: int
    what: str  # "begin", "commit", "rollback", or the statement
    at: float


@dataclass
class StatementLog:
    """Every transaction boundary and statement, in order, with the DBAPI connection it ran on."""

    seen: list[Seen] = field(default_factory=list)

    def watch(self, db) -> None:
        for engine in db.sync_engines:
            event.listen(engine, "begin", lambda conn: self._add(conn, "begin"))
            event.listen(engine, "commit", lambda conn: self._add(conn, "commit"))
            event.listen(engine, "rollback", lambda conn: self._add(conn, "rollback"))
            event.listen(engine, "before_cursor_execute", lambda conn, _cursor, statement, *_: self._add(conn, statement))

    def _add(self, conn, what: str) -> None:
        self.seen.append(Seen(id(conn.connection.dbapi_connection), " ".join(what.split()), time.monotonic()))

    def transaction_of(self, index: int) -> list[Seen]:
        """The transaction the statement at ``index`` ran in: from its connection's last BEGIN to the
        COMMIT or ROLLBACK that ended it."""
        connection = self.seen[index].connection
        mine = [(i, s) for i, s in enumerate(self.seen) if s.connection == connection]
        position = next(p for p, (i, _) in enumerate(mine) if i == index)
        start = max(p for p, (_, s) in enumerate(mine[: position + 1]) if s.what == "begin")
        end = next(p for p, (_, s) in enumerate(mine) if p > position and s.what in ("commit", "rollback"))
        return [s for _, s in mine[start : end + 1]]

    def writes(self, table: str, containing: str) -> list[int]:
        """The statements that write ``containing`` (a column) into ``table``: in what they set, not
        in what they read back (RETURNING) or select by (WHERE)."""
        return [i for i, s in enumerate(self.seen) if s.what.startswith(f"UPDATE {table}") and containing in _written(s.what)] + [
            i for i, s in enumerate(self.seen) if s.what.startswith(f"INSERT INTO {table}") and containing in _written(s.what)
        ]


def _written(statement: str) -> str:
    return statement.split(" WHERE ", 1)[0].split(" RETURNING ", 1)[0]


def reads_incident(statement: str) -> bool:
    return statement.startswith("SELECT") and "FROM incidents" in statement


def records_request(statement: str) -> bool:
    return statement.startswith("INSERT INTO slack_requests_seen")


def assert_one_transaction(log: StatementLog, write_index: int, *, timeline_events: int = 1) -> list[Seen]:
    transaction = log.transaction_of(write_index)
    statements = [s.what for s in transaction]
    assert statements[0] == "begin" and statements[-1] == "commit", statements
    # The request's record against replays comes first in the click's first transaction: it is
    # bookkeeping about the request, not the write the permission is decided for.
    first_write = next(i for i, s in enumerate(statements) if s.startswith(("UPDATE", "INSERT")) and not records_request(s))
    assert any(reads_incident(s) for s in statements[1:first_write]), f"the permission read is not in the write's transaction: {statements}"
    assert sum(s.startswith("INSERT INTO timeline_events") for s in statements) == timeline_events, statements
    return transaction


@pytest.mark.parametrize("stamp", ["diagnosed", "mitigated", "verified"])
async def test_a_phase_click_reads_decides_stamps_and_adds_its_event_in_one_transaction(bot, stamp):
    incident = await open_incident(bot)
    log = StatementLog()
    log.watch(bot.runtime.db)
    clicker = "U_ALICE" if stamp == "verified" else "U_BOB"  # verified takes the commander
    await click(bot, incident, f"stamp_phase_{stamp}", str(incident.id), clicker)
    [stamp_write] = [i for i in log.writes("incidents", f"{stamp}_at") if log.seen[i].what.startswith("UPDATE")]
    assert_one_transaction(log, stamp_write, timeline_events=2 if stamp == "verified" else 1)
    assert (await bot.incident(incident.id)).timeline.stamps[Stamp(stamp)].by == clicker


async def test_an_acknowledgement_reads_decides_and_writes_in_one_transaction(bot):
    incident = await open_incident(bot)
    log = StatementLog()
    log.watch(bot.runtime.db)
    await click(bot, incident, ACKNOWLEDGE_ACTION, str(incident.id), "U_BOB")
    [write] = [i for i in log.writes("incidents", "acknowledged_at") if log.seen[i].what.startswith("UPDATE")]
    assert_one_transaction(log, write)
    assert (await bot.incident(incident.id)).acknowledged_by == "U_BOB"


async def test_a_note_finds_its_incident_decides_and_writes_in_one_transaction(bot):
    incident = await open_incident(bot)
    log = StatementLog()
    log.watch(bot.runtime.db)
    await command(bot, "note checked the dashboards", user="U_BOB", channel=incident.channel_id)
    [write] = log.writes("timeline_events", "")
    assert_one_transaction(log, write)
    assert [e.text for e in await bot.timeline(incident.id) if e.kind == "note"] == ["checked the dashboards"]


async def test_slack_is_never_asked_while_a_clicks_transaction_is_open(bot, fake_slack):
    """A member the bot has not seen lately: their membership is asked of Slack, outside the
    transaction, which then decides again on its own read."""
    incident = await open_incident(bot)
    bot.runtime.interactions.phase_stamps._lookup.permissions._members.clear()  # nobody seen lately
    log = StatementLog()
    log.watch(bot.runtime.db)
    asked_before = len(fake_slack.calls_to("conversations.members"))
    await click(bot, incident, "stamp_phase_mitigated", str(incident.id), "U_CAROL")
    asked = fake_slack.calls_to("conversations.members")[asked_before:]
    assert asked, "the membership was not asked of Slack"
    [write] = [i for i in log.writes("incidents", "mitigated_at") if log.seen[i].what.startswith("UPDATE")]
    transaction = assert_one_transaction(log, write)
    for call in asked:
        assert not transaction[0].at <= call.at <= transaction[-1].at, "Slack was asked inside the stamp's transaction"
    assert (await bot.incident(incident.id)).timeline.stamps[Stamp.MITIGATED].by == "U_CAROL"


@pytest.mark.parametrize("action", ["stamp_phase_diagnosed", "stamp_phase_mitigated", "stamp_phase_verified", ACKNOWLEDGE_ACTION])
async def test_every_click_stamps_once_however_many_arrive_together(bot, fake_slack, action):
    """Twelve clickers at once, then one more: one stamp and one event; everyone else is told it
    was already done."""
    incident = await open_incident(bot)
    clickers = [f"U_R{n}" for n in range(12)]
    for user in clickers:
        fake_slack.add_user(user, user.lower())
        fake_slack.channels[incident.channel_id].members.add(user)
    if action == "stamp_phase_verified":  # the close permission: the commander, or an admin
        clickers = ["U_ALICE"] * 12
    sends = [
        bot.slack.block_action(action, str(incident.id), user=u, channel=incident.channel_id, message_ts=incident.control_message_ts)
        for u in clickers
    ]
    assert {r.status for r in await asyncio.gather(*sends)} == {200}
    await bot.settle()
    await click(bot, incident, action, str(incident.id), clickers[0])
    kind = "acknowledged" if action == ACKNOWLEDGE_ACTION else "phase_stamped"
    events = [e for e in await bot.timeline(incident.id) if e.kind == kind]
    assert len(events) == 1
    told_already = [r for r in fake_slack.responses if "already" in r.get("text", "")]
    assert len(told_already) == len(clickers)


async def test_a_warmed_up_database_opens_no_connection_for_a_burst_of_clicks(db):
    """``serve`` warms the database up once migrated: eight clicks' transactions at once then find
    their connections open (one on SQLite, whose writers take turns; eight on PostgreSQL)."""
    opened: list[object] = []
    for engine in db.sync_engines:
        event.listen(engine, "connect", lambda dbapi_connection, _record: opened.append(dbapi_connection))
    await db.warm_up()
    assert opened, "warming up opened nothing"
    opened.clear()
    await asyncio.gather(*(db.run_transaction(lambda work: work.execute(text("SELECT 1")).all()) for _ in range(8)))
    assert opened == []


# The commands that record their request in their own write's transaction, as the buttons do.
COMMANDS = {"note": "note checked the dashboards", "ack": "ack"}


def signed_body(bot, kind: str, incident, user: str) -> str:
    """The form body Slack would send for a click (``kind``: a phase button, the Acknowledge
    button) or a ``/incident note``, to be signed and sent as is, once or more."""
    if kind in COMMANDS:
        return urlencode(bot.slack.command_payload(COMMANDS[kind], user=user, channel=incident.channel_id))
    payload = bot.slack.block_action_payload(
        kind, str(incident.id), user=user, channel=incident.channel_id, message_ts=incident.control_message_ts
    )
    return urlencode({"payload": json.dumps(payload)})


async def send_signed(bot, body: str, timestamp: str):
    return await bot.slack.post(
        body, "application/x-www-form-urlencoded", timestamp=timestamp, signature=sign(bot.slack.secret, timestamp, body)
    )


WRITES = {
    "stamp_phase_mitigated": ("incidents", "mitigated_at"),
    ACKNOWLEDGE_ACTION: ("incidents", "acknowledged_at"),
    "note": ("timeline_events", ""),
    "ack": ("incidents", "acknowledged_at"),
}


@pytest.mark.parametrize("kind", list(WRITES))
async def test_a_clicks_request_is_recorded_against_replays_in_its_writes_own_transaction(bot, kind):
    """One commit before the ack, not the replay record's and then the write's: the record is the
    first statement of the write's transaction, and no other transaction records the request."""
    incident = await open_incident(bot)
    log = StatementLog()
    log.watch(bot.runtime.db)
    response = await send_signed(bot, signed_body(bot, kind, incident, "U_ALICE"), str(int(time.time())))
    assert response.status == 200
    await bot.settle()
    table, column = WRITES[kind]
    write = log.writes(table, column)[0]
    transaction = [s.what for s in assert_one_transaction(log, write)]
    assert records_request(transaction[1]), transaction
    assert sum(records_request(s.what) for s in log.seen) == 1, "the request was recorded in a transaction of its own too"


@pytest.mark.parametrize("kind", list(WRITES))
async def test_a_copy_sent_together_with_its_click_does_nothing(bot, fake_slack, kind):
    """The very same signed request twice at once: both answered, one write, one answer (none for
    a stamp or an acknowledgement, which show in the war room; "noted" for the note), the same Web
    API calls as the request sent once to a twin incident, and the copy counted as refused: it rolls
    back at its record, whichever reaches the database second."""
    incident = await open_incident(bot)
    await bot.slack.command("open Checkout returns 500s again sev:P2", user="U_ALICE")
    await bot.settle()
    twin = await bot.incident(2)
    # Stamps and acknowledgements learn the people's display names once (bot/warroom/people_names.py):
    # learned before either click is counted, so that the first does not ask for them alone.
    bot.runtime.resolutions.learn_names(incident.id)
    await bot.settle()
    calls_before = len(fake_slack.calls)
    assert (await send_signed(bot, signed_body(bot, kind, twin, "U_ALICE"), str(int(time.time())))).status == 200
    await bot.settle()
    calls_once = Counter(c.method for c in fake_slack.calls[calls_before:])
    body, timestamp = signed_body(bot, kind, incident, "U_ALICE"), str(int(time.time()))
    timeline_before = len(await bot.timeline(incident.id))
    answers_before, calls_before = len(fake_slack.responses), len(fake_slack.calls)
    refused_before = sample("incident_bot_refused_requests_total", door="slack", reason="replayed")
    responses = await asyncio.gather(send_signed(bot, body, timestamp), send_signed(bot, body, timestamp))
    assert [r.status for r in responses] == [200, 200]
    await bot.settle()
    assert len(await bot.timeline(incident.id)) == timeline_before + 1
    assert len(fake_slack.responses) - answers_before == (1 if kind == "note" else 0)
    assert Counter(c.method for c in fake_slack.calls[calls_before:]) == calls_once
    assert sample("incident_bot_refused_requests_total", door="slack", reason="replayed") == refused_before + 1


def signed_open(bot, title: str) -> str:
    return urlencode(bot.slack.command_payload(f"open {title} sev:P2", user="U_ALICE", channel="C_GENERAL"))


async def test_an_opens_request_is_recorded_against_replays_in_the_incidents_own_transaction(bot):
    """An open is acknowledged once its incident is committed: that one commit records the request
    too, first thing, instead of a replay check's commit before it."""
    log = StatementLog()
    log.watch(bot.runtime.db)
    response = await send_signed(bot, signed_open(bot, "Checkout down"), str(int(time.time())))
    assert response.status == 200
    await bot.settle()
    [insert] = [i for i, s in enumerate(log.seen) if s.what.startswith("INSERT INTO incidents")]
    transaction = [s.what for s in log.transaction_of(insert)]
    assert transaction[0] == "begin" and records_request(transaction[1]) and transaction[-1] == "commit", transaction
    assert sum(records_request(s.what) for s in log.seen) == 1, "the open's request was recorded in a transaction of its own too"


async def test_an_opens_transaction_links_its_deploys_with_nothing_to_replace(bot):
    """A new incident has no earlier deploy links: its transaction inserts the links of the deploys
    in its window, and deletes none."""
    now = datetime.now(UTC)
    deploy = parse_deploy({"service": "payments-api", "version": "v1.42", "time": (now - timedelta(minutes=5)).isoformat()}, now=now)
    await bot.runtime.deploys.record(deploy, "webhook")
    log = StatementLog()
    log.watch(bot.runtime.db)
    body = urlencode(bot.slack.command_payload("open Refunds failing sev:P2 service:payments-api", user="U_ALICE", channel="C_GENERAL"))
    assert (await send_signed(bot, body, str(int(time.time())))).status == 200
    await bot.settle()
    [insert] = [i for i, s in enumerate(log.seen) if s.what.startswith("INSERT INTO incidents")]
    transaction = [s.what for s in log.transaction_of(insert)]
    assert any(s.startswith("INSERT INTO incident_deploys") for s in transaction), transaction
    assert not any(s.startswith("DELETE FROM incident_deploys") for s in transaction), transaction


async def test_a_copy_sent_together_with_its_open_does_nothing(bot, fake_slack):
    """The very same signed open twice at once: both answered, one incident and one war room (the
    same Web API calls as a single open of another incident), and the copy counted as refused,
    whichever reaches the database second."""
    assert (await send_signed(bot, signed_open(bot, "Checkout failing"), str(int(time.time())))).status == 200
    await bot.settle()
    # Not auth.test: the bot asks Slack who it is on its first request only.
    calls_once = Counter(c.method for c in fake_slack.calls if c.method != "auth.test")
    body, timestamp = signed_open(bot, "Payments failing"), str(int(time.time()))
    refused_before = sample("incident_bot_refused_requests_total", door="slack", reason="replayed")
    calls_before = len(fake_slack.calls)
    responses = await asyncio.gather(send_signed(bot, body, timestamp), send_signed(bot, body, timestamp))
    assert [r.status for r in responses] == [200, 200]
    await bot.settle()
    assert Counter(c.method for c in fake_slack.calls[calls_before:]) == calls_once
    assert await bot.incident(2) is not None and await bot.incident(3) is None, "the copy opened a second incident"
    assert sample("incident_bot_refused_requests_total", door="slack", reason="replayed") == refused_before + 1


async def test_an_answer_given_before_any_write_waits_to_know_its_request_is_no_copy(bot, fake_slack):
    """A note with no text is answered with its usage and writes nothing, so no transaction records
    its request: the answer waits for a check of its own, and a copy of it is not answered again."""
    incident = await open_incident(bot)
    body = urlencode(bot.slack.command_payload("note", user="U_ALICE", channel=incident.channel_id))
    timestamp = str(int(time.time()))
    answers_before = len(fake_slack.responses)
    assert (await send_signed(bot, body, timestamp)).status == 200
    await bot.settle()
    assert (await send_signed(bot, body, timestamp)).status == 200
    await bot.settle()
    assert [r["text"] for r in fake_slack.responses[answers_before:]] == [messages.NOTE_USAGE]


async def test_a_clicks_statements_are_built_once_not_per_click(db, monkeypatch):
    """Building a statement (its clauses, then its cache key) cost more than SQLite's own work on
    it: a click on a second incident runs the very statement objects the first one ran, for a
    stamp, an acknowledgement, a note, the request's record against replays, and what a verifying
    click claims and reads for its summaries."""
    ran: list[object] = []
    execute = Statements.execute

    def watched(self, statement, parameters=None):
        ran.append(statement)
        return execute(self, statement, parameters)

    monkeypatch.setattr(Statements, "execute", watched)
    anyone = ClickPermission(decide_now=lambda _incident: None, ask_slack=allow, while_changing=refusal_while_changing("stamp"))
    async with db.transaction() as session:
        for n in (1, 2):
            session.add(incident_row(f"Outage {n}", T0, detected_at=T0, detection_method="engineer", channel_id=f"C_ROOM{n}"))
    stamper = Stamper(db, lambda: T0 + timedelta(minutes=5))
    clicks = {
        "stamp": lambda n: stamper.stamp(n, Stamp.MITIGATED, by="U_BOB", permission=anyone),
        "acknowledgement": lambda n: stamper.acknowledge(n, by="U_BOB", permission=anyone),
        "note": lambda n: stamper.note(f"C_ROOM{n}", "note", actor="U_BOB", text="checked", permission=anyone),
        "request record": lambda n: db.run_statements(
            functools.partial(slack_requests_seen.record_if_new, signature=f"v0={n:064}", slack_timestamp=1_800_000_000)
        ),
        "summary claims": lambda n: db.run_transaction(
            lambda work: opening_rows.claim_unheld(work, n, {"summary_ts": f"token-{n}"}, by="test", at=T0)
        ),
        "corrected times": lambda n: db.run_transaction(lambda work: audit_rows.corrected_times(work, n)),
    }
    for kind, run in clicks.items():
        statements = []
        for n in (1, 2):
            ran.clear()
            await run(n)
            statements.append([id(statement) for statement in ran])
        assert statements[0] and statements[0] == statements[1], kind


async def allow(_incident) -> None:
    return None
