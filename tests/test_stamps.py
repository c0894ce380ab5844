"""Phase buttons through the real endpoint: stamps, implied phases, races, resolution and postmortem."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.phases import Phase, Stamp
from bot.incidents.stamping import Stamper, StampResult
from storage import incidents as rows
from tests.clocks import FakeClock
from tests.conftest import start_bot
from tests.waiting import HANG_SECONDS

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def clocked_bot(settings, fake_slack, clock):
    running = await start_bot(settings, fake_slack, clock=clock)
    yield running
    await running.stop()


async def open_incident(bot, text: str = "Checkout returns 500s sev:P1 service:payments-api", user: str = "U_ALICE"):
    await bot.slack.command(f"open {text}", user=user)
    await bot.settle()
    incident = await bot.incident(1)
    for member in ("U_BOB", "U_CAROL"):
        bot.fake.channels[incident.channel_id].members.add(member)
    return incident


async def click(bot, incident, stamp: str, user: str, *, action_ts: str | None = None, retry_num: int | None = None, settle: bool = True):
    response = await bot.slack.block_action(
        f"stamp_phase_{stamp}",
        str(incident.id),
        user=user,
        channel=incident.channel_id,
        message_ts=incident.control_message_ts,
        action_ts=action_ts,
        retry_num=retry_num,
    )
    assert response.status == 200
    if settle:
        await bot.settle()
    return response


def lines_in(fake, channel_id: str) -> list[str]:
    return [m["text"] for m in fake.channels[channel_id].messages if not m.get("blocks") and not m.get("files")]


def control_buttons(fake, incident) -> list[str]:
    update = fake.calls_to("chat.update")[-1]
    blocks = update.args["blocks"]
    return [e["action_id"] for b in blocks if b.get("block_id") == "phase_buttons" for e in b["elements"]]


@pytest.mark.both_databases
async def test_worked_example_end_to_end(clocked_bot, fake_slack, clock, announce_channel):
    bot = clocked_bot
    incident = await open_incident(bot)  # impact and alert at 14:00
    await click(bot, incident, "diagnosed", "U_BOB", action_ts=clock.at(5))
    assert control_buttons(fake_slack, incident) == ["incident_acknowledge", "stamp_phase_mitigated", "stamp_phase_verified"]
    assert fake_slack.channels[incident.channel_id].topic.startswith("P1 | Checkout returns 500s | Mitigating")
    await click(bot, incident, "mitigated", "U_BOB", action_ts=clock.at(8))
    await click(bot, incident, "verified", "U_ALICE", action_ts=clock.at(18))  # closing: the commander

    row = await bot.incident(1)
    assert row.status == "resolved"
    stamps = row.timeline.stamps
    assert (stamps[Stamp.DIAGNOSED].at, stamps[Stamp.DIAGNOSED].by) == (T0 + timedelta(minutes=5), "U_BOB")
    assert (stamps[Stamp.MITIGATED].at, stamps[Stamp.MITIGATED].by) == (T0 + timedelta(minutes=8), "U_BOB")
    assert (stamps[Stamp.VERIFIED].at, stamps[Stamp.VERIFIED].by) == (T0 + timedelta(minutes=18), "U_ALICE")
    assert not any(v.implied for v in stamps.values())
    assert control_buttons(fake_slack, incident) == ["incident_reopen"]  # monitoring: the only button left

    lines = lines_in(fake_slack, incident.channel_id)
    assert lines[0].startswith("<@U_BOB> marked *diagnosed* at <!date^") and lines[0].endswith(", 5 min after detection")
    assert lines[1].endswith(", 8 min after detection")
    assert lines[2].startswith("<@U_ALICE> marked *verified*") and lines[2].split("\n")[0].endswith("time to restore 18 min")
    assert "Monitoring until" in lines[2]

    for channel in (incident.channel_id, announce_channel):
        summary = next(m for m in fake_slack.channels[channel].messages if "restored in" in str(m.get("blocks")))
        text = str(summary["blocks"])
        assert "INC-1 restored in 18 min" in text
        assert "Slowest phase: *Verify* (10 min, 56%)" in text
        assert "P1 target: *Elite* (< 30 min)" in text
        assert "DORA band (2023 report): *Elite*" in text

    [upload] = fake_slack.files.values()
    markdown = upload["content"].decode()
    assert upload["channel_id"] == incident.channel_id
    assert markdown.startswith("# INC-1: Checkout returns 500s")
    assert "| Time to restore | 18 min |" in markdown
    assert "| Verify | 10 min | 56% | slowest |" in markdown
    assert "| 2026-11-23 14:05:00 | bob | Marked diagnosed |" in markdown  # display names, not IDs
    for section in (
        "## Summary",
        "## Impact",
        "## Root cause",
        "## Contributing factors",
        "## What went well",
        "## What we will improve",
        "## Information gaps",
        "## Tooling friction",
        "## Action items",
    ):
        assert section in markdown
    async with bot.runtime.db.transaction() as session:
        stored = await rows.postmortem(session, 1)
    assert stored.markdown == markdown and stored.file_id is not None
    kinds = [e.kind for e in await bot.timeline(1)]
    assert kinds == [
        "opened",
        "war_room_created",
        "runbook_attached",
        "phase_stamped",
        "phase_stamped",
        "phase_stamped",
        "resolved",
        "postmortem_drafted",
    ]


async def test_skipping_to_verified_fills_earlier_phases_as_implied(bot, fake_slack):
    incident = await open_incident(bot, "Cache cluster down sev:P2 started:-30m")
    await click(bot, incident, "verified", "U_ALICE")
    row = await bot.incident(1)
    stamps = row.timeline.stamps
    assert stamps[Stamp.DIAGNOSED].implied and stamps[Stamp.MITIGATED].implied and not stamps[Stamp.VERIFIED].implied
    assert stamps[Stamp.DIAGNOSED].at == stamps[Stamp.MITIGATED].at == stamps[Stamp.VERIFIED].at
    assert timedelta(minutes=29) < row.timeline.time_to_restore < timedelta(minutes=31)
    summary = next(m for m in fake_slack.channels[incident.channel_id].messages if "restored in" in str(m.get("blocks")))
    assert "_Implied:_ diagnose, mitigate closed when a later phase was marked" in str(summary["blocks"])
    assert "(_diagnosed, mitigated_ implied at the same time)" in lines_in(fake_slack, incident.channel_id)[0]
    # a backdated start gives the detect phase its 30 minutes
    assert timedelta(minutes=29) < row.timeline.duration(Phase.DETECT) < timedelta(minutes=31)


async def test_mitigated_before_diagnosed_then_diagnosed_is_already_stamped(bot, fake_slack):
    incident = await open_incident(bot)
    await click(bot, incident, "mitigated", "U_BOB")
    await click(bot, incident, "diagnosed", "U_CAROL")
    row = await bot.incident(1)
    assert row.timeline.stamps[Stamp.DIAGNOSED].by == "U_BOB" and row.timeline.stamps[Stamp.DIAGNOSED].implied
    reply = fake_slack.responses[-1]
    assert reply["text"].startswith("*Diagnosed* was already marked by <@U_BOB> at <!date^")
    assert "(implied by a later phase)" in reply["text"]
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False


@pytest.mark.both_databases
async def test_a_click_planned_from_a_stale_read_looks_again(bot, fake_slack):
    """The click's first attempt plans from the read its permission check made. Diagnosed was
    stamped in between: the plan to imply it no longer holds, so the click reads again and
    stamps mitigated alone, leaving Carol's diagnosis as she made it."""
    incident = await open_incident(bot)
    seen = await bot.runtime.incidents.get(incident.id)
    await click(bot, incident, "diagnosed", "U_CAROL")
    outcome = (await Stamper(bot.runtime.db, bot.runtime.clock).stamp(incident.id, Stamp.MITIGATED, by="U_BOB", read=seen)).outcome
    assert outcome.result is StampResult.STAMPED and outcome.implied == ()
    row = await bot.incident(1)
    diagnosed, mitigated = row.timeline.stamps[Stamp.DIAGNOSED], row.timeline.stamps[Stamp.MITIGATED]
    assert (diagnosed.by, diagnosed.implied) == ("U_CAROL", False)
    assert (mitigated.by, mitigated.implied) == ("U_BOB", False)
    stamped = [e.text for e in await bot.timeline(1) if e.kind == "phase_stamped"]
    assert stamped == ["Marked diagnosed", "Marked mitigated"]


