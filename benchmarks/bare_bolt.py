"""A bare slack_bolt AsyncApp in its own process: every command and button is only ``await ack()``.

The load benchmark's baseline: the same signature check, body parsing, Bolt dispatch and aiohttp
server the bot has, and nothing else.

    python -m benchmarks.bare_bolt PORT SIGNING_SECRET SLACK_API_URL
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def build(
    signing_secret: str,
    slack_api_url: str,
    *,
    before_ack: Callable[[], Awaitable[None]] | None = None,
    after_command: Callable[[], None] | None = None,
    after_action: Callable[[], None] | None = None,
) -> web.Application:
    """``before_ack``: awaited before every ack (benchmarks.clicks: one durable write, the least
    an app that acks only what it has recorded can do). ``after_command`` and ``after_action``:
    called once a command or a button is acked (benchmarks.round_trips: the bare war room, or the
    bare summary, that follows it)."""
    # Bolt checks its token with auth.test once, as the bot does: against the same fake Slack.
    client = AsyncWebClient(token="xoxb-bare-baseline", base_url=slack_api_url)
    # Acks the way the bot does: the response leaves when the listener returns. Bolt's default
    # instead polls for the ack every 10 ms, a floor that would make any app look as fast as bare.
    app = AsyncApp(signing_secret=signing_secret, client=client, process_before_response=True)

    @app.command(re.compile(".*"))
    async def command(ack: AsyncAck) -> None:
        if before_ack is not None:
            await before_ack()
        await ack()
        if after_command is not None:
            after_command()

    @app.action(re.compile(".*"))
    async def action(ack: AsyncAck) -> None:
        if before_ack is not None:
            await before_ack()
        await ack()
        if after_action is not None:
            after_action()

    async def events(request: web.Request) -> web.StreamResponse:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    web_app = web.Application()
    web_app.router.add_post("/slack/events", events)
    web_app.router.add_get("/healthz", healthz)
    return web_app


async def serve(app: web.Application, port: int = 0) -> tuple[web.AppRunner, int]:
    """``app`` on a plain aiohttp runner on loopback (not behind the bot's web app, whose replay
    guard would record each request in the bot's database): the runner, to clean up, and the port
    (with 0, the one the OS picked)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # the port bound


async def main(port: int, signing_secret: str, slack_api_url: str) -> None:
    runner, _ = await serve(build(signing_secret, slack_api_url), port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
