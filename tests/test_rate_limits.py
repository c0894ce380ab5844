"""Slack's rate limits: the bot's tier table is Slack's, its processes share each method's
window through the database, a storm of alerts finishes within the limits with the most severe
incidents first, and a 429 is waited out in every process, never given up on.

The fake Slack enforces the published tiers (``FakeSlack.enforce_rate_limits``) with its windows
``SPEED`` times shorter, and the bots pace with the same factor (SLACK_RATE_SPEED), so a storm
that takes Slack's limits a minute takes seconds here. How long it takes is benchmarks/storm.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest
from sqlalchemy import delete, insert, select

from bot.background import urgency
from bot.slack import SlackGateway, pacing
from bot.slack.pacing import Pacer
from bot.slack.rate_tiers import CALLS_PER_MINUTE, TIERS, rate_limit
from storage import slack_call_slots
from storage.db import Database
from storage.models import Incident, SlackCallSlot, SlackCallWaiting
from tests.conftest import start_bot
from tests.fake_slack import RATE_LIMITS_FILE, load_method_specs
from tests.scrape import scrape
from tests.storm import (
    ALERT_SECRET,
    alert,
    control_messages,
    rate_limited,
    refusals_told,
    seed_people,
    send_alerts,
    write_catalog,
)
from tests.test_slack_contract import called_methods
from tests.waiting import HANG_SECONDS, eventually

SPEED = 15  # a Tier 2 minute in 4 s
SERVICES = 30
# The storm's alerts in the order they are sent: the least severe first, so that the order of
# arrival alone would put them first.
STORM = ["P4", "P3", "P2", "P4", "P1", "P3", "P4", "P2", "P3", "P1"] * 3
HANDFUL = 3  # 429s a storm may meet: a call that reached Slack later than the pacer sent it


def test_the_tier_table_is_slacks_published_one_for_every_method_the_bot_calls():
    specs = load_method_specs()
    published = json.loads(RATE_LIMITS_FILE.read_text())
    assert set(called_methods()) <= set(TIERS), "a method the gateway calls has no tier in bot/slack/rate_tiers.py"
    assert {method: specs[method]["rate_limits"] for method in TIERS} == dict(TIERS)
    assert dict(CALLS_PER_MINUTE) == published["calls_per_minute"]
    post = rate_limit("chat.postMessage", {"channel": "C1"})
    assert post is not None and (post.calls, post.window) == (
        published["chat.postMessage"]["calls"],
        published["chat.postMessage"]["per_seconds"],
    )
    assert rate_limit("chat.postMessage", {"channel": "C1"}) != rate_limit("chat.postMessage", {"channel": "C2"})  # per channel


@pytest.fixture
async def storm_bots(settings, fake_slack, tmp_path, monkeypatch):
    # A database slower than 5 s makes the pacer pace locally (production's rule for a database in
    # trouble); whether a starved test machine answers in 5 s is a question about the machine, so
    # here only a hang counts, as for the write-ack bound (tests/conftest.py).
    monkeypatch.setattr(pacing, "DATABASE_BOUND", HANG_SECONDS)
    seed_people(fake_slack, SERVICES)
    update = {
        "service_catalog": write_catalog(tmp_path / "catalog.yml", SERVICES),
        "alert_webhook_secret": ALERT_SECRET,
        "slack_rate_speed": SPEED,
        "slack_rate_limits_shared": True,
    }
    fake_slack.enforce_rate_limits(speed=SPEED)
    first = await start_bot(settings.model_copy(update=update), fake_slack)
    second = await start_bot(settings.model_copy(update=update), fake_slack)  # another process on the same database
    yield first, second
    await second.stop()
    await first.stop()


async def whole_war_rooms(db: Database) -> list[Incident]:
    async with db.reading() as session:
        rows = list((await session.scalars(select(Incident))).all())
    return [row for row in rows if row.control_pinned_at and row.announcement_ts and row.bookmarked_at and row.channel_id]


async def set_window(db: Database, bucket: str, calls: int, *, free_at: float) -> None:
    """Every slot of the bucket frees at ``free_at``: as if the app had used the window up."""
    async with db.transaction() as session:
        await session.execute(delete(SlackCallSlot).where(SlackCallSlot.bucket == bucket))
        await session.execute(insert(SlackCallSlot).values([{"bucket": bucket, "slot": n, "free_at": free_at} for n in range(calls)]))


async def calls_waiting(port: int, method: str) -> float:
    """Calls of ``method`` waiting for room, from /metrics (the bots of one test share its registry)."""
    return (await scrape(port)).get(("incident_bot_slack_api_calls_waiting", (("method", method),)), 0.0)


@pytest.mark.slow
@pytest.mark.both_databases
async def test_a_storm_of_alerts_on_two_processes_stays_within_slacks_limits_most_severe_first(storm_bots, fake_slack):
    first, second = storm_bots
    create = rate_limit("conversations.create", {}, speed=SPEED)
    assert create is not None
    # The storm hits while the window of conversations.create is used up, until the test says so.
    await set_window(first.runtime.db, create.bucket, create.calls, free_at=time.time() + HANG_SECONDS)

    await send_alerts([first.port, second.port], [alert(n, severity) for n, severity in enumerate(STORM)])
    await eventually(lambda: fake_slack.calls_to("conversations.create") or _all_waiting(first.port), what="every channel waiting")
    assert fake_slack.calls_to("conversations.create") == [], "a channel was created while the window was used up in the database"
    # Slots free again after both processes have read the window once more (they do once a window).
    await set_window(first.runtime.db, create.bucket, create.calls, free_at=time.time() + 2 * pacing.busy_for(create))

    rooms = await eventually(
        lambda: _when(whole_war_rooms(first.runtime.db), lambda rows: len(rows) == SERVICES), what="30 whole war rooms"
    )
    await first.settle()
    await second.settle()

    assert len(rooms) == SERVICES
    for row in rooms:
        room = fake_slack.channels[row.channel_id]
        assert room.pins == [row.control_message_ts]
        assert len(room.bookmarks) == 1 and room.topic
        assert {"USTORMOWN", "USTORMONC"} <= {member[:9] for member in room.members}
    announced = fake_slack.channels[first.runtime.settings.announce_channel].messages
    assert len([m for m in announced if "war room <#" in m.get("text", "")]) == SERVICES
    refused = rate_limited(fake_slack)
    assert len(refused) <= HANDFUL, refusals_told(fake_slack)

    severity = {row.id: row.severity for row in rooms}
    # The pacer hands the channels out most severe first, whichever process opened the incident...
    channels = [severity[int(call.args["name"].split("-")[1])] for call in fake_slack.calls_to("conversations.create")]
    assert channels == sorted(channels), f"the channels were created as {channels}, not the most severe first"
    # ...and each control message follows its channel at once: every P1's comes before any other's.
    # (Between two lower severities the database writes in between may still swap a pair.)
    shown = [severity[number] for number in control_messages(fake_slack)]
    assert shown[: STORM.count("P1")] == ["P1"] * STORM.count("P1"), f"the control messages went out as {shown}"


async def _all_waiting(port: int) -> bool:
    return await calls_waiting(port, "conversations.create") == SERVICES


async def _when(rows, condition):
    found = await rows
    return found if condition(found) else None


async def test_a_quiet_bot_never_waits_for_a_rate_limit(bot, fake_slack):
    fake_slack.enforce_rate_limits()
    waits_before = await _waits(bot)
    await bot.slack.command("open Checkout returns 500s sev:P2")
    await bot.settle()
    assert (await bot.incident(1)).control_message_ts is not None
    assert rate_limited(fake_slack) == []
    assert await _waits(bot) == waits_before


async def _waits(bot) -> float:
    samples = await scrape(bot.port)
    return sum(value for (name, _labels), value in samples.items() if name == "incident_bot_slack_api_call_wait_seconds_count")


@pytest.mark.both_databases
async def test_a_429_holds_the_method_back_in_every_process_until_its_retry_after(db):
    now = time.time()
    taken = [await _take(db, "pins.add", now) for _ in range(3)]
    assert taken == [(0, now), (1, now), (2, now)]
    async with db.bookkeeping() as session:
        await slack_call_slots.hold_back(session, "pins.add", until=now + 30)
    assert await _take(db, "pins.add", now + 1) == (None, pytest.approx(now + 30))  # any process: the slots are the database's
    assert (await _take(db, "pins.add", now + 30))[0] is not None


async def _take(db: Database, bucket: str, now: float) -> tuple[int | None, float]:
    async with db.bookkeeping() as session:
        return await slack_call_slots.take(
            session, bucket, slots=20, now=now, busy_until=now + 60, process="test", urgency=0, waiting_since=now - 60
        )


@pytest.mark.both_databases
async def test_buckets_idle_for_an_hour_are_forgotten_and_a_bucket_missing_slots_makes_them_again(db):
    """Every war room's channel has a bucket of post slots: without forgetting idle ones the table
    would keep a row per slot of every channel ever made."""
    now = time.time()
    idle_since = now - slack_call_slots.IDLE_BUCKET_SECONDS - 1
    await set_window(db, "chat.postMessage COLDROOM", 5, free_at=idle_since)
    await set_window(db, "chat.postMessage BUSYROOM", 5, free_at=now + 1)
    async with db.transaction() as session:
        await session.execute(insert(SlackCallWaiting).values(bucket="pins.add", process="gone", urgency=0, seen_at=idle_since))
    assert (await _take(db, "conversations.create", now))[0] is not None  # a new bucket: its rows are made now
    async with db.reading() as session:
        buckets = set((await session.scalars(select(SlackCallSlot.bucket))).all())
        waiting = (await session.scalars(select(SlackCallWaiting.process))).all()
    assert buckets == {"chat.postMessage BUSYROOM", "conversations.create"}
    assert waiting == []
    async with db.transaction() as session:  # as if a call took a slot while its idle bucket was forgotten
        await session.execute(delete(SlackCallSlot).where(SlackCallSlot.bucket == "conversations.create", SlackCallSlot.slot > 0))
    taken = [(await _take(db, "conversations.create", now))[0] for _ in range(20)]
    assert sorted(taken[:19]) == list(range(1, 20)) and taken[19] is None, "the slots a forgotten bucket lost were not made again"


@pytest.mark.both_databases
async def test_two_pacers_on_one_database_share_each_window_and_never_take_one_slot_twice(db):
    """Each pacer alone would let a window's calls through; together they let exactly that many."""
    first, second = Pacer(db, speed=1), Pacer(db, speed=1)
    limit = rate_limit("conversations.create", {})
    assert limit is not None
    now = time.time()
    taken = []
    for n in range(limit.calls + 5):
        ticket, _next_free = await (first if n % 2 else second)._take(limit, now, 0)
        taken.append(ticket is not None)
    assert taken == [True] * limit.calls + [False] * 5


