"""The ``incident-bot`` command line: settings, db upgrade, serve, postmortem, repair.

Every run starts in a fresh temporary directory (so the script works from any working directory and
no .env is picked up) with a minimal environment: PATH, HOME and what the test sets. Nothing is
inherited from the test process, so a developer's SLACK_* or DATABASE_URL cannot leak in.

Most runs call the entry function in this process (`incident`: argv in; exit code, stdout and stderr
out), which costs no second of imports per run. Real processes where only a process shows the
behaviour: the installed console script serving Slack and stopping on SIGTERM, `db upgrade` (a
path relative to the working directory), and `python -m handlers.cli`.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import pytest

from bot.slack import messages
from tests.command_line import CLI, minimal_env, run_installed
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, manifest_bot_scopes
from tests.fake_slack import FakeSlack
from tests.ports import free_port
from tests.slack_requests import SignedSlack
from tests.waiting import HANG_SECONDS

pytestmark = pytest.mark.slow

RUN_TIMEOUT = HANG_SECONDS  # every run here normally takes a second or two; only a hang takes this
STARTUP_TIMEOUT = HANG_SECONDS
SHUTDOWN_TIMEOUT = HANG_SECONDS  # how fast it stops: benchmarks/timings.py
# Slack settings for commands that need them but must never reach Slack: nothing listens on port 9.
UNREACHABLE_SLACK = "http://127.0.0.1:9/api/"
TABLES = {"incidents", "timeline_events", "postmortems", "alembic_version"}


@pytest.fixture(scope="module", autouse=True)
def installed_script():
    if not CLI.exists():
        pytest.fail(f"{CLI} is missing: install the project with `pip install -e '.[test]'`")


def slack_settings(**more: str) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": UNREACHABLE_SLACK, **more}


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    return lines[0]


# ------------------------------------------------------------------------------------------------
# Settings
# ------------------------------------------------------------------------------------------------


def test_serve_without_a_bot_token_says_which_setting_and_how_to_fix_it(tmp_path, incident):
    result = incident(tmp_path, "serve", SLACK_SIGNING_SECRET=SIGNING_SECRET, DATABASE_URL="sqlite:///incidents.db")
    assert result.returncode == 2, result
    line = one_line(result.stderr)
    assert "SLACK_BOT_TOKEN" in line and "not set" in line
    assert "xoxb-" in line and "OAuth & Permissions" in line  # what to put there and where to find it
    assert not (tmp_path / "incidents.db").exists()


@pytest.mark.parametrize(
    "name, value",
    [
        ("PORT", "abc"),
        ("DATABASE_URL", "mysql://x"),
        ("INCIDENT_ANNOUNCE_CHANNEL", "#general"),
        ("SLACK_BOT_TOKEN", "abc"),
    ],
)
def test_serve_with_a_malformed_setting_names_it(tmp_path, incident, name, value):
    settings = slack_settings(DATABASE_URL="sqlite:///incidents.db", PORT=str(free_port()), HOST="127.0.0.1")
    settings[name] = value
    result = incident(tmp_path, "serve", **settings)
    assert result.returncode == 2, result
    line = one_line(result.stderr)
    assert name in line and "malformed" in line, line
    assert result.stdout == ""


NOT_UTF8 = bytes([0xD3, 0x28, 0xFF, 0xFE]) + "tiers: ünïcode".encode("latin-1")


def _named_file(tmp_path: Path, setting: str, form: str) -> tuple[dict[str, str], str]:
    """The settings that make the bot read a file in ``form`` (not UTF-8, or a folder in its place)
    for ``setting``, and how the message names that file."""
    if setting == ".env":
        (tmp_path / ".env").write_bytes(NOT_UTF8)  # a folder named .env is no file to read: it is passed over
        return {}, ".env"
    if setting == "RUNBOOKS_DIR":  # a runbook in the folder
        (tmp_path / "rb").mkdir()
        (tmp_path / "rb" / "x.md").write_bytes(NOT_UTF8)
        return {"RUNBOOKS_DIR": "rb"}, "rb/x.md"
    target = tmp_path / "named"
    if form == "folder":
        target.mkdir()
    else:
        target.write_bytes(NOT_UTF8)
    return {setting: "named"}, "named"


FILES_NAMED = [
    ("INCIDENT_CONFIG", "not UTF-8"),
    ("INCIDENT_CONFIG", "folder"),
    ("SERVICE_CATALOG", "not UTF-8"),
    ("SERVICE_CATALOG", "folder"),
    ("POSTMORTEM_TEMPLATE", "not UTF-8"),
    ("POSTMORTEM_TEMPLATE", "folder"),
    ("RUNBOOKS_DIR", "not UTF-8"),
    (".env", "not UTF-8"),
]
RUNBOOKS_CHECK = ["runbooks", "check", "--dir", "rb"]  # it reads the runbooks folder and .env only


@pytest.mark.parametrize(
    "command, setting, form",
    [(["serve"], *file) for file in FILES_NAMED]
    + [(["report"], *file) for file in FILES_NAMED]
    + [(RUNBOOKS_CHECK, setting, form) for setting, form in FILES_NAMED if setting in ("RUNBOOKS_DIR", ".env")],
    ids=lambda value: " ".join(value[:2]) if isinstance(value, list) else value,
)
def test_a_file_the_bot_cannot_read_as_text_is_named_in_one_line_and_nothing_is_written(tmp_path, incident, setting, form, command):
    """Every file a person names for the bot (and .env), as bytes that are not UTF-8 or as a folder:
    one line naming the file and what is wrong, the settings' exit code, no database created."""
    named, shown = _named_file(tmp_path, setting, form)
    (tmp_path / "rb").mkdir(exist_ok=True)
    settings = slack_settings(DATABASE_URL="sqlite:///incidents.db", PORT=str(free_port()), HOST="127.0.0.1")
    if setting == ".env":
        settings = {"DATABASE_URL": "sqlite:///incidents.db"}  # the Slack settings would be read from it
    result = incident(tmp_path, *command, **settings, **named)
    said = result.stderr + result.stdout
    assert "Traceback" not in said, said
    if command[0] == "runbooks":
        assert result.returncode != 0 and shown in said and "not UTF-8 text" in said, said
    else:
        assert result.returncode == 2, said
        last = said.strip().splitlines()[-1]
        assert last.startswith(f"incident-bot: {shown}") or f"({shown} is not a file)" in last, last
        assert "not UTF-8 text" in last or "folder" in last or "not a file" in last, last
    assert not (tmp_path / "incidents.db").exists()


