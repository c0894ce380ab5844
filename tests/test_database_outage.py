"""The database goes away for a while (PostgreSQL restarting, a failover, a network cut): every
request still gets a clear answer (how fast, against Slack's 3 seconds: benchmarks/timings.py),
nothing is half-written, the process keeps serving, and it works again as soon as the database
is back. PostgreSQL only: SQLite is a file that cannot become unreachable."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from bot.core.phases import Stamp
from bot.metrics import REGISTRY
from bot.slack import messages
from storage import incidents as rows
from tests.conftest import _fresh_postgres_database, start_bot
from tests.tcp_proxy import TcpProxy
from tests.waiting import HANG_SECONDS, eventually


@pytest.fixture
async def proxy(postgres_admin_url):
    url = make_url(await _fresh_postgres_database(postgres_admin_url))
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxy.url = url.set(port=proxy.port).render_as_string(hide_password=False)  # type: ignore[attr-defined]
    yield proxy
    await proxy.stop()


@pytest.fixture
async def bot(settings, fake_slack, proxy):
    running = await start_bot(settings.model_copy(update={"database_url": proxy.url}), fake_slack)
    yield running
    await running.stop()


async def health(bot) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{bot.port}/healthz") as response:
        return response.status, await response.json()


async def answer_to(bot, send) -> str:
    """Send a request; return the answer the person saw."""
    seen = len(bot.fake.responses)
    response = await send()
    assert response.status == 200
    answer = await bot.fake.wait_for_response(lambda r: bot.fake.responses.index(r) >= seen)
    return answer["text"]


@pytest.mark.postgresql_only
async def test_requests_during_an_outage_get_a_clear_answer_and_work_after_it(bot, fake_slack, proxy):
    await bot.slack.command("open Checkout returns 500s sev:P1")
    await bot.settle()
    incident = await bot.incident(1)
    fake_slack.channels[incident.channel_id].members.add("U_BOB")  # a responder in the war room
    errors_before = REGISTRY.get_sample_value("incident_bot_errors_total", {"where": "database"}) or 0

    await proxy.cut()
    click = lambda: bot.slack.block_action(  # noqa: E731
        "stamp_phase_mitigated", "1", user="U_BOB", channel=incident.channel_id, message_ts=incident.control_message_ts
    )
    assert await answer_to(bot, click) == messages.database_unavailable()
    assert await answer_to(bot, lambda: bot.slack.command("open Second incident sev:P2")) == messages.database_unavailable()
    text = await answer_to(bot, lambda: bot.slack.command("status INC-1", channel=incident.channel_id))
    assert text == messages.database_unavailable()
    status, body = await health(bot)
    assert (status, body["database"]) == (503, "unreachable")
    await bot.settle()
    assert (REGISTRY.get_sample_value("incident_bot_errors_total", {"where": "database"}) or 0) >= errors_before + 3

    await proxy.restore()
    status, body = await health(bot)
    assert (status, body["database"]) == (200, "ok")
    await click()
    await bot.slack.command("open Second incident sev:P2")
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.timeline.get(Stamp.MITIGATED).by == "U_BOB"
    async with bot.runtime.db.transaction() as session:
        assert await rows.count(session) == 2  # the open refused during the outage wrote nothing
    second = await bot.incident(2)
    assert second.title == "Second incident" and second.channel_id is not None


@pytest.mark.postgresql_only
async def test_connections_the_server_closed_are_replaced_before_anyone_uses_them(bot, fake_slack, proxy, postgres_admin_url):
    """A PostgreSQL restart or failover closes every pooled connection: the next click must not
    be the one that finds out."""
    import asyncpg

    await bot.slack.command("open Checkout returns 500s sev:P1")
    await bot.settle()
    incident = await bot.incident(1)
    database = make_url(proxy.url).database
    admin = await asyncpg.connect(make_url(postgres_admin_url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        closed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await admin.close()
    assert closed >= 1
    # The sockets' end reaches the bot, as it would during a restart: the proxy's two halves of
    # each connection close once the server and then the bot have closed theirs.
    await eventually(lambda: proxy.open_connections == 0, what="the bot seeing its connections closed")

    seen = len(fake_slack.responses)
    await bot.slack.block_action(
        "stamp_phase_mitigated", "1", user="U_ALICE", channel=incident.channel_id, message_ts=incident.control_message_ts
    )
    await bot.settle()
    assert (await bot.incident(1)).timeline.get(Stamp.MITIGATED).by == "U_ALICE"
    assert not [r for r in fake_slack.responses[seen:] if r.get("text") == messages.database_unavailable()]


@pytest.mark.postgresql_only
async def test_an_outage_after_the_incident_was_recorded_tells_the_truth_and_repair_finishes_at_once(bot, fake_slack, proxy):
    """The database goes away while Slack creates the channel (INC-1 is committed by then): the
    opener is told INC-1 is recorded, what is missing and the command that finishes it, never that
    nothing was recorded. Once the database is back, a repair finishes within seconds (the claim
    the set-up could not release is not left blocking it) and adopts the channel Slack made."""
    created = fake_slack.hold("conversations.create", answered=True)  # Slack makes it; the bot hears later
    await bot.slack.command("open Checkout returns 500s sev:P1 service:payments-api")
    await asyncio.wait_for(created.arrived.wait(), HANG_SECONDS)
    await proxy.cut()
    created.release()
    answer = await fake_slack.wait_for_response(lambda r: "INC-1" in r.get("text", ""))
    text = answer["text"]
    assert text != messages.database_unavailable() and "nothing was recorded" not in text
    assert "*INC-1* is recorded" in text and "/incident repair INC-1" in text, text
    assert "database" in text and "control message" in text, text  # what stopped, and what is still missing
    await bot.settle()

    await proxy.restore()
    await bot.slack.command("repair INC-1")
    # Refused as "another repair is doing this", it would never say it redid anything.
    reply = await fake_slack.wait_for_response(lambda r: r.get("text", "").startswith("INC-1: redid"))
    await bot.settle()
    assert "another repair" not in reply["text"]
    incident = await bot.incident(1)
    rooms = [c for c in fake_slack.channels.values() if c.name.startswith("inc-1-")]
    assert [c.id for c in rooms] == [incident.channel_id]  # the channel Slack made, adopted: not a second one
    assert "found <#" in reply["text"] and "made by an interrupted attempt" in reply["text"], reply["text"]
    room = fake_slack.channels[incident.channel_id]
    assert room.pins == [incident.control_message_ts]
    assert sum(bool(m.get("blocks")) and m["text"].startswith("INC-1 (") for m in room.messages) == 1


@pytest.mark.postgresql_only
async def test_a_claim_nobody_renews_is_taken_over_within_its_short_lease(bot, fake_slack, proxy):
    """A claim held by a process on another host that lost the database (it cannot release or
    renew it) blocks a repair only until its lease runs out: seconds, not minutes."""
    from bot.warroom.step_claims import LEASE
    from storage.models import SlackStepClaim

    fake_slack.fail_next("chat.postMessage", status=500, times=6)  # the control message and the announcement
    await bot.slack.command("open Checkout returns 500s sev:P1")
    await bot.settle()
    fake_slack.clear_faults()
    now = bot.runtime.clock()
    async with bot.runtime.db.transaction() as session:
        session.add(
            SlackStepClaim(
                incident_id=1, step="control_message", token="cut-off", claimed_by="elsewhere:1", claimed_at=now - LEASE - LEASE / 10
            )
        )
    assert LEASE.total_seconds() <= 30
    await bot.slack.command("repair INC-1")
    await bot.settle()
    assert "posted the control message" in fake_slack.responses[-1]["text"], fake_slack.responses[-1]["text"]
