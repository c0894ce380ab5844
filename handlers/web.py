"""The HTTP server: Slack's requests at /slack/events, and /healthz for load balancers."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.runtime import Runtime
from handlers.hooks import ALERTS_PATH, alert_webhook, deploy_webhook

log = logging.getLogger(__name__)

SLACK_PATH = "/slack/events"
HEALTH_TIMEOUT = 2.0


def build_web_app(runtime: Runtime, bolt_app: AsyncApp) -> web.Application:
    async def slack_events(request: web.Request) -> web.Response:
        bolt_response = await bolt_app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def healthz(_: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(runtime.db.ping(), HEALTH_TIMEOUT)
        except Exception as error:  # any failure means "not healthy"; the reason goes to the log
            log.warning("health check failed: %s", error)
            return web.json_response({"status": "unhealthy", "database": "unreachable"}, status=503)
        return web.json_response({"status": "ok", "database": "ok"})

    app = web.Application()
    app.router.add_post(SLACK_PATH, slack_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/hooks/deploys", deploy_webhook(runtime))
    app.router.add_post(ALERTS_PATH, alert_webhook(runtime))
    return app


async def start_http(runtime: Runtime, bolt_app: AsyncApp, *, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner (to stop it) and the port actually bound (port 0 picks one)."""
    runner = web.AppRunner(build_web_app(runtime, bolt_app), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host=host, port=port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, bound
