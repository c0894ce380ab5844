"""Every write is permitted (issue 14, section 2), through the bot's real HTTP endpoint: runbook
checklist ticks, ``/incident repair``, who may be handed a role, the deploy webhook's catalog
check, and numbers from requests range-checked before they reach the database."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import aiohttp

from bot.core.text_input import row_number
from bot.metrics import REGISTRY
from bot.slack import blocks, handover_messages, messages, runbook_blocks
from bot.slack.blocks import (
    ACKNOWLEDGE_ACTION,
    ACTION_DONE_ACTION,
    ADD_ACTION_ACTION,
    ADD_ACTION_CALLBACK,
    EDIT_TIMES_ACTION,
    EDIT_TIMES_CALLBACK,
    HANDOVER_ACTION,
    OPEN_MODAL_CALLBACK,
    REOPEN_ACTION,
    ROLE_ACTION_PREFIX,
    SERVICE_ACTION,
    STAMP_ACTION_PREFIX,
)
from bot.slack.handover_messages import ACCEPT_ACTION, DECLINE_ACTION, HANDOVER_CALLBACK
from bot.slack.messages import unexpected_error
from bot.slack.runbook_blocks import CHECKLIST_ACTION_PREFIX
from storage import runbook_posts
from tests.slack_requests import open_form_values
from tests.team_helpers import ADMIN, OUTSIDER, bot, clock, command, dm_messages, last_reply, open_incident, pick_user  # noqa: F401 (fixtures)

GUEST = "U_GUS"  # a multi-channel guest, in no war room
GONE = "U_GONE"  # a deactivated account
OTHER_BOT = "U_OTHERBOT"  # another app's bot user
DEPLOY_SECRET = "s3cret-deploy-hook-for-permissions-0123"

# Slack methods that only read: a refused request may make these (to check who is asking), never others.
READS = {"conversations.members", "conversations.info", "usergroups.users.list", "usergroups.list", "users.info"}


def add_people(fake) -> None:
    fake.add_user(GUEST, "gus", guest=True)
    fake.add_user(GONE, "gone", deleted=True)
    fake.add_user(OTHER_BOT, "deploy-bot", is_bot=True)


async def open_on_payments(bot, title: str = "Card payments failing", *, channel: str = "C_GENERAL") -> object:
    """An incident on payments-api, whose runbook the bot posts with a checklist."""
    await bot.slack.command(f"open {title} sev:P1 service:payments-api", user="U_ALICE", channel=channel)
    await bot.settle()
    number = 1
    while await bot.incident(number + 1) is not None:
        number += 1
    return await bot.incident(number)


def runbook_message(fake, incident) -> dict:
    channel = fake.channels[incident.channel_id]
    return next(m for m in channel.messages if str(m.get("text", "")).startswith("Runbook:"))


def checklist_block(message: dict) -> dict:
    return next(b for b in message["blocks"] if str(b.get("block_id", "")).startswith("runbook_checklist:"))


async def tick(bot, *, user: str, channel: str, message: dict, selected: list[int], block_id: str | None = None):
    """A checkboxes click as Slack sends it: the new selection of the element, in the message clicked."""
    block = checklist_block(message)
    element = block["elements"][0]
    payload = bot.slack.block_action_payload(
        element["action_id"],
        "",
        user=user,
        channel=channel,
        message_ts=message["ts"],
        message=message,
    )
    payload["actions"] = [
        {
            "type": "checkboxes",
            "action_id": element["action_id"],
            "block_id": block_id or block["block_id"],
            "selected_options": [o for position, o in enumerate(element["options"]) if position in selected],
            "action_ts": f"{time.time():.6f}",
        }
    ]
    response = await bot.slack.interactive(payload)
    assert response.status == 200
    await bot.settle()


def answers_someone(call) -> bool:
    """A refusal told by direct message (a form's answer has no response_url): not a write."""
    return call.method == "chat.postMessage" and str(call.args.get("channel", "")).startswith("U") and not call.args.get("blocks")


async def written(bot) -> tuple:
    """Everything a refused request must leave alone: incidents, timelines, runbook posts, deploys,
    action items, and Slack's side (every call that is not a read)."""
    incidents, timelines, posts = [], [], []
    number = 1
    while (incident := await bot.incident(number)) is not None:
        incidents.append(incident)
        timelines.append([(e.id, e.kind) for e in await bot.timeline(number)])
        async with bot.runtime.db.transaction() as session:
            posts.append([(p.id, list(p.checked)) for p in await runbook_posts.for_incident(session, number)])
        number += 1
    deploys = await bot.runtime.deploys.recent(None, timedelta(days=3650))
    items = await bot.runtime.action_items.listing(which="open", requester="U_ALICE", incident_id=None)
    slack_writes = [c.method for c in bot.fake.calls if c.method not in READS and not answers_someone(c)]
    return incidents, timelines, posts, [d.id for d in deploys], [i.id for i in items], slack_writes


# ---- runbook checklist ticks ------------------------------------------------------------------


async def test_a_guest_or_outsider_who_sees_the_checklist_cannot_tick_it(bot, fake_slack):
    add_people(fake_slack)
    incident = await open_on_payments(bot)
    message = runbook_message(fake_slack, incident)
    before = await written(bot)
    for clicker in (OUTSIDER, GUEST, GONE):
        await tick(bot, user=clicker, channel=incident.channel_id, message=message, selected=[0])
        assert last_reply(fake_slack).startswith("Only members of the war room"), clicker
        assert last_reply(fake_slack).endswith("in INC-1. Nothing changed.")
    assert await written(bot) == before

    fake_slack.channels[incident.channel_id].members.add("U_BOB")
    await tick(bot, user="U_BOB", channel=incident.channel_id, message=message, selected=[0])  # a member may
    events = [(e.kind, e.actor) for e in await bot.timeline(1) if e.kind.startswith("runbook_step")]
    assert events == [("runbook_step_checked", "U_BOB")]


async def test_a_checklist_block_id_from_another_incident_writes_nothing_anywhere(bot, fake_slack):
    first = await open_on_payments(bot, "Card payments failing")
    second = await open_on_payments(bot, "Refunds failing")
    assert (first.id, second.id) == (1, 2)
    first_block = checklist_block(runbook_message(fake_slack, first))["block_id"]
    second_message = runbook_message(fake_slack, second)
    before = await written(bot)

    # Alice commands both, so only the post's incident can refuse her: the click comes from
    # INC-2's war room (or from no war room) but names INC-1's checklist.
    for channel in (second.channel_id, "C_GENERAL"):
        await tick(bot, user="U_ALICE", channel=channel, message=second_message, selected=[0, 1], block_id=first_block)
        assert last_reply(fake_slack) == (
            "That checklist does not belong to the incident of this channel, so the tick was not recorded. "
            "Tick it in the runbook message inside the incident's war room."
        )
    assert await written(bot) == before


async def test_forged_checklist_numbers_are_refused_before_the_database(bot, fake_slack):
    incident = await open_on_payments(bot)
    message = runbook_message(fake_slack, incident)
    before = await written(bot)
    for block_id in (
        "runbook_checklist:99999999999:0",
        "runbook_checklist:-1:0",
        "runbook_checklist:0:0",
        "runbook_checklist:1:999",
        "runbook_checklist:١:0",
        "runbook_checklist:x:0",
    ):
        await tick(bot, user="U_ALICE", channel=incident.channel_id, message=message, selected=[0], block_id=block_id)
    forged = json.loads(json.dumps(message))
    for option in checklist_block(forged)["elements"][0]["options"]:
        option["value"] = "²"  # isdigit() but not a number int() reads
    await tick(bot, user="U_ALICE", channel=incident.channel_id, message=forged, selected=[0, 1, 2, 3, 4, 5])
    assert await written(bot) == before


# ---- /incident repair ---------------------------------------------------------------------------


async def broken_incident(bot, fake_slack, text: str = "Checkout returns 500s sev:P2"):
    """An incident whose control message could not be pinned: something for repair to redo."""
    fake_slack.fail_next("pins.add", "internal_error")
    incident = await open_incident(bot, text)
    assert fake_slack.channels[incident.channel_id].pins == []
    return incident


async def test_repair_in_slack_takes_a_war_room_member_or_an_admin(bot, fake_slack):
    add_people(fake_slack)
    incident = await broken_incident(bot, fake_slack)
    before = await written(bot)
    for asker in (OUTSIDER, GUEST, GONE):
        await command(bot, "repair INC-1", user=asker, channel="C_GENERAL")
        assert last_reply(fake_slack) == (
            "Only members of the war room, the incident commander (<@U_ALICE>) and the incident admins "
            "(<!subteam^S0ADMINS>) may repair the Slack side (war-room steps, control message, summaries) in INC-1. "
            "Nothing changed."
        ), asker
    assert await written(bot) == before
    assert fake_slack.channels[incident.channel_id].pins == []

    await command(bot, "repair INC-1", user=ADMIN, channel="C_GENERAL")  # an admin outside the war room
    assert fake_slack.channels[incident.channel_id].pins == [incident.control_message_ts]


async def test_repair_of_a_private_incident_refuses_outsiders_without_naming_anyone(bot, fake_slack):
    add_people(fake_slack)
    incident = await broken_incident(bot, fake_slack, "Payroll export sent to the wrong bank private sev:P2")
    assert incident.is_private
    before = await written(bot)
    for asker in (OUTSIDER, GUEST, GONE):
        await command(bot, "repair INC-1", user=asker, channel="C_GENERAL")
        reply = last_reply(fake_slack)
        assert reply == messages.PRIVATE_INCIDENT  # the same words as every refusal outside a private war room
        assert "<@" not in reply and "subteam" not in reply and "Payroll" not in reply
    assert await written(bot) == before
    await command(bot, "repair INC-1", user="U_BOB", channel="C_GENERAL")  # invited by the opener
    assert fake_slack.channels[incident.channel_id].pins == [incident.control_message_ts]


# ---- who may be handed a role -------------------------------------------------------------------


NOT_A_PERSON = {
    GONE: "that account is deactivated",
    OTHER_BOT: "that is a bot, not a person",
    "UBOT0001": "that is a bot, not a person",  # the incident bot itself
    "USLACKBOT": "Slackbot is not a person",
    "U_NOBODY": "there is no such user in this workspace",
}


async def test_no_door_hands_a_role_to_a_deleted_user_a_bot_or_slackbot(bot, fake_slack):
    add_people(fake_slack)
    incident = await open_incident(bot)
    before = await written(bot)
    doors = {
        "command": lambda role, target: command(bot, f"role {role} <@{target}>", user="U_ALICE", channel=incident.channel_id),
        "picker": lambda role, target: pick_user(bot, incident, role, target, user="U_ALICE"),
    }
    words = {"commander": "commander", "rollback_owner": "rollback", "comms_lead": "comms", "scribe": "scribe"}
    labels = {"commander": "commander", "rollback_owner": "rollback owner", "comms_lead": "communications lead", "scribe": "scribe"}
    for door, assign in doors.items():
        for role, word in words.items():
            for target, reason in NOT_A_PERSON.items():
                await assign(word if door == "command" else role, target)
                assert last_reply(fake_slack) == (
                    f"<@{target}> cannot be the *{labels[role]}* of INC-1: {reason}. Nothing changed; pick a person who can act on it."
                ), (door, role, target)
    assert await written(bot) == before
    assert dm_messages(fake_slack, "USLACKBOT") == [] and dm_messages(fake_slack, GONE) == []

    fake_slack.fail_next("users.info", "internal_error")  # Slack cannot say: refused
    await command(bot, "role commander <@U_BOB|bob>", user="U_ALICE", channel=incident.channel_id)
    assert last_reply(fake_slack).startswith("<@U_BOB> cannot be the *commander* of INC-1: Slack could not say who that is")
    assert await written(bot) == before

    await command(bot, "role commander <@U_BOB|bob>", user="U_ALICE", channel=incident.channel_id)  # a person may
    assert (await bot.incident(1)).commander == "U_BOB"


# ---- the deploy webhook and the catalog ---------------------------------------------------------


async def test_the_deploy_webhook_refuses_a_service_not_in_the_catalog_with_close_matches(bot):
    bot.runtime.settings.deploy_webhook_secret = DEPLOY_SECRET
    before = await written(bot)

    async def post(body: dict) -> tuple[int, dict]:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"http://127.0.0.1:{bot.port}/hooks/deploys", json=body, headers={"X-Incident-Bot-Secret": DEPLOY_SECRET}
            ) as response:
                return response.status, await response.json()

    status, answer = await post({"service": "paymnts-api", "version": "v1.42"})
    assert status == 422
    assert answer["ok"] is False
    assert answer["error"].startswith(
        'service: `paymnts-api` is not a service in the catalog. Did you mean `"service": "payments-api"`? Known services: '
    )
    status, answer = await post({"service": "billing", "version": "v1"})
    assert status == 422 and "Did you mean" not in answer["error"] and "payments-api" in answer["error"]
    assert await written(bot) == before
    status, _ = await post({"service": "payments-api", "version": "v1.42"})
    assert status == 201


