"""`/incident open` end to end: signed requests in, Web API calls out, rows in the database."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from bot.core.phases import Phase
from bot.runtime import Runtime
from bot.slack.blocks import OPEN_MODAL_CALLBACK
from handlers.app import build_bolt_app
from handlers.web import start_http
from storage import incidents as rows
from tests.conftest import start_bot
from tests.slack_requests import SignedSlack, open_form_values
from tests.waiting import eventually, until_no_background_work


async def incident_count(bot) -> int:
    async with bot.runtime.db.transaction() as session:
        return await rows.count(session)


@pytest.mark.both_databases
async def test_open_by_text_builds_the_war_room(bot, fake_slack, announce_channel):
    response = await bot.slack.command("open Checkout returns 500s sev:P1 service:payments-api started:-20m")
    assert response.status == 200
    await bot.settle()

    incident = await bot.incident(1)
    assert incident.title == "Checkout returns 500s"
    assert (incident.severity, incident.service, incident.detection_method) == ("P1", "payments-api", "engineer")
    assert incident.commander == incident.opened_by == "U_ALICE"
    detect = incident.timeline.duration(Phase.DETECT)
    assert timedelta(minutes=19) < detect < timedelta(minutes=21)

    channel = fake_slack.channel_by_name("inc-1-checkout-returns-500s")
    assert channel is not None and incident.channel_id == channel.id
    assert "U_ALICE" in channel.members
    assert channel.topic.startswith("P1 | Checkout returns 500s | Diagnosing")
    control = next(m for m in channel.messages if m["ts"] == incident.control_message_ts)
    assert control["ts"] in channel.pins
    action_ids = [e["action_id"] for b in control["blocks"] if b.get("block_id") == "phase_buttons" for e in b["elements"]]
    assert action_ids == ["incident_acknowledge", "stamp_phase_diagnosed", "stamp_phase_mitigated", "stamp_phase_verified"]
    control_text = str(control["blocks"])
    for fact in ("INC-1", "P1", "payments-api", "<@U_ALICE>", "Engineer", "Impact started", "Detected"):
        assert fact in control_text

    announcement = fake_slack.channels[announce_channel].messages[-1]
    assert f"<#{channel.id}>" in str(announcement["blocks"]) and "INC-1" in announcement["text"]

    reply = fake_slack.responses[-1]
    assert reply["text"] == f"*INC-1* is open. War room: <#{channel.id}>"
    assert reply["response_type"] == "ephemeral"

    events = await bot.timeline(1)
    assert [e.kind for e in events] == ["opened", "war_room_created", "runbook_attached"]


async def test_a_set_up_that_stops_before_its_channel_leaves_no_step_held_for_the_repair(bot, fake_slack, monkeypatch):
    """A new war room's steps are claimed with the incident itself: when its set-up stops before it
    gets anywhere, the opener is told to repair, and the repair run at once must find every step
    free, not "being done by another process" until the claims' lease runs out."""
    from bot.warroom.room_context import WarRoomContexts

    context = WarRoomContexts.context

    async def stops_once(self, *args, **kwargs):
        monkeypatch.setattr(WarRoomContexts, "context", context)
        raise RuntimeError("the catalog could not be read")

    monkeypatch.setattr(WarRoomContexts, "context", stops_once)
    assert (await bot.slack.command("open Checkout returns 500s sev:P1 service:payments-api")).status == 200
    await bot.settle()
    assert fake_slack.calls_to("conversations.create") == []
    assert "run `/incident repair INC-1`" in fake_slack.responses[-1]["text"]

    report = await bot.runtime.interactions.repairs.bring_slack_up_to_date(1)
    assert not report.failures, report.failures
    incident = await bot.incident(1)
    assert incident.channel_id is not None and incident.control_message_ts is not None


async def test_control_message_is_posted_right_after_the_channel(bot, fake_slack):
    fake_slack.latency = 0.2  # each call takes this long: calls that wait for one another are this far apart
    await bot.slack.command("open Slow search")
    await bot.settle()
    calls = [c for c in fake_slack.calls if c.method != "auth.test"]
    assert calls[0].method == "conversations.create"
    # The control message, invites, topic and the announcement follow. That they do not wait for
    # one another is a matter of time, measured by benchmarks/timings.py (open_first_wave).
    assert {"chat.postMessage", "conversations.invite", "conversations.setTopic"} <= {c.method for c in calls[1:]}
    pin = next(c for c in calls if c.method == "pins.add")  # pinning needs the posted message
    assert calls.index(pin) > next(n for n, c in enumerate(calls) if c.method == "chat.postMessage")


