"""What an operator sees: /metrics for Prometheus, log lines tied to an incident and a Slack
request, and never a token or a secret in a log line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time

import aiohttp
import pytest

from bot import logs
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, start_bot
from tests.scrape import scrape

WEBHOOK_SECRET = "deploy-hook-secret-0f9e8d7c6b5a"


def delta(after: dict, before: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture
async def hook_bot(settings, fake_slack):
    running = await start_bot(settings.model_copy(update={"deploy_webhook_secret": WEBHOOK_SECRET}), fake_slack)
    yield running
    await running.stop()


async def post_deploy(bot, secret: str) -> int:
    body = {"service": "payments-api", "version": "v9", "time": "2026-11-23T10:00:00Z"}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{bot.port}/hooks/deploys", json=body, headers={"X-Incident-Bot-Secret": secret}
        ) as response:
            return response.status


async def open_and_stamp(bot) -> None:
    await bot.slack.command("open Checkout returns 500s sev:P1")
    await bot.settle()
    incident = await bot.incident(1)
    await bot.slack.block_action(
        "stamp_phase_mitigated", "1", user="U_ALICE", channel=incident.channel_id, message_ts=incident.control_message_ts
    )
    await bot.settle()


async def test_metrics_count_requests_slack_calls_incidents_stamps_and_errors(hook_bot, fake_slack):
    bot = hook_bot
    before = await scrape(bot.port)
    fake_slack.fail_next("conversations.setTopic", "restricted_action")
    await open_and_stamp(bot)
    assert await post_deploy(bot, WEBHOOK_SECRET) == 201
    assert await post_deploy(bot, "wrong-secret-wrong-secret") == 401
    after = await scrape(bot.port)

    assert delta(after, before, "incident_bot_requests_total", kind="command", status="200") == 1
    assert delta(after, before, "incident_bot_requests_total", kind="action", status="200") == 1
    assert delta(after, before, "incident_bot_requests_total", kind="webhook", status="201") == 1
    assert delta(after, before, "incident_bot_requests_total", kind="webhook", status="401") == 1
    assert delta(after, before, "incident_bot_request_seconds_count", kind="command") == 1
    assert delta(after, before, "incident_bot_incidents_opened_total") == 1
    assert delta(after, before, "incident_bot_stamps_total", phase="mitigated") == 1
    assert delta(after, before, "incident_bot_slack_api_calls_total", method="conversations.create", result="ok") == 1
    assert delta(after, before, "incident_bot_slack_api_calls_total", method="conversations.setTopic", result="restricted_action") == 1
    assert delta(after, before, "incident_bot_slack_api_calls_total", method="chat.update", result="ok") == 1
    assert delta(after, before, "incident_bot_slack_api_call_seconds_count", method="chat.postMessage") >= 2


async def test_scheduler_runs_are_counted(settings):
    """A scheduler pass with nothing due is still a run an operator wants to see happening."""
    from bot.analytics.digest_schedule import DigestScheduler
    from bot.core.clock import utc_now
    from bot.metrics import REGISTRY
    from storage.db import Database

    db = Database(settings.database_url)
    try:
        before = REGISTRY.get_sample_value("incident_bot_scheduler_runs_total", {"result": "tick"}) or 0
        await DigestScheduler(db, utc_now, (), publish=None).run_once()  # type: ignore[arg-type]
        assert REGISTRY.get_sample_value("incident_bot_scheduler_runs_total", {"result": "tick"}) == before + 1
    finally:
        await db.dispose()


@pytest.fixture
def captured_json_logs():
    """Every log line of the test, as the bot writes them with LOG_FORMAT=json at DEBUG."""
    stream = io.StringIO()
    handler = logs.make_handler(json_lines=True, secrets=[BOT_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET], stream=stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


async def test_logs_are_json_with_incident_and_request_and_never_a_secret(hook_bot, fake_slack, captured_json_logs):
    bot = hook_bot
    fake_slack.fail_next("pins.add", status=500, times=3)  # a warning line inside the flow
    await open_and_stamp(bot)
    await post_deploy(bot, WEBHOOK_SECRET)
    await post_deploy(bot, WEBHOOK_SECRET[:-1] + "X")
    await bot.slack.command("status INC-1")
    await bot.settle()

    text = captured_json_logs.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) > 20  # DEBUG: Bolt and the SDK talk a lot, including about each request
    for secret in (BOT_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET, WEBHOOK_SECRET[:-1] + "X"):
        assert secret not in text
    assert "xoxb-" not in text
    ours = [line for line in lines if line["logger"].split(".")[0] in ("bot", "handlers", "incident_bot")]
    failed_pin = [line for line in ours if "pin" in line["message"] and line["level"] == "WARNING"]
    assert failed_pin, [line["message"] for line in ours]
    for line in failed_pin:
        assert line["incident"] == "INC-1"
        assert line["slack_request"] not in ("-", None)
    recorded = next(line for line in ours if line["message"] == "recorded INC-1")
    assert recorded["incident"] == "INC-1" and recorded["slack_request"] != "-"
    # Every line written while handling a Slack request names that request.
    in_requests = [line for line in lines if line["logger"].startswith(("slack_bolt", "incident_bot.bolt"))]
    assert in_requests and all(line["slack_request"] != "-" for line in in_requests)


def test_redactor_removes_every_kind_of_slack_token_and_the_configured_secrets():
    redact = logs.Redactor([SIGNING_SECRET, WEBHOOK_SECRET])
    line = (
        f"Authorization: Bearer {BOT_TOKEN} app xapp-1-A0-123-abcdef user xoxp-99-88-77-abc "
        f"signature secret {SIGNING_SECRET} hook {WEBHOOK_SECRET}"
    )
    cleaned = redact(line)
    for secret in (BOT_TOKEN, "xapp-1-A0-123-abcdef", "xoxp-99-88-77-abc", SIGNING_SECRET, WEBHOOK_SECRET):
        assert secret not in cleaned
    assert cleaned.count("[redacted") == 5


def test_log_format_setting_is_checked():
    from bot.settings import ConfigError, load_settings

    base = dict(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET)
    assert load_settings(None, **base).log_format == "text"
    assert load_settings(None, LOG_FORMAT="JSON", **base).log_format == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT is malformed .*text or json"):
        load_settings(None, LOG_FORMAT="xml", **base)


async def test_event_loop_lag_shows_a_callback_that_held_the_loop():
    """An operator sees from /metrics that something held the loop: the sample taken after a
    callback blocked it for 0.3 s lands above 0.25 s. (That the quiet samples stay below 25 ms
    and the stall leaves the recent window depends on the machine: benchmarks/timings.py.)"""
    from bot import metrics
    from bot.background import EventLoopLag

    def buckets() -> dict[str, float]:
        return {
            sample.labels["le"]: sample.value
            for family in metrics.REGISTRY.collect()
            if family.name == "incident_bot_event_loop_lag_seconds"
            for sample in family.samples
            if sample.name.endswith("_bucket")
        }

    before = buckets()
    stop = asyncio.Event()
    lag = EventLoopLag()
    watcher = asyncio.create_task(lag.watch(stop, every=0.02))
    await asyncio.sleep(0.1)
    time.sleep(0.3)  # noqa: ASYNC251 blocks the loop on purpose: a callback that never yields, as a CPU-heavy request would
    await asyncio.sleep(0.1)
    stop.set()
    await watcher
    after = buckets()
    slow = (after["+Inf"] - before["+Inf"]) - (after["0.25"] - before["0.25"])
    assert slow >= 1, (before, after)
