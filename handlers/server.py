"""``incident-bot serve``: migrate, then take Slack's requests over HTTP or Socket Mode until told to stop."""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass

from bot.analytics.digest_schedule import DigestScheduler, digest_channel_problems
from bot.runtime import Runtime
from bot.settings import SETTING_HELP, ConfigError, Settings
from bot.slack import SlackError
from handlers.app import build_bolt_app
from handlers.web import start_http

log = logging.getLogger("incident_bot")

# Slack's answers to apps.connections.open that mean the app token itself is wrong.
REFUSED_TOKEN = {
    "invalid_auth",
    "not_authed",
    "missing_args",
    "not_allowed_token_type",
    "missing_scope",
    "token_revoked",
    "token_expired",
    "account_inactive",
}


@dataclass
class Serving:
    runtime: Runtime
    port: int  # the bound port (/healthz, and /slack/events in HTTP mode)


def exempt_startup_objects_from_gc() -> None:
    """Move everything start-up built (modules, the ORM's mappers, Bolt's listeners, the catalog)
    out of the garbage collector's sight. They live as long as the process, yet each full
    collection walked all of them: under load that stopped a serve process for 80-120 ms, every
    request in flight waiting. Frozen, a full collection takes a few milliseconds."""
    gc.collect()
    gc.freeze()


async def serve(settings: Settings, stop: asyncio.Event, *, started: asyncio.Queue | None = None) -> None:
    """Run until ``stop`` is set, then finish the work in flight and close.

    In Socket Mode the HTTP port still answers /healthz, so load balancers and orchestrators can
    check the bot either way.
    """
    runtime = Runtime.from_settings(settings)
    revision = await runtime.migrate()
    await runtime.db.warm_up()
    log.info("database at revision %s", revision)
    bolt_app = build_bolt_app(runtime)
    runner, port = await start_http(runtime, bolt_app, host=settings.host, port=settings.port)
    exempt_startup_objects_from_gc()
    socket_handler = None
    try:
        if settings.socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            assert settings.slack_app_token
            try:
                url = await runtime.slack.socket_mode_url(settings.slack_app_token)
            except SlackError as error:
                if error.code in REFUSED_TOKEN:
                    raise ConfigError(
                        f"SLACK_APP_TOKEN was refused by Slack ({error.code}): set it to {SETTING_HELP['SLACK_APP_TOKEN']}."
                    ) from None
                raise
            socket_handler = AsyncSocketModeHandler(bolt_app, settings.slack_app_token)
            socket_handler.client.wss_uri = url  # connect with the URL just granted instead of asking again
            # /healthz answers 503 while the WebSocket is down: Slack's requests cannot reach us then.
            runtime.slack_connection = socket_handler.client.is_connected
            connecting = asyncio.ensure_future(socket_handler.connect_async())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not connecting.done():
                # Told to stop while Slack was unreachable: the SDK would retry for ever.
                connecting.cancel()
                return
            stopping.cancel()
            connecting.result()
            log.info("connected to Slack in Socket Mode; /healthz on port %s", port)
        else:
            log.info("serving Slack requests at http://%s:%s/slack/events", settings.host, port)
        scheduler_task = None
        if runtime.team.digests:
            for problem in await digest_channel_problems(runtime.slack, runtime.team.digests):
                log.error("%s", problem)
            scheduler = DigestScheduler(runtime.db, runtime.clock, runtime.team.digests, runtime.digests.publish)
            scheduler_task = asyncio.create_task(scheduler.run_forever(stop), name="digest-scheduler")
        # Overdue action items remind their owners once a week (claimed in the database).
        reminders_task = asyncio.create_task(runtime.action_items.run_reminders(stop), name="action-item-reminders")
        timers_task = asyncio.create_task(runtime.timers.run_forever(stop), name="incident-timers")
        lag_task = asyncio.create_task(runtime.loop_lag.watch(stop), name="event-loop-lag")
        if started is not None:
            started.put_nowait(Serving(runtime, port))
        await stop.wait()
        if scheduler_task is not None:
            await scheduler_task
        await reminders_task
        await timers_task
        await lag_task
        log.info("shutting down: finishing work in flight")
    finally:
        if socket_handler is not None:
            await socket_handler.close_async()
        await runner.cleanup()
        await runtime.close()