async def test_open_with_no_text_opens_the_form_and_submitting_it_opens_the_incident(bot, fake_slack):
    command = bot.slack.command_payload("open")
    response = await bot.slack.post(urlencode(command), "application/x-www-form-urlencoded")
    assert response.status == 200
    opened = await fake_slack.wait_for_call("views.open")
    assert opened.args["trigger_id"] == command["trigger_id"]
    view = next(iter(fake_slack.views.values()))
    assert view["callback_id"] == OPEN_MODAL_CALLBACK
    assert await incident_count(bot) == 0

    started = int(time.time()) - 600
    response = await bot.slack.view_submission(
        view,
        open_form_values(title="Login fails for SSO users", severity="P2", service="auth", detection="customer_report", started=started),
    )
    assert response.status == 200 and response.text == ""
    await bot.settle()
    incident = await bot.incident(1)
    assert (incident.title, incident.severity, incident.service, incident.detection_method) == (
        "Login fails for SSO users",
        "P2",
        "auth",
        "customer_report",
    )
    assert int(incident.started_at.timestamp()) == started
    # the opener hears back through the slash command's response_url, kept in the form
    assert fake_slack.responses[-1]["_url"] == command["response_url"]
    assert "*INC-1* is open" in fake_slack.responses[-1]["text"]


async def test_form_errors_show_under_the_field_and_write_nothing(bot, fake_slack):
    view = {"id": "V123", "callback_id": OPEN_MODAL_CALLBACK, "private_metadata": "{}", "type": "modal"}
    future = int(time.time()) + 3600
    response = await bot.slack.view_submission(view, open_form_values(title="x", service="no spaces allowed", started=future))
    assert response.status == 200
    body = response.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"service", "started"}
    await bot.settle()
    assert await incident_count(bot) == 0
    assert fake_slack.calls_to("conversations.create") == []


@pytest.mark.both_databases
async def test_form_submitted_twice_opens_one_incident(bot, fake_slack):
    view = {"id": "V_DOUBLE", "callback_id": OPEN_MODAL_CALLBACK, "private_metadata": "{}", "type": "modal"}
    values = open_form_values(title="Double click")
    first, second = await asyncio.gather(bot.slack.view_submission(view, values), bot.slack.view_submission(view, values))
    assert first.status == second.status == 200
    await bot.settle()
    assert await incident_count(bot) == 1
    assert len(fake_slack.calls_to("conversations.create")) == 1


@pytest.mark.both_databases
async def test_retried_delivery_opens_one_incident(bot, fake_slack):
    payload = dict(trigger_id="777.888.retry")
    await bot.slack.command("open Queue backlog growing", **payload)
    await bot.slack.command("open Queue backlog growing", retry_num=1, **payload)
    await bot.slack.command("open Queue backlog growing", retry_num=2, **payload)
    await bot.settle()
    assert await incident_count(bot) == 1
    assert len(fake_slack.calls_to("conversations.create")) == 1
    assert len([c for c in fake_slack.calls_to("chat.postMessage") if "blocks" in c.args]) == 2  # control + announcement


async def test_bad_signature_is_rejected_and_nothing_is_written(bot, fake_slack):
    response = await bot.slack.command("open Anything", signature="v0=" + "0" * 64)
    assert response.status == 401
    await bot.settle()
    assert await incident_count(bot) == 0
    assert [c.method for c in fake_slack.calls] == []


async def test_stale_timestamp_is_rejected(bot, fake_slack):
    body = "command=%2Fincident&text=open+x"
    response = await bot.slack.post(body, "application/x-www-form-urlencoded", timestamp=str(int(time.time()) - 3600))
    assert response.status == 401
    assert await incident_count(bot) == 0


async def test_bad_tokens_are_refused_with_the_right_form_and_nothing_written(bot, fake_slack):
    cases = {
        "open DB down sev:P9": "Unknown severity `P9`",
        "open DB down started:+10m": "is in the future",
        "open DB down started:2099-01-01T00:00Z": "is in the future",
        "open DB down started:soon": "Can't read `started:soon` as a time",
        "open DB down detected:-5m started:-1m": "is after detection",
        "open sev:P1": "An incident needs a title",
    }
    for text, fragment in cases.items():
        await bot.slack.command(text)
        await bot.settle()
        assert fragment in fake_slack.responses[-1]["text"], text
    assert await incident_count(bot) == 0
    assert fake_slack.calls_to("conversations.create") == []


