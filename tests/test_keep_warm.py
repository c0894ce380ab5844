"""An idle bot keeps one connection to Slack open and ready (SLACK_KEEP_WARM_SECONDS): the first war
room after a quiet spell must not pay a new connection's TCP and TLS handshakes.

The fake Slack counts requests per client connection (``requests_per_connection``); a connection
aiohttp has closed for idleness is closed at the fake's end too (``connection_closed``), and the
next call shows up on a new one. The intervals are short so the tests take seconds, and wide apart
(a ping every 0.1 s against connections kept for 2 s idle) so that a busy machine's stalls do not
close the connection between two pings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import SETTING_HELP, ConfigError, Settings, load_settings
from bot.slack import SlackGateway
from bot.slack.pacing import Pacer
from bot.slack.transport import IDLE_CONNECTION_KEPT, SlackTransport, idle_connection_kept
from handlers.server import BotTokenCheck
from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.fake_slack import FakeSlack
from tests.serve_process import FAKE_SLACK_SETTINGS
from tests.test_first_run import healthz
from tests.test_socket_mode import start_serving, stop_serving
from tests.waiting import eventually

EVERY = 0.1  # seconds idle before a call keeps the connection warm
KEPT = 2.0  # seconds an idle connection stays open


def transport_to(fake: FakeSlack) -> SlackTransport:
    # Paced as the other tests' bots are (FAKE_SLACK_SETTINGS): a burst of calls is not held for a minute.
    pacer = Pacer(None, speed=float(FAKE_SLACK_SETTINGS["SLACK_RATE_SPEED"]))
    return SlackTransport(AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url), pacer, idle_kept=KEPT)


def ping(transport: SlackTransport) -> Callable[[], Awaitable[object]]:
    return lambda: transport.call("auth.test")


async def pings_seen(fake: FakeSlack, count: int) -> None:
    await fake.wait_for_call("auth.test", lambda _call: len(fake.calls_to("auth.test")) >= count)


async def test_a_kept_warm_connection_outlives_an_idle_one_the_client_closed_meanwhile(fake_slack: FakeSlack) -> None:
    # Two transports with the same idle limit, each with one connection: the one kept warm still
    # has it once the other's has been closed for idleness, and its next call goes over it; the
    # other's next call needs a new connection (a TCP and TLS handshake against slack.com).
    warm, idle = transport_to(fake_slack), transport_to(fake_slack)
    stop = asyncio.Event()
    try:
        await warm.call("auth.test")
        [warm_port] = fake_slack.requests_per_connection
        await idle.call("auth.test")
        [idle_port] = set(fake_slack.requests_per_connection) - {warm_port}
        pinging = asyncio.create_task(warm.keep_warm(stop, EVERY, ping(warm)))
        await eventually(lambda: fake_slack.connection_closed(idle_port), what="the idle connection closed by its client")
        stop.set()
        await pinging  # its last ping answered: the connection is free again
        await warm.call("conversations.create", name="inc-after-quiet", is_private=False)
        await idle.call("conversations.create", name="inc-after-quiet-2", is_private=False)
        assert not fake_slack.connection_closed(warm_port)
        pings = len(fake_slack.calls_to("auth.test")) - 2  # besides each transport's first call
        assert fake_slack.requests_per_connection[warm_port] == 1 + pings + 1  # its first call, every ping, the create
        assert len(fake_slack.requests_per_connection) == 3, fake_slack.requests_per_connection
    finally:
        stop.set()
        await warm.close()
        await idle.close()


async def test_a_ping_comes_only_after_the_interval_has_passed_since_the_last_call(fake_slack: FakeSlack) -> None:
    # Calls keep the connection warm themselves: after the first ping, two calls one after the
    # other; the next ping must wait the whole interval from the end of the second, not from the
    # first ping. A busy machine only makes the ping later, never earlier.
    every = 0.5
    fake_slack.latency = 0.3
    transport = transport_to(fake_slack)
    stop = asyncio.Event()
    try:
        warm = asyncio.create_task(transport.keep_warm(stop, every, ping(transport)))
        await pings_seen(fake_slack, 1)
        for n in range(2):
            await transport.call("conversations.create", name=f"inc-busy-{n}", is_private=False)
        last_call = fake_slack.calls_to("conversations.create")[-1]
        await pings_seen(fake_slack, 2)
        stop.set()
        await warm
        second_ping = fake_slack.calls_to("auth.test")[1]
        assert second_ping.at >= last_call.at + fake_slack.latency + every  # its answer left the fake no sooner than that
    finally:
        fake_slack.latency = 0.0
        stop.set()
        await transport.close()


async def test_a_failed_ping_is_only_logged_and_the_next_one_goes_as_usual(fake_slack: FakeSlack) -> None:
    transport = transport_to(fake_slack)
    stop = asyncio.Event()
    fake_slack.fail_next("auth.test", "internal_error", status=500, times=3)  # the SDK tries a 5xx three times
    try:
        warm = asyncio.create_task(transport.keep_warm(stop, EVERY, ping(transport)))
        await fake_slack.wait_for_call("auth.test", lambda call: call.ok)
        assert not warm.done()
        stop.set()
        await warm  # ends without an error once told to stop
    finally:
        stop.set()
        await transport.close()


def test_an_idle_connection_is_kept_longer_than_the_interval_that_keeps_it_warm() -> None:
    assert idle_connection_kept(0) == IDLE_CONNECTION_KEPT
    for every in (1.0, 25.0, 60.0, 3600.0):
        assert idle_connection_kept(every) >= 2 * every


@pytest.mark.parametrize("value", ["0.5", "-1", "3601", "soon"])
def test_a_keep_warm_interval_out_of_range_is_refused_with_the_right_form(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_KEEP_WARM_SECONDS=value)
    assert str(refused.value).startswith("SLACK_KEEP_WARM_SECONDS is malformed (")
    assert str(refused.value).endswith(f"set it to {SETTING_HELP['SLACK_KEEP_WARM_SECONDS']}.")


async def test_serve_keeps_the_connection_warm_while_idle(settings: Settings, fake_slack: FakeSlack) -> None:
    settings = settings.model_copy(update={"slack_keep_warm_seconds": 1.0, "port": 0, "host": "127.0.0.1"})
    stop = asyncio.Event()
    task, _serving = await start_serving(settings, stop)
    try:
        asked_at_start = len(fake_slack.calls_to("auth.test"))
        await pings_seen(fake_slack, asked_at_start + 2)
        assert {c.method for c in fake_slack.calls} == {"auth.test"}
    finally:
        await stop_serving(task, stop)
    assert task.done() and task.exception() is None


async def test_a_token_revoked_while_the_bot_idles_turns_healthz_unhealthy_and_is_logged_once(
    settings: Settings, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings.model_copy(update={"slack_keep_warm_seconds": 1.0, "port": 0, "host": "127.0.0.1"})
    stop = asyncio.Event()
    task, serving = await start_serving(settings, stop)
    try:
        assert (await healthz(serving.port))[0] == 200
        with caplog.at_level(logging.ERROR, logger="incident_bot"):
            fake_slack.bot_tokens = set()  # revoked in Slack while the bot idles
            revoked_at = len(fake_slack.calls)
            _status, body = await eventually(lambda: answering(serving.port, 503), what="/healthz answering 503")
            assert body["slack_token"] == "refused (invalid_auth)", body
            # Two more calls while refused (the third sent only once the second was answered and
            # judged): still one line, not one per call.
            await fake_slack.wait_for_call("auth.test", lambda _call: len(fake_slack.calls) >= revoked_at + 3)
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "SLACK_BOT_TOKEN is refused by Slack now (invalid_auth)" in errors[0], errors
        assert "xoxb-" in errors[0] and BOT_TOKEN not in errors[0]  # what to put there, never the token itself
    finally:
        await stop_serving(task, stop)


async def test_a_call_slack_fails_to_answer_leaves_its_last_word_on_the_token(fake_slack: FakeSlack) -> None:
    slack = SlackGateway.connect(BOT_TOKEN, fake_slack.base_url)
    try:
        check = BotTokenCheck(slack)
        assert await check.ask() == "ok (@incident-bot in Fake Workspace)"
        fake_slack.fail_next("auth.test", "internal_error", status=500, times=3)  # Slack down for one keep-warm call
        assert await check.ask() == "ok (@incident-bot in Fake Workspace)"
        fake_slack.bot_tokens = set()
        assert await check.ask() == "refused (invalid_auth)"
    finally:
        await slack.close()


async def answering(port: int, status: int) -> tuple[int, dict] | None:
    """/healthz's answer if it has ``status`` (for ``eventually``: the next keep-warm call tells it)."""
    answer = await healthz(port)
    return answer if answer[0] == status else None
