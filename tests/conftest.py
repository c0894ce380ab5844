"""The bot under test: its real HTTP endpoint on loopback, a fake Slack Web API, a database of its own
(a copy of one that every migration ran on once per run)."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import shutil
import sys
import threading
import types
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import hypothesis
import pytest
import slack_sdk.http_retry.async_handler
import slack_sdk.http_retry.builtin_async_handlers
import yaml

import bot.analytics.chart as chart_module
import bot.runtime as runtime_module
from bot.catalog.services import Catalog, load_catalog
from bot.runtime import Runtime
from bot.settings import Settings
from bot.warroom.postmortem import DEFAULT_TEMPLATE
from handlers import after_ack
from handlers.app import build_bolt_app
from handlers.web import start_http
from storage import db as db_module
from storage.db import Database
from storage.migrate import current_revision, head_revision, upgrade_to_head
from storage.models import Base
from tests.command_line import InProcess
from tests.fake_pagerduty import KEY_VARIABLE, ROUTING_KEY, FakePagerDuty
from tests.fake_slack import FakeSlack
from tests.postgres_server import PostgresMissing, admin_postgres
from tests.serve_process import FAKE_SLACK_SETTINGS
from tests.slack_requests import SignedSlack
from tests.waiting import HANG_SECONDS, until_no_background_work

ROOT = Path(__file__).resolve().parent.parent

# Hypothesis fails an example that takes longer than 200 ms by default: a duration, which a busy
# machine exceeds. Examples are judged on what they return, never on how long they take.
hypothesis.settings.register_profile("suite", deadline=None)
hypothesis.settings.load_profile("suite")
SIGNING_SECRET = "8f742231b10e8888abcd99aaabbb85a5"
BOT_TOKEN = "xoxb-1234-5678-testtoken"
T = TypeVar("T")


_head_revision = functools.cache(head_revision)


def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


@functools.cache
def manifest_bot_scopes() -> frozenset[str]:
    """Read once per run: every test's fake Slack grants them (pure-Python YAML, ~10 ms a read)."""
    return frozenset(manifest()["oauth_config"]["scopes"]["bot"])


@pytest.fixture(autouse=True)
def slack_retries_without_pauses(monkeypatch):
    """The Slack SDK's pauses before a retry (0.5 s then 1 s after a 5xx or a dropped connection;
    Retry-After plus up to 1 s of jitter after a 429) stay what production waits. A test checks that
    the retry happens, not how long before it (that is benchmarks/timings.py), so here a pause
    only lets the other tasks run."""

    async def let_others_run(_seconds: float) -> None:
        await asyncio.sleep(0)

    pauses = types.SimpleNamespace(sleep=let_others_run)
    monkeypatch.setattr(slack_sdk.http_retry.async_handler, "asyncio", pauses)
    monkeypatch.setattr(slack_sdk.http_retry.builtin_async_handlers, "asyncio", pauses)


def _contents(path: Path | None) -> tuple[tuple[str, bytes], ...]:
    """What a config loader reads at ``path``: the file, or every file of the folder (a runbooks
    folder; a template's folder, for what it may include)."""
    if path is None or not path.exists():
        return ()
    if path.is_dir():
        return tuple((child.name, child.read_bytes()) for child in sorted(path.iterdir()) if child.is_file())
    return ((path.name, path.read_bytes()),)


def _remembered(compute: Callable[..., T], *, key_of: Callable[..., object]) -> Callable[..., T]:
    """``compute``, answered from memory when it is asked again with the same ``key_of`` its arguments."""
    memory: dict[object, T] = {}

    @functools.wraps(compute)
    def cached(*args, **kwargs) -> T:
        key = key_of(*args, **kwargs)
        if key not in memory:
            memory[key] = compute(*args, **kwargs)  # one that fails raises here, every time
        return memory[key]

    return cached


def _parsed_once_per_content(load: Callable[..., T], *, files: Callable[..., Path | None]) -> Callable[..., T]:
    """``load``, answered from memory when the files it reads have the same bytes as before."""

    def key_of(*args, **kwargs) -> tuple:
        where = files(*args, **kwargs)
        return (str(where), _contents(where), args, tuple(sorted(kwargs.items())))

    return _remembered(load, key_of=key_of)


