"""``incident-bot serve``: migrate, then take Slack's requests over HTTP or Socket Mode until told to stop."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.analytics.digest_schedule import DigestScheduler, digest_channel_problems
from bot.runtime import Runtime
from bot.settings import SETTING_HELP, ConfigError, Settings
from bot.slack import SlackError, SlackGateway
from bot.team_config import DEFAULT_PATH as DEFAULT_TEAM_CONFIG
from bot.warroom.postmortem import DEFAULT_TEMPLATE
from handlers.app import build_bolt_app
from handlers.web import start_http

log = logging.getLogger("incident_bot")

# Slack's answers to auth.test and apps.connections.open that mean the token itself is wrong.
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


class BotTokenCheck:
    """The bot token as Slack last judged it (``auth.test``), for the start and for /healthz.

    A token Slack refuses stops ``serve`` at once with one line, instead of every person's first
    command being told to reinstall the app. When Slack does not answer at start the bot serves
    anyway (Slack may be the one that is down) and asks again, at most once a minute, when
    /healthz is called, until Slack has answered. Afterwards each call that keeps the connection to
    Slack warm while the bot idles (``SlackGateway.keep_warm``) is this check: a token revoked
    while the bot runs turns /healthz unhealthy within SLACK_KEEP_WARM_SECONDS of quiet."""

    ASK_AGAIN_AFTER = 60.0

    def __init__(self, slack: SlackGateway) -> None:
        self._slack = slack
        self.state = "not checked yet"
        self.refused: str | None = None  # Slack's code when it refused the token
        self._answered = False
        self._asked_at = float("-inf")

    async def ask(self) -> str:
        self._asked_at = time.monotonic()
        accepted_until_now = self._answered and self.refused is None
        try:
            who = await self._slack.identity.who_am_i()
        except SlackError as error:
            if error.code in REFUSED_TOKEN:
                self._answered, self.refused = True, error.code
                self.state = f"refused ({error.code})"
                if accepted_until_now:  # revoked while the bot runs: every Slack call fails from here on
                    log.error(
                        "SLACK_BOT_TOKEN is refused by Slack now (%s): every Slack call fails and /healthz answers 503; "
                        "set it to %s and restart the bot",
                        error.code,
                        SETTING_HELP["SLACK_BOT_TOKEN"],
                    )
            elif not self._answered:  # once Slack has judged the token, its last word stands
                self.state = f"not checked: Slack did not answer ({error.code})"
        else:
            self._answered, self.refused = True, None
            self.state = f"ok ({who})"
        return self.state

    async def current(self) -> str:
        if not self._answered and time.monotonic() - self._asked_at >= self.ASK_AGAIN_AFTER:
            await self.ask()
        return self.state


async def check_bot_token(runtime: Runtime) -> BotTokenCheck:
    check = BotTokenCheck(runtime.slack)
    await check.ask()
    if check.refused:
        raise ConfigError(
            f"SLACK_BOT_TOKEN was refused by Slack ({check.refused}): set it to {SETTING_HELP['SLACK_BOT_TOKEN']} "
            "(reinstall the app to the workspace if the token was revoked)."
        )
    if check.state.startswith("not checked"):
        log.warning("SLACK_BOT_TOKEN %s; serving anyway, /healthz shows when Slack answers", check.state)
    else:
        log.info("SLACK_BOT_TOKEN accepted by Slack: %s", check.state.removeprefix("ok (").removesuffix(")"))
    runtime.slack_token = check.current
    return check


def files_in_use(settings: Settings, env_file: Path = Path(".env")) -> list[str]:
    """Which files the bot reads, as absolute paths, and which it looked for and did not find:
    every default is relative to the working directory, so a bot started elsewhere would
    otherwise run without the team's catalog, config and runbooks and say nothing."""

    def found(what: str, path: Path, missing: str) -> str:
        path = path.resolve()
        return f"{what}: {path}" if path.exists() else f"{what}: looked for {path}, not found: {missing}"

    catalog = settings.service_catalog or settings.runbooks_dir / "catalog.yml"
    lines = [
        found(".env", env_file, "settings from the environment only"),
        found("runbooks folder", settings.runbooks_dir, "no runbooks"),
        found(
            "service catalog",
            catalog,
            "no catalog, any service name is accepted, and alerts (which must name a catalog service) are refused",
        ),
        found("team config", settings.incident_config or DEFAULT_TEAM_CONFIG, "built-in tiers, timers and permissions"),
        f"postmortem template: {(settings.postmortem_template or DEFAULT_TEMPLATE).resolve()}"
        + ("" if settings.postmortem_template else " (built in)"),
    ]
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        lines.append(f"database: SQLite {Path(url.database or '').resolve()}")
    else:
        lines.append(f"database: {url.render_as_string(hide_password=True)}")
    return lines


def dashboard_line(settings: Settings, port: int) -> str:
    """Where the dashboard is, said at start. In Socket Mode Slack needs no public URL, so the
    dashboard is served on PORT all the same, for a private network (a VPN, an internal proxy)."""
    if not settings.dashboard_enabled:
        return "dashboard off: set SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, DASHBOARD_REDIRECT_URL and DASHBOARD_SESSION_SECRET to serve it"
    public = (settings.dashboard_redirect_url or "").removesuffix("/callback")
    if settings.socket_mode:
        return (
            f"dashboard on port {port} at /dashboard, for a private network (Socket Mode has no public URL); "
            f"people sign in at {public}, which must reach this port"
        )
    return f"dashboard at {public} (port {port})"


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
    for line in files_in_use(settings):
        log.info("%s", line)
    runtime = Runtime.from_settings(settings)
    try:
        token_check = await check_bot_token(runtime)
        revision = await runtime.migrate()
        await runtime.db.warm_up()
        log.info("database at revision %s", revision)
        bolt_app = build_bolt_app(runtime)
        runner, port = await start_http(runtime, bolt_app, host=settings.host, port=settings.port)
    except BaseException:
        await runtime.close()  # its Slack session and database connections too, whatever failed
        raise
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
        log.info("%s", dashboard_line(settings, port))
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
        warm_task = asyncio.create_task(runtime.slack.keep_warm(stop, token_check.ask), name="slack-connection-kept-warm")
        if started is not None:
            started.put_nowait(Serving(runtime, port))
        await stop.wait()
        if scheduler_task is not None:
            await scheduler_task
        await reminders_task
        await timers_task
        await lag_task
        await warm_task
        log.info("shutting down: finishing work in flight")
    finally:
        if socket_handler is not None:
            await socket_handler.close_async()
        await runner.cleanup()
        await runtime.close()
