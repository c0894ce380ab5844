"""The first run, as an operator meets it: a refused bot token stops `serve` with one line, /healthz
says what Slack answered, the start names every file the bot reads (or looked for and did not
find) as an absolute path, and the start prints nothing misleading."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from bot import logs
from bot.settings import Settings
from handlers.server import BotTokenCheck, files_in_use
from tests.command_line import logging_kept, run_installed
from tests.conftest import BOT_TOKEN, ROOT, SIGNING_SECRET
from tests.fake_slack import FakeSlack
from tests.ports import free_port
from tests.test_socket_mode import start_serving, stop_serving


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


async def test_a_token_slack_refuses_stops_serve_with_one_line_naming_the_setting(tmp_path, fake_slack: FakeSlack):
    fake_slack.bot_tokens = {"xoxb-the-installed-one"}
    # A real process: `serve` installs signal handlers, which only a main thread may.
    result = await asyncio.to_thread(
        run_installed,
        tmp_path,
        "serve",
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.base_url,
        DATABASE_URL="sqlite:///incidents.db",
        PORT=str(free_port()),
        HOST="127.0.0.1",
    )
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    # The start names its files first (logged); then the error, in one line.
    line = one_line("\n".join(line for line in result.stderr.splitlines() if line.startswith("incident-bot:")))
    assert "SLACK_BOT_TOKEN was refused by Slack (invalid_auth)" in line, line
    assert "xoxb-" in line and "OAuth & Permissions" in line and "reinstall" in line  # what to put there, and the fix
    assert BOT_TOKEN not in result.stderr + result.stdout
    assert not (tmp_path / "incidents.db").exists()  # refused before anything was written
    assert [c.method for c in fake_slack.calls] == ["auth.test"]


async def healthz(port: int) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/healthz") as response:
        return response.status, await response.json()


async def test_healthz_reports_what_slack_said_of_the_token(settings: Settings, fake_slack: FakeSlack):
    stop = asyncio.Event()
    task, serving = await start_serving(settings.model_copy(update={"port": 0, "host": "127.0.0.1"}), stop)
    try:
        status, body = await healthz(serving.port)
        assert status == 200 and body["slack_token"] == "ok (@incident-bot in Fake Workspace)", body
    finally:
        await stop_serving(task, stop)


async def test_serve_starts_when_slack_is_down_and_healthz_tells_once_slack_answers(settings: Settings, fake_slack: FakeSlack, monkeypatch):
    fake_slack.fail_next("auth.test", "internal_error", status=500, times=3)  # the SDK's two retries too
    monkeypatch.setattr(BotTokenCheck, "ASK_AGAIN_AFTER", 0.0)  # production waits a minute between asks
    stop = asyncio.Event()
    task, serving = await start_serving(settings.model_copy(update={"port": 0, "host": "127.0.0.1"}), stop)
    try:
        status, body = await healthz(serving.port)  # asks again: Slack answers now
        assert status == 200 and body["slack_token"].startswith("ok ("), body
        fake_slack.bot_tokens = set()  # revoked while running: the next answer says so
        checks = BotTokenCheck(serving.runtime.slack)
        assert (await checks.ask()) == "refused (invalid_auth)"
    finally:
        await stop_serving(task, stop)


async def test_healthz_is_unhealthy_while_slack_refuses_the_token(settings: Settings, fake_slack: FakeSlack, monkeypatch):
    fake_slack.fail_next("auth.test", "internal_error", status=500, times=3)
    monkeypatch.setattr(BotTokenCheck, "ASK_AGAIN_AFTER", 0.0)
    stop = asyncio.Event()
    task, serving = await start_serving(settings.model_copy(update={"port": 0, "host": "127.0.0.1"}), stop)
    try:
        fake_slack.bot_tokens = set()
        status, body = await healthz(serving.port)
        assert status == 503 and body["slack_token"] == "refused (invalid_auth)" and body["status"] == "unhealthy", body
    finally:
        await stop_serving(task, stop)


def test_the_start_names_each_file_it_reads_and_each_it_did_not_find_as_absolute_paths(tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # started from another directory: the relative defaults find nothing
    settings = Settings(_env_file=None, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET)
    lines = files_in_use(settings)
    assert lines == [
        f".env: looked for {elsewhere}/.env, not found: settings from the environment only",
        f"runbooks folder: looked for {elsewhere}/runbooks, not found: no runbooks",
        f"service catalog: looked for {elsewhere}/runbooks/catalog.yml, not found: no catalog, any service name is accepted, and alerts (which must name a catalog service) are refused",
        f"team config: looked for {elsewhere}/runbooks/config.yml, not found: built-in tiers, timers and permissions",
        f"postmortem template: {ROOT}/bot/warroom/templates/postmortem.md.j2 (built in)",
        f"database: SQLite {elsewhere}/incidents.db",
    ]

    monkeypatch.chdir(ROOT)  # from the clone: the shipped files are found
    lines = files_in_use(settings.model_copy(update={"database_url": "postgresql+asyncpg://bot:s3cret@db:5432/incidents"}))
    assert lines[1:4] == [
        f"runbooks folder: {ROOT}/runbooks",
        f"service catalog: {ROOT}/runbooks/catalog.yml",
        f"team config: {ROOT}/runbooks/config.yml",
    ]
    assert lines[-1] == "database: postgresql+asyncpg://bot:***@db:5432/incidents"


async def test_the_start_logs_the_files_and_the_token_and_nothing_misleading(settings: Settings, fake_slack: FakeSlack, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)  # as in production: Bolt finds it beside the client
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    with logging_kept():
        logs.configure("INFO")
        keep = Keep()
        for name in ("", "incident_bot.bolt", "alembic"):  # where the records start, whatever propagates
            logging.getLogger(name).addHandler(keep)
        stop = asyncio.Event()
        try:
            task, _ = await start_serving(settings.model_copy(update={"port": 0, "host": "127.0.0.1"}), stop)
            await stop_serving(task, stop)
        finally:
            for name in ("", "incident_bot.bolt", "alembic"):
                logging.getLogger(name).removeHandler(keep)
    said = [record.getMessage() for record in records if record.levelno >= logging.INFO]
    assert f"service catalog: {ROOT}/runbooks/catalog.yml" in said, said
    assert "SLACK_BOT_TOKEN accepted by Slack: @incident-bot in Fake Workspace" in said, said
    assert not [line for line in said if "will be unused" in line or line.startswith(("Context impl", "Will assume", "Running upgrade"))]


@pytest.mark.parametrize("level, shown", [("INFO", False), ("DEBUG", True)])
def test_alembic_chatter_shows_only_at_debug(level: str, shown: bool):
    with logging_kept():
        logs.configure(level)
        assert logging.getLogger("alembic").isEnabledFor(logging.INFO) is shown
