"""``incident-bot serve``: migrate, then take Slack's requests over HTTP or Socket Mode until told to stop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.config import Settings
from bot.runtime import Runtime
from handlers.app import build_bolt_app
from handlers.web import start_http

log = logging.getLogger("incident_bot")


@dataclass
class Serving:
    runtime: Runtime
    port: int  # the bound port (/healthz, and /slack/events in HTTP mode)


async def serve(settings: Settings, stop: asyncio.Event, *, started: asyncio.Queue | None = None) -> None:
    """Run until ``stop`` is set, then finish the work in flight and close.

    In Socket Mode the HTTP port still answers /healthz, so load balancers and orchestrators can
    check the bot either way.
    """
    runtime = Runtime.from_settings(settings)
    revision = await runtime.migrate()
    log.info("database at revision %s", revision)
    bolt_app = build_bolt_app(runtime)
    runner, port = await start_http(runtime, bolt_app, host=settings.host, port=settings.port)
    socket_handler = None
    try:
        if settings.socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            socket_handler = AsyncSocketModeHandler(bolt_app, settings.slack_app_token)
            await socket_handler.connect_async()
            log.info("connected to Slack in Socket Mode; /healthz on port %s", port)
        else:
            log.info("serving Slack requests at http://%s:%s/slack/events", settings.host, port)
        if started is not None:
            started.put_nowait(Serving(runtime, port))
        await stop.wait()
        log.info("shutting down: finishing work in flight")
    finally:
        if socket_handler is not None:
            await socket_handler.close_async()
        await runner.cleanup()
        await runtime.close()
