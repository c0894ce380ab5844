"""``serve`` in Socket Mode: the real slack_bolt/slack_sdk Socket Mode client against the fake.

With SLACK_APP_TOKEN set, ``handlers.server.serve`` asks ``apps.connections.open`` (app-level
token) for a WebSocket URL, connects, and takes Slack's envelopes over it; the HTTP port still
answers /healthz. The fake pushes envelopes with ``socket_send`` and hands back the app's ack.
Every wait here is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
import slack_bolt.adapter.socket_mode.async_handler
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import ConfigError, Settings
from bot.slack import messages
from handlers.server import Serving, serve
from storage import incidents as rows
from tests.fake_slack import FakeSlack
from tests.slack_requests import SignedSlack
from tests.waiting import HANG_SECONDS, until_no_background_work

APP_TOKEN = "xapp-1-A0001-1-abc"
# Hang-only bounds: how fast serve starts and stops is measured by benchmarks/timings.py.
START_TIMEOUT = HANG_SECONDS  # migrations (PostgreSQL too), HTTP bind and the Socket Mode handshake
STOP_TIMEOUT = HANG_SECONDS


@dataclass
class SocketBot:
    serving: Serving
    stop: asyncio.Event
    task: asyncio.Task[None]
    fake: FakeSlack
    payloads: SignedSlack  # only its payload builders: nothing is posted over HTTP here

    async def command(self, text: str, **kwargs) -> dict:
        """``/incident <text>`` as a slash_commands envelope; returns the app's ack."""
        return await self.fake.socket_send("slash_commands", self.payloads.command_payload(text, **kwargs))

    async def settle(self) -> None:
        await until_no_background_work(self.serving.runtime.background)


def socket_settings(settings: Settings, app_token: str = APP_TOKEN) -> Settings:
    return settings.model_copy(update={"slack_app_token": app_token, "port": 0, "host": "127.0.0.1"})


async def cancel(task: asyncio.Task) -> None:
    """Cancel ``task`` and wait (bounded) until it has run its cleanup."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(task, STOP_TIMEOUT)


async def start_serving(settings: Settings, stop: asyncio.Event) -> tuple[asyncio.Task[None], Serving]:
    """Start serve as a task and wait (bounded) for the Serving it reports."""
    started: asyncio.Queue[Serving] = asyncio.Queue()
    task = asyncio.create_task(serve(settings, stop, started=started), name="serve")
    reported = asyncio.ensure_future(started.get())
    done, _ = await asyncio.wait({task, reported}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    if reported not in done:
        reported.cancel()
        if task in done:
            task.result()  # raises serve's error
            pytest.fail("serve returned before it reported that it was serving")
        await cancel(task)
        pytest.fail(f"serve did not report that it was serving within {START_TIMEOUT:.0f}s (a hang)")
    return task, reported.result()


@pytest.fixture
async def socket_bot(settings: Settings, fake_slack: FakeSlack) -> AsyncIterator[SocketBot]:
    stop = asyncio.Event()
    task, serving = await start_serving(socket_settings(settings), stop)
    try:
        await fake_slack.wait_for_socket()
        yield SocketBot(
            serving,
            stop,
            task,
            fake_slack,
            SignedSlack("unused", settings.slack_signing_secret, response_url_factory=fake_slack.response_url),
        )
    finally:
        await stop_serving(task, stop)


async def stop_serving(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Stop a serve started by ``start_serving`` (bounded; cancelled if it hangs)."""
    if not task.done():
        stop.set()
        done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT)
        if not done:
            await cancel(task)
    gc.unfreeze()  # serve froze this test process's objects too; let later tests' garbage go


# ------------------------------------------------------------------------------------------------
# serve in Socket Mode
# ------------------------------------------------------------------------------------------------


async def test_connects_with_the_app_level_token(socket_bot: SocketBot, fake_slack: FakeSlack):
    opened = fake_slack.calls_to("apps.connections.open")
    assert opened and all(c.ok for c in opened), [(c.ok, c.error) for c in opened]
    assert fake_slack.socket_connections == 1
    assert socket_bot.serving.port > 0
    # Start-up's long-lived objects are out of the collector's sight, so no full collection walks
    # them while requests wait (80-120 ms stalls under load before this).
    assert gc.get_freeze_count() > 10_000


async def test_help_is_answered_in_the_ack(socket_bot: SocketBot, fake_slack: FakeSlack):
    ack = await socket_bot.command("help")
    assert ack["payload"]["text"] == messages.HELP
    assert "/incident open" in ack["payload"]["text"]
    bare = await socket_bot.command("")
    assert bare["payload"]["text"] == messages.HELP
    # Answered in the ack alone: nothing went to the response_url.
    await socket_bot.settle()
    assert fake_slack.responses == []


