"""A request Slack saw acknowledged is never lost: every click, submission and slash command that
writes is acknowledged only once its write is committed, and one whose database does not answer in
time is told it was not recorded, and then is not recorded.

Each case drives the real HTTP endpoint with Slack's payloads; the database is read the moment
the HTTP response (Slack's ack) arrives, before any background work is waited for."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select, text

from bot.slack import messages
from bot.slack.blocks import ACKNOWLEDGE_ACTION, ADD_ACTION_CALLBACK, HANDOVER_ACTION, OPEN_MODAL_CALLBACK, REOPEN_ACTION
from bot.slack.handover_messages import ACCEPT_ACTION, DECLINE_ACTION, HANDOVER_CALLBACK
from handlers import after_ack
from handlers.commands import RECORDING_SUBCOMMANDS
from handlers.shortcuts import ADD_TO_TIMELINE
from storage.models import Base
from tests.slack_requests import SlackResponse, open_form_values
from tests.team_helpers import T0, bot, clock, command, open_incident  # noqa: F401 (fixtures)
from tests.test_corrections import form_values, open_edit_form
from tests.test_war_room_catalog import runbook_message

# The order (commit, then ack) is the handlers' and the same on both databases: the first test
# runs on SQLite. How a database holds a write past the bound is not, so the second runs on both.


async def fingerprint(bot) -> dict[str, int]:
    """How many rows each table holds: every write the bot makes adds a row somewhere (a
    timeline event, an audit record, an item, a deploy, a tick). The replay guard's record of
    each request Slack sent (``slack_requests_seen``) is bookkeeping about the request, kept
    whether or not the request's write is, so it is left out; so are the rate-limit slots of the
    Slack calls the bot made (``slack_call_slots``, ``slack_call_waiting``), telling the clicker
    included."""
    async with bot.runtime.db.reading() as session:
        return {
            t.name: (await session.execute(select(func.count()).select_from(t))).scalar_one()
            for t in Base.metadata.sorted_tables
            if t.name not in ("slack_requests_seen", "slack_call_slots", "slack_call_waiting")
        }


# Each case prepares what its request needs (settled) and returns the request, not yet sent.
Prepare = Callable[[object, object], Awaitable[Callable[[], Awaitable[SlackResponse]]]]


def button(action_id: str, value: str = "1", user: str = "U_BOB"):
    async def prepare(bot, incident):
        return lambda: bot.slack.block_action(
            action_id, value, user=user, channel=incident.channel_id, message_ts=incident.control_message_ts
        )

    return prepare


def slash(text: str, user: str = "U_ALICE", in_war_room: bool = True):
    async def prepare(bot, incident):
        channel = incident.channel_id if in_war_room else "C_GENERAL"
        return lambda: bot.slack.command(text, user=user, channel=channel)

    return prepare


async def role_picker(bot, incident):
    payload = bot.slack.block_action_payload(
        "assign_role_scribe", "", user="U_ALICE", channel=incident.channel_id, message_ts=incident.control_message_ts
    )
    action = payload["actions"][0]
    action.pop("value")
    action.pop("text")
    action.update({"type": "users_select", "block_id": f"role_pickers:{incident.id}", "selected_user": "U_BOB"})
    return lambda: bot.slack.interactive(payload)


async def reopen_button(bot, incident):
    await bot.slack.block_action(
        "stamp_phase_verified", "1", user="U_ALICE", channel=incident.channel_id, message_ts=incident.control_message_ts
    )
    await bot.settle()
    return await button(REOPEN_ACTION, user="U_BOB")(bot, incident)


async def action_done_button(bot, incident):
    await command(bot, "action Retry PSP timeouts <@U_BOB|bob>", user="U_ALICE", channel=incident.channel_id)
    return await button("action_item_done", "1", user="U_BOB")(bot, incident)


async def checklist_tick(bot, incident):
    message = runbook_message(bot.fake, incident)
    block = next(b for b in message["blocks"] if b["type"] == "actions")
    element = block["elements"][0]
    payload = bot.slack.block_action_payload(
        element["action_id"], "", user="U_BOB", channel=incident.channel_id, message_ts=message["ts"], message=message
    )
    payload["actions"] = [
        {
            "type": "checkboxes",
            "action_id": element["action_id"],
            "block_id": block["block_id"],
            "selected_options": element["options"][:1],
            "action_ts": f"{T0.timestamp():.6f}",
        }
    ]
    return lambda: bot.slack.interactive(payload)


async def edit_times_form(bot, incident):
    for stamp in ("diagnosed", "mitigated", "verified"):
        await bot.slack.block_action(
            f"stamp_phase_{stamp}", "1", user="U_ALICE", channel=incident.channel_id, message_ts=incident.control_message_ts
        )
        await bot.settle()
    bot.runtime.clock.at(60)  # type: ignore[attr-defined]
    view = await open_edit_form(bot, incident, "U_ALICE")
    assert view is not None
    shown = {
        e["action_id"].removeprefix("time_"): e.get("initial_date_time")
        for b in view["blocks"]
        if (e := b.get("element", {})).get("action_id", "").startswith("time_")
    }
    times = {name: epoch for name, epoch in shown.items() if epoch is not None}
    times["started"] -= 600  # impact began ten minutes earlier than recorded
    return lambda: bot.slack.view_submission(view, form_values(times, "the rollback finished a minute later"), user="U_ALICE")


async def add_action_form(bot, incident):
    await bot.slack.block_action("add_action_item", "1", user="U_BOB", channel=incident.channel_id, message_ts=incident.control_message_ts)
    await bot.settle()
    view = next(v for v in reversed(list(bot.fake.views.values())) if v.get("callback_id") == ADD_ACTION_CALLBACK)
    values = {
        "text": {"text": {"type": "plain_text_input", "value": "Alert on PSP latency"}},
        "owner": {"owner": {"type": "users_select", "selected_user": "U_BOB"}},
        "due": {"due": {"type": "datepicker", "selected_date": None}},
    }
    return lambda: bot.slack.view_submission(view, values, user="U_BOB")


async def handover_form(bot, incident):
    await bot.slack.block_action(HANDOVER_ACTION, "1", user="U_ALICE", channel=incident.channel_id, message_ts=incident.control_message_ts)
    await bot.settle()
    view = next(v for v in reversed(list(bot.fake.views.values())) if v.get("callback_id") == HANDOVER_CALLBACK)
    values = {
        "to_user": {"to_user": {"type": "users_select", "selected_user": "U_BOB"}},
        "hypothesis": {"hypothesis": {"type": "plain_text_input", "value": "PSP TLS rotation"}},
        "next_steps": {"next_steps": {"type": "plain_text_input", "value": "watch p99"}},
    }
    return lambda: bot.slack.view_submission(view, values, user="U_ALICE")


def handover_answer(action_id: str):
    async def prepare(bot, incident):
        await command(bot, "handover <@U_BOB|bob> watch p99", user="U_ALICE", channel=incident.channel_id)
        return await button(action_id, "1", user="U_BOB")(bot, incident)

    return prepare


async def open_form(bot, incident):
    await bot.slack.command("open", user="U_BOB")
    await bot.settle()
    view = next(v for v in reversed(list(bot.fake.views.values())) if v.get("callback_id") == OPEN_MODAL_CALLBACK)
    return lambda: bot.slack.view_submission(view, open_form_values(title="Search is slow"), user="U_BOB")


async def timeline_shortcut(bot, incident):
    message = {"type": "message", "user": "U_BOB", "text": "rolled back to v1.41", "ts": f"{T0.timestamp() + 60:.6f}"}
    bot.fake.channels[incident.channel_id].messages.append(message)
    return lambda: bot.slack.message_shortcut(ADD_TO_TIMELINE, channel=incident.channel_id, message=message, user="U_BOB")


SLASH_COMMANDS = {
    "note": slash("note PSP says it is on their side"),
    "runbook": slash("runbook postgres-main-replication-lag"),
    "deploy": slash("deploy payments-api v1.43", in_war_room=False),
    "role": slash("role scribe <@U_BOB|bob>"),
    "severity": slash("severity P1"),
    "update": slash("update Rolling back payments-api"),
    "breakglass": slash("breakglass need prod db access to kill a stuck query"),
    "action": slash("action Add a PSP timeout alert <@U_BOB|bob>"),
    "ack": slash("ack", user="U_BOB"),
    "handover": slash("handover <@U_BOB|bob> PSP TLS rotation suspected; rolled back; watch p99"),
    "question": slash("question Who owns the PSP rollback?"),
}
CASES: dict[str, Prepare] = {
    **{f"/incident {name}": prepare for name, prepare in SLASH_COMMANDS.items()},
    "/incident open <title>": slash("open Search is slow sev:P3", in_war_room=False, user="U_BOB"),
    "phase button": button("stamp_phase_diagnosed"),
    "Acknowledge button": button(ACKNOWLEDGE_ACTION),
    "Reopen button": reopen_button,
    "role picker": role_picker,
    "action item Done button": action_done_button,
    "runbook checklist tick": checklist_tick,
    "Edit times form": edit_times_form,
    "Add action item form": add_action_form,
    "Hand over form": handover_form,
    "handover Accept button": handover_answer(ACCEPT_ACTION),
    "handover Decline button": handover_answer(DECLINE_ACTION),
    "open form": open_form,
    "Add to incident timeline shortcut": timeline_shortcut,
}


async def reopen_command(bot, incident):
    await bot.slack.block_action(
        "stamp_phase_verified", "1", user="U_ALICE", channel=incident.channel_id, message_ts=incident.control_message_ts
    )
    await bot.settle()
    return lambda: bot.slack.command("reopen", user="U_BOB", channel=incident.channel_id)


CASES["/incident reopen"] = reopen_command


async def answer_command(bot, incident):
    await command(bot, "question Who owns the PSP rollback?", user="U_ALICE", channel=incident.channel_id)
    return await slash("answer 1 Bob does: he is on it")(bot, incident)


CASES["/incident answer"] = answer_command


def test_every_recording_subcommand_is_a_case():
    assert {name.removeprefix("/incident ") for name in CASES if name.startswith("/incident ")} >= set(RECORDING_SUBCOMMANDS)


async def opened(bot):
    return await open_incident(bot, "Card payments failing sev:P2 service:payments-api")


@pytest.mark.parametrize("case", list(CASES))
async def test_the_write_is_committed_when_slack_gets_the_ack(bot, fake_slack, case):
    incident = await opened(bot)
    send = await CASES[case](bot, incident)
    await bot.settle()
    before = await fingerprint(bot)
    response = await send()
    at_ack = await fingerprint(bot)  # nothing awaited but the response itself
    assert response.status == 200
    assert not (response.text and json.loads(response.text).get("response_action") == "errors"), response.text
    assert at_ack != before, f"{case}: Slack had its ack before anything was committed"
    await bot.settle()


async def hold_every_write(bot, held: asyncio.Event, release: asyncio.Event) -> None:
    """A transaction that keeps every other writer waiting (SQLite: the write lock; PostgreSQL:
    EXCLUSIVE locks, which let plain reads through), until ``release``."""
    async with bot.runtime.db.transaction() as session:
        if bot.runtime.db.dialect == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            await session.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
        else:
            await session.execute(text("DELETE FROM timer_firings WHERE 0"))  # takes the write lock
        held.set()
        await release.wait()


@pytest.mark.both_databases
@pytest.mark.parametrize("case", list(CASES))
async def test_a_write_the_database_holds_past_the_bound_is_answered_not_recorded_and_never_recorded(bot, fake_slack, monkeypatch, case):
    incident = await opened(bot)
    send = await CASES[case](bot, incident)
    await bot.settle()
    # The same rule, sooner: the write is held until the bound has run out, whatever its length.
    monkeypatch.setattr(after_ack, "WRITE_ACK_BOUND", 0.1)
    before = await fingerprint(bot)
    held, release = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(hold_every_write(bot, held, release))
    await held.wait()
    told = len(fake_slack.responses) + sum(len(c.messages) for c in fake_slack.channels.values())
    response = await send()
    release.set()
    await holder
    await bot.settle()
    assert response.status == 200
    assert await fingerprint(bot) == before, f"{case}: recorded after the clicker was told it was not"
    answer = json.loads(response.text)["errors"]["reason"] if response.text and "errors" in response.text else None
    said = [r.get("text") for r in fake_slack.responses] + [m.get("text") for c in fake_slack.channels.values() for m in c.messages]
    assert answer == messages.not_recorded_in_time() or messages.not_recorded_in_time() in said, f"{case}: not told"
    assert told <= len(said)