# ---- numbers from requests ----------------------------------------------------------------------

# Every button whose value is a row number (the phase buttons share one listener: two of them).
BUTTONS_WITH_A_NUMBER = (
    f"{STAMP_ACTION_PREFIX}diagnosed",
    f"{STAMP_ACTION_PREFIX}verified",
    ACKNOWLEDGE_ACTION,
    REOPEN_ACTION,
    EDIT_TIMES_ACTION,
    ADD_ACTION_ACTION,
    ACTION_DONE_ACTION,
    HANDOVER_ACTION,
    ACCEPT_ACTION,
    DECLINE_ACTION,
)
# What the sweep below sends, by the constant each listener is registered with.
SWEPT = {
    STAMP_ACTION_PREFIX,
    ACKNOWLEDGE_ACTION,
    REOPEN_ACTION,
    EDIT_TIMES_ACTION,
    ADD_ACTION_ACTION,
    ACTION_DONE_ACTION,
    ROLE_ACTION_PREFIX,
    CHECKLIST_ACTION_PREFIX,
    EDIT_TIMES_CALLBACK,
    ADD_ACTION_CALLBACK,
    OPEN_MODAL_CALLBACK,
    SERVICE_ACTION,
    HANDOVER_ACTION,
    ACCEPT_ACTION,
    DECLINE_ACTION,
    HANDOVER_CALLBACK,
}  # the last in test_a_form_service_choice_with_damaged_private_metadata_is_answered_cleanly


