"""The war room answers "what do I do?" and "what changed?": catalog people, bookmarks, the runbook
with its checklist, and the deploys that landed before the impact."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from bot.slack.blocks import SERVICE_ACTION
from storage import runbook_posts
from tests.slack_requests import TEAM, new_trigger_id, open_form_values
from tests.team_helpers import open_incident

SECRET = "s3cret-deploy-hook-0123456789"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def post_deploy(bot, **body) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{bot.port}/hooks/deploys", json=body, headers={"X-Incident-Bot-Secret": SECRET}
        ) as response:
            return response.status


def channel_of(fake, incident):
    return fake.channels[incident.channel_id]


def runbook_message(fake, incident) -> dict:
    return next(m for m in channel_of(fake, incident).messages if str(m.get("text", "")).startswith("Runbook:"))


async def test_opening_on_a_catalog_service_brings_its_people_links_and_runbook(bot, fake_slack):
    incident = await open_incident(bot, "Card payments failing sev:P1 service:payments-api", members=())
    channel = channel_of(fake_slack, incident)

    # owners by ID and the on-call group's members (usergroups.users.list)
    oncall = fake_slack.usergroups["S05PAYONCL1"]
    assert {"U_ALICE", "U01PAY7QX3K", "U05MLR2ZC8D", *oncall} <= channel.members
    # the dashboard bookmarked
    assert [(b["title"], b["link"]) for b in channel.bookmarks] == [
        ("payments-api dashboard", "https://grafana.shopwise.example/d/payments-api/payments-api-red")
    ]
    # dependencies in the control message; no deploy before impact
    control = next(m for m in channel.messages if m["ts"] == incident.control_message_ts)
    text = json.dumps(control["blocks"])
    assert "*Depends on:* auth, postgres-main" in text and "*Depended on by:* checkout-web" in text
    assert "Deploys in the 2 h before impact:* none recorded" in text
    # the runbook, its checklist as checkboxes
    message = runbook_message(fake_slack, incident)
    assert message["text"] == "Runbook: Payments API errors" or message["text"].startswith("Runbook: ")
    boxes = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"] if e["type"] == "checkboxes"]
    assert boxes and len(boxes[0]["options"]) == 6
    assert "0/6 first steps done" in json.dumps(message["blocks"])


async def test_on_call_group_by_handle_and_owners_by_email(bot, fake_slack):
    incident = await open_incident(bot, "Checkout slow sev:P2 service:checkout-web", members=())
    members = channel_of(fake_slack, incident).members
    dana = next(u["id"] for u in fake_slack.users.values() if u["profile"].get("email") == "dana.okafor@shopwise.example")
    storefront = next(g for g, h in fake_slack.usergroup_handles.items() if h == "storefront-oncall")
    assert dana in members and set(fake_slack.usergroups[storefront]) <= members
    assert fake_slack.calls_to("users.lookupByEmail")[0].args["email"] == "dana.okafor@shopwise.example"


async def test_unknown_service_is_refused_with_close_matches(bot, fake_slack):
    await bot.slack.command("open Payments down service:paymnts-api")
    await bot.settle()
    reply = fake_slack.responses[-1]["text"]
    assert reply.startswith("`paymnts-api` is not a service in the catalog. Did you mean `service:payments-api`?")
    assert await bot.incident(1) is None
    assert fake_slack.calls_to("conversations.create") == []


@pytest.mark.both_databases
async def test_deploys_before_impact_are_shown_and_recorded(bot, fake_slack, settings):
    now = datetime.now(UTC).replace(microsecond=0)
    bot.runtime.settings.deploy_webhook_secret = SECRET
    assert (
        await post_deploy(
            bot,
            service="payments-api",
            version="v1.42",
            time=iso(now - timedelta(minutes=30)),
            author="alice",
            url="https://github.com/shop/payments/pull/881",
        )
        == 201
    )
    assert await post_deploy(bot, service="postgres-main", version="15.4-patch2", time=iso(now - timedelta(minutes=70))) == 201
    assert await post_deploy(bot, service="payments-api", version="v1.41", time=iso(now - timedelta(hours=3))) == 201
    assert await post_deploy(bot, service="search", version="v9", time=iso(now - timedelta(minutes=20))) == 201

    incident = await open_incident(bot, "Refunds failing sev:P2 service:payments-api started:-10m", members=())
    control = next(m for m in channel_of(fake_slack, incident).messages if m["ts"] == incident.control_message_ts)
    text = json.dumps(control["blocks"], ensure_ascii=False)
    assert "*payments-api* `v1.42` (production)" in text and "by alice" in text and "|PR>" in text
    assert "20 min before impact" in text
    assert "*postgres-main* `15.4-patch2`" in text and "60 min before impact" in text  # an upstream dependency
    assert "v1.41" not in text and "search" not in text.split("Deploys in the")[1]

    await bot.slack.block_action(
        "stamp_phase_verified", "1", user="U_ALICE", channel=incident.channel_id, message_ts=incident.control_message_ts
    )
    await bot.settle()
    markdown = next(iter(fake_slack.files.values()))["content"].decode()
    changes = markdown.split("## Changes before the incident")[1].split("## Timeline")[0]
    assert "payments-api v1.42 (production)" in changes and "20 min before impact" in changes
    assert "postgres-main 15.4-patch2" in changes


async def test_checklist_ticks_are_timeline_events_with_who_and_when(bot, fake_slack):
    incident = await open_incident(bot, "Card payments failing sev:P1 service:payments-api", members=())
    channel = channel_of(fake_slack, incident)
    channel.members.update({"U_BOB", "U_CAROL"})
    message = runbook_message(fake_slack, incident)
    block = next(b for b in message["blocks"] if b["type"] == "actions")

    async def toggle(user: str, selected: list[int], seen_message: dict) -> None:
        element = next(b for b in seen_message["blocks"] if b.get("block_id") == block["block_id"])["elements"][0]
        payload = bot.slack.block_action_payload(
            element["action_id"],
            "",
            user=user,
            channel=incident.channel_id,
            message_ts=message["ts"],
            message=seen_message,
        )
        payload["actions"] = [
            {
                "type": "checkboxes",
                "action_id": element["action_id"],
                "block_id": block["block_id"],
                "selected_options": [o for o in element["options"] if int(o["value"]) in selected],
                "action_ts": f"{time.time():.6f}",
            }
        ]
        assert (await bot.slack.interactive(payload)).status == 200
        await bot.settle()

    stale = json.loads(json.dumps(runbook_message(fake_slack, incident)))
    await toggle("U_BOB", [0], runbook_message(fake_slack, incident))
    await toggle("U_CAROL", [0, 2], runbook_message(fake_slack, incident))
    # Bob clicks item 1 in a copy of the message from before anyone ticked: only item 1 changes.
    await toggle("U_BOB", [1], stale)
    await toggle("U_CAROL", [1, 2], runbook_message(fake_slack, incident))  # unticks item 0

    async with bot.runtime.db.transaction() as session:
        post = (await runbook_posts.for_incident(session, 1))[0]
    assert post.checked == [1, 2]
    events = [e for e in await bot.timeline(1) if e.kind.startswith("runbook_step")]
    assert [(e.kind, e.actor, e.data["step"]) for e in events] == [
        ("runbook_step_checked", "U_BOB", 0),
        ("runbook_step_checked", "U_CAROL", 2),
        ("runbook_step_checked", "U_BOB", 1),
        ("runbook_step_unchecked", "U_CAROL", 0),
    ]
    assert "2/6 first steps done" in json.dumps(runbook_message(fake_slack, incident)["blocks"])


async def test_runbook_command_lists_attaches_and_refuses_twice(bot, fake_slack):
    incident = await open_incident(bot, "Card payments failing service:payments-api", members=())
    await bot.slack.command("runbook", channel=incident.channel_id)
    await bot.settle()
    listing = fake_slack.responses[-1]["text"]
    assert "Runbooks for *payments-api*, best match first: `payments-api-errors`" in listing
    assert "`postgres-main-replication-lag`" in listing
    await bot.slack.command("runbook postgres-main-replication-lag", channel=incident.channel_id, user="U_ALICE")
    await bot.settle()
    titles = [m["text"] for m in channel_of(fake_slack, incident).messages if str(m.get("text", "")).startswith("Runbook:")]
    assert len(titles) == 2
    await bot.slack.command("runbook postgres-main-replication-lag", channel=incident.channel_id)
    await bot.settle()
    assert "already in the INC-1 war room" in fake_slack.responses[-1]["text"]
    await bot.slack.command("runbook no-such-thing", channel=incident.channel_id)
    await bot.settle()
    assert fake_slack.responses[-1]["text"].startswith("There is no runbook `no-such-thing`")
    kinds = [e.kind for e in await bot.timeline(1)]
    assert kinds.count("runbook_attached") == 2


async def test_deploy_commands_record_and_list(bot, fake_slack):
    await bot.slack.command("deploy payments-api v1.43", user="U_BOB")
    await bot.settle()
    assert fake_slack.responses[-1]["text"].startswith("Recorded deploy #1: *payments-api* `v1.43` (production)")
    await bot.slack.command("deploy paymentsapi v1")
    await bot.settle()
    assert "Did you mean `service:payments-api`?" in fake_slack.responses[-1]["text"]
    await bot.slack.command("deploys payments-api 2h")
    await bot.settle()
    listing = fake_slack.responses[-1]["text"]
    assert listing.startswith("Deploys to *payments-api* in the last 2 h, newest first:")
    assert "by bob" in listing  # the display name of who recorded it
    await bot.slack.command("deploys search")
    await bot.settle()
    assert fake_slack.responses[-1]["text"] == "No deploys to *search* in the last 2 h."


async def test_form_offers_a_recent_deploy_as_the_impact_start(bot, fake_slack):
    now = datetime.now(UTC).replace(microsecond=0)
    bot.runtime.settings.deploy_webhook_secret = SECRET
    assert await post_deploy(bot, service="payments-api", version="v2.0", time=iso(now - timedelta(minutes=25))) == 201
    deploy_time = now - timedelta(minutes=25)

    command = bot.slack.command_payload("open")
    from urllib.parse import urlencode

    await bot.slack.post(urlencode(command), "application/x-www-form-urlencoded")
    await fake_slack.wait_for_call("views.open")
    view = next(iter(fake_slack.views.values()))
    service_block = next(b for b in view["blocks"] if b["block_id"] == "service")
    assert service_block["element"]["type"] == "static_select" and service_block["dispatch_action"] is True

    payload = {
        "type": "block_actions",
        "team": {"id": TEAM["id"], "domain": TEAM["domain"]},
        "user": {"id": "U_ALICE", "username": "alice", "name": "alice", "team_id": TEAM["id"]},
        "api_app_id": "A0001",
        "token": "x",
        "container": {"type": "view", "view_id": view["id"]},
        "trigger_id": new_trigger_id(),
        "view": view,
        "is_enterprise_install": False,
        "enterprise": None,
        "actions": [
            {
                "type": "static_select",
                "action_id": SERVICE_ACTION,
                "block_id": "service",
                "selected_option": {"text": {"type": "plain_text", "text": "payments-api"}, "value": "payments-api"},
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    assert (await bot.slack.interactive(payload)).status == 200
    await bot.settle()
    updated = fake_slack.views[view["id"]]
    choice = next(b for b in updated["blocks"] if b["block_id"] == "impact_choice")
    deploy_option = choice["element"]["options"][1]
    assert deploy_option["text"]["text"].startswith("payments-api v2.0 · 25 min ago")

    values = open_form_values(title="Refunds failing", severity="P2", service="payments-api", started=int(now.timestamp()))
    values["impact_choice"] = {"impact_choice": {"type": "radio_buttons", "selected_option": deploy_option}}
    response = await bot.slack.view_submission(updated, values)
    assert response.status == 200
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.started_at == deploy_time
    assert fake_slack.responses[-1]["_url"] == command["response_url"]


async def test_repair_does_not_repeat_bookmarks_or_runbook(bot, fake_slack):
    incident = await open_incident(bot, "Card payments failing service:payments-api", members=())
    await bot.slack.command("repair", channel=incident.channel_id)
    await bot.settle()
    channel = channel_of(fake_slack, incident)
    assert len(channel.bookmarks) == 1
    assert len([m for m in channel.messages if str(m.get("text", "")).startswith("Runbook:")]) == 1
