"""Real ``incident-bot serve`` subprocesses in HTTP mode on one PostgreSQL: two of them behave as
one bot, and one killed in the middle of a flow loses nothing.

Marked ``processes``: part of the default run (each test starts its processes once and reuses
the suite's PostgreSQL server); ``-m "not processes"`` leaves them out while iterating.
"""

from __future__ import annotations

import asyncio

import pytest
import yaml

from storage import incidents as rows
from storage.db import Database
from storage.models import DigestRun, TimelineEvent
from tests.conftest import BOT_TOKEN, ROOT, SIGNING_SECRET, _fresh_postgres_database
from tests.scrape import scrape
from tests.serve_process import ServeProcess, run_cli, serve_env
from tests.waiting import HANG_SECONDS, eventually

pytestmark = [pytest.mark.processes, pytest.mark.slow]


@pytest.fixture
async def database(postgres_admin_url):
    url = await _fresh_postgres_database(postgres_admin_url)
    db = Database(url)
    yield db
    await db.dispose()


@pytest.fixture
def digest_channel(fake_slack) -> str:
    return fake_slack.add_channel("payments-digest", members={"U_ALICE"})


@pytest.fixture
def env(fake_slack, database, announce_channel, digest_channel, tmp_path) -> dict[str, str]:
    # Due since Monday 00:00 UTC: each process's scheduler tries to post it the moment it starts.
    digests = {"digests": [{"channel": digest_channel, "day": "mon", "time": "00:00", "time_zone": "UTC"}]}
    (tmp_path / "config.yml").write_text((ROOT / "runbooks" / "config.yml").read_text() + "\n" + yaml.safe_dump(digests))
    return serve_env(
        fake_slack.base_url,
        database.url.replace("+asyncpg", ""),
        announce_channel,
        secrets=(BOT_TOKEN, SIGNING_SECRET),
        INCIDENT_CONFIG=str(tmp_path / "config.yml"),
        LOG_FORMAT="json",
    )


@pytest.fixture
async def two_processes(env, fake_slack, tmp_path):
    first = ServeProcess(env, tmp_path, response_url_factory=fake_slack.response_url, name="first")
    second = ServeProcess(env, tmp_path, response_url_factory=fake_slack.response_url, name="second")
    await asyncio.gather(first.start(), second.start())  # both migrate at once: the advisory lock serialises them
    yield first, second
    await asyncio.gather(first.stop(), second.stop())


async def open_incident(process: ServeProcess, database: Database, fake, title: str, number: int):
    response = await process.slack.command(f"open {title} sev:P2")
    assert response.status == 200

    async def ready():
        async with database.transaction() as session:
            row = await rows.get(session, number)
            return row if row is not None and row.control_message_ts and row.announcement_ts else None

    row = await eventually(ready, what=f"INC-{number} war room")
    await fake.wait_for_response(lambda r: r.get("text", "").startswith(f"*INC-{number}* is open"))
    return row


def lines(fake, channel: str, stamp: str) -> list[str]:
    return [m["text"] for m in fake.channels[channel].messages if f"marked *{stamp}*" in m.get("text", "")]


