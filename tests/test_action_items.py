"""Follow-up action items from creation to done, and the weekly overdue reminder on a controllable clock."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from bot.analytics.digest_schedule import DigestChannel
from bot.core.command_text import CommandTextError
from bot.incidents.action_items import parse_action_text
from storage import action_items as item_rows
from tests.team_helpers import OUTSIDER, T0, bot, click, clock, command, dm_messages, last_reply, open_incident  # noqa: F401 (fixtures)


async def item(bot, item_id: int = 1):
    async with bot.runtime.db.reading() as session:
        return await item_rows.get(session, item_id)


def done_button(message: dict) -> dict | None:
    return next(
        (e for b in message.get("blocks", []) if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "action_item_done"),
        None,
    )


async def test_an_action_item_from_creation_to_done(bot, fake_slack, clock):
    incident = await open_incident(bot)
    await command(bot, "action Retry PSP timeouts with backoff <@U_BOB|bob> due:2026-12-15", user="U_CAROL", channel=incident.channel_id)
    assert last_reply(fake_slack) == "Added action item #1 to INC-1. <@U_BOB> got it by direct message."
    row = await item(bot)
    assert (row.text, row.owner, row.due_date, row.status, row.created_by) == (
        "Retry PSP timeouts with backoff",
        "U_BOB",
        date(2026, 12, 15),
        "open",
        "U_CAROL",
    )
    assert (await bot.timeline(1))[-1].kind == "action_item_added"
    [dm] = dm_messages(fake_slack, "U_BOB")
    assert "Retry PSP timeouts with backoff" in dm["text"] and "due 2026-12-15" in dm["text"]
    button = done_button(dm)
    assert button["value"] == "1"

    await command(bot, "actions mine", user="U_BOB", channel="C_GENERAL")
    assert last_reply(fake_slack).startswith(
        "*Open action items of yours:*\n#1 *INC-1* Retry PSP timeouts with backoff · owner <@U_BOB> · due 2026-12-15"
    )
    await command(bot, "actions overdue", user="U_BOB", channel="C_GENERAL")
    assert last_reply(fake_slack) == "No overdue action items across incidents."

    # Someone who is neither the owner, the commander nor an admin cannot close it.
    await click(
        bot,
        incident,
        "action_item_done",
        "1",
        "U_CAROL",
        channel=dm["channel"] if "channel" in dm else incident.channel_id,
        message_ts=dm["ts"],
    )
    assert last_reply(fake_slack).startswith("Only its owner (<@U_BOB>), the incident commander (<@U_ALICE>) and the incident admins")
    assert (await item(bot)).status == "open"

    clock.at(90)
    await click(bot, incident, "action_item_done", "1", "U_BOB", message_ts=dm["ts"])
    row = await item(bot)
    assert (row.status, row.done_by, row.done_at) == ("done", "U_BOB", clock.now)
    assert (await bot.timeline(1))[-1].kind == "action_item_done"
    [dm] = dm_messages(fake_slack, "U_BOB")
    assert done_button(dm) is None and "Marked done by <@U_BOB>" in str(dm["blocks"])  # the message was updated
    await click(bot, incident, "action_item_done", "1", "U_BOB", message_ts=dm["ts"])
    assert last_reply(fake_slack) == "Action item #1 was already marked done by <@U_BOB>; nothing changed."
    await command(bot, "actions", user="U_BOB", channel=incident.channel_id)
    assert last_reply(fake_slack) == "No open action items in INC-1."


async def test_bad_action_items_write_nothing(bot, fake_slack):
    incident = await open_incident(bot)
    await command(bot, "action Fix it due:2026-13-01", user="U_BOB", channel=incident.channel_id)
    assert last_reply(fake_slack) == "`due:2026-13-01` is not a date; write it like `due:2026-12-15`."
    await command(bot, "action Fix it due:2026-11-01", user="U_BOB", channel=incident.channel_id)
    assert last_reply(fake_slack) == "`due:2026-11-01` is in the past; give today or a later date."
    await command(bot, "action <@U_BOB|bob>", user="U_BOB", channel=incident.channel_id)
    assert last_reply(fake_slack).startswith("Say what will be done")
    await command(bot, "action Fix it", user=OUTSIDER, channel=incident.channel_id)
    assert last_reply(fake_slack).startswith("Only members of the war room")
    await command(bot, "actions later", user="U_BOB", channel=incident.channel_id)
    assert last_reply(fake_slack).startswith("I list `mine`, `open` or `overdue`")
    assert await item(bot) is None


@pytest.mark.both_databases
async def test_an_overdue_item_reminds_its_owner_once_a_week_until_done(bot, fake_slack, clock):
    incident = await open_incident(bot)
    await command(bot, "action Add a dashboard for PSP latency <@U_BOB|bob> due:2026-11-25", user="U_ALICE", channel=incident.channel_id)
    reminders = bot.runtime.action_items
    dms = lambda: len(dm_messages(fake_slack, "U_BOB"))  # noqa: E731
    assert dms() == 1  # the item itself

    clock.now = T0 + timedelta(days=2)  # due today: not overdue yet
    assert await reminders.remind_overdue() == []
    clock.now = T0 + timedelta(days=3)  # Thursday: overdue
    # two bot processes ticking at once remind once
    results = await asyncio.gather(reminders.remind_overdue(), reminders.remind_overdue())
    assert sorted(results, key=len) == [[], [1]]
    assert dms() == 2
    assert dm_messages(fake_slack, "U_BOB")[-1]["text"].startswith("⏰ Reminder: this action item from INC-1 is overdue.")
    assert done_button(dm_messages(fake_slack, "U_BOB")[-1])["value"] == "1"
    await command(bot, "actions overdue", user="U_ALICE", channel="C_GENERAL")
    assert "⚠️ *overdue*" in last_reply(fake_slack)

    clock.now = T0 + timedelta(days=9, hours=23)  # six days later: not yet
    assert await reminders.remind_overdue() == []
    clock.now = T0 + timedelta(days=10)  # a week later
    fake_slack.fail_next("chat.postMessage", status=500, times=3)
    assert await reminders.remind_overdue() == []  # Slack failed: the claim is given back
    assert await reminders.remind_overdue() == [1]
    assert dms() == 3

    await click(bot, incident, "action_item_done", "1", "U_BOB", message_ts=dm_messages(fake_slack, "U_BOB")[-1]["ts"])
    clock.now = T0 + timedelta(days=30)
    assert await reminders.remind_overdue() == []


async def test_postmortem_lists_action_items_and_its_button_adds_one(bot, fake_slack, clock):
    incident = await open_incident(bot)
    await command(bot, "action Page the PSP on-call sooner <@U_CAROL|carol> due:2026-12-01", user="U_BOB", channel=incident.channel_id)
    await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.at(20))
    [upload] = fake_slack.files.values()
    markdown = upload["content"].decode()
    assert "| Page the PSP on-call sooner | carol | 2026-12-01 | open |" in markdown
    message = next(m for m in fake_slack.channels[incident.channel_id].messages if m["text"] == "Action items for INC-1")
    button = next(e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert (button["action_id"], button["text"]["text"]) == ("add_action_item", "Add action item")

    await click(bot, incident, "add_action_item", "1", "U_BOB", message_ts=message["ts"])
    view = list(fake_slack.views.values())[-1]
    assert view["callback_id"] == "add_action_item_modal"
    values = {
        "text": {"text": {"type": "plain_text_input", "value": "Alert on PSP timeouts"}},
        "owner": {"owner": {"type": "users_select", "selected_user": "U_BOB"}},
        "due": {"due": {"type": "datepicker", "selected_date": "2026-11-01"}},
    }
    response = await bot.slack.view_submission(view, values, user="U_BOB")
    assert response.json() == {"response_action": "errors", "errors": {"due": "That date is in the past; pick today or later."}}
    values["due"]["due"]["selected_date"] = "2026-12-20"
    response = await bot.slack.view_submission(view, values, user="U_BOB")
    assert response.text == ""
    await bot.settle()
    row = await item(bot, 2)
    assert (row.text, row.owner, row.due_date, row.created_by) == ("Alert on PSP timeouts", "U_BOB", date(2026, 12, 20), "U_BOB")
    updated = fake_slack.channels[incident.channel_id].message(message["ts"])
    assert "Alert on PSP timeouts" in str(updated["blocks"]) and "Page the PSP on-call sooner" in str(updated["blocks"])


async def test_the_weekly_digest_lists_open_and_overdue_items(bot, fake_slack, clock):
    incident = await open_incident(bot, "Checkout returns 500s service:payments-api sev:P2")
    await command(bot, "action Overdue one <@U_BOB|bob> due:2026-11-24", user="U_ALICE", channel=incident.channel_id)
    await command(bot, "action Later one due:2026-12-24", user="U_ALICE", channel=incident.channel_id)
    channel = fake_slack.add_channel("payments-digest", members={"UBOT0001"})
    clock.now = T0 + timedelta(days=7)
    ts = await bot.runtime.digests.publish(DigestChannel(channel=channel, services=["payments-api"]))
    text = str(fake_slack.channels[channel].message(ts)["blocks"])
    assert "*Open action items* (overdue first)" in text
    assert text.index("Overdue one") < text.index("Later one")
    assert "⚠️ *INC-1* Overdue one · owner <@U_BOB> · due 2026-11-24 ⚠️ *overdue*" in text
    ts = await bot.runtime.digests.publish(DigestChannel(channel=channel, services=["storefront-web"]))
    assert "*Action items:* none open." in str(fake_slack.channels[channel].message(ts)["blocks"])
    # The dry run (`incident-bot digest --dry-run`) prints the same list.
    composed = await bot.runtime.digests.compose(DigestChannel(channel=channel, services=["payments-api"]))
    dry_run = composed.digest.text
    assert "Open action items (overdue first):" in dry_run
    assert dry_run.index("Overdue one") < dry_run.index("Later one")


def test_parse_action_text():
    today = date(2026, 11, 23)
    parsed = parse_action_text("Add <@U0BOB|bob> retries due:2026-12-15 to the client", today=today)
    assert (parsed.text, parsed.owner, parsed.due) == ("Add retries to the client", "U0BOB", date(2026, 12, 15))
    assert parse_action_text("Fix &lt;script&gt; escaping", today=today).text == "Fix <script> escaping"
    with pytest.raises(CommandTextError):
        parse_action_text("due:2026-12-15", today=today)
