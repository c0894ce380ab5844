"""Slack failing in the middle of a flow, through the real endpoint and the fake Slack.

One table: every Slack call of the open flow and of the resolve flow, under each kind of fault
(5xx beyond the retries, no answer in time). For each: the incident and every stamp stay
recorded, the person is told what did not happen, and `/incident repair` brings Slack to the
same picture a clean run gives, without repeating anything that was done. To cover a new flow or
a new Slack call, add a row. A 429 is no fault: the same calls rate limited again and again are
waited out and done, and nobody is told anything went wrong (issue 17: never give up on a step
because of a 429).

Slack failures do not depend on the database, so this table runs on SQLite only; the repair races
(tests/test_repair_race.py) run on both databases.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.core.phases import Stamp
from bot.slack import blocks
from storage import incidents as rows
from tests.conftest import start_bot
from tests.waiting import HANG_SECONDS

# The bot's SLACK_API_TIMEOUT in these tests: a timeout fault never answers, so it always runs
# out; every other call must never run out, so it is far above a loopback call on a busy machine.
SLACK_TIMEOUT = 2.0


@dataclass(frozen=True)
class Fault:
    name: str
    status: int = 200
    error: str = "internal_error"
    retry_after: int | None = None
    delay: float = 0.0
    times: int = 3  # the SDK tries three times (two retries) for 429 and 5xx

    def inject(self, fake, method: str) -> None:
        # Calls of one method that run concurrently share the queue of faults: enough for each.
        times = self.times * CONCURRENT_CALLS.get(method, 1)
        fake.fail_next(method, self.error, status=self.status, retry_after=self.retry_after, delay=self.delay, times=times)


# Three 429s in a row: what made the SDK's retries give up before the bot waited out every 429.
RATE_LIMITED = Fault("rate-limited", status=429, retry_after=0)
FAULTS = [
    Fault("server-error", status=500),
    Fault("timeout", delay=HANG_SECONDS),  # held until clear_faults()
]

# chat.postMessage runs up to three times at once (the channel line and two summaries).
CONCURRENT_CALLS = {"chat.postMessage": 3}

# (method, whether the person is told something did not happen)
OPEN_CALLS = [
    ("conversations.create", True),
    ("conversations.invite", True),
    ("conversations.setTopic", True),
    ("chat.postMessage", True),  # the control message and the announcement
    ("pins.add", True),
]
RESOLVE_CALLS = [
    ("chat.update", True),  # the control message shows the new state
    ("conversations.setTopic", True),
    ("chat.postMessage", True),  # the channel line and the MTTR summaries
    ("users.info", False),  # display names in the postmortem: it falls back to user IDs
    ("files.getUploadURLExternal", True),
    ("files.completeUploadExternal", True),
]


@pytest.fixture
async def bot(settings, fake_slack):
    running = await start_bot(settings.model_copy(update={"slack_api_timeout": SLACK_TIMEOUT}), fake_slack)
    # The SDK still retries 5xx twice, just without its half-second back-off, to keep the table fast.
    for handler in running.runtime.slack.client.retry_handlers:
        handler.interval_calculator = FixedValueRetryIntervalCalculator(0.02)
    yield running
    await running.stop()


def picture(fake, incident, announce_channel: str) -> dict:
    """What people see in Slack of an incident, in numbers."""
    war_rooms = [c for c in fake.channels.values() if c.name.startswith(f"inc-{incident.id}-")]
    announced = fake.channels[announce_channel].messages
    seen = {
        "war rooms": len(war_rooms),
        "announcements": sum(1 for m in announced if "war room <#" in m.get("text", "")),
        "summaries announced": sum(1 for m in announced if m.get("text", "").startswith(f"{incident.reference} resolved")),
    }
    if incident.channel_id is None:
        return seen
    room = fake.channels[incident.channel_id]
    control = room.message(incident.control_message_ts) if incident.control_message_ts else None
    seen |= {
        "control messages": sum(1 for m in room.messages if m.get("blocks") and m["text"].startswith(f"{incident.reference} (")),
        "pinned": room.pins == ([incident.control_message_ts] if incident.control_message_ts else []),
        "opener invited": incident.opened_by in room.members,
        "topic": room.topic,
        "buttons": [
            e["action_id"] for b in (control or {}).get("blocks", []) if b.get("block_id") == "phase_buttons" for e in b["elements"]
        ],
        "summaries": sum(1 for m in room.messages if m.get("text", "").startswith(f"{incident.reference} resolved")),
        "postmortems": sum(1 for m in room.messages if m.get("files")),
    }
    return seen


def expected_picture(incident) -> dict:
    resolved = incident.timeline.restored
    return {
        "war rooms": 1,
        "announcements": 1,
        "summaries announced": 1 if resolved else 0,
        "control messages": 1,
        "pinned": True,
        "opener invited": True,
        "topic": blocks.channel_topic(incident),
        # Verified: monitoring, with Reopen; open: Acknowledge and the phases.
        "buttons": ["incident_reopen"]
        if resolved
        else ["incident_acknowledge", "stamp_phase_diagnosed", "stamp_phase_mitigated", "stamp_phase_verified"],
        "summaries": 1 if resolved else 0,
        "postmortems": 1 if resolved else 0,
    }


async def repair(bot) -> str:
    await bot.slack.command("repair INC-1")
    await bot.settle()
    return bot.fake.responses[-1]["text"]


def posts_so_far(fake) -> int:
    return sum(
        1
        for c in fake.calls
        if c.ok and c.method in ("chat.postMessage", "conversations.create", "files.completeUploadExternal", "bookmarks.add")
    )


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
@pytest.mark.parametrize("method,told", OPEN_CALLS, ids=[m for m, _ in OPEN_CALLS])
async def test_open_flow_fault_is_recorded_told_and_repaired(bot, fake_slack, announce_channel, method, told, fault):
    fault.inject(fake_slack, method)
    await bot.slack.command("open Checkout returns 500s sev:P1")
    await bot.settle()

    async with bot.runtime.db.transaction() as session:
        assert await rows.count(session) == 1
    incident = await bot.incident(1)
    assert incident.timeline.at(Stamp.DETECTED) is not None and incident.status == "open"
    reply = fake_slack.responses[-1]["text"]
    if told:
        assert reply.startswith("*INC-1* is recorded.") and "did not happen" in reply, reply
        assert "Run `/incident repair INC-1`" in reply
        assert "slack_step_failed" in [e.kind for e in await bot.timeline(1)]

    fake_slack.clear_faults()
    await repair(bot)
    incident = await bot.incident(1)
    assert picture(fake_slack, incident, announce_channel) == expected_picture(incident)

    posts = posts_so_far(fake_slack)
    assert "nothing to repair" in await repair(bot)
    assert posts_so_far(fake_slack) == posts  # a second repair repeats nothing


async def open_then_verify_with(bot, fake_slack, fault: Fault, method: str) -> int:
    """Opens INC-1 whole, then has its commander click *verified* while ``method`` meets ``fault``;
    returns how many answers people had been given before the click."""
    await bot.slack.command("open Checkout returns 500s sev:P1")
    await bot.settle()
    incident = await bot.incident(1)
    answers = len(fake_slack.responses)
    fault.inject(fake_slack, method)
    response = await bot.slack.block_action(
        "stamp_phase_verified", "1", user="U_ALICE", channel=incident.channel_id, message_ts=incident.control_message_ts
    )
    assert response.status == 200
    await bot.settle()
    return answers


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
@pytest.mark.parametrize("method,told", RESOLVE_CALLS, ids=[m for m, _ in RESOLVE_CALLS])
async def test_resolve_flow_fault_keeps_every_stamp_and_repair_posts_the_rest_once(bot, fake_slack, announce_channel, method, told, fault):
    answers = await open_then_verify_with(bot, fake_slack, fault, method)

    incident = await bot.incident(1)
    assert incident.status == "resolved"
    assert set(incident.timeline.stamps) == set(Stamp)  # nothing lost: the click and the implied stamps
    assert incident.timeline.get(Stamp.VERIFIED).by == "U_ALICE"  # the commander: verifying resolves it
    told_now = [r["text"] for r in fake_slack.responses[answers:]]
    if told:
        assert any(t.startswith("The stamp is recorded, but Slack is not fully up to date") for t in told_now), told_now
        assert any("Run `/incident repair INC-1` to finish." in t for t in told_now)
    else:
        assert told_now == []

    fake_slack.clear_faults()
    await repair(bot)
    incident = await bot.incident(1)
    assert picture(fake_slack, incident, announce_channel) == expected_picture(incident)
    posts = posts_so_far(fake_slack)
    await repair(bot)
    assert posts_so_far(fake_slack) == posts


async def test_rate_limit_waits_for_retry_after_and_then_succeeds(bot, fake_slack, announce_channel):
    """One 429: the SDK waits the Retry-After Slack asked for, tries again, and the person is
    told nothing went wrong because nothing did."""
    fake_slack.fail_next("pins.add", status=429, retry_after=1)
    await bot.slack.command("open Checkout returns 500s sev:P1")
    await bot.settle()
    first, second = fake_slack.calls_to("pins.add")
    assert (first.error, second.error) == ("ratelimited", None)  # the pause's length: benchmarks/timings.py
    assert fake_slack.responses[-1]["text"].startswith("*INC-1* is open.")
    incident = await bot.incident(1)
    assert picture(fake_slack, incident, announce_channel) == expected_picture(incident)


@pytest.mark.parametrize("method", [m for m, _ in OPEN_CALLS])
async def test_open_flow_rate_limited_again_and_again_is_waited_out_and_whole(bot, fake_slack, announce_channel, method):
    RATE_LIMITED.inject(fake_slack, method)
    await bot.slack.command("open Checkout returns 500s sev:P1")
    await bot.settle()

    assert fake_slack.responses[-1]["text"].startswith("*INC-1* is open."), fake_slack.responses[-1]["text"]
    assert [c.error for c in fake_slack.calls_to(method)].count("ratelimited") == RATE_LIMITED.times * CONCURRENT_CALLS.get(method, 1)
    incident = await bot.incident(1)
    assert "slack_step_failed" not in [e.kind for e in await bot.timeline(1)]
    assert picture(fake_slack, incident, announce_channel) == expected_picture(incident)


@pytest.mark.parametrize("method", [m for m, _ in RESOLVE_CALLS])
async def test_resolve_flow_rate_limited_again_and_again_is_waited_out_and_whole(bot, fake_slack, announce_channel, method):
    answers = await open_then_verify_with(bot, fake_slack, RATE_LIMITED, method)

    assert fake_slack.responses[answers:] == []  # nothing to tell: nothing went wrong
    incident = await bot.incident(1)
    assert incident.status == "resolved" and set(incident.timeline.stamps) == set(Stamp)
    assert picture(fake_slack, incident, announce_channel) == expected_picture(incident)


@pytest.mark.parametrize("method", [m for m, told in RESOLVE_CALLS if told])
async def test_every_resolve_step_slack_refused_is_on_the_timeline(bot, fake_slack, announce_channel, method):
    """Whichever step of a resolution Slack refuses (the control message's edit, the topic, the
    channel line, the summaries, the draft's upload), the timeline says which and why: the war
    room's refresh and the resolution's posts note their failures through one helper."""
    await open_then_verify_with(bot, fake_slack, FAULTS[0], method)
    failed = [e for e in await bot.timeline(1) if e.kind == "slack_step_failed"]
    assert failed, method
    assert all(e.data["error"] == "http_error" and e.text.endswith(": Slack answered with a server error") for e in failed), [
        (e.text, e.data) for e in failed
    ]
