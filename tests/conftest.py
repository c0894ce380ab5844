"""The bot under test: its real HTTP endpoint on loopback, a fake Slack Web API, a fresh database."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import hypothesis
import pytest
import yaml

from bot.catalog.services import load_catalog
from bot.runtime import Runtime
from bot.settings import Settings
from handlers.app import build_bolt_app
from handlers.web import start_http
from storage.db import Database
from storage.migrate import upgrade_to_head
from tests.fake_slack import FakeSlack
from tests.postgres_server import PostgresServer, find_bindir
from tests.slack_requests import SignedSlack
from tests.waiting import until_no_background_work

ROOT = Path(__file__).resolve().parent.parent

# Hypothesis fails an example that takes longer than 200 ms by default: a duration, which a busy
# machine exceeds. Examples are judged on what they return, never on how long they take.
hypothesis.settings.register_profile("suite", deadline=None)
hypothesis.settings.load_profile("suite")
SIGNING_SECRET = "8f742231b10e8888abcd99aaabbb85a5"
BOT_TOKEN = "xoxb-1234-5678-testtoken"


def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def manifest_bot_scopes() -> set[str]:
    return set(manifest()["oauth_config"]["scopes"]["bot"])


@pytest.fixture
async def fake_slack():
    fake = FakeSlack(bot_scopes=manifest_bot_scopes())
    await fake.start()
    for user_id, name, tz in (
        ("U_ALICE", "alice", "Europe/Berlin"),
        ("U_BOB", "bob", "America/New_York"),
        ("U_CAROL", "carol", "Asia/Tokyo"),
    ):
        fake.add_user(user_id, name, tz=tz)
    seed_catalog_people(fake)
    yield fake
    assert fake.violations == [], f"calls that break Slack's published method descriptions: {fake.violations}"
    assert fake.block_kit_problems == [], f"Block Kit that breaks Slack's limits or slack_sdk's models: {fake.block_kit_problems}"
    await fake.stop()


def seed_catalog_people(fake: FakeSlack) -> None:
    """The Slack users and user groups the shipped example catalog names, as a workspace has them."""
    catalog = load_catalog(ROOT / "runbooks" / "catalog.yml", required=True)
    for service in catalog.services.values():
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
    if url := os.environ.get("TEST_POSTGRES_URL"):
        yield url
        return
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("INCIDENT_BOT_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (INCIDENT_BOT_REQUIRE_POSTGRES=1) but pg_ctl was not found")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql, or set TEST_POSTGRES_URL)")
    server = PostgresServer(bindir)
    url = server.start()
    yield url
    server.stop()


async def _fresh_postgres_database(admin_url: str) -> str:
    import asyncpg

    name = f"incidents_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request, tmp_path) -> str:
    """Every test that uses the database runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'incidents.db'}"
    admin_url = request.getfixturevalue("postgres_admin_url")
    return await _fresh_postgres_database(admin_url)


@pytest.fixture
async def db(database_url) -> Database:
    """A Database at the newest schema, on SQLite and on PostgreSQL (no bot, no Slack)."""
    database = Database(database_url)
    await upgrade_to_head(database)
    yield database
    await database.dispose()


@pytest.fixture
def announce_channel(fake_slack) -> str:
    return fake_slack.add_channel("incidents", members={"U_ALICE", "U_BOB"})


@pytest.fixture
def settings(fake_slack, database_url, announce_channel) -> Settings:
    return Settings(
        _env_file=None,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.base_url,
        DATABASE_URL=database_url,
        INCIDENT_ANNOUNCE_CHANNEL=announce_channel,
        RUNBOOKS_DIR=str(ROOT / "runbooks"),
        INCIDENT_CONFIG=str(ROOT / "runbooks" / "config.yml"),
    )


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


async def start_bot(settings: Settings, fake: FakeSlack, **runtime_kwargs) -> RunningBot:
    runtime = Runtime.from_settings(settings, **runtime_kwargs)
    await upgrade_to_head(runtime.db)
    bolt_app = build_bolt_app(runtime)
    runner, port = await start_http(runtime, bolt_app, host="127.0.0.1", port=0)
    slack = SignedSlack(f"http://127.0.0.1:{port}/slack/events", settings.slack_signing_secret, response_url_factory=fake.response_url)
    return RunningBot(runtime, slack, fake, runner, port)


@pytest.fixture
async def bot(settings, fake_slack):
    running = await start_bot(settings, fake_slack)
    yield running
    await running.stop()