@pytest.mark.both_databases
async def test_double_clicks_retries_and_stale_messages_change_nothing(bot, fake_slack):
    incident = await open_incident(bot)
    first_ts = f"{datetime.now(UTC).timestamp():.6f}"
    await click(bot, incident, "diagnosed", "U_BOB", action_ts=first_ts)
    await click(bot, incident, "diagnosed", "U_BOB", action_ts=first_ts, retry_num=1)  # retried delivery
    await click(bot, incident, "diagnosed", "U_CAROL")  # a second responder
    await click(bot, incident, "verified", "U_ALICE")
    await click(bot, incident, "mitigated", "U_CAROL")  # an old copy of the control message
    events = [e for e in await bot.timeline(1) if e.kind == "phase_stamped"]
    assert [e.data["stamp"] for e in events] == ["diagnosed", "verified"]
    assert len(lines_in(fake_slack, incident.channel_id)) == 2
    assert len(fake_slack.calls_to("chat.update")) == 2
    replies = [r["text"] for r in fake_slack.responses[-3:]]
    assert replies[0].startswith("*Diagnosed* was already marked by <@U_BOB>")
    assert replies[1].startswith("*Diagnosed* was already marked by <@U_BOB>")
    assert replies[2].startswith("*Mitigated* was already marked by <@U_ALICE>")


