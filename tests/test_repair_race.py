"""Repairs racing each other and Slack delivering requests twice, late or out of order: nothing
is ever posted, created or stamped twice. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, update

from bot.core.phases import Stamp
from bot.slack.blocks import OPEN_MODAL_CALLBACK
from bot.warroom import step_claims
from bot.warroom.step_claims import LEASE
from storage import incidents as rows
from storage.models import Postmortem, SlackStepClaim
from tests.clocks import FakeClock
from tests.conftest import start_bot
from tests.slack_requests import open_form_values
from tests.team_helpers import click, open_incident
from tests.waiting import HANG_SECONDS, eventually

pytestmark = pytest.mark.both_databases

OPEN_MODAL = {"id": "V_FORM", "callback_id": OPEN_MODAL_CALLBACK, "private_metadata": "{}", "type": "modal"}


def control_messages(fake, incident) -> list[dict]:
    room = fake.channels[incident.channel_id]
    return [m for m in room.messages if m.get("blocks") and m["text"].startswith("INC-1 (")]


def announcements(fake, announce_channel) -> list[dict]:
    return [m for m in fake.channels[announce_channel].messages if "war room <#" in m.get("text", "")]


async def open_with_posts_failing(bot, fake) -> object:
    fake.fail_next("chat.postMessage", status=500, times=6)  # the control message and the announcement
    await bot.slack.command("open Checkout returns 500s sev:P1")
    await bot.settle()
    fake.clear_faults()
    incident = await bot.incident(1)
    assert incident.channel_id and incident.control_message_ts is None
    return incident


async def test_concurrent_repairs_from_two_processes_post_each_step_once(settings, fake_slack, announce_channel):
    first = await start_bot(settings, fake_slack)
    second = await start_bot(settings, fake_slack)  # another process on the same database
    try:
        incident = await open_with_posts_failing(first, fake_slack)
        fake_slack.latency = 0.15  # each Slack call takes a while: the repairs overlap
        await asyncio.gather(
            first.slack.command("repair INC-1"),
            second.slack.command("repair INC-1"),
            first.slack.command("repair INC-1"),
            second.slack.command("repair INC-1"),
        )
        await asyncio.gather(first.settle(), second.settle())
        fake_slack.latency = 0
        incident = await first.incident(1)
        assert len(control_messages(fake_slack, incident)) == 1
        assert fake_slack.channels[incident.channel_id].pins == [incident.control_message_ts]
        assert len(announcements(fake_slack, announce_channel)) == 1
        replies = [r["text"] for r in fake_slack.responses[-4:]]
        # Each repair did its part, found it done, or was told another repair had it in hand.
        for reply in replies:
            assert "INC-1: redid" in reply or "nothing to repair" in reply or "another repair is doing this" in reply
        async with first.runtime.db.transaction() as session:
            assert (await session.execute(SlackStepClaim.__table__.select())).all() == []  # every claim released
    finally:
        await second.stop()
        await first.stop()


async def test_resolution_posts_once_when_repairs_race(bot, fake_slack, announce_channel):
    await bot.slack.command("open Checkout returns 500s sev:P1")
    await bot.settle()
    incident = await bot.incident(1)
    fake_slack.fail_next("chat.postMessage", status=500, times=9)
    fake_slack.fail_next("files.getUploadURLExternal", status=500, times=3)
    await bot.slack.block_action("stamp_phase_verified", "1", channel=incident.channel_id, message_ts=incident.control_message_ts)
    await bot.settle()
    fake_slack.clear_faults()
    fake_slack.latency = 0.1
    await asyncio.gather(*(bot.slack.command("repair INC-1") for _ in range(3)))
    await bot.settle()
    fake_slack.latency = 0
    room = fake_slack.channels[incident.channel_id]
    assert sum(m["text"].startswith("INC-1 resolved") for m in room.messages) == 1
    assert sum(bool(m.get("files")) for m in room.messages) == 1
    assert sum(m["text"].startswith("INC-1 resolved") for m in fake_slack.channels[announce_channel].messages) == 1


async def test_a_claim_left_by_a_dead_process_is_taken_over_after_its_lease(bot, fake_slack, announce_channel):
    incident = await open_with_posts_failing(bot, fake_slack)
    now = bot.runtime.clock()
    async with bot.runtime.db.transaction() as session:
        session.add(SlackStepClaim(incident_id=1, step="control_message", token="dead", claimed_by="gone:1", claimed_at=now))
    await bot.slack.command("repair INC-1")
    await bot.settle()
    reply = fake_slack.responses[-1]["text"]
    assert "post and pin the control message: another repair is doing this right now" in reply
    assert control_messages(fake_slack, incident) == []  # the live claim is respected

    async with bot.runtime.db.transaction() as session:
        await session.execute(SlackStepClaim.__table__.update().values(claimed_at=now - timedelta(minutes=10)))
    await bot.slack.command("repair INC-1")
    await bot.settle()
    assert "posted the control message" in fake_slack.responses[-1]["text"]
    assert len(control_messages(fake_slack, await bot.incident(1))) == 1


async def started_with_quick_heartbeats(settings, fake_slack, monkeypatch):
    """A bot on a clock the test moves, whose claim holders renew their leases at once: what matters
    is that a heartbeat renews the claims, not how often one comes (3 s in production)."""
    monkeypatch.setattr(step_claims, "HEARTBEAT_SECONDS", 0.05)
    clock = FakeClock(datetime.now(UTC))
    return await start_bot(settings, fake_slack, clock=clock), clock


def same_moment(stored: datetime, moment: datetime) -> bool:
    """A stored time read back (naive on SQLite, aware on PostgreSQL) against an aware one."""
    return stored.replace(tzinfo=None) == moment.replace(tzinfo=None)


async def test_a_holder_whose_slack_call_outlasts_the_lease_keeps_its_claim_by_renewing_it(
    settings, fake_slack, announce_channel, monkeypatch
):
    """The lease is short (a dead holder's claim frees up within seconds), so a live holder renews
    it while its Slack call runs: a second repair meanwhile is told another is at work and does
    not post a second control message."""
    bot, clock = await started_with_quick_heartbeats(settings, fake_slack, monkeypatch)
    try:
        await open_with_posts_failing(bot, fake_slack)
        posting = fake_slack.hold(
            "chat.postMessage",
            lambda args: (args.get("metadata") or {}).get("event_payload", {}).get("step") == "control_message",
            answered=True,
        )
        await bot.slack.command("repair INC-1")
        await asyncio.wait_for(posting.arrived.wait(), HANG_SECONDS)
        clock.now += 2 * LEASE  # the call has outlasted the lease

        async def renewed() -> bool:
            async with bot.runtime.db.transaction() as session:
                claims = (await session.execute(SlackStepClaim.__table__.select())).all()
            return any(c.step == "control_message" and same_moment(c.claimed_at, clock.now) for c in claims)

        await eventually(renewed, what="the holder renewing its claim")
        seen = len(fake_slack.responses)
        await bot.slack.command("repair INC-1")
        busy = await fake_slack.wait_for_response(lambda r: fake_slack.responses.index(r) >= seen)
        assert "post and pin the control message: another repair is doing this right now" in busy["text"], busy["text"]
        posting.release()
        await bot.settle()
        assert len(control_messages(fake_slack, await bot.incident(1))) == 1
    finally:
        await bot.stop()


# Slack delivering the same request twice, late, or out of order. Each row: a name, and a
# coroutine that sends the deliveries and checks the outcome. Add rows for new request kinds.


async def _command_retried(bot, fake, announce_channel):
    for retry in (None, 1, 2):
        await bot.slack.command("open Queue backlog growing", trigger_id="1.2.same", retry_num=retry)
    await bot.settle()
    async with bot.runtime.db.transaction() as session:
        assert await rows.count(session) == 1
    assert len(fake.calls_to("conversations.create")) == 1
    assert len(announcements(fake, announce_channel)) == 1


async def _form_submitted_twice_at_once(bot, fake, announce_channel):
    values = open_form_values(title="Double submit")
    payload = bot.slack.view_submission_payload(OPEN_MODAL, values)
    await asyncio.gather(bot.slack.interactive(payload), bot.slack.interactive(payload, retry_num=1))
    await bot.settle()
    async with bot.runtime.db.transaction() as session:
        assert await rows.count(session) == 1
    assert len(announcements(fake, announce_channel)) == 1


async def _opened(bot):
    """INC-1, opened by U_ALICE (its commander), with U_BOB joined to the war room."""
    await bot.slack.command("open Checkout returns 500s sev:P1 started:-30m detected:-20m")
    await bot.settle()
    incident = await bot.incident(1)
    bot.fake.channels[incident.channel_id].members.add("U_BOB")
    return incident


def _lines(fake, incident, stamp: str) -> list[str]:
    return [m["text"] for m in fake.channels[incident.channel_id].messages if f"marked *{stamp}*" in m.get("text", "")]


async def _click_delivered_twice(bot, fake, announce_channel):
    incident = await _opened(bot)
    payload = bot.slack.block_action_payload(
        "stamp_phase_mitigated", "1", user="U_BOB", channel=incident.channel_id, message_ts=incident.control_message_ts
    )
    await asyncio.gather(bot.slack.interactive(payload), bot.slack.interactive(payload, retry_num=1))
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.timeline.get(Stamp.MITIGATED).by == "U_BOB"
    assert len(_lines(fake, incident, "mitigated")) == 1
    assert [e.kind for e in await bot.timeline(1)].count("phase_stamped") == 1


async def _click_delivered_late(bot, fake, announce_channel):
    incident = await _opened(bot)
    clicked = time.time() - 90  # Slack retried a minute and a half after the click
    await bot.slack.block_action(
        "stamp_phase_diagnosed",
        "1",
        user="U_BOB",
        channel=incident.channel_id,
        message_ts=incident.control_message_ts,
        action_ts=f"{clicked:.6f}",
        retry_num=2,
    )
    await bot.settle()
    incident = await bot.incident(1)
    assert abs(incident.timeline.at(Stamp.DIAGNOSED).timestamp() - clicked) < 0.001  # the click's time
    assert len(_lines(fake, incident, "diagnosed")) == 1


async def _clicks_out_of_order(bot, fake, announce_channel):
    """Verified (clicked later) arrives before mitigated (clicked earlier): the stamps never
    move, nothing is stamped twice, and the late mitigated click is told it is already filled."""
    incident = await _opened(bot)
    now = time.time()
    common = dict(user="U_ALICE", channel=incident.channel_id, message_ts=incident.control_message_ts)
    await bot.slack.block_action("stamp_phase_verified", "1", action_ts=f"{now:.6f}", **common)
    await bot.settle()
    await bot.slack.block_action("stamp_phase_mitigated", "1", action_ts=f"{now - 30:.6f}", **common)
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.timeline.get(Stamp.MITIGATED).implied and incident.timeline.get(Stamp.VERIFIED).by == "U_ALICE"
    assert [e.kind for e in await bot.timeline(1)].count("phase_stamped") == 1
    assert len(_lines(fake, incident, "verified")) == 1 and _lines(fake, incident, "mitigated") == []
    assert "already" in fake.responses[-1]["text"]
    room = fake.channels[incident.channel_id]
    assert sum(m["text"].startswith("INC-1 resolved") for m in room.messages) == 1


REDELIVERIES = {
    "command retried": _command_retried,
    "form submitted twice at once": _form_submitted_twice_at_once,
    "click delivered twice": _click_delivered_twice,
    "click delivered late": _click_delivered_late,
    "clicks out of order": _clicks_out_of_order,
}


@pytest.mark.parametrize("case", REDELIVERIES, ids=list(REDELIVERIES))
async def test_redelivered_requests_change_nothing_twice(bot, fake_slack, announce_channel, case):
    await REDELIVERIES[case](bot, fake_slack, announce_channel)


async def test_a_draft_another_publish_stored_first_is_the_one_stored_and_uploaded(bot, fake_slack, monkeypatch):
    """Two publishes of one resolution (a repair racing the verifying click's) can both find no
    draft and both insert one (on PostgreSQL, between one's read and the other's commit): the
    second is refused by the unique incident and takes the draft the first stored, so one draft is
    stored and that one is uploaded, once."""
    incident = await open_incident(bot)
    theirs = "# Drafted by the other publish\n"
    now = bot.runtime.clock()
    await bot.runtime.db.run_transaction(lambda work: rows.save_postmortem_once(work, incident.id, theirs, at=now))
    stored_once = rows.save_postmortem_once
    blind: list[str] = []

    def as_if_read_before_theirs(work, incident_id, markdown, *, at):
        if not blind:  # this publish's read missed theirs: it inserts its own
            blind.append(markdown)
            work.execute(Postmortem.__table__.insert().values(incident_id=incident_id, markdown=markdown, created_at=at))
        return stored_once(work, incident_id, markdown, at=at)

    monkeypatch.setattr(rows, "save_postmortem_once", as_if_read_before_theirs)
    await click(bot, incident, "stamp_phase_verified", str(incident.id), "U_ALICE")
    await bot.settle()
    assert blind and blind[0] != theirs  # this publish rendered a draft of its own, and was refused
    async with bot.runtime.db.lookup() as session:
        assert (await rows.postmortem(session, incident.id)).markdown == theirs
    [upload] = fake_slack.files.values()
    assert upload["content"].decode() == theirs
    assert len(fake_slack.calls_to("files.completeUploadExternal")) == 1


async def test_a_war_room_gives_its_claims_back_together_and_only_those_it_still_holds(bot, fake_slack, announce_channel):
    """A new war room holds its steps' claims until its set-up ends, then gives them back in one
    statement (one commit ahead of the opener's answer, not one a claim), and only those it still
    holds: a claim another process took over meanwhile (its lease ran out: another token) stays."""
    pins = fake_slack.hold_answers(lambda method, _args: method == "pins.add")  # the set-up's last step
    releases: list[str] = []

    def sent(_conn, _cursor, statement: str, *_args) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM SLACK_STEP_CLAIMS"):
            releases.append(statement)

    for engine in bot.runtime.db.sync_engines:
        event.listen(engine, "before_cursor_execute", sent)
    try:
        await bot.slack.command("open Checkout returns 500s sev:P1 service:payments-api")

        async def held() -> list:
            async with bot.runtime.db.transaction() as session:
                return (await session.execute(SlackStepClaim.__table__.select().where(SlackStepClaim.incident_id == 1))).all()

        await fake_slack.wait_for_call("pins.add")  # the set-up's last step, its answer held
        claims = await held()
        assert len(claims) > 1, claims  # the channel and the steps claimed with the incident
        taken_over = claims[0].step
        async with bot.runtime.db.transaction() as session:
            await session.execute(
                update(SlackStepClaim)
                .where(SlackStepClaim.incident_id == 1, SlackStepClaim.step == taken_over)
                .values(token="elsewhere", claimed_by="elsewhere:1")
            )
        pins.open()
        await bot.settle()
        assert [(row.step, row.token) for row in await held()] == [(taken_over, "elsewhere")]
        assert len(releases) == 1, releases
    finally:
        for engine in bot.runtime.db.sync_engines:
            event.remove(engine, "before_cursor_execute", sent)


async def test_a_war_room_renews_its_claims_together_and_only_those_it_still_holds(settings, fake_slack, announce_channel, monkeypatch):
    """While a new war room's set-up outlasts the lease, one heartbeat renews every claim it holds,
    and leaves alone a claim another process took over meanwhile (another token)."""
    bot, clock = await started_with_quick_heartbeats(settings, fake_slack, monkeypatch)
    pins = fake_slack.hold_answers(lambda method, _args: method == "pins.add")  # the set-up's last step
    try:
        await bot.slack.command("open Checkout returns 500s sev:P1 service:payments-api")
        await fake_slack.wait_for_call("pins.add")

        async def held() -> list:
            async with bot.runtime.db.transaction() as session:
                return (await session.execute(SlackStepClaim.__table__.select().where(SlackStepClaim.incident_id == 1))).all()

        claims = await held()
        assert len(claims) > 1, claims  # the channel and the steps claimed with the incident
        taken_over, taken_at = claims[0].step, claims[0].claimed_at
        async with bot.runtime.db.transaction() as session:
            await session.execute(
                update(SlackStepClaim)
                .where(SlackStepClaim.incident_id == 1, SlackStepClaim.step == taken_over)
                .values(token="elsewhere", claimed_by="elsewhere:1")
            )
        clock.now += 2 * LEASE  # the set-up has outlasted the lease

        mine = {c.step: c.token for c in claims if c.step != taken_over}

        async def all_renewed() -> bool:
            # Renewed: the same claims (same tokens), not new ones taken after the lease ran out.
            now = {c.step: (c.token, c.claimed_at) for c in await held()}
            return all(step in now and now[step][0] == token and same_moment(now[step][1], clock.now) for step, token in mine.items())

        await eventually(all_renewed, what="one heartbeat renewing every claim the set-up holds")
        [elsewhere] = [c for c in await held() if c.step == taken_over]
        assert same_moment(elsewhere.claimed_at, taken_at)
    finally:
        pins.open()  # the set-up ends, whatever the test found
        await bot.settle()
        await bot.stop()