@pytest.mark.parametrize("command", [["serve"], ["report"], ["runbooks", "check"]], ids=" ".join)
def test_a_runbooks_folder_that_is_a_file_is_named_in_one_line_and_nothing_is_written(tmp_path, incident, command):
    """RUNBOOKS_DIR set to a file (often the catalog's own path): the bot would run with neither
    runbooks nor catalog, saying only that it found none."""
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "catalog.yml").write_text("services: {}\n")
    settings = slack_settings(DATABASE_URL="sqlite:///incidents.db", PORT=str(free_port()), HOST="127.0.0.1")
    result = incident(tmp_path, *command, **settings, RUNBOOKS_DIR="runbooks/catalog.yml")
    said = result.stderr + result.stdout
    if command[0] == "runbooks":
        assert result.returncode == 1, said
        assert said.splitlines()[0] == (
            "error: runbooks/catalog.yml: is a file, not a folder of runbooks (run from the repository root, or pass --dir)"
        ), said
    else:
        assert result.returncode == 2, said
        assert one_line(result.stderr) == (
            f"incident-bot: RUNBOOKS_DIR is malformed ({(tmp_path / 'runbooks' / 'catalog.yml').resolve()} is a file, not a folder; "
            "the catalog's own setting is SERVICE_CATALOG): set it to the folder of runbook Markdown files (default runbooks)."
        )
    assert not (tmp_path / "incidents.db").exists()


# ------------------------------------------------------------------------------------------------
# db upgrade
# ------------------------------------------------------------------------------------------------


