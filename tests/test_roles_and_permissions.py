"""Roles, severity, status updates, break-glass and who may do what, through the real endpoint."""

from __future__ import annotations

import shutil

from bot.core.phases import Stamp
from storage import audit
from tests.conftest import ROOT, start_bot
from tests.team_helpers import ADMIN, OUTSIDER, bot, click, clock, command, dm_messages, last_reply, open_incident, pick_user  # noqa: F401 (fixtures)


async def snapshot(bot):
    """What a refused action must leave alone: the incident, its timeline, Slack's messages."""
    incident = await bot.incident(1)
    return (
        incident,
        [e.id for e in await bot.timeline(1)],
        len(bot.fake.calls_to("chat.update")),
        len(bot.fake.calls_to("chat.postMessage")),
    )


async def test_an_outsider_cannot_stamp_or_note_and_is_told_who_may(bot, fake_slack, clock):
    incident = await open_incident(bot)
    before = await snapshot(bot)
    await click(bot, incident, "stamp_phase_diagnosed", "1", OUTSIDER, action_ts=clock.at(5))
    told = last_reply(fake_slack)
    assert told.startswith(
        "Only members of the war room, the incident commander (<@U_ALICE>) and the incident admins (<!subteam^S0ADMINS>) may mark phases"
    )
    assert told.endswith("in INC-1. Nothing changed.")
    await command(bot, "note I think it is DNS", user=OUTSIDER, channel=incident.channel_id)
    assert last_reply(fake_slack).startswith("Only members of the war room")
    assert await snapshot(bot) == before

    await click(bot, incident, "stamp_phase_diagnosed", "1", "U_BOB", action_ts=clock.at(6))  # a war-room member may
    row = await bot.incident(1)
    assert row.timeline.get(Stamp.DIAGNOSED).by == "U_BOB"


async def test_a_member_is_not_looked_up_on_every_click_but_a_newcomer_is_let_in_at_once(bot, fake_slack, clock):
    incident = await open_incident(bot)
    await click(bot, incident, "stamp_phase_diagnosed", "1", "U_BOB", action_ts=clock.at(5))
    lookups = len(fake_slack.calls_to("conversations.members"))
    await command(bot, "note Rolled back the deploy", user="U_BOB", channel=incident.channel_id)
    assert len(fake_slack.calls_to("conversations.members")) == lookups  # U_BOB was just seen there
    assert last_reply(fake_slack) == "Added to the INC-1 timeline."

    fake_slack.channels[incident.channel_id].members.add("U_DAVE")  # joins after the list was read
    await click(bot, incident, "stamp_phase_mitigated", "1", "U_DAVE", action_ts=clock.at(7))
    assert len(fake_slack.calls_to("conversations.members")) == lookups + 1
    assert (await bot.incident(1)).timeline.get(Stamp.MITIGATED).by == "U_DAVE"


async def test_closing_takes_the_commander_or_an_admin(bot, fake_slack, clock):
    incident = await open_incident(bot)
    before = await snapshot(bot)
    await click(bot, incident, "stamp_phase_verified", "1", "U_BOB", action_ts=clock.at(5))
    assert last_reply(fake_slack) == (
        "Only the incident commander (<@U_ALICE>) and the incident admins (<!subteam^S0ADMINS>) may mark the incident "
        "verified (which resolves it) in INC-1. Nothing changed."
    )
    assert await snapshot(bot) == before
    assert (await bot.incident(1)).status == "open"

    await click(bot, incident, "stamp_phase_verified", "1", ADMIN, action_ts=clock.at(20))  # an admin outside the war room
    row = await bot.incident(1)
    assert row.status == "resolved" and row.timeline.get(Stamp.VERIFIED).by == ADMIN