async def test_open_builds_the_war_room(socket_bot: SocketBot, fake_slack: FakeSlack, announce_channel: str):
    ack = await socket_bot.command("open Socket mode outage sev:P2")
    assert ack.get("payload") in (None, {})  # a bare ack; the work happens after it
    await socket_bot.settle()

    runtime = socket_bot.serving.runtime
    async with runtime.db.transaction() as session:
        assert await rows.count(session) == 1
    incident = await runtime.incidents.get(1)
    assert (incident.title, incident.severity, incident.opened_by) == ("Socket mode outage", "P2", "U_ALICE")

    channel = fake_slack.channel_by_name("inc-1-socket-mode-outage")
    assert channel is not None and incident.channel_id == channel.id
    assert "U_ALICE" in channel.members
    control = channel.message(incident.control_message_ts)
    assert control is not None and control["ts"] in channel.pins
    action_ids = [e["action_id"] for b in control["blocks"] if b.get("block_id") == "phase_buttons" for e in b["elements"]]
    assert action_ids == ["incident_acknowledge", "stamp_phase_diagnosed", "stamp_phase_mitigated", "stamp_phase_verified"]
    assert "INC-1" in fake_slack.channels[announce_channel].messages[-1]["text"]
    assert fake_slack.responses[-1]["text"] == f"*INC-1* is open. War room: <#{channel.id}>"


async def test_healthz_answers_in_socket_mode(socket_bot: SocketBot):
    url = f"http://127.0.0.1:{socket_bot.serving.port}/healthz"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        assert await response.json() == {
            "status": "ok",
            "database": "ok",
            "slack": "connected",
            "slack_token": "ok (@incident-bot in Fake Workspace)",
        }


async def _health(port: int) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            return response.status, await response.json()


async def _health_becomes(port: int, status: int, seconds: float = HANG_SECONDS) -> dict:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        got, body = await _health(port)
        if got == status or asyncio.get_running_loop().time() > deadline:
            assert got == status, body
            return body
        await asyncio.sleep(0.1)


class SocketModeHandlerReconnectingQuickly(AsyncSocketModeHandler):
    """Bolt's handler with its client pausing half a second between attempts to reconnect,
    instead of the 10 s that production waits. The pause is the client's ping interval, which also
    sets how often it pings and how long without a pong makes it call the socket stale (4 pauses);
    so only a test that waits through a reconnect refused by Slack asks for this."""

    def __init__(self, app, app_token: str) -> None:
        super().__init__(app, app_token, ping_interval=0.5)


@pytest.fixture
def quick_reconnects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slack_bolt.adapter.socket_mode.async_handler, "AsyncSocketModeHandler", SocketModeHandlerReconnectingQuickly)


async def test_healthz_is_unhealthy_while_the_socket_to_slack_is_down(quick_reconnects: None, socket_bot: SocketBot, fake_slack: FakeSlack):
    """A process whose WebSocket is gone receives nothing from Slack: a load balancer or an
    orchestrator must see that, not a 200 because the database answers."""
    port = socket_bot.serving.port
    fake_slack.fail_next("apps.connections.open", "internal_error", times=1000)
    await fake_slack.socket_drop()
    body = await _health_becomes(port, 503)
    assert body == {"status": "unhealthy", "database": "ok", "slack": "disconnected", "slack_token": "ok (@incident-bot in Fake Workspace)"}
    fake_slack.clear_faults()  # Slack lets the app connect again
    await fake_slack.wait_for_socket(count=2)
    assert (await _health_becomes(port, 200))["slack"] == "connected"


async def test_reconnects_when_slack_asks_and_keeps_answering(socket_bot: SocketBot, fake_slack: FakeSlack):
    urls_before = len(fake_slack.calls_to("apps.connections.open"))
    await fake_slack.socket_disconnect("refresh_requested")
    await fake_slack.wait_for_socket(count=2)
    assert len(fake_slack.calls_to("apps.connections.open")) == urls_before + 1  # a fresh URL
    ack = await socket_bot.command("help")
    assert ack["payload"]["text"] == messages.HELP


async def test_stop_closes_the_socket_and_serve_returns(socket_bot: SocketBot, fake_slack: FakeSlack):
    await socket_bot.command("help")
    socket_bot.stop.set()
    done, _ = await asyncio.wait({socket_bot.task}, timeout=STOP_TIMEOUT)
    assert done, f"serve did not return within {STOP_TIMEOUT:.0f}s of stop (a hang)"
    assert socket_bot.task.result() is None
    await fake_slack.wait_for_socket_closed()  # the app closed its WebSocket
    # ... and the HTTP port is closed.
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            await session.get(f"http://127.0.0.1:{socket_bot.serving.port}/healthz")