def test_the_sweep_covers_every_action_and_view_the_bot_registers():
    """A new button or form must join the sweep: every action_id and callback_id constant the
    handlers register listeners with is in SWEPT."""
    registered = {
        value
        for module in (blocks, runbook_blocks, handover_messages)
        for name, value in vars(module).items()
        if isinstance(value, str) and (name.endswith(("_ACTION", "_ACTION_PREFIX", "_CALLBACK")))
    }
    assert registered == SWEPT


def test_a_row_number_is_plain_ascii_digits_in_the_column_range():
    assert [row_number(v) for v in ("1", "42", "2147483647", 7)] == [1, 42, 2147483647, 7]
    for bad in ("0", "-1", "2147483648", "9" * 5000, " 1", "+1", "1.0", "١", "²", "", None, True, 1.5, [1]):
        try:
            row_number(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} taken as a row number")


BAD_NUMBERS = ["2147483648", "99999999999999999999", "-1", "0", "abc", "", "1e3", " 1", "²", "١", None, 3.5, True, -5, 2**40]


async def test_every_view_and_action_refuses_numbers_out_of_range_cleanly(bot, fake_slack):
    """Every view callback and every action that carries a number, with numbers no row can have,
    on both databases: a clean answer (never a 500), nothing written, no Slack call but reads."""
    incident = await open_incident(bot)
    # An incident number in range but of no incident must also be a clean answer.
    numbers = [*BAD_NUMBERS, "424242"]
    before = await written(bot)
    errors_before = errors()

    for number in numbers:
        text = number if isinstance(number, str) else json.dumps(number)
        # ---- views ----
        for callback, metadata, values in (
            (EDIT_TIMES_CALLBACK, {"incident_id": number, "original": {}}, {}),
            (
                ADD_ACTION_CALLBACK,
                {"incident_id": number, "channel_id": incident.channel_id},
                {"text": {"text": {"type": "plain_text_input", "value": "Fix it"}}},
            ),
            (
                HANDOVER_CALLBACK,
                {"incident_id": number, "channel_id": incident.channel_id},
                {
                    "to_user": {"to_user": {"type": "users_select", "selected_user": "U_BOB"}},
                    "hypothesis": {"hypothesis": {"type": "plain_text_input", "value": "DNS"}},
                    "next_steps": {"next_steps": {"type": "plain_text_input", "value": "Flush caches"}},
                },
            ),
        ):
            view = {"id": "V0FORGED1", "type": "modal", "callback_id": callback, "private_metadata": json.dumps(metadata)}
            response = await bot.slack.view_submission(view, values)
            assert response.status == 200, (callback, number, response.text)
            if callback == EDIT_TIMES_CALLBACK or number != "424242":
                assert response.json()["response_action"] == "errors", (callback, number)
        # The open form's numbers: the impact-start deploy and the picked time.
        view = {
            "id": f"V0OPEN{len(text)}",
            "type": "modal",
            "callback_id": OPEN_MODAL_CALLBACK,
            "private_metadata": json.dumps({"channel_id": "C_GENERAL", "response_url": ""}),
        }
        values = open_form_values()
        values["impact_choice"] = {
            "impact_choice": {
                "type": "static_select",
                "selected_option": {"text": {"type": "plain_text", "text": "deploy"}, "value": f"deploy:{text}"},
            }
        }
        response = await bot.slack.view_submission(view, values)
        assert response.status == 200 and (response.json() or {}).get("response_action") == "errors" or number == "424242"
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            values = open_form_values(started=number * 10**12)
            response = await bot.slack.view_submission(view, values)
            assert response.status == 200
            assert response.json()["response_action"] == "errors", number

        # ---- actions ----
        for action_id in BUTTONS_WITH_A_NUMBER:
            response = await bot.slack.block_action(
                action_id, text, user="U_ALICE", channel=incident.channel_id, message_ts=incident.control_message_ts
            )
            assert response.status == 200, (action_id, number)
        for role in ("commander", "scribe"):
            payload = bot.slack.block_action_payload(
                f"{ROLE_ACTION_PREFIX}{role}", "", user="U_ALICE", channel=incident.channel_id, message_ts=incident.control_message_ts
            )
            payload["actions"][0].update({"type": "users_select", "block_id": f"role_pickers:{text}", "selected_user": "U_BOB"})
            assert (await bot.slack.interactive(payload)).status == 200
        payload = bot.slack.block_action_payload(
            f"{CHECKLIST_ACTION_PREFIX}0", "", user="U_ALICE", channel=incident.channel_id, message_ts=incident.control_message_ts
        )
        payload["actions"][0].update(
            {"type": "checkboxes", "block_id": f"runbook_checklist:{text}:0", "selected_options": [{"value": text}]}
        )
        assert (await bot.slack.interactive(payload)).status == 200
        # ---- command text ----
        for subcommand in ("status", "repair", "ack", "reopen"):
            assert (await bot.slack.command(f"{subcommand} INC-{text}", user="U_ALICE", channel=incident.channel_id)).status == 200
        command = f"handover INC-{text} <@U_BOB|bob> watch p99"
        assert (await bot.slack.command(command, user="U_ALICE", channel=incident.channel_id)).status == 200
        await bot.settle()

    after = await written(bot)
    for was, now in zip(before, after, strict=True):
        assert was == now
    assert errors() == errors_before
    assert not [r for r in fake_slack.responses if r.get("text") == unexpected_error()]