@pytest.fixture(autouse=True, scope="session")
def config_files_parsed_once_per_content():
    """Every bot a test starts reads the catalog, the runbooks, the team config and the postmortem
    template, nearly always the shipped ones: parsing them (pure-Python YAML, Jinja compiling the
    template) was a third of starting a bot. Here each distinct content is parsed once per run;
    a test that writes its own files gets its own parse, and one with mistakes its own error."""
    with pytest.MonkeyPatch.context() as patch:
        for name, files in (
            ("load_catalog", lambda path, **_: Path(path)),
            ("load_runbooks", lambda folder: Path(folder)),
            ("load_team_config", lambda path, **_: path),
            ("load_template", lambda path=None: (path or DEFAULT_TEMPLATE).parent),
        ):
            patch.setattr(runtime_module, name, _parsed_once_per_content(getattr(runtime_module, name), files=files))
        yield


@pytest.fixture(autouse=True, scope="session")
def start_up_objects_out_of_the_collectors_sight():
    """What a worker imported before its first test (the bot, SQLAlchemy, Bolt, matplotlib, the
    test modules) lives as long as the worker, yet every full collection walked all of it again:
    about 190 ms each, a dozen times a minute, a tenth of a worker's time. Frozen once here, as
    ``serve`` freezes its own start-up (handlers/server.py), a full collection walks only what the
    tests made since, which is collected as before."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(autouse=True)
def orm_statement_caches_let_go_of_the_tests_databases():
    """SQLAlchemy keeps each mapper's compiled INSERTs and UPDATEs in a cache of the mapper's own
    (500 a mapper), keyed by the database's dialect. A process has one database; a worker makes one
    a test, and every one stayed reachable through those caches with its compiled statements and
    type processors: the worker's heap grew test by test, and each full collection walked it all
    again (about 300 ms each by the end of a run). Emptied after each test, the flushes of the
    next test compile their statements again, as a new process would."""
    yield
    for mapper in Base.registry.mappers:
        mapper._compiled_cache.clear()


def _drawn_by_the_test_itself(draw: Callable[..., T]) -> Callable[..., T]:
    """``draw`` (a step every chart takes), refusing to run in the tests' process for the bot's own
    code: there a chart holds the GIL the bot's acknowledgements need, so the bot hands every
    chart to its drawing process (bot/analytics/drawing.py), where this module is not loaded. A
    test may still draw a chart itself, on its own thread, to check the picture."""
    chart_file = str(ROOT / "bot" / "analytics" / "chart.py")
    bot_code = (str(ROOT / "bot") + os.sep, str(ROOT / "handlers") + os.sep)

    @functools.wraps(draw)
    def checked(*args, **kwargs) -> T:
        assert threading.current_thread() is threading.main_thread(), "a chart was drawn on a thread of the bot's process"
        frame = sys._getframe(1)
        while frame is not None:
            where = frame.f_code.co_filename
            assert where == chart_file or not where.startswith(bot_code), (
                f"a chart was drawn in the bot's process by {where}:{frame.f_lineno}"
            )
            frame = frame.f_back
        return draw(*args, **kwargs)

    return checked


@pytest.fixture(autouse=True, scope="session")
def charts_never_drawn_in_the_bots_process():
    """Every chart the bot draws, on every path of every test (the digest, App Home, the dashboard's
    pages), is drawn in the drawing process: in the tests' process only a test's own direct call draws."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("_png_of", "_render_one"):  # the digest's picture ends in the first, every other chart in the second
            patch.setattr(chart_module, name, _drawn_by_the_test_itself(getattr(chart_module, name)))
        yield


@pytest.fixture(autouse=True)
def commits_wait_as_long_as_the_machine_needs(monkeypatch):
    """A click is acknowledged once its write is committed, within 2.5 s of its arrival (Slack's
    3 s, handlers/after_ack.py); a commit later than that is answered "not recorded". Whether a
    starved test machine commits within 2.5 s is a question about the machine, not the bot, so
    here the bound is the hang-only one; tests/test_ack_after_commit.py sets a short bound and
    checks what happens when it runs out."""
    monkeypatch.setattr(after_ack, "WRITE_ACK_BOUND", HANG_SECONDS)