async def test_clock_time_uses_the_openers_slack_time_zone(bot, fake_slack):
    # Carol is in Tokyo (UTC+9): "started:HH:MM" ten minutes ago in her zone.
    ten_minutes_ago = datetime.now(UTC) - timedelta(minutes=10)
    local = ten_minutes_ago.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M")
    await bot.slack.command(f"open Cache stampede started:{local}", user="U_CAROL")
    await bot.settle()
    incident = await bot.incident(1)
    assert abs((incident.started_at - ten_minutes_ago).total_seconds()) < 61
    assert fake_slack.calls_to("users.info")[0].args["user"] == "U_CAROL"


async def test_name_collision_picks_another_name(bot, fake_slack):
    fake_slack.add_channel("inc-1-db-down")
    fake_slack.add_channel("inc-1-db-down-2", is_archived=True)
    await bot.slack.command("open DB down")
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.channel_name == "inc-1-db-down-3"
    assert [c.error for c in fake_slack.calls_to("conversations.create")] == ["name_taken", "name_taken", None]


async def test_emoji_and_non_latin_titles_get_valid_channels(bot, fake_slack):
    await bot.slack.command("open 🔥🔥 Платежи не работают")
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.title == "🔥🔥 Платежи не работают"
    assert incident.channel_name == "inc-1"
    assert fake_slack.channels[incident.channel_id].name == "inc-1"


async def test_rate_limited_channel_creation_is_retried(bot, fake_slack):
    fake_slack.fail_next("conversations.create", status=429, retry_after=1)
    await bot.slack.command("open Rate limited")
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.channel_id is not None
    assert [c.error for c in fake_slack.calls_to("conversations.create")] == ["ratelimited", None]


@pytest.mark.both_databases
async def test_slack_failing_midway_keeps_the_incident_and_repair_finishes_the_job(bot, fake_slack, announce_channel):
    fake_slack.fail_next("pins.add", status=500, times=5)
    fake_slack.channels[announce_channel].members.discard(fake_slack.bot_user_id)
    await bot.slack.command("open Payments timing out sev:P1")
    await bot.settle()

    incident = await bot.incident(1)
    assert incident.channel_id and incident.control_message_ts
    reply = fake_slack.responses[-1]["text"]
    assert "*INC-1* is recorded" in reply
    assert "post and pin the control message: Slack answered with a server error" in reply
    assert f"announce in <#{announce_channel}>: the bot is not in that channel" in reply
    assert "/incident repair INC-1" in reply
    kinds = [e.kind for e in await bot.timeline(1)]
    assert kinds.count("slack_step_failed") == 2

    fake_slack.channels[announce_channel].members.add(fake_slack.bot_user_id)
    await bot.slack.command("repair INC-1")
    await bot.settle()
    channel = fake_slack.channels[incident.channel_id]
    assert channel.pins == [incident.control_message_ts]
    control_posts = [m for m in channel.messages if m.get("blocks") and m["ts"] == incident.control_message_ts]
    assert len(control_posts) == 1
    assert len([m for m in channel.messages if m.get("blocks")]) == 1  # no second control message
    assert len(fake_slack.channels[announce_channel].messages) == 1
    assert "INC-1: redid" in fake_slack.responses[-1]["text"]


async def test_channel_creation_refused_then_repaired(bot, fake_slack):
    fake_slack.fail_next("conversations.create", "restricted_action")
    await bot.slack.command("open Cannot create channels")
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.channel_id is None
    assert "a workspace setting prevents the bot from doing this" in fake_slack.responses[-1]["text"]

    await bot.slack.command("repair 1")
    await bot.settle()
    incident = await bot.incident(1)
    assert fake_slack.channels[incident.channel_id].name == "inc-1-cannot-create-channels"
    assert incident.control_message_ts in fake_slack.channels[incident.channel_id].pins