def errors() -> float:
    return sum(REGISTRY.get_sample_value("incident_bot_errors_total", {"where": where}) or 0 for where in ("flow", "http", "database"))


async def test_a_form_service_choice_with_damaged_private_metadata_is_answered_cleanly(bot, fake_slack):
    """The open form's service select (a block_actions in a view) still offers deploys when its
    private_metadata is not the JSON object the bot wrote: never a traceback."""
    before = await written(bot)
    errors_before = errors()
    for metadata in ("{", "[]", "null", '{"channel_id": 5}', "{" * 10_000):
        payload = bot.slack.block_action_payload(SERVICE_ACTION, "", user="U_ALICE", channel="C_GENERAL", message_ts="1.1")
        for key in ("channel", "message", "response_url"):
            payload.pop(key)
        payload["container"] = {"type": "view", "view_id": "V0NOSUCH1"}
        payload["view"] = {"id": "V0NOSUCH1", "hash": "1.abc", "type": "modal", "private_metadata": metadata}
        payload["actions"][0].update(
            {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": "payments-api"}, "value": "payments-api"}}
        )
        payload["actions"][0].pop("value")
        assert (await bot.slack.interactive(payload)).status == 200
        await bot.settle()
    assert errors() == errors_before
    assert not [r for r in fake_slack.responses if r.get("text") == unexpected_error()]
    assert [c.args.get("text") for c in fake_slack.calls_to("chat.postMessage")] == []
    assert (await written(bot))[:5] == before[:5]