@pytest.mark.both_databases
@pytest.mark.parametrize("returning", [True, False], ids=["update-returning", "no-returning"])
async def test_concurrent_clicks_give_exactly_one_stamp(bot, fake_slack, monkeypatch, returning):
    # SQLite before 3.35 cannot return the updated row; the stamp then reads it back instead.
    monkeypatch.setattr(bot.runtime.db.engine.dialect, "update_returning", returning and bot.runtime.db.engine.dialect.update_returning)
    incident = await open_incident(bot)
    users = [f"U_R{n}" for n in range(12)]
    for user in users:
        fake_slack.add_user(user, user.lower())
        fake_slack.channels[incident.channel_id].members.add(user)
    await asyncio.gather(*(click(bot, incident, "mitigated", user, settle=False) for user in users))
    await bot.settle()
    row = await bot.incident(1)
    winner = row.timeline.stamps[Stamp.MITIGATED].by
    assert winner in users
    stamped = [e for e in await bot.timeline(1) if e.kind == "phase_stamped"]
    assert len(stamped) == 1 and stamped[0].actor == winner
    assert len(lines_in(fake_slack, incident.channel_id)) == 1
    already = [r for r in fake_slack.responses if "was already marked" in r.get("text", "")]
    assert len(already) == len(users) - 1


@pytest.mark.both_databases
async def test_concurrent_verified_clicks_post_one_summary(bot, fake_slack, announce_channel):
    incident = await open_incident(bot)
    await asyncio.gather(*(click(bot, incident, "verified", u, settle=False) for u in ("U_ALICE", "U_BOB", "U_CAROL")))
    await bot.settle()
    summaries = [m for m in fake_slack.channels[announce_channel].messages if "restored in" in str(m.get("blocks"))]
    assert len(summaries) == 1
    assert len(fake_slack.files) == 1


@pytest.mark.both_databases
async def test_summary_and_postmortem_failures_keep_the_resolution_and_repair_posts_them_once(bot, fake_slack, announce_channel):
    incident = await open_incident(bot)
    fake_slack.channels[announce_channel].is_archived = True
    fake_slack.fail_next("files.getUploadURLExternal", status=500, times=3)
    await click(bot, incident, "verified", "U_ALICE")

    row = await bot.incident(1)
    assert row.status == "resolved" and row.timeline.restored
    told = fake_slack.responses[-1]["text"]
    assert told.startswith("The stamp is recorded, but Slack is not fully up to date:")
    assert f"• the MTTR summary was not posted in <#{announce_channel}> (the channel is archived)" in told
    assert "• the postmortem draft was not uploaded (Slack answered with a server error)" in told
    assert told.endswith("Run `/incident repair INC-1` to finish.")
    async with bot.runtime.db.transaction() as session:
        assert (await rows.postmortem(session, 1)) is not None  # stored before Slack was asked

    fake_slack.channels[announce_channel].is_archived = False
    await bot.slack.command("repair INC-1", channel=incident.channel_id)
    await bot.settle()
    war_room_summaries = [m for m in fake_slack.channels[incident.channel_id].messages if "restored in" in str(m.get("blocks"))]
    announced = [m for m in fake_slack.channels[announce_channel].messages if "restored in" in str(m.get("blocks"))]
    assert len(war_room_summaries) == 1 and len(announced) == 1
    assert len(fake_slack.files) == 1
    assert fake_slack.responses[-1]["text"].startswith("INC-1: redid")

    await bot.slack.command("repair INC-1", channel=incident.channel_id)
    await bot.settle()
    assert len(fake_slack.files) == 1
    assert len([m for m in fake_slack.channels[announce_channel].messages if "restored in" in str(m.get("blocks"))]) == 1


