"""The HTTP server: Slack's requests at /slack/events, /healthz for load balancers, /metrics for
Prometheus, and the deploy webhook."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp

from bot import logs, metrics
from bot.background import hold_work_until, only_first_copy
from bot.runtime import Runtime
from bot.settings import ConfigError
from handlers.arrival import mark_arrival
from handlers.dashboard import dashboard_routes
from handlers.hooks import ALERTS_PATH, DEPLOYS_PATH, PAGERDUTY_PATH, alert_webhook, deploy_webhook, pagerduty_webhook
from handlers.slack_door import SlackDoor

log = logging.getLogger(__name__)

SLACK_PATH = "/slack/events"
HEALTH_TIMEOUT = 2.0


def _measured(handler):
    """Count and time a request by kind; tag every log line of it with Slack's request ID."""

    async def measured(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        mark_arrival()
        logs.set_incident(None)
        kind, response = "unknown", None
        try:
            kind, response = await handler(request)
            return response
        except Exception:
            metrics.ERRORS.labels("http").inc()
            log.exception("request to %s failed", request.path)
            response = web.json_response({"ok": False, "error": "internal error"}, status=500)
            return response
        finally:
            status = response.status if response is not None else 500
            metrics.REQUESTS.labels(kind, str(status)).inc()
            metrics.REQUEST_SECONDS.labels(kind).observe(time.perf_counter() - started)

    return measured


# The webhooks' answers (handlers/hooks.py) that turn a request away before it reaches the bot.
_WEBHOOK_REFUSALS = {400: "malformed", 401: "unauthenticated", 413: "too_large", 415: "not_json"}


def _count_webhook_refusal(door: str, request: web.Request, response: web.Response) -> None:
    reason = _WEBHOOK_REFUSALS.get(response.status)
    if reason is None:
        return
    metrics.REFUSED.labels(door, reason).inc()
    try:
        message = json.loads(response.body)["error"]  # type: ignore[arg-type]  # a refusal carries JSON bytes; anything else is caught below
    except (TypeError, ValueError, KeyError):
        message = "-"
    log.warning("refused a request to %s from %s (%s %s): %s", request.path, request.remote, response.status, reason, message)


def _report_replay(kind: str, remote: str | None, check: asyncio.Future[bool]) -> None:
    if check.cancelled() or check.exception() is not None or check.result():
        return
    metrics.REFUSED.labels("slack", "replayed").inc()
    log.warning("refused a replayed %s from %s: this signed request was taken before; nothing done", kind, remote)


def _forget_failed(runtime: Runtime, signature: str) -> None:
    """A request the bot failed to handle is forgotten, so that Slack's retry of it is taken. Run as
    the request's work: only when this copy was the first (a replay must not forget the original)."""
    runtime.background.spawn(only_first_copy(runtime.replays.forget(signature)), name="forget-failed-slack-request")


def build_web_app(runtime: Runtime, bolt_app: AsyncApp) -> web.Application:
    slack_door = SlackDoor(runtime.settings.slack_signing_secret)
    replay_checks: set[asyncio.Future[bool]] = set()  # awaited at shutdown

    async def slack_events(request: web.Request):
        logs.set_request(None)
        admitted = await slack_door.admit(request)
        if isinstance(admitted, web.Response):
            return "unknown", admitted
        body = admitted.bolt_request.body
        logs.set_request(logs.slack_request_key(body))
        kind = metrics.request_kind(body)
        # The ack never waits for a check: the listener acks as usual, and every write the request
        # would make waits for the check and is dropped for a replay (bot/background.py), so Slack
        # shows nothing new. A click whose ack waits for its write records the request in that
        # write's transaction; any other request is checked once dispatched, or sooner when its
        # work asks.
        check = runtime.replays.check(admitted.signature, admitted.timestamp)
        check.answer.add_done_callback(functools.partial(_report_replay, kind, request.remote))
        hold_work_until(check)
        try:
            bolt_response = await bolt_app.async_dispatch(admitted.bolt_request)
        except Exception:
            _forget_failed(runtime, admitted.signature)
            raise
        finally:
            answer = check.start()
            if not answer.done():
                replay_checks.add(answer)
                answer.add_done_callback(replay_checks.discard)
        if bolt_response.status >= 500:
            _forget_failed(runtime, admitted.signature)
        return kind, await to_aiohttp_response(bolt_response)

    deploy_hook, alert_hook, pagerduty_hook = deploy_webhook(runtime), alert_webhook(runtime), pagerduty_webhook(runtime)

    async def deploys(request: web.Request):
        logs.set_request(request.headers.get("X-Request-Id"))
        response = await deploy_hook(request)
        _count_webhook_refusal("deploy_webhook", request, response)
        return "webhook", response

    async def alerts(request: web.Request):
        logs.set_request(request.headers.get("X-Request-Id"))
        response = await alert_hook(request)
        _count_webhook_refusal("alert_webhook", request, response)
        return "webhook", response

    async def pagerduty(request: web.Request):
        logs.set_request(request.headers.get("X-Webhook-Id"))
        response = await pagerduty_hook(request)
        _count_webhook_refusal("pagerduty_webhook", request, response)
        return "webhook", response

    async def healthz(_: web.Request) -> web.Response:
        """200 only when this process can do its job: the database answers and, in Socket Mode,
        the WebSocket to Slack is open (else Slack's requests never reach this process)."""
        body: dict[str, str] = {"status": "ok", "database": "ok", "slack": "http"}
        try:
            await asyncio.wait_for(runtime.db.ping(), HEALTH_TIMEOUT)
        except Exception as error:  # any failure means "not healthy"; the reason goes to the log
            log.warning("health check: database unreachable: %s", error)
            body["database"] = "unreachable"
        if runtime.slack_connection is not None:
            try:
                connected = await asyncio.wait_for(runtime.slack_connection(), HEALTH_TIMEOUT)
            except Exception as error:
                log.warning("health check: Socket Mode state unknown: %s", error)
                connected = False
            body["slack"] = "connected" if connected else "disconnected"
        if runtime.slack_token is not None:
            try:
                body["slack_token"] = await asyncio.wait_for(runtime.slack_token(), HEALTH_TIMEOUT)
            except TimeoutError:
                body["slack_token"] = "not checked: Slack did not answer in time"
        healthy = body["database"] == "ok" and body["slack"] != "disconnected" and not body.get("slack_token", "").startswith("refused")
        body["status"] = "ok" if healthy else "unhealthy"
        return web.json_response(body, status=200 if healthy else 503)

    async def prometheus(_: web.Request) -> web.Response:
        payload, content_type = metrics.exposition()
        response = web.Response(body=payload)
        response.headers["Content-Type"] = content_type
        return response

    async def finish_replay_checks(_: web.Application) -> None:
        # Before the database closes under them (serve and tests stop the runner first).
        if replay_checks:
            await asyncio.wait(set(replay_checks))

    app = web.Application()
    app.on_shutdown.append(finish_replay_checks)
    app.router.add_post(SLACK_PATH, _measured(slack_events))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", prometheus)
    app.router.add_post(DEPLOYS_PATH, _measured(deploys))
    app.router.add_post(ALERTS_PATH, _measured(alerts))
    app.router.add_post(PAGERDUTY_PATH, _measured(pagerduty))
    app.router.add_routes(dashboard_routes(runtime, _measured))
    return app


async def start_http(runtime: Runtime, bolt_app: AsyncApp, *, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner (to stop it) and the port actually bound (port 0 picks one)."""
    runner = web.AppRunner(build_web_app(runtime, bolt_app), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host=host, port=port)
    try:
        await site.start()
    except OSError as error:  # in use, not an address of this machine, or a privileged port
        await runner.cleanup()
        raise ConfigError(
            f"PORT {port} on HOST {host} cannot be listened on ({error.strerror or error}): set PORT to a port nothing "
            "else on this machine listens on, and HOST to one of its addresses (0.0.0.0: all of them)."
        ) from None
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # the site started on the line above
    return runner, bound