# slack_sdk's SocketModeClient retries a refused apps.connections.open every 10 s for ever, so
# serve asks for the URL once itself and turns a refused app token into a ConfigError (exit 2).
async def test_a_refused_app_token_stops_serve_with_a_clear_error(settings: Settings, fake_slack: FakeSlack):
    fake_slack.app_tokens = {"xapp-1-A0001-1-current"}  # the configured token was revoked
    stop = asyncio.Event()
    started: asyncio.Queue[Serving] = asyncio.Queue()
    task = asyncio.create_task(serve(socket_settings(settings), stop, started=started), name="serve")
    try:
        refused = await fake_slack.wait_for_call("apps.connections.open", timeout=START_TIMEOUT)
        assert (refused.ok, refused.error) == (False, "invalid_auth")
        done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT)
        assert done, "serve is still running (a hang) after Slack refused the app-level token"
        error = task.exception()
        assert isinstance(error, ConfigError), f"serve ended with {error!r}"
        assert "SLACK_APP_TOKEN" in str(error) and "invalid_auth" in str(error)
        assert started.empty()
        assert fake_slack.socket_connections == 0
    finally:
        await cancel(task)
        assert task.done(), "serve did not finish its cleanup after being cancelled (a hang)"


# ------------------------------------------------------------------------------------------------
# The fake's Socket Mode side (raw clients, no bot)
# ------------------------------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.stop()


async def test_connections_open_needs_an_app_level_token_in_the_header(fake: FakeSlack):
    client = AsyncWebClient(base_url=fake.base_url, timeout=HANG_SECONDS)
    response = await client.apps_connections_open(app_token=APP_TOKEN)
    assert response["url"].startswith(f"ws://127.0.0.1:{fake.url.rsplit(':', 1)[1]}/socket/")
    assert response.headers["x-oauth-scopes"] == "connections:write"

    with pytest.raises(SlackApiError) as err:  # the bot token is not an app-level token
        await client.apps_connections_open(app_token="xoxb-1234-5678-testtoken")
    assert err.value.response["error"] == "invalid_auth"

    fake.app_tokens = {"xapp-1-A0001-1-other"}
    with pytest.raises(SlackApiError) as err:
        await client.apps_connections_open(app_token=APP_TOKEN)
    assert err.value.response["error"] == "invalid_auth"

    fake.app_tokens = None
    fake.app_token_scopes = set()
    with pytest.raises(SlackApiError) as err:
        await client.apps_connections_open(app_token=APP_TOKEN)
    assert (err.value.response["error"], err.value.response["needed"]) == ("missing_scope", "connections:write")

    async with aiohttp.ClientSession() as session:  # a token argument instead of the header
        async with session.post(fake.base_url + "apps.connections.open", data={"token": APP_TOKEN}) as resp:
            assert (await resp.json())["error"] == "missing_args"
    assert fake.violations == []


async def test_socket_hello_envelopes_acks_and_checks(fake: FakeSlack):
    url = (await AsyncWebClient(base_url=fake.base_url).apps_connections_open(app_token=APP_TOKEN))["url"]
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        hello = await asyncio.wait_for(ws.receive_json(), HANG_SECONDS)
        assert hello["type"] == "hello" and hello["num_connections"] == 1
        await fake.wait_for_socket()

        async def answer(payload: dict | None = None, envelope_id: str | None = None) -> dict:
            envelope = await asyncio.wait_for(ws.receive_json(), HANG_SECONDS)
            ack = {"envelope_id": envelope_id or envelope["envelope_id"]}
            if payload is not None:
                ack["payload"] = payload
            await ws.send_json(ack)
            return envelope

        sending = asyncio.ensure_future(fake.socket_send("slash_commands", {"command": "/incident", "text": "help"}))
        envelope = await answer({"text": "hi"})
        assert envelope["type"] == "slash_commands" and envelope["accepts_response_payload"] is True
        assert envelope["payload"] == {"command": "/incident", "text": "help"}
        assert (await sending) == {"envelope_id": envelope["envelope_id"], "payload": {"text": "hi"}}
        assert fake.violations == []

        # A payload in the ack of an events_api envelope is dropped by Slack: a violation.
        sending = asyncio.ensure_future(fake.socket_send("events_api", {"type": "event_callback"}))
        envelope = await answer({"text": "ignored"})
        assert envelope["accepts_response_payload"] is False
        await sending
        assert len(fake.violations) == 1 and "does not accept" in fake.violations[0]
        fake.violations.clear()

        # No ack: socket_send gives up (bounded) with an AssertionError.
        with pytest.raises(AssertionError, match="no ack"):
            await fake.socket_send("interactive", {"type": "block_actions"}, timeout=0.2)
        await ws.receive_json()  # the unanswered envelope
        await ws.send_json({"envelope_id": "never-sent"})
        # Frames are handled in order: once the next envelope's ack is in, so is that one.
        sending = asyncio.ensure_future(fake.socket_send("slash_commands", {"text": "x"}))
        await answer()
        assert "payload" not in await sending
        assert len(fake.violations) == 1 and "never sent" in fake.violations[0]
        fake.violations.clear()

        # Slack's disconnect message.
        await fake.socket_disconnect("warning")
        assert (await asyncio.wait_for(ws.receive_json(), HANG_SECONDS))["reason"] == "warning"

    await fake.wait_for_socket_closed()
    with pytest.raises(ValueError):
        await fake.socket_send("hello", {})
    with pytest.raises(AssertionError, match="no open Socket Mode connection"):
        await fake.socket_send("slash_commands", {})
