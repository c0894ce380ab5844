"""An idle bot keeps one connection to Slack open and ready (SLACK_KEEP_WARM_SECONDS): the first war
room after a quiet spell must not pay a new connection's TCP and TLS handshakes.

The fake Slack counts requests per client connection (``requests_per_connection``); a connection
aiohttp has closed for idleness shows up as a second one. The intervals are short so the tests
take seconds, and wide apart (a ping every 0.1 s against connections kept for 2 s idle) so that
a busy machine's stalls do not close the connection between two pings.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from pydantic import ValidationError
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings
from bot.slack import SlackGateway
from bot.slack.pacing import Pacer
from bot.slack.transport import IDLE_CONNECTION_KEPT, SlackTransport, idle_connection_kept
from handlers.server import BotTokenCheck
from tests.conftest import BOT_TOKEN
from tests.fake_slack import FakeSlack
from tests.serve_process import FAKE_SLACK_SETTINGS
from tests.test_first_run import healthz
from tests.test_socket_mode import start_serving, stop_serving
from tests.waiting import HANG_SECONDS

EVERY = 0.1  # seconds idle before a call keeps the connection warm
KEPT = 2.0  # seconds an idle connection stays open


def transport_to(fake: FakeSlack) -> SlackTransport:
    # Paced as the other tests' bots are (FAKE_SLACK_SETTINGS): a burst of calls is not held for a minute.
    pacer = Pacer(None, speed=float(FAKE_SLACK_SETTINGS["SLACK_RATE_SPEED"]))
    return SlackTransport(AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url), pacer, idle_kept=KEPT)


async def pings_seen(fake: FakeSlack, count: int) -> None:
    await fake.wait_for_call("auth.test", lambda _call: len(fake.calls_to("auth.test")) >= count)


async def test_a_call_after_an_idle_spell_still_goes_over_the_first_connection(fake_slack: FakeSlack) -> None:
    transport = transport_to(fake_slack)
    stop = asyncio.Event()
    try:
        await transport.call("auth.test")
        warm = asyncio.create_task(transport.keep_warm(stop, EVERY))
        # Pings for half as long again as an idle connection is kept (each at least EVERY apart).
        await pings_seen(fake_slack, 1 + round(1.5 * KEPT / EVERY) + 1)
        stop.set()
        await warm  # its last ping answered: the connection is free again
        await transport.call("conversations.create", name="inc-after-quiet", is_private=False)
        assert len(fake_slack.requests_per_connection) == 1, fake_slack.requests_per_connection
    finally:
        stop.set()
        await transport.close()


async def test_without_keeping_warm_a_call_after_an_idle_spell_opens_a_new_connection(fake_slack: FakeSlack) -> None:
    """The other half of the test above: the idle limit is the transport's, so only the pings kept
    that connection open."""
    transport = transport_to(fake_slack)
    try:
        await transport.call("auth.test")
        await asyncio.sleep(1.5 * KEPT)  # idle: the subject of the test, not a wait for something to happen
        await transport.call("conversations.create", name="inc-after-quiet", is_private=False)
        assert len(fake_slack.requests_per_connection) == 2, fake_slack.requests_per_connection
    finally:
        await transport.close()


async def test_calls_keep_the_connection_warm_themselves_so_no_ping_goes_between_them(fake_slack: FakeSlack) -> None:
    every = 2.0  # a stall of two seconds between two calls would let a ping in: wide, for a busy machine
    transport = transport_to(fake_slack)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        await transport.call("auth.test")
        warm = asyncio.create_task(transport.keep_warm(stop, every))
        busy_until = loop.time() + 1.5 * every
        made = 0
        while loop.time() < busy_until:  # a busy bot: call after call for longer than the interval
            await transport.call("conversations.create", name=f"inc-busy-{made}", is_private=False)
            made += 1
        stop.set()
        await warm
        assert [c.method for c in fake_slack.calls] == ["auth.test"] + ["conversations.create"] * made
    finally:
        stop.set()
        await transport.close()


async def test_a_failed_ping_is_only_logged_and_the_next_one_goes_as_usual(fake_slack: FakeSlack) -> None:
    transport = transport_to(fake_slack)
    stop = asyncio.Event()
    fake_slack.fail_next("auth.test", "internal_error", status=500, times=3)  # the SDK tries a 5xx three times
    try:
        warm = asyncio.create_task(transport.keep_warm(stop, EVERY))
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
def test_a_keep_warm_interval_out_of_range_is_refused_with_the_right_form(settings: Settings, value: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, **{**_env_of(settings), "SLACK_KEEP_WARM_SECONDS": value})
    assert "SLACK_KEEP_WARM_SECONDS" in str(refused.value) or "slack_keep_warm_seconds" in str(refused.value)


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
            status, body = await healthz_until(serving.port, 503)
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


async def healthz_until(port: int, status: int) -> tuple[int, dict]:
    """/healthz, asked until it answers ``status`` (a condition: the next keep-warm call tells it)."""
    deadline = asyncio.get_running_loop().time() + HANG_SECONDS
    while True:
        answer = await healthz(port)
        if answer[0] == status or asyncio.get_running_loop().time() > deadline:
            return answer
        await asyncio.sleep(0.05)


def _env_of(settings: Settings) -> dict[str, str]:
    """The settings as the environment variables that made them."""
    env: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if field.alias and value is not None:
            env[field.alias] = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return env