async def test_control_message_update_failure_is_reported_and_repaired(bot, fake_slack):
    incident = await open_incident(bot)
    fake_slack.fail_next("chat.update", "message_not_found")
    await click(bot, incident, "diagnosed", "U_BOB")
    assert (await bot.incident(1)).timeline.stamps[Stamp.DIAGNOSED].by == "U_BOB"
    assert "• the control message could not be updated (the message no longer exists)" in fake_slack.responses[-1]["text"]
    await bot.slack.command("repair", channel=incident.channel_id)
    await bot.settle()
    last_update = fake_slack.calls_to("chat.update")[-1]
    assert last_update.ok and "✅ *Diagnosed*" in str(last_update.args["blocks"])


async def test_unknown_incident_and_malformed_button_values(bot, fake_slack):
    incident = await open_incident(bot)
    response = await bot.slack.block_action("stamp_phase_verified", "999", user="U_BOB", channel=incident.channel_id, message_ts="1.2")
    assert response.status == 200
    await bot.settle()
    assert fake_slack.responses[-1]["text"].startswith("There is no incident INC-999")
    response = await bot.slack.block_action(
        "stamp_phase_verified", "not-a-number", user="U_BOB", channel=incident.channel_id, message_ts="1.2"
    )
    assert response.status == 200
    await bot.settle()
    assert not (await bot.incident(1)).timeline.restored


async def test_notes_and_the_add_to_timeline_shortcut(bot, fake_slack):
    incident = await open_incident(bot)
    await bot.slack.command("note Rolled back payments-api to v1.42 &amp; purged cache", channel=incident.channel_id, user="U_BOB")
    await bot.settle()
    assert fake_slack.responses[-1]["text"] == "Added to the INC-1 timeline."
    await bot.slack.command("note", channel=incident.channel_id)
    await bot.settle()
    assert "Write the note after the command" in fake_slack.responses[-1]["text"]
    await bot.slack.command("note Lost note", channel="C_GENERAL")
    await bot.settle()
    assert "not an incident war room" in fake_slack.responses[-1]["text"]

    channel = fake_slack.channels[incident.channel_id]
    posted = fake_slack._new_ts()
    channel.messages.append({"type": "message", "ts": posted, "user": "U_CAROL", "text": "p99 latency back under 200 ms"})
    payload = {
        "type": "message_action",
        "callback_id": "add_to_incident_timeline",
        "trigger_id": "1.2.3",
        "message_ts": posted,
        "response_url": fake_slack.response_url(),
        "message": {"type": "message", "user": "U_CAROL", "text": "p99 latency back under 200 ms", "ts": posted},
        "channel": {"id": incident.channel_id, "name": incident.channel_name},
        "user": {"id": "U_BOB", "name": "bob"},
        "team": {"id": "T0001", "domain": "acme"},
        "token": "x",
        "action_ts": "1.2",
        "is_enterprise_install": False,
        "enterprise": None,
    }
    for action_ts in ("1.2", "1.3"):  # two clicks: two requests from Slack (a replay of one is refused elsewhere)
        assert (await bot.slack.interactive({**payload, "action_ts": action_ts})).status == 200
        await bot.settle()
    assert fake_slack.responses[-1]["text"] == "That message is already on the INC-1 timeline."
    events = await bot.timeline(1)
    note = next(e for e in events if e.kind == "note")
    assert (note.actor, note.text) == ("U_BOB", "Rolled back payments-api to v1.42 & purged cache")
    [message] = [e for e in events if e.kind == "message"]
    assert message.text == "<@U_CAROL>: p99 latency back under 200 ms"
    assert message.data["permalink"].startswith("https://") and message.data["author"] == "U_CAROL"


@pytest.mark.slow
async def test_postmortem_command_prints_and_writes_the_draft(settings, fake_slack, tmp_path, incident):
    bot = await start_bot(settings, fake_slack)
    try:
        opened = await open_incident(bot, "Search index stale sev:P3")
        await click(bot, opened, "verified", "U_ALICE")
    finally:
        await bot.stop()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "SLACK_BOT_TOKEN": settings.slack_bot_token,
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret,
        "SLACK_API_URL": settings.slack_api_url,
        "DATABASE_URL": settings.database_url,
    }
    script = os.path.join(os.path.dirname(sys.executable), "incident-bot")
    process = await asyncio.create_subprocess_exec(
        script,
        "postmortem",
        "INC-1",
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), HANG_SECONDS)
    assert process.returncode == 0, err.decode()
    assert out.decode().startswith("# INC-1: Search index stale")
    assert out.decode() == fake_slack.files[next(iter(fake_slack.files))]["content"].decode()

    # The console script above, as a process; the same command in this process from here on.
    target = tmp_path / "pm.md"
    written = await incident.in_thread(
        tmp_path, "postmortem", "1", "--output", str(target), **{k: v for k, v in env.items() if k != "PATH"}
    )
    assert written.returncode == 0 and target.read_text().startswith("# INC-1")