async def test_role_command_assigns_tells_the_person_and_shows_the_commander(bot, fake_slack, clock):
    incident = await open_incident(bot)
    await command(bot, "role commander <@U_BOB|bob>", user="U_ALICE", channel=incident.channel_id)
    row = await bot.incident(1)
    assert row.commander == "U_BOB"
    event = (await bot.timeline(1))[-1]
    assert (event.kind, event.actor, event.data) == (
        "role_assigned",
        "U_ALICE",
        {"role": "commander", "user": "U_BOB", "previous": "U_ALICE"},
    )
    control = fake_slack.channels[incident.channel_id].message(incident.control_message_ts)
    fields = str(control["blocks"])
    assert "*Commander*\\n<@U_BOB>" in fields
    assert "'initial_user': 'U_BOB'" in fields  # the commander picker shows the new one
    assert "IC <@U_BOB>" in fake_slack.channels[incident.channel_id].topic
    [dm] = dm_messages(fake_slack, "U_BOB")
    assert dm["text"].startswith("You are now the *commander* of *INC-1* in <#")
    assert any(m["text"] == "<@U_ALICE> made <@U_BOB> the *commander* of INC-1" for m in fake_slack.channels[incident.channel_id].messages)

    # Alice is no longer the commander: assigning a role is now Bob's (or an admin's)
    await pick_user(bot, incident, "scribe", "U_CAROL", user="U_ALICE")
    assert last_reply(fake_slack).startswith("Only the incident commander (<@U_BOB>) and the incident admins")
    assert (await bot.incident(1)).scribe is None
    await pick_user(bot, incident, "scribe", "U_CAROL", user="U_BOB")
    assert (await bot.incident(1)).scribe == "U_CAROL"
    assert dm_messages(fake_slack, "U_CAROL")[-1]["text"].startswith("You are now the *scribe* of *INC-1*")
    await pick_user(bot, incident, "rollback_owner", OUTSIDER, user=ADMIN)
    assert (await bot.incident(1)).rollback_owner == OUTSIDER
    assert OUTSIDER in fake_slack.channels[incident.channel_id].members  # invited to the war room

    await command(bot, "role pilot <@U_CAROL|carol>", user="U_BOB", channel=incident.channel_id)
    assert last_reply(fake_slack).startswith("`pilot` is not a role.")
    await command(bot, "role scribe @carol", user="U_BOB", channel=incident.channel_id)  # an app installed without should_escape
    assert last_reply(fake_slack).startswith("Slack sent `@carol` as plain text, not as a person")
    assert (await bot.incident(1)).scribe == "U_CAROL"


async def test_severity_change_is_refused_for_members_and_recorded_for_the_commander(bot, fake_slack, clock):
    incident = await open_incident(bot)
    before = await snapshot(bot)
    await command(bot, "severity P1", user="U_BOB", channel=incident.channel_id)
    assert last_reply(fake_slack).startswith("Only the incident commander (<@U_ALICE>)")
    assert await snapshot(bot) == before

    await command(bot, "severity P1", user="U_ALICE", channel=incident.channel_id)
    row = await bot.incident(1)
    assert row.severity == "P1"
    event = (await bot.timeline(1))[-1]
    assert (event.kind, event.data) == ("severity_changed", {"from": "P2", "to": "P1"})
    assert fake_slack.channels[incident.channel_id].topic.startswith("P1 | Checkout returns 500s")
    assert "INC-1 · P1 · Checkout returns 500s" in str(fake_slack.calls_to("chat.update")[-1].args["blocks"])
    await command(bot, "severity P9", user="U_ALICE", channel=incident.channel_id)
    assert last_reply(fake_slack).startswith("Unknown severity `P9`")


async def test_status_update_goes_to_the_war_room_the_announcement_channel_and_the_timeline(bot, fake_slack, announce_channel):
    incident = await open_incident(bot)
    await command(bot, "update Rolled back to v1.41; error rate falling", user="U_BOB", channel=incident.channel_id)
    assert (
        fake_slack.channels[incident.channel_id].messages[-1]["text"]
        == "📣 *Status update* from <@U_BOB>: Rolled back to v1.41; error rate falling"
    )
    announced = fake_slack.channels[announce_channel].messages[-1]["text"]
    assert announced.startswith("📣 *INC-1* (P2) Checkout returns 500s — update from <@U_BOB>: Rolled back to v1.41")
    event = (await bot.timeline(1))[-1]
    assert (event.kind, event.actor, event.text) == ("status_update", "U_BOB", "Status update: Rolled back to v1.41; error rate falling")
    await command(bot, "update", user="U_BOB", channel=incident.channel_id)
    assert last_reply(fake_slack).startswith("Write the update after the command")
    await command(bot, "update hello", user="U_BOB", channel="C_GENERAL")
    assert last_reply(fake_slack).startswith("This channel is not an incident war room")