@pytest.fixture(autouse=True)
def database_connects_wait_as_long_as_the_machine_needs(monkeypatch):
    """A PostgreSQL connect gives up after 2 s in production (so that a person hears of a database
    in trouble within Slack's 3 s); on a starved test machine a connect to the loopback server
    took longer, and an open failed that the test had not meant to fail. Same rule as above: only
    a hang counts here. A database that is down refuses the connection at once either way."""
    monkeypatch.setattr(db_module, "POSTGRES_CONNECT_TIMEOUT", HANG_SECONDS)


async def started_fake_slack() -> FakeSlack:
    """The fake Slack every test talks to (also .ci/container_serve.py's): the manifest's scopes,
    three people and the people the shipped catalog names."""
    fake = FakeSlack(bot_scopes=manifest_bot_scopes())
    await fake.start()
    for user_id, name, tz in (
        ("U_ALICE", "alice", "Europe/Berlin"),
        ("U_BOB", "bob", "America/New_York"),
        ("U_CAROL", "carol", "Asia/Tokyo"),
    ):
        fake.add_user(user_id, name, tz=tz)
    seed_catalog_people(fake)
    return fake


@pytest.fixture
async def pagerduty(monkeypatch):
    """The fake PagerDuty (tests/fake_pagerduty.py), with the routing key in the variable the
    catalog of ``catalog_with_pagerduty`` names."""
    monkeypatch.setenv(KEY_VARIABLE, ROUTING_KEY)
    fake = FakePagerDuty()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_slack():
    fake = await started_fake_slack()
    yield fake
    assert fake.violations == [], f"calls that break Slack's published method descriptions: {fake.violations}"
    assert fake.block_kit_problems == [], f"Block Kit that breaks Slack's limits or slack_sdk's models: {fake.block_kit_problems}"
    await fake.stop()


@functools.cache
def shipped_catalog() -> Catalog:
    """The shipped example catalog, parsed once per run (tens of milliseconds of YAML a parse)."""
    return load_catalog(ROOT / "runbooks" / "catalog.yml", required=True)


def seed_catalog_people(fake: FakeSlack) -> None:
    """The Slack users and user groups the shipped example catalog names, as a workspace has them."""
    for service in shipped_catalog().services.values():
        for user_id in service.owner_user_ids:
            if user_id not in fake.users:
                fake.add_user(user_id, f"owner-{user_id.lower()}")
        for email in service.owner_emails:
            if not any(u["profile"].get("email") == email for u in fake.users.values()):
                fake.add_user(f"UEMAIL{len(fake.users):04d}", email.split("@")[0], email=email)
        if service.oncall_group_id or service.oncall_group_handle:
            group_id = service.oncall_group_id or f"S{service.oncall_group_handle.upper().replace('-', '')[:9]}"
            if group_id not in fake.usergroups:
                members = [f"UONCALL{group_id[-4:]}{n}" for n in range(2)]
                for member in members:
                    fake.add_user(member, member.lower())
                fake.add_usergroup(group_id, service.oncall_group_handle or group_id.lower(), members)


@pytest.fixture(scope="session")
def postgres_admin_url():
    """A PostgreSQL server for the whole run: TEST_POSTGRES_URL, or one started from local binaries."""
    try:
        url, server = admin_postgres()
    except PostgresMissing as missing:
        if os.environ.get("INCIDENT_BOT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (INCIDENT_BOT_REQUIRE_POSTGRES=1): {missing}")
        pytest.skip(str(missing))
    yield url
    if server is not None:
        server.stop()