@pytest.mark.both_databases
async def test_a_more_urgent_call_joining_a_full_queue_is_told_to_the_other_processes_at_once(db):
    """While a bucket is full the dispatcher sleeps until a slot frees; a P1 call joining its queue
    of P4 calls must not wait for that to be known elsewhere, or another process would hand its
    next free slot to a less urgent call. The windows here are ~16 hours long (speed 1/1000), so
    only the P1's arrival can make the new word reach the database within the test's life."""
    pacer = Pacer(db, speed=0.001)
    limit = pacer.limit_of("conversations.create", {})
    assert limit is not None
    await set_window(db, limit.bucket, limit.calls, free_at=time.time() + 10 * limit.window)

    async def told(rank: int) -> bool:
        async with db.reading() as session:
            return await session.scalar(select(SlackCallWaiting.urgency).where(SlackCallWaiting.bucket == limit.bucket)) == rank

    def call(rank: int) -> asyncio.Task:
        with urgency(rank):
            return asyncio.create_task(pacer.turn("conversations.create", {}))

    waiting = [call(3)]
    await eventually(lambda: told(3), what="the P4 call told as waiting")
    waiting.append(call(0))
    await eventually(lambda: told(0), what="the P1 call told as waiting")
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)


@pytest.mark.both_databases
async def test_the_first_post_into_a_channel_this_process_made_goes_before_the_database_answers(db, monkeypatch):
    """Nothing stands between a war room's channel and its control message: the post into a channel
    this process has just created takes its slot without asking, and the slot is written to the
    database meanwhile, so another process posting into that channel still waits its turn."""
    monkeypatch.setattr(pacing, "DATABASE_BOUND", 2 * HANG_SECONDS)  # a database that is slow, not away
    pacer, other = Pacer(db, speed=1), Pacer(db, speed=1)
    args = {"channel": "CNEWROOM"}
    limit = pacer.limit_of("chat.postMessage", args)
    assert limit is not None
    answer = asyncio.Event()
    asked = pacer.shared._take

    async def database_answers_when_told(*call_args):
        await answer.wait()
        return await asked(*call_args)

    monkeypatch.setattr(pacer.shared, "_take", database_answers_when_told)
    pacer.made_here("chat.postMessage", args)
    ticket = await asyncio.wait_for(pacer.turn("chat.postMessage", args), HANG_SECONDS)  # the database has not answered
    assert ticket is not None
    answer.set()
    await pacer.done(ticket)
    now = time.time()
    taken = [(await other._take(limit, now, 0))[0] is not None for _ in range(limit.calls)]
    assert taken == [True] * (limit.calls - 1) + [False], "the first post's slot never reached the database"