async def test_two_processes_give_one_stamp_one_line_and_one_digest(two_processes, database, fake_slack, digest_channel):
    first, second = two_processes

    async def digest_posted():
        async with database.transaction() as session:
            runs = (await session.execute(DigestRun.__table__.select())).all()
        return runs if runs and runs[0].status == "posted" else None

    runs = await eventually(digest_posted, what="the digest")
    assert len(runs) == 1
    digest_posts = [c for c in fake_slack.calls_to("chat.postMessage") if c.args.get("channel") == digest_channel]
    assert len(digest_posts) == 1  # both schedulers ran at start; one claimed the week
    # Its chart came from a drawing process, as in production, not from a thread of serve's own.
    logs = [process.log.read_text() for process in (first, second)]
    assert any("started the chart-drawing process" in text for text in logs)
    assert not any("charts are drawn on a thread" in text for text in logs)

    incident = await open_incident(first, database, fake_slack, "Checkout returns 500s", 1)
    clickers = [f"U_CLICK{n}" for n in range(8)]
    for user in clickers:
        fake_slack.add_user(user, user.lower())
        fake_slack.channels[incident.channel_id].members.add(user)
    answered = len(fake_slack.responses)
    responses = await asyncio.gather(
        *(
            (first if n % 2 else second).slack.block_action(
                "stamp_phase_mitigated", "1", user=user, channel=incident.channel_id, message_ts=incident.control_message_ts
            )
            for n, user in enumerate(clickers)
        )
    )
    assert [r.status for r in responses] == [200] * len(clickers)
    await eventually(lambda: _true(len(fake_slack.responses) >= answered + len(clickers) - 1), what="answers to the losers")

    async with database.transaction() as session:
        row = await rows.get(session, 1)
        events = (await session.execute(TimelineEvent.__table__.select().where(TimelineEvent.kind == "phase_stamped"))).all()
    assert row.mitigated_at is not None and row.mitigated_by in clickers
    assert len(events) == 1
    await eventually(lambda: _true(len(lines(fake_slack, incident.channel_id, "mitigated")) == 1), what="the channel line")
    losers = [r["text"] for r in fake_slack.responses[answered:]]
    assert len(losers) == len(clickers) - 1 and all("already" in text for text in losers), losers

    # Each process reports how late its event loop runs, the first sign of a process short of CPU.
    # (How often it samples is a duration: benchmarks/timings.py.)
    for process in (first, second):
        samples = await scrape(process.port)
        assert samples[("incident_bot_event_loop_lag_seconds_count", ())] >= 1

    # A graceful stop finishes the work in flight: nothing left that could post a second line.
    await asyncio.gather(first.stop(), second.stop())
    assert len(lines(fake_slack, incident.channel_id, "mitigated")) == 1


async def _true(value: bool) -> bool:
    return value


async def test_killed_mid_open_loses_nothing_and_old_buttons_still_work(env, database, fake_slack, tmp_path, announce_channel):
    first = await ServeProcess(env, tmp_path, response_url_factory=fake_slack.response_url, name="doomed").start()
    try:
        incident = await open_incident(first, database, fake_slack, "Checkout returns 500s", 1)
        fake_slack.channels[incident.channel_id].members.update({"U_BOB", "U_CAROL"})  # the responders join
        # The next control message hangs in Slack; the process dies while waiting for it.
        fake_slack.fail_next("chat.postMessage", delay=HANG_SECONDS, times=2)  # held until clear_faults()
        await first.slack.command("open Payments timing out sev:P1")
        await fake_slack.wait_for_call("chat.postMessage", lambda c: "INC-2" in c.args.get("text", ""))
        click = await first.slack.block_action(
            "stamp_phase_diagnosed", "1", user="U_BOB", channel=incident.channel_id, message_ts=incident.control_message_ts
        )
        assert click.status == 200  # Slack has its ack: the stamp must survive what follows
        first.kill()
        assert await first.wait() == -9
    finally:
        await first.stop()
    fake_slack.clear_faults()

    async with database.transaction() as session:
        assert await rows.count(session) == 2
        for number in (1, 2):
            kinds = [e.kind for e in await rows.timeline(session, number)]
            assert kinds.count("opened") == 1  # each incident whole: its row and its first event together
        diagnosed = await rows.get(session, 1)
        assert diagnosed.diagnosed_at is not None and diagnosed.diagnosed_by == "U_BOB"

    restarted = await ServeProcess(env, tmp_path, response_url_factory=fake_slack.response_url, name="restarted").start()
    try:
        # A button on a message posted by the dead process works on the new one.
        response = await restarted.slack.block_action(
            "stamp_phase_mitigated", "1", user="U_CAROL", channel=incident.channel_id, message_ts=incident.control_message_ts
        )
        assert response.status == 200

        async def mitigated():
            async with database.transaction() as session:
                return (await rows.get(session, 1)).mitigated_by == "U_CAROL"

        await eventually(mitigated, what="the stamp through the restarted process")
        code, out = await run_cli(env, tmp_path, "repair", "INC-2")
        assert code == 0, out
        async with database.transaction() as session:
            second = await rows.get(session, 2)
        room = fake_slack.channels[second.channel_id]
        assert sum(1 for m in room.messages if m.get("blocks") and m["text"].startswith("INC-2 (")) == 1
        assert room.pins == [second.control_message_ts]
        announced = [m for m in fake_slack.channels[announce_channel].messages if "INC-2" in m.get("text", "")]
        assert len(announced) == 1
    finally:
        await restarted.stop()