def _postgres_url(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


async def _fresh_postgres_database(admin_url: str, *, template: str | None = None) -> str:
    """A new database on the server: empty, or a copy of ``template``."""
    import asyncpg

    name = f"incidents_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(admin_url)
    try:
        copy = f' TEMPLATE "{template}"' if template else ""
        if template and connection.get_server_version() >= (15, 0):
            # A copy of a small template: copying its files is about 40% faster than PostgreSQL 15's
            # default of writing each block to the WAL, and every PostgreSQL test starts with one.
            copy += " STRATEGY FILE_COPY"
        await connection.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await connection.close()
    return _postgres_url(admin_url, name)


def _run_on_own_loop(make_coroutine: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to the end on an event loop of its own, in a thread: session fixtures are
    set up from inside a test's fixtures, while that test's loop is running."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, make_coroutine()).result()


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await upgrade_to_head(database)
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory) -> Path:
    """A SQLite file that every migration ran on, once per run; each test gets a copy."""
    path = tmp_path_factory.mktemp("migrated") / "incidents.db"
    _run_on_own_loop(lambda: _migrate(f"sqlite:///{path}"))
    leftovers = [p.name for p in path.parent.iterdir() if p != path]
    assert not leftovers, f"the migrated SQLite file is not whole on its own: {leftovers}"
    return path


@pytest.fixture(scope="session")
def migrated_postgres_template(postgres_admin_url) -> str:
    """A PostgreSQL database that every migration ran on, once per run; each test gets a copy
    (CREATE DATABASE ... TEMPLATE), which PostgreSQL makes only while nobody is connected to it."""

    async def make() -> str:
        url = await _fresh_postgres_database(postgres_admin_url)
        await _migrate(url)
        return url.rsplit("/", 1)[1]

    return _run_on_own_loop(make)


DIALECTS_BY_MARKER = {"both_databases": ("sqlite", "postgresql"), "postgresql_only": ("postgresql",)}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that uses the database runs on SQLite, unless it is marked ``both_databases`` or
    ``postgresql_only`` (see the markers in pyproject.toml): the choice is written, per test or
    per module, never an accident. A test that parametrizes ``database_url`` itself keeps its own."""
    if "database_url" not in metafunc.fixturenames:
        return
    if any("database_url" in str(mark.args[0]) for mark in metafunc.definition.iter_markers("parametrize")):
        return
    chosen = [name for name in DIALECTS_BY_MARKER if metafunc.definition.get_closest_marker(name)]
    assert len(chosen) <= 1, f"{metafunc.definition.nodeid} is marked both {' and '.join(chosen)}"
    metafunc.parametrize("database_url", DIALECTS_BY_MARKER[chosen[0]] if chosen else ("sqlite",), indirect=True)


# A test that asks for none of these starts no fake Slack, database or process: it is a test of a
# pure core (a parser, a builder, the statistics), and the `unit` subset runs only those.
SERVICE_FIXTURES = {"fake_slack", "database_url", "db", "bot", "settings", "postgres_admin_url", "migrated_sqlite", "incident"}


@pytest.fixture(autouse=True)
def logging_left_as_found():
    """Every test leaves the root logger's level as it found it (tests/command_line.logging_kept):
    one that left it at DEBUG made its worker log every database operation of every later test."""
    root = logging.getLogger()
    level = root.level
    yield
    assert logging.getLevelName(root.level) == logging.getLevelName(level), "the test left the root logger's level changed"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than the CPUs this process may use. Many tests spend much of
    their time waiting (a Slack call left to time out, a rate-limit window, a subprocess starting,
    PostgreSQL's commits), and with a worker per CPU those waits leave a CPU idle."""
    return len(os.sched_getaffinity(0)) + 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        uses = set(getattr(item, "fixturenames", ()))
        if not uses & SERVICE_FIXTURES and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.unit)
    # The slow tests first (a stable sort keeps the order within each kind): the workers start on
    # them together and the run ends on short tests, instead of one worker finishing a sweep alone.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


async def _new_database(request: pytest.FixtureRequest, dialect: str, path: Path, *, migrated: bool) -> str:
    """A database of its own for the test: a copy of the one migrated once per run, or empty.
    ``path`` is where a SQLite one is written."""
    if dialect == "sqlite":
        if migrated:
            shutil.copyfile(request.getfixturevalue("migrated_sqlite_file"), path)
        return f"sqlite:///{path}"
    admin_url = request.getfixturevalue("postgres_admin_url")
    template = request.getfixturevalue("migrated_postgres_template") if migrated else None
    return await _fresh_postgres_database(admin_url, template=template)