def tables(path: Path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        connection.close()


def test_db_upgrade_creates_the_tables_with_no_slack_settings_and_can_run_again(tmp_path, incident):
    (tmp_path / "sub").mkdir()
    first = run_installed(tmp_path, "db", "upgrade", DATABASE_URL="sqlite:///sub/dir.db")  # the console script, as a process
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    database = tmp_path / "sub" / "dir.db"  # relative to the working directory
    assert database.is_file()
    assert TABLES <= tables(database)

    second = incident(tmp_path, "db", "upgrade", DATABASE_URL="sqlite:///sub/dir.db")
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr
    assert first.stdout == second.stdout  # "database is at revision <head>"
    assert TABLES <= tables(database)
    connection = sqlite3.connect(database)
    try:
        assert len(connection.execute("SELECT version_num FROM alembic_version").fetchall()) == 1
    finally:
        connection.close()


def test_db_upgrade_into_a_missing_directory_fails_in_one_line(tmp_path, incident):
    result = incident(tmp_path, "db", "upgrade", DATABASE_URL="sqlite:///no/such/dir.db")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == ("incident-bot: the database (DATABASE_URL) could not be used: unable to open database file")


@pytest.mark.parametrize("command", [["db", "upgrade"], ["report"]])
def test_a_failed_sqlite_connect_stops_its_worker_thread_before_the_command_ends(tmp_path, incident, command):
    """The connection's worker thread hands its stop to the event loop: if the command ended first,
    the thread found the loop closed and printed a traceback after the one-line error. Every
    command that connects goes through storage.db's connect; these two connect at once."""
    before = set(threading.enumerate())
    result = incident(tmp_path, *command, DATABASE_URL="sqlite:///no/such/dir.db")
    assert result.returncode == 1
    assert result.stderr.strip() == "incident-bot: the database (DATABASE_URL) could not be used: unable to open database file"
    left = [thread.name for thread in threading.enumerate() if thread not in before and thread.is_alive()]
    assert left == []


# ------------------------------------------------------------------------------------------------
# serve
# ------------------------------------------------------------------------------------------------


async def wait_until_healthy(port: int, process: asyncio.subprocess.Process, log: Path) -> dict:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last: object = None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:  # a probe; a slow one is tried again
        while time.monotonic() < deadline:
            if process.returncode is not None:
                pytest.fail(f"incident-bot serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    last = response.status
                    if response.status == 200:
                        return await response.json()
            except (TimeoutError, aiohttp.ClientError) as error:
                last = error
            await asyncio.sleep(0.1)
    pytest.fail(f"/healthz did not answer 200 within {STARTUP_TIMEOUT}s (last: {last!r}):\n{log.read_text()}")


def serve_env(fake: FakeSlack, tmp_path: Path, port: int) -> dict[str, str]:
    """What `serve` needs against the fake Slack, on 127.0.0.1:``port``, its database in ``tmp_path``."""
    return minimal_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.base_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
        PORT=str(port),
        HOST="127.0.0.1",
    )


async def test_serve_answers_slack_over_http_and_stops_cleanly_on_sigterm(tmp_path):
    fake = FakeSlack(bot_scopes=manifest_bot_scopes())
    await fake.start()
    port = free_port()
    env = serve_env(fake, tmp_path, port)
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            str(CLI), "serve", cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=output
        )
    try:
        health = await wait_until_healthy(port, process, log)
        assert health == {"status": "ok", "database": "ok", "slack": "http", "slack_token": "ok (@incident-bot in Fake Workspace)"}

        slack = SignedSlack(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, response_url_factory=fake.response_url)
        response = await asyncio.wait_for(slack.command("help"), HANG_SECONDS)
        assert response.status == 200
        assert response.text == messages.HELP
        # The start checked the token, then Bolt did at the first request: against SLACK_API_URL, not slack.com.
        assert [c.method for c in fake.calls] == ["auth.test", "auth.test"]

        process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(process.wait(), SHUTDOWN_TIMEOUT)
        except TimeoutError:
            pytest.fail(f"incident-bot serve did not stop within {SHUTDOWN_TIMEOUT}s of SIGTERM:\n{log.read_text()}")
        assert code == 0, log.read_text()
        assert "Traceback" not in log.read_text()
        assert TABLES <= tables(tmp_path / "serve.db")  # serve migrated the database first
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await fake.stop()
    assert fake.violations == []


async def test_serve_on_a_port_already_in_use_says_which_and_closes_what_it_opened(tmp_path):
    """Not a traceback, nor asyncio's complaint about a Slack session left open at exit: one line
    naming PORT and HOST, and the settings' exit code."""
    fake = FakeSlack(bot_scopes=manifest_bot_scopes())
    await fake.start()
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            env = serve_env(fake, tmp_path, port)
            process = await asyncio.create_subprocess_exec(
                str(CLI), "serve", cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            _, stderr = await asyncio.wait_for(process.communicate(), SHUTDOWN_TIMEOUT + STARTUP_TIMEOUT)
    finally:
        await fake.stop()
    said = stderr.decode()
    assert process.returncode == 2, said
    assert "Traceback" not in said and "Unclosed" not in said, said
    last = said.splitlines()[-1]
    assert last.startswith(f"incident-bot: PORT {port} on HOST 127.0.0.1 cannot be listened on (") and "set PORT to" in last, last


# ------------------------------------------------------------------------------------------------
# postmortem, repair
# ------------------------------------------------------------------------------------------------


def test_postmortem_of_an_unknown_incident_exits_1_saying_so(tmp_path, migrated_sqlite, incident):
    result = incident(tmp_path, "postmortem", "99", **slack_settings(DATABASE_URL="sqlite:///incidents.db"))
    assert result.returncode == 1, result
    line = one_line(result.stderr)
    assert "INC-99" in line and "no incident" in line, line
    assert result.stdout == ""


def test_repair_of_something_that_is_not_a_reference_exits_2(tmp_path):
    # argparse's usual answer: the usage line, then the error; no Slack settings are needed for it.
    # Through `python -m handlers.cli`, the other way in, as a real process.
    result = subprocess.run(
        [sys.executable, "-m", "handlers.cli", "repair", "banana"],
        cwd=tmp_path,
        env=minimal_env(PYTHONPATH=str(Path(__file__).parent.parent)),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    usage, error = result.stderr.strip().splitlines()
    assert usage.startswith("usage: incident-bot repair")
    assert "'banana' is not an incident reference; use INC-42 or 42" in error