async def test_a_calls_answer_reaches_its_caller_before_its_slots_bookkeeping_is_written(db, fake_slack, monkeypatch):
    """A channel's answer goes straight to the war room, whose control message follows it at once:
    putting the channel's rate-limit slot right afterwards (here a write, the call having ended long
    after its slot was taken) follows, and closing the gateway waits for it."""
    monkeypatch.setattr(pacing, "DATABASE_BOUND", 2 * HANG_SECONDS)  # a database that is slow, not away
    ticks = itertools.count(time.time(), 10.0)  # each look at the clock ten seconds on: every call ends late
    pacer = Pacer(db, speed=1, clock=lambda: next(ticks))
    answer, written = asyncio.Event(), asyncio.Event()
    free_after_call = pacer.shared._free_after_call

    async def database_answers_when_told(*call_args):
        await answer.wait()
        await free_after_call(*call_args)
        written.set()

    monkeypatch.setattr(pacer.shared, "_free_after_call", database_answers_when_told)
    slack = SlackGateway.connect("xoxb-1-test", fake_slack.base_url, pacer=pacer)
    try:
        channel = await asyncio.wait_for(slack.channels.create("inc-1-bookkeeping"), HANG_SECONDS)
        assert channel.id in fake_slack.channels
        assert not written.is_set()
    finally:
        answer.set()
        await slack.close()
    assert written.is_set(), "closing the gateway did not wait for the slot's bookkeeping"