async def test_breakglass_is_recorded_announced_audited_and_in_the_postmortem(bot, fake_slack, clock, announce_channel):
    incident = await open_incident(bot)
    clock.at(3)
    await command(bot, "breakglass prod DB write access to run the fix", user="U_BOB", channel=incident.channel_id)
    assert last_reply(fake_slack) == "Break-glass access recorded on INC-1 (who, when, why) and announced."
    assert (
        "<@U_BOB> used *break-glass* emergency access: prod DB write access to run the fix"
        in fake_slack.channels[incident.channel_id].messages[-1]["text"]
    )
    assert (
        fake_slack.channels[announce_channel].messages[-1]["text"]
        == "🚨 Break-glass emergency access in *INC-1* by <@U_BOB>: prod DB write access to run the fix"
    )
    async with bot.runtime.db.reading() as session:
        [record] = await audit.trail(session, 1)
    assert (record.action, record.actor, record.at, record.reason) == (
        "breakglass",
        "U_BOB",
        clock.now,
        "prod DB write access to run the fix",
    )

    await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.at(10))
    [upload] = fake_slack.files.values()
    markdown = upload["content"].decode()
    assert "## Emergency access" in markdown
    assert "- 2026-11-23 14:03 UTC: break-glass access by bob. Reason: prod DB write access to run the fix" in markdown

    await command(bot, "breakglass", user="U_BOB", channel=incident.channel_id)
    assert last_reply(fake_slack).startswith("Say why emergency access is needed")


async def test_webhook_secrets_never_reach_the_logs_or_the_answer(settings, fake_slack, caplog):
    import logging

    import aiohttp

    secret = "s3cr3t-webhook-value-0123456789"
    wrong = "wrong-secret-value-9876543210"
    running = await start_bot(settings.model_copy(update={"deploy_webhook_secret": secret}), fake_slack)
    try:
        caplog.set_level(logging.DEBUG)
        async with aiohttp.ClientSession() as session:
            for headers in ({}, {"X-Incident-Bot-Secret": wrong}, {"Authorization": f"Bearer {wrong}"}):
                async with session.post(
                    f"http://127.0.0.1:{running.port}/hooks/deploys", json={"service": "a", "version": "1"}, headers=headers
                ) as response:
                    body = await response.text()
                    assert response.status == 401
                    assert secret not in body and wrong not in body
    finally:
        await running.stop()
    assert secret not in caplog.text and wrong not in caplog.text


async def test_a_runbook_action_s_permission_level_refuses_everyone_below_it_and_writes_nothing(
    settings, fake_slack, tmp_path, monkeypatch
):
    """One action per level; an outsider, a member, the commander and an admin each click each one.
    Whoever the level leaves out is told who may, and nothing is sent or written for them."""
    from tests.action_endpoint import TOKEN, TOKEN_VARIABLE, ActionEndpoint
    from tests.team_helpers import team_settings
    from tests.test_runbook_actions import click_payload, runbook_message, stored_runs

    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    endpoint = ActionEndpoint()
    await endpoint.start()
    levels = {"everyone": {OUTSIDER, "U_BOB", "U_ALICE", ADMIN}, "war_room": {"U_BOB", "U_ALICE", ADMIN}, "commander": {"U_ALICE", ADMIN}}
    levels["admins"] = {ADMIN}
    folder = tmp_path / "runbooks"
    shutil.copytree(ROOT / "runbooks", folder)
    path = folder / "payments-api-errors.md"
    actions = "actions:\n" + "".join(
        f"  - id: {level}\n    label: Run as {level}\n    confirm: Run it as {level}\n    permission: {level}\n"
        f"    request:\n      url: {endpoint.url('/' + level)}\n      headers: {{Authorization: {{env: {TOKEN_VARIABLE}}}}}\n"
        for level in levels
    )
    path.write_text("---\n" + actions + path.read_text().removeprefix("---\n"))
    bot = await start_bot(team_settings(settings, fake_slack, tmp_path).model_copy(update={"runbooks_dir": folder}), fake_slack)
    try:
        incident = await open_incident(bot, "Card payments failing sev:P1 service:payments-api", members=("U_BOB",))
        message = runbook_message(fake_slack, incident)
        for level, allowed in levels.items():
            for user in (OUTSIDER, "U_BOB", "U_ALICE", ADMIN):
                before = (len(endpoint.received), len(await stored_runs(bot)), [e.id for e in await bot.timeline(1)])
                response = await bot.slack.interactive(click_payload(bot, incident, f"runbook_action_{level}", user=user, message=message))
                assert response.status == 200
                await bot.settle()
                if user not in allowed:
                    assert last_reply(fake_slack).startswith("Only ") and last_reply(fake_slack).endswith("Nothing was run."), (level, user)
                    assert (len(endpoint.received), len(await stored_runs(bot)), [e.id for e in await bot.timeline(1)]) == before
            assert len(endpoint.to("/" + level)) == 1, level  # the first one allowed ran it, once
    finally:
        await bot.stop()
        await endpoint.stop()
