"""Weekly digests post once per channel and week, across processes, restarts and failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.analytics.digest_schedule import DigestChannel, DigestScheduler, due_week
from bot.slack import SlackError
from tests.clocks import FakeClock

pytestmark = pytest.mark.both_databases

MONDAY_0900 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday of 2026-W48


class Publisher:
    """Stands in for Slack: records each post and can fail the next ones."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []
        self.failures = 0

    async def __call__(self, digest: DigestChannel, week: str, *, posted_ts=None, on_posted=None) -> str:
        await asyncio.sleep(0.01)  # let two schedulers interleave
        if self.failures:
            self.failures -= 1
            raise SlackError("chat.postMessage", "internal_error")
        self.posts.append((digest.channel, week))
        return f"{len(self.posts)}.0001"


@pytest.fixture
def database(db):
    return db


DIGESTS = (
    DigestChannel(channel="C0PAYMENTS"),
    DigestChannel(channel="C0STOREFRONT", day="tue", time="10:30", time_zone="Europe/Berlin"),
)


def test_due_week_follows_the_channels_day_time_and_zone():
    payments, storefront = DIGESTS
    assert due_week(payments, MONDAY_0900 - timedelta(minutes=1)) is None
    assert due_week(payments, MONDAY_0900) == "2026-W47"
    assert due_week(payments, MONDAY_0900 + timedelta(days=6, hours=14)) == "2026-W47"  # Sunday night
    # Tuesday 10:30 in Berlin is 09:30 UTC in November
    assert due_week(storefront, datetime(2026, 11, 24, 9, 29, tzinfo=UTC)) is None
    assert due_week(storefront, datetime(2026, 11, 24, 9, 30, tzinfo=UTC)) == "2026-W47"
    assert due_week(payments, datetime(2027, 1, 4, 9, 0, tzinfo=UTC)) == "2026-W53"


async def test_two_processes_post_each_digest_once(database):
    clock, publisher = FakeClock(MONDAY_0900 + timedelta(minutes=1)), Publisher()
    first = DigestScheduler(database, clock, DIGESTS, publisher)
    second = DigestScheduler(database, clock, DIGESTS, publisher)
    await asyncio.gather(first.run_once(), second.run_once(), first.run_once(), second.run_once())
    assert publisher.posts == [("C0PAYMENTS", "2026-W47")]
    clock.now = datetime(2026, 11, 24, 9, 31, tzinfo=UTC)
    await asyncio.gather(first.run_once(), second.run_once())
    assert publisher.posts == [("C0PAYMENTS", "2026-W47"), ("C0STOREFRONT", "2026-W47")]


async def test_a_digest_missed_while_down_is_posted_later_that_week_not_the_next(database):
    clock, publisher = FakeClock(MONDAY_0900 + timedelta(days=3)), Publisher()  # back on Thursday
    await DigestScheduler(database, clock, DIGESTS[:1], publisher).run_once()
    assert publisher.posts == [("C0PAYMENTS", "2026-W47")]
    # a restart (a new scheduler, same database) posts nothing again
    await DigestScheduler(database, clock, DIGESTS[:1], publisher).run_once()
    assert len(publisher.posts) == 1
    clock.now = MONDAY_0900 + timedelta(days=7)
    await DigestScheduler(database, clock, DIGESTS[:1], publisher).run_once()
    assert publisher.posts[-1] == ("C0PAYMENTS", "2026-W48")


async def test_a_failed_post_is_retried_after_a_pause_and_never_posted_twice(database):
    clock, publisher = FakeClock(MONDAY_0900), Publisher()
    scheduler = DigestScheduler(database, clock, DIGESTS[:1], publisher)
    publisher.failures = 1
    assert [o.result for o in await scheduler.run_once()] == ["failed"]
    clock.now += timedelta(minutes=2)
    assert await scheduler.run_once() == []  # too soon to retry
    clock.now += timedelta(minutes=4)
    assert [o.result for o in await scheduler.run_once()] == ["posted"]
    clock.now += timedelta(hours=1)
    assert await scheduler.run_once() == []
    assert publisher.posts == [("C0PAYMENTS", "2026-W47")]