async def test_a_pacer_whose_database_is_away_paces_alone_instead_of_holding_calls(monkeypatch, tmp_path):
    """No table (a database that does not answer as expected): the call goes, paced locally."""
    monkeypatch.setattr(pacing, "DATABASE_BOUND", 5.0)
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        pacer = Pacer(db, speed=1)
        limit = rate_limit("pins.add", {})
        assert limit is not None
        now = time.time()
        assert [(await pacer._take(limit, now, 0))[0] is not None for _ in range(limit.calls + 1)] == [True] * limit.calls + [False]
    finally:
        await db.dispose()


@pytest.mark.slow
async def test_metrics_show_the_queue_and_the_429s(storm_bots, fake_slack):
    first, second = storm_bots
    fake_slack.fail_next("conversations.setTopic", status=429, retry_after=1)
    await send_alerts([first.port, second.port], [alert(n, "P2") for n in range(25)])
    await eventually(lambda: _when(whole_war_rooms(first.runtime.db), lambda rows: len(rows) == 25), what="25 whole war rooms")
    await first.settle()
    await second.settle()
    samples = await scrape(first.port)  # the two bots share this process's registry, as one process's would
    waited = {labels: value for (name, labels), value in samples.items() if name == "incident_bot_slack_api_call_wait_seconds_count"}
    assert waited.get((("method", "conversations.create"),), 0) >= 1  # 25 channels, 20 a window: some waited
    assert samples[("incident_bot_slack_api_rate_limited_total", (("method", "conversations.setTopic"),))] >= 1
    assert samples[("incident_bot_slack_api_calls_waiting", (("method", "conversations.create"),))] == 0  # nothing left waiting


@pytest.mark.both_databases
async def test_a_call_that_reaches_slack_after_its_slot_has_freed_still_holds_the_slot(db, fake_slack, monkeypatch):
    """A call may reach Slack long after its turn (a starved event loop, a slow database statement
    before it, the network). Unless its slot is held until the call has ended, the next calls take
    that slot, and Slack sees six posts of five in one window when the late call arrives. Here the
    first call is sent only once every other call has been answered: as late as it can be."""
    monkeypatch.setattr(pacing, "DATABASE_BOUND", 2 * HANG_SECONDS)  # a database that is slow, not away
    fake_slack.enforce_rate_limits(speed=15)
    channel = fake_slack.add_channel("late-arrivals")
    pacer = Pacer(db, speed=15)
    limit = pacer.limit_of("chat.postMessage", {"channel": channel})
    assert limit is not None and limit.calls > 1
    posts = 2 * limit.calls
    slack = SlackGateway.connect("xoxb-1-test", fake_slack.base_url, pacer=pacer)
    send = slack._transport._call_once
    first = [True]
    others_answered = asyncio.Event()
    answered = itertools.count(1)

    async def first_travels_last(method, **args):
        if first:
            first.clear()
            await others_answered.wait()
            return await send(method, **args)
        data = await send(method, **args)
        if next(answered) == posts - 1:
            others_answered.set()
        return data

    monkeypatch.setattr(slack._transport, "_call_once", first_travels_last)
    try:
        await asyncio.wait_for(asyncio.gather(*(slack.chat.post(channel, f"post {n}") for n in range(posts))), HANG_SECONDS)
    finally:
        await slack.close()
    assert rate_limited(fake_slack) == [], refusals_told(fake_slack)
