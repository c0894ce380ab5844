"""Private incidents: a private war room, only the opener and the people they invite, and no title
outside it."""

from __future__ import annotations

from datetime import UTC
from urllib.parse import urlencode

from bot.slack.blocks import OPEN_MODAL_CALLBACK, PRIVATE_ANNOUNCEMENT
from storage.reports import PRIVATE_TITLE
from tests.slack_requests import open_form_values
from tests.team_helpers import bot, click, clock, command, last_reply  # noqa: F401 (fixtures)


async def test_a_private_incident_has_a_private_room_and_no_title_outside_it(bot, fake_slack, clock, announce_channel):
    await command(
        bot, "open Payroll export sent to the wrong bank private sev:P2 service:payments-api", user="U_ALICE", channel="C_GENERAL"
    )
    incident = await bot.incident(1)
    assert incident.is_private and incident.title == "Payroll export sent to the wrong bank"
    [create] = fake_slack.calls_to("conversations.create")
    assert create.args["is_private"] in (True, "true", "1")
    room = fake_slack.channels[incident.channel_id]
    assert room.is_private
    # only the opener: no service owners or on-call group
    assert room.members == {"UBOT0001", "U_ALICE"}
    [announced] = fake_slack.channels[announce_channel].messages
    assert announced["text"] == PRIVATE_ANNOUNCEMENT and not announced["blocks"]
    assert "Payroll" not in str(fake_slack.channels[announce_channel].messages)

    await command(bot, "status INC-1", user="U_BOB", channel="C_GENERAL")
    assert last_reply(fake_slack) == "That incident is private: only the people in its war room can see it."
    await command(bot, "status INC-1", user="U_ALICE", channel="C_GENERAL")
    assert "Payroll export" in last_reply(fake_slack)

    await command(bot, "update Bank contacted", user="U_ALICE", channel=incident.channel_id)
    assert len(fake_slack.channels[announce_channel].messages) == 1  # updates stay in the war room
    await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.at(30))
    assert len(fake_slack.channels[announce_channel].messages) == 1  # and so does the summary
    assert any("restored in" in str(m.get("blocks")) for m in room.messages)

    listed = await bot.runtime.reports.reads.listing(clock.now.replace(day=1), clock.now)
    assert {i: shown.title for i, shown in listed.items()} == {1: PRIVATE_TITLE}  # the digest counts it, untitled
    assert listed[1].war_room is None
    report, _ = await bot.runtime.reports.window(clock.now.replace(day=1), clock.now)
    assert report.incident_ids == (1,)


async def test_the_form_checkbox_opens_a_private_incident(bot, fake_slack):
    command_payload = bot.slack.command_payload("open")
    await bot.slack.post(urlencode(command_payload), "application/x-www-form-urlencoded")
    await fake_slack.wait_for_call("views.open")
    view = next(iter(fake_slack.views.values()))
    assert view["callback_id"] == OPEN_MODAL_CALLBACK
    checkbox = next(b for b in view["blocks"] if b["block_id"] == "visibility")
    assert checkbox["element"]["options"][0]["value"] == "private"
    values = open_form_values(title="Harassment report", severity="P3")
    values["visibility"] = {
        "visibility": {
            "type": "checkboxes",
            "selected_options": [{"text": {"type": "plain_text", "text": "Private incident"}, "value": "private"}],
        }
    }
    response = await bot.slack.view_submission(view, values)
    assert response.status == 200
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.is_private
    assert fake_slack.channels[incident.channel_id].is_private


async def test_private_is_a_lowercase_token_and_public_is_the_default(bot, fake_slack):
    await command(bot, "open Private API returns 500s", user="U_ALICE", channel="C_GENERAL")
    incident = await bot.incident(1)
    assert not incident.is_private and incident.title == "Private API returns 500s"


def test_escaped_mentions_read_as_people_in_a_title_and_private_is_a_token():
    from datetime import datetime

    from bot.core.command_text import parse_open_text

    now = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    request = parse_open_text("private Laptop of <@U024BE7LH|bob> stolen, see <#C0123ABC|security>", now=now)
    assert request.private and request.title == "Laptop of @bob stolen, see #security"
    assert not parse_open_text("Private key leaked", now=now).private