async def test_retries_stop_after_five_attempts(database):
    clock, publisher = FakeClock(MONDAY_0900), Publisher()
    scheduler = DigestScheduler(database, clock, DIGESTS[:1], publisher)
    publisher.failures = 10
    results = []
    for _ in range(8):
        results += [o.result for o in await scheduler.run_once()]
        clock.now += timedelta(minutes=6)
    assert results == ["failed"] * 5
    assert publisher.posts == []


async def test_digest_channels_the_bot_cannot_post_to_are_reported_with_the_fix(fake_slack):
    from bot.analytics.digest_schedule import digest_channel_problems
    from bot.slack import SlackGateway

    ok = fake_slack.add_channel("payments-digest")
    archived = fake_slack.add_channel("old-digest", is_archived=True)
    outside = fake_slack.add_channel("storefront-digest", bot_is_member=False)
    slack = SlackGateway.connect("xoxb-1-test", fake_slack.base_url)
    try:
        problems = await digest_channel_problems(slack, tuple(DigestChannel(channel=c) for c in (ok, archived, outside, "C0UNKNOWN1")))
    finally:
        await slack.close()
    assert sorted(problems) == sorted(
        [
            f"digest channel {archived} (#old-digest) is archived: unarchive it or pick another channel",
            f"digest channel {outside} (#storefront-digest): the bot is not a member; invite the bot with /invite @incident-bot",
            "digest channel C0UNKNOWN1 is unknown or private without the bot: check the ID, or invite the bot with /invite @incident-bot",
        ]
    )


async def test_a_long_read_does_not_hold_up_a_write(database):
    """Reports and exports read without the write lock: a stamp goes through while one runs."""
    from sqlalchemy import text

    async with database.reading() as reader:
        await reader.execute(text("SELECT count(*) FROM incidents"))
        async with database.transaction() as writer:
            await writer.execute(
                text(
                    "INSERT INTO digest_runs (channel, week, status, attempts, claimed_by, claimed_at) "
                    "VALUES ('C0WRITE01', '2026-W01', 'posted', 1, 'test', CURRENT_TIMESTAMP)"
                )
            )
    async with database.reading() as reader:
        assert (await reader.execute(text("SELECT count(*) FROM digest_runs"))).scalar() == 1


CATALOG_WITH_DIGESTS = """
services:
  - name: checkout-web
    team: storefront
    digest_channel: C04STOREDGST
  - name: search
    team: storefront
    digest_channel: C04STOREDGST
  - name: payments-api
    team: payments
    digest_channel: C02PAYDGST7
  - name: auth
    team: identity
"""


def test_each_catalog_digest_channel_gets_its_teams_digest_unless_the_config_names_it(tmp_path):
    from bot.analytics.digest import digests_with_catalog
    from bot.catalog.services import load_catalog

    path = tmp_path / "catalog.yml"
    path.write_text(CATALOG_WITH_DIGESTS)
    catalog = load_catalog(path, required=True)
    assert digests_with_catalog((), catalog) == (
        DigestChannel(channel="C02PAYDGST7", services=["payments-api"]),
        DigestChannel(channel="C04STOREDGST", services=["checkout-web", "search"]),
    )
    configured = (DigestChannel(channel="C02PAYDGST7", day="fri", severities=["P1"]),)
    assert digests_with_catalog(configured, catalog) == (
        configured[0],  # the config's own entry for that channel stands
        DigestChannel(channel="C04STOREDGST", services=["checkout-web", "search"]),
    )


async def test_serve_posts_the_catalog_digest_channels(settings, fake_slack, tmp_path):
    from tests.conftest import start_bot

    storefront = fake_slack.add_channel("storefront-digest")
    (tmp_path / "catalog.yml").write_text(CATALOG_WITH_DIGESTS.replace("C04STOREDGST", storefront))
    bot = await start_bot(settings.model_copy(update={"service_catalog": tmp_path / "catalog.yml"}), fake_slack)
    try:
        [digest] = [d for d in bot.runtime.team.digests if d.channel == storefront]
        assert (digest.services, digest.day, digest.time) == (["checkout-web", "search"], "mon", "09:00")
        ts = await bot.runtime.digests.publish(digest)
        posted = next(m for m in fake_slack.channels[storefront].messages if m["ts"] == ts)
        assert "checkout-web, search" in posted["text"]
    finally:
        await bot.stop()