@pytest.mark.both_databases
async def test_state_survives_a_restart(settings, fake_slack):
    first = await start_bot(settings, fake_slack)
    await first.slack.command("open Disk full on db-3 sev:P2")
    await first.settle()
    channel_id = (await first.incident(1)).channel_id
    await first.stop()

    second = await start_bot(settings, fake_slack)
    try:
        await second.slack.command("status", channel=channel_id, user="U_BOB")
        await second.settle()
        status = fake_slack.responses[-1]
        assert "INC-1 (P2): Disk full on db-3" == status["text"]
        assert "Diagnosing" in str(status["blocks"])
        await second.slack.command("open Second incident")
        await second.settle()
        assert (await second.incident(2)).channel_name == "inc-2-second-incident"
    finally:
        await second.stop()


async def test_help_and_unknown_subcommands(bot, fake_slack):
    # A plain-text answer to a slash command is shown to the user alone.
    help_reply = await bot.slack.command("help")
    assert "/incident open" in help_reply.text
    bare = await bot.slack.command("")
    assert bare.text == help_reply.text
    unknown = await bot.slack.command("frobnicate now")
    assert unknown.text.startswith("I don't know `/incident frobnicate`")
    assert "/incident status" in unknown.text


async def test_status_outside_a_war_room_and_of_unknown_incidents(bot, fake_slack):
    await bot.slack.command("status")
    await bot.settle()
    assert "not an incident war room" in fake_slack.responses[-1]["text"]
    await bot.slack.command("status INC-99")
    await bot.settle()
    assert fake_slack.responses[-1]["text"].startswith("There is no incident INC-99")
    await bot.slack.command("status banana")
    await bot.settle()
    assert "`banana` is not an incident reference" in fake_slack.responses[-1]["text"]


async def test_database_down_tells_the_user(settings, fake_slack, tmp_path):
    broken = settings.model_copy(update={"database_url": "postgresql+asyncpg://bot:pw@127.0.0.1:9/none"})
    runtime = Runtime.from_settings(broken)
    runner, port = await start_http(runtime, build_bolt_app(runtime), host="127.0.0.1", port=0)
    try:
        slack = SignedSlack(
            f"http://127.0.0.1:{port}/slack/events", settings.slack_signing_secret, response_url_factory=fake_slack.response_url
        )
        response = await slack.command("open Anything")
        assert response.status == 200
        await until_no_background_work(runtime.background)
        assert "database is not answering" in fake_slack.responses[-1]["text"]
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/healthz") as health:
            assert health.status == 503
    finally:
        await runner.cleanup()
        await runtime.close()


async def test_healthz_checks_the_database(bot):
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{bot.port}/healthz") as health:
        assert health.status == 200
        assert (await health.json())["database"] == "ok"


async def test_slack_calls_reuse_kept_alive_connections(bot, fake_slack):
    """One connection per call would mean a TLS handshake with slack.com before every message."""
    for n in range(3):
        await bot.slack.command(f"open Connection reuse {n} sev:P3")
        await bot.settle()
    calls = sum(fake_slack.requests_per_connection.values())
    assert calls >= 20
    assert len(fake_slack.requests_per_connection) <= calls // 4, fake_slack.requests_per_connection


@pytest.mark.both_databases
async def test_a_burst_of_opens_runs_a_bounded_number_at_once_and_finishes_every_one(settings, fake_slack):
    """BACKGROUND_CONCURRENCY: the rest of a burst waits its turn instead of crowding the acks."""
    running = await start_bot(settings.model_copy(update={"background_concurrency": 2}), fake_slack)
    try:
        release = asyncio.Event()
        in_flight = 0
        most = 0

        create = running.runtime.slack.channels.create

        async def held_create(*args, **kwargs):
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            try:
                await release.wait()
                return await create(*args, **kwargs)
            finally:
                in_flight -= 1

        running.runtime.slack.channels.create = held_create  # type: ignore[method-assign]
        responses = await asyncio.gather(*(running.slack.command(f"open Burst {n} sev:P3") for n in range(5)))
        assert [r.status for r in responses] == [200] * 5
        await eventually(lambda: in_flight == 2, what="two opens holding their slots")
        # All five were spawned before their acks; the other three wait for a slot that the two
        # held ones cannot free, so no wait can let a third in.
        assert running.runtime.background.pending == 5
        assert (in_flight, most) == (2, 2)
        release.set()
        await running.settle()
        assert most == 2
        async with running.runtime.db.transaction() as session:
            assert await rows.count(session) == 5
        assert len(fake_slack.calls_to("conversations.create")) == 5
    finally:
        await running.stop()