@pytest.fixture
async def database_url(request, tmp_path) -> str:
    """The test's own database, exactly as every migration leaves it (a copy of a database
    migrated once per run), or empty for a test marked ``empty_database``."""
    empty = request.node.get_closest_marker("empty_database") is not None
    return await _new_database(request, request.param, tmp_path / "incidents.db", migrated=not empty)


@pytest.fixture
async def second_database_url(request, database_url, tmp_path) -> str:
    """A second database of the same kind as the test's, also as every migration leaves it (what
    `incident-bot db upgrade` makes of a new one): where an export is imported again."""
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    return await _new_database(request, dialect, tmp_path / "second.db", migrated=True)


@pytest.fixture
def migrated_sqlite(tmp_path, migrated_sqlite_file) -> Path:
    """``incidents.db`` in the test's directory, as `incident-bot db upgrade` leaves it (a copy of
    the file migrated once per run): for a command-line test that names its own SQLite file."""
    path = tmp_path / "incidents.db"
    shutil.copyfile(migrated_sqlite_file, path)
    return path


@pytest.fixture
def incident(monkeypatch, capsys) -> InProcess:
    """The ``incident-bot`` command, run in this process (tests/command_line.py)."""
    return InProcess(monkeypatch, capsys)


@pytest.fixture
async def db(database_url) -> Database:
    """A Database at the newest schema (no bot, no Slack)."""
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def announce_channel(fake_slack) -> str:
    return fake_slack.add_channel("incidents", members={"U_ALICE", "U_BOB"})


def fake_slack_settings(fake: FakeSlack, database_url: str, announce_channel: str, **more: str) -> Settings:
    """The bot's settings against the fake Slack, with the shipped runbooks, and never a developer's .env."""
    return Settings(
        _env_file=None,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.base_url,
        DATABASE_URL=database_url,
        INCIDENT_ANNOUNCE_CHANNEL=announce_channel,
        RUNBOOKS_DIR=str(ROOT / "runbooks"),
        **{**FAKE_SLACK_SETTINGS, **more},
    )


@pytest.fixture
def settings(fake_slack, database_url, announce_channel) -> Settings:
    return fake_slack_settings(fake_slack, database_url, announce_channel, INCIDENT_CONFIG=str(ROOT / "runbooks" / "config.yml"))


@dataclass
class RunningBot:
    runtime: Runtime
    slack: SignedSlack
    fake: FakeSlack
    runner: object
    port: int

    async def settle(self) -> None:
        """Wait for the work each request started after its ack, however long a busy machine
        takes; fails only on a hang, naming the tasks."""
        await until_no_background_work(self.runtime.background)

    async def stop(self) -> None:
        await self.runner.cleanup()  # type: ignore[attr-defined]
        await self.runtime.close()

    async def incident(self, incident_id: int = 1):
        return await self.runtime.incidents.get(incident_id)

    async def timeline(self, incident_id: int = 1):
        from storage import incidents as rows

        async with self.runtime.db.transaction() as session:
            return await rows.timeline(session, incident_id)


async def start_bot(settings: Settings, fake: FakeSlack, *, port: int = 0, **runtime_kwargs) -> RunningBot:
    """``port`` 0 picks a free one; a test whose settings name the bot's URL (the dashboard's redirect) chooses it first."""
    runtime = Runtime.from_settings(settings, **runtime_kwargs)
    if await current_revision(runtime.db) != _head_revision():
        await runtime.migrate()  # as `serve` does; a copy of the migrated template is at head already
    bolt_app = build_bolt_app(runtime)
    runner, port = await start_http(runtime, bolt_app, host="127.0.0.1", port=port)
    slack = SignedSlack(f"http://127.0.0.1:{port}/slack/events", settings.slack_signing_secret, response_url_factory=fake.response_url)
    return RunningBot(runtime, slack, fake, runner, port)


@pytest.fixture
async def bot(settings, fake_slack):
    running = await start_bot(settings, fake_slack)
    yield running
    await running.stop()
