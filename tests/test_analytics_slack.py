"""Analytics where people see them: /incident stats, the App Home tab and the weekly digest post."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.analytics.digest_schedule import DigestChannel
from tests.incident_facts import stamp_times
from tests.stored_incidents import incident_row


async def seed_history(bot, *, count: int = 12, service: str = "payments-api") -> None:
    """Restored incidents over the last weeks, as opened and stamped by the bot would leave them."""
    now = datetime.now(UTC)
    async with bot.runtime.db.transaction() as session:
        for n in range(count):
            start = now - timedelta(days=2 + n * 3, hours=n % 5)
            session.add(
                incident_row(
                    f"Past incident {n}",
                    start,
                    severity="P1" if n % 4 == 0 else "P2",
                    service=service,
                    detection_method="customer_report" if n % 3 == 0 else "alert",
                    **stamp_times(start, (2 + n % 4, 10 + n, 5 + n % 7, 8 + 2 * n)),
                )
            )


@pytest.mark.both_databases
async def test_stats_command_answers_only_the_asker_with_median_beside_mean(bot, fake_slack):
    await seed_history(bot)
    await bot.slack.command("open Still broken sev:P2 service:payments-api")
    await bot.settle()
    await bot.slack.command("stats 90d service:payments-api")
    await bot.settle()
    answer = fake_slack.responses[-1]
    assert answer["response_type"] == "ephemeral"
    text = json.dumps(answer["blocks"], ensure_ascii=False)
    assert "median" in text and "mean" in text and "n=12" in text
    assert "INC-13" in text  # the open incident is listed apart
    assert "U_ALICE" not in text  # never by person


async def test_stats_refuses_bad_arguments(bot, fake_slack):
    await bot.slack.command("stats 2y")
    await bot.settle()
    assert fake_slack.responses[-1]["text"].startswith("I can't read `2y`. Usage: `/incident stats [30d|90d]")
    await bot.slack.command("stats service:paymnts")
    await bot.settle()
    assert "Did you mean `service:payments-api`?" in fake_slack.responses[-1]["text"]


async def test_app_home_is_published_when_opened(bot, fake_slack):
    await seed_history(bot, count=6)
    await bot.slack.command("open Checkout slow sev:P3 service:checkout-web")
    await bot.settle()
    response = await bot.slack.app_home_opened("U_BOB")
    assert response.status == 200
    await fake_slack.wait_for_call("views.publish")
    await bot.settle()
    home = fake_slack.published_home["U_BOB"]
    text = json.dumps(home, ensure_ascii=False)
    assert home["type"] == "home"
    assert "INC-7" in text and "Diagnosing" in text  # the open incident, its phase and age


@pytest.mark.both_databases
async def test_weekly_digest_posts_its_message_and_chart(bot, fake_slack):
    await seed_history(bot, count=20)
    channel = fake_slack.add_channel("payments-digest")
    ts = await bot.runtime.digests.publish(DigestChannel(channel=channel, services=["payments-api"]))
    messages = fake_slack.channels[channel].messages
    digest = next(m for m in messages if m["ts"] == ts)
    assert "Incident digest" in digest["text"] or "digest" in digest["text"].lower()
    [chart] = [f for f in fake_slack.files.values() if f.get("channel_id") == channel]
    assert chart["content"][:8] == b"\x89PNG\r\n\x1a\n"
