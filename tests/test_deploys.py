"""Deploys: the webhook, the CLI, the correlation window (pure and on both databases), the text parsers."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from pydantic import ValidationError

from bot.core.command_text import CommandTextError, OpenRequest
from bot.incidents.operations import Incidents
from bot.integrations.deploys import (
    DeployMatch,
    DeployRecord,
    Deploys,
    deploy_line,
    parse_deploy,
    parse_deploy_text,
    parse_deploys_text,
    select_in_window,
    validation_reason,
)
from bot.settings import ConfigError, load_settings
from storage import deploys as deploy_rows
from storage.models import Deploy
from tests.clocks import FakeClock
from tests.command_line import run_installed
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, start_bot

SECRET = "s3cret-for-the-deploy-hook-0123456789"
T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # impact start in the correlation tests
NOW = T0 + timedelta(minutes=20)  # the bot's clock in the database tests
WINDOW = timedelta(hours=2)


# ================================================================================================
# Pure: the window, validation, text, rendering
# ================================================================================================


def record(deploy_id: int, service: str, deployed_at: datetime, *, environment: str = "production", **more) -> DeployRecord:
    fields = dict(version=f"v{deploy_id}", author=None, url=None, description=None, source="webhook", recorded_at=T0)
    fields.update(more)
    return DeployRecord(id=deploy_id, service=service, environment=environment, deployed_at=deployed_at, **fields)


def test_window_includes_exactly_two_hours_before_and_excludes_one_second_more():
    deploys = [
        record(1, "payments-api", T0 - WINDOW),
        record(2, "payments-api", T0 - WINDOW - timedelta(seconds=1)),
    ]
    matches = select_in_window(deploys, ["payments-api"], T0, WINDOW)
    assert [m.record.id for m in matches] == [1]
    assert matches[0].minutes_before_impact == 120


def test_window_includes_impact_start_itself_and_excludes_anything_after():
    deploys = [
        record(1, "payments-api", T0),
        record(2, "payments-api", T0 + timedelta(seconds=1)),
        record(3, "payments-api", T0 + timedelta(minutes=30)),
    ]
    matches = select_in_window(deploys, ["payments-api"], T0, WINDOW)
    assert [(m.record.id, m.minutes_before_impact) for m in matches] == [(1, 0)]


def test_window_takes_the_named_services_only_dependencies_included_when_named():
    deploys = [
        record(1, "payments-api", T0 - timedelta(minutes=90)),
        record(2, "ledger", T0 - timedelta(minutes=30)),  # an upstream dependency
        record(3, "search", T0 - timedelta(minutes=10)),  # unrelated
    ]
    assert [m.record.id for m in select_in_window(deploys, ["payments-api"], T0, WINDOW)] == [1]
    both = select_in_window(deploys, ["payments-api", "ledger"], T0, WINDOW)
    assert [(m.record.id, m.minutes_before_impact) for m in both] == [(2, 30), (1, 90)]  # newest first


def test_window_ignores_other_environments_unless_asked():
    deploys = [
        record(1, "payments-api", T0 - timedelta(minutes=5), environment="staging"),
        record(2, "payments-api", T0 - timedelta(minutes=50)),
    ]
    assert [m.record.id for m in select_in_window(deploys, ["payments-api"], T0, WINDOW)] == [2]
    assert [m.record.id for m in select_in_window(deploys, ["payments-api"], T0, WINDOW, environment="staging")] == [1]
    assert [m.record.id for m in select_in_window(deploys, ["payments-api"], T0, WINDOW, environment=None)] == [1, 2]


def test_minutes_before_impact_round_down():
    deploys = [
        record(1, "a", T0 - timedelta(seconds=59)),
        record(2, "a", T0 - timedelta(minutes=1)),
        record(3, "a", T0 - timedelta(minutes=119, seconds=59)),
    ]
    matches = select_in_window(deploys, ["a"], T0, WINDOW)
    assert [(m.record.id, m.minutes_before_impact) for m in matches] == [(1, 0), (2, 1), (3, 119)]


def test_window_refuses_naive_impact_start_and_negative_window():
    with pytest.raises(ValueError):
        select_in_window([], ["a"], T0.replace(tzinfo=None), WINDOW)
    with pytest.raises(ValueError):
        select_in_window([], ["a"], T0, -WINDOW)


def test_a_valid_deploy_is_normalised():
    deploy = parse_deploy(
        {
            "service": " Payments-API ",
            "version": "v1.42",
            "environment": "Production",
            "time": "2026-11-23T14:30:00+01:00",
            "author": "  alice ",
            "url": "https://github.com/acme/payments/pull/7",
            "description": "Retry budget\nand timeouts",
        },
        now=T0,
    )
    assert deploy.service == "payments-api"
    assert deploy.environment == "production"
    assert deploy.time == datetime(2026, 11, 23, 13, 30, tzinfo=UTC)
    assert deploy.author == "alice"
    assert deploy.description == "Retry budget\nand timeouts"


def test_defaults_are_production_and_now_in_whole_seconds():
    now = T0 + timedelta(microseconds=123456)
    deploy = parse_deploy({"service": "payments-api", "version": "v1.42"}, now=now)
    assert deploy.environment == "production"
    assert deploy.time == T0
    assert deploy.author is None and deploy.url is None and deploy.description is None


def test_time_bounds_are_five_minutes_ahead_and_thirty_days_back():
    ok = {"service": "a", "version": "1"}
    assert parse_deploy({**ok, "time": (T0 + timedelta(minutes=5)).isoformat()}, now=T0).time == T0 + timedelta(minutes=5)
    assert parse_deploy({**ok, "time": (T0 - timedelta(days=30)).isoformat()}, now=T0).time == T0 - timedelta(days=30)
    for moment in (T0 + timedelta(minutes=5, seconds=1), T0 - timedelta(days=30, seconds=1)):
        with pytest.raises(ValidationError):
            parse_deploy({**ok, "time": moment.isoformat()}, now=T0)


# Each bad body, the field its reason must name, and words of the right form it must give.
BAD_BODIES = [
    ({"version": "v1"}, "service: missing", "payments-api"),
    ({"service": "payments-api"}, "version: missing", "v1.42"),
    ({"service": "Payments API", "version": "v1"}, "service: 'Payments API' is not a service name", "lowercase letters"),
    ({"service": "-payments", "version": "v1"}, "service:", "lowercase letters"),
    ({"service": "p" * 81, "version": "v1"}, "service:", "1–80 characters"),
    ({"service": "", "version": "v1"}, "service: empty", "payments-api"),
    ({"service": 42, "version": "v1"}, "service: should be a JSON string, not the number 42", "payments-api"),
    ({"service": "a", "version": "   "}, "version: empty", "1–100 characters"),
    ({"service": "a", "version": "v" * 101}, "version: 101 characters, more than 100", "1–100 characters"),
    ({"service": "a", "version": 1.42}, "version: should be a JSON string", "v1.42"),
    ({"service": "a", "version": "v1\u0000"}, "version: control characters are not allowed", "1–100"),
    ({"service": "a", "version": "\ud800"}, "version: not valid Unicode text", "1–100"),
    ({"service": "a", "version": "v1", "environment": ""}, "environment: empty", "1–40 characters"),
    ({"service": "a", "version": "v1", "environment": "e" * 41}, "environment: 41 characters", "1–40 characters"),
    ({"service": "a", "version": "v1", "time": "2026-11-23T14:05"}, "time: '2026-11-23T14:05' has no time zone", "ISO 8601"),
    ({"service": "a", "version": "v1", "time": "yesterday"}, "time: 'yesterday' is not an ISO 8601 time", "2026-11-23T14:05:00Z"),
    ({"service": "a", "version": "v1", "time": 1700000000}, "time: should be a JSON string", "ISO 8601"),
    # Before the first UTC moment there is: Python cannot take it to UTC (once an OverflowError and a 500).
    ({"service": "a", "version": "v1", "time": "0001-01-01T00:00+01:00"}, "is not a time a deploy was made", "ISO 8601"),
    ({"service": "a", "version": "v1", "time": "FUTURE"}, "minutes in the future", "at most 5 minutes ahead"),
    ({"service": "a", "version": "v1", "time": "PAST"}, "more than 30 days ago", "30 days back"),
    ({"service": "a", "version": "v1", "author": "x" * 101}, "author: 101 characters, more than 100", "up to 100"),
    (
        {"service": "a", "version": "v1", "url": "ftp://example.com/x"},
        "url: 'ftp://example.com/x' is not an http(s) URL",
        "commit or PR URL",
    ),
    ({"service": "a", "version": "v1", "url": "github.com/acme/x"}, "url:", "http:// or https://"),
    ({"service": "a", "version": "v1", "url": "https://" + "x" * 500}, "url: 508 characters, more than 500", "up to 500"),
    ({"service": "a", "version": "v1", "url": "https://[oops"}, "url:", "http:// or https://"),
    ({"service": "a", "version": "v1", "description": "d" * 2001}, "description: 2001 characters", "up to 2000"),
    ({"service": "a", "version": "v1", "commit": "abc"}, "'commit' is not a field", "service, version, environment, time"),
    ([{"service": "a", "version": "v1"}], "the body should be a JSON object", '"service": "payments-api"'),
    ("payments-api v1", "the body should be a JSON object", '"version": "v1.42"'),
    (None, "the body should be a JSON object", '"version": "v1.42"'),
]


def _resolve(body, now: datetime):
    """Fill the FUTURE / PAST placeholders relative to ``now``."""
    if isinstance(body, dict) and body.get("time") == "FUTURE":
        return {**body, "time": (now + timedelta(minutes=6)).isoformat()}
    if isinstance(body, dict) and body.get("time") == "PAST":
        return {**body, "time": (now - timedelta(days=31)).isoformat()}
    return body


@pytest.mark.parametrize("body, names, form", BAD_BODIES)
def test_validation_reason_names_the_field_and_the_right_form(body, names, form):
    with pytest.raises(ValidationError) as caught:
        parse_deploy(_resolve(body, T0), now=T0)
    reason = validation_reason(caught.value)
    assert names in reason, reason
    assert form in reason, reason
    assert "\n" not in reason


def test_validation_reason_lists_every_bad_field_once():
    with pytest.raises(ValidationError) as caught:
        parse_deploy({"service": "Bad Name", "version": "", "extra": 1}, now=T0)
    reason = validation_reason(caught.value)
    assert reason.count("service:") == 1 and reason.count("version:") == 1 and "'extra' is not a field" in reason


def test_deploy_command_text():
    deploy = parse_deploy_text("Payments-API v1.42", now=T0, author="U_ALICE")
    assert (deploy.service, deploy.version, deploy.environment, deploy.time, deploy.author) == (
        "payments-api",
        "v1.42",
        "production",
        T0,
        "U_ALICE",
    )
    for text, words in [
        ("", "`/incident deploy SERVICE VERSION`"),
        ("payments-api", "got 1 words"),
        ("payments-api v1 now", "`/incident deploy payments-api v1.42`"),
        ("payments_API! v1", "is not a service name"),
        ("payments-api " + "v" * 101, "keep it to 100"),
    ]:
        with pytest.raises(CommandTextError) as caught:
            parse_deploy_text(text, now=T0)
        assert words in str(caught.value), str(caught.value)


def test_deploys_command_text():
    default = timedelta(hours=2)
    assert parse_deploys_text("", default_within=default) == (query := parse_deploys_text("  ", default_within=default))
    assert (query.service, query.within) == (None, default)
    assert parse_deploys_text("Payments-API", default_within=default).service == "payments-api"
    assert parse_deploys_text("6h", default_within=default).within == timedelta(hours=6)
    both = parse_deploys_text("payments-api 30m", default_within=default)
    assert (both.service, both.within) == ("payments-api", timedelta(minutes=30))
    swapped = parse_deploys_text("1d payments-api", default_within=default)
    assert (swapped.service, swapped.within) == ("payments-api", timedelta(days=1))
    for text, words in [
        ("a b c", "at most a service and a duration"),
        ("2h 3h", "one duration, not two"),
        ("payments-api ledger", "one service, not two"),
        ("0m", "no time at all"),
        ("31d", "at most `30d`"),
        ("Pay/ments", "is not a service name or a duration"),
    ]:
        with pytest.raises(CommandTextError) as caught:
            parse_deploys_text(text, default_within=default)
        assert words in str(caught.value), str(caught.value)


def test_deploy_line_in_mrkdwn_and_plain_text():
    deploy = record(
        7,
        "payments-api",
        T0 - timedelta(minutes=12),
        version="v1.42",
        author="alice <ops>",
        url="https://github.com/acme/payments/pull/7?a=1&b=2",
    )
    match = DeployMatch(deploy, 12)
    line = deploy_line(match)
    assert line.startswith("*payments-api* `v1.42` (production) · <!date^")
    assert "|2026-11-23 13:48 UTC>" in line
    assert "by alice &lt;ops&gt;" in line
    assert "<https://github.com/acme/payments/pull/7?a=1&amp;b=2|PR>" in line
    assert line.endswith("· 12 min before impact")
    plain = deploy_line(match, mrkdwn=False)
    assert plain == (
        "payments-api v1.42 (production) · 2026-11-23 13:48 UTC · by alice <ops> · "
        "https://github.com/acme/payments/pull/7?a=1&b=2 · 12 min before impact"
    )
    bare = deploy_line(record(8, "ledger", T0, version="abc123"), mrkdwn=False)
    assert bare == "ledger abc123 (production) · 2026-11-23 14:00 UTC"
    assert deploy_line(DeployMatch(record(9, "a", T0), -3), mrkdwn=False).endswith("3 min after impact began")


def settings_line(**env: str) -> str:
    try:
        load_settings(None, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, **env)
    except ConfigError as error:
        return str(error)
    return "ok"


def test_deploy_settings():
    settings = load_settings(None, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET)
    assert settings.deploy_window == timedelta(hours=2) and settings.deploy_webhook_secret is None
    assert load_settings(
        None, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, DEPLOY_WINDOW="90m"
    ).deploy_window == timedelta(minutes=90)
    assert (
        load_settings(None, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, DEPLOY_WEBHOOK_SECRET="").deploy_webhook_secret
        is None
    )
    line = settings_line(DEPLOY_WINDOW="two hours")
    assert "DEPLOY_WINDOW is malformed" in line and "2h" in line
    assert "DEPLOY_WINDOW is malformed" in settings_line(DEPLOY_WINDOW="0h")
    line = settings_line(DEPLOY_WEBHOOK_SECRET="tooShortSecret")
    assert "DEPLOY_WEBHOOK_SECRET is malformed" in line and "at least 16" in line
    assert "tooShortSecret" not in line  # never echo a secret
    assert settings_line(DEPLOY_WEBHOOK_SECRET="x" * 16) == "ok"


# ================================================================================================
# Database: recording and correlation on SQLite and PostgreSQL
# ================================================================================================


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def deploys(db, clock) -> Deploys:
    return Deploys(db, clock)


async def open_incident(db, clock, *, started_at: datetime = T0, key: str = "k1") -> int:
    request = OpenRequest(
        title="Checkout returns 500s",
        severity="P1",
        service="payments-api",
        detection_method="alert",
        started_at=started_at,
        detected_at=started_at + timedelta(minutes=10),
    )
    recorded = await Incidents(db, clock).record_new(request, opener="U_ALICE", request_key=key, origin_channel=None)
    return recorded.record.id


async def add(deploys: Deploys, service: str, version: str, at: datetime, **more) -> DeployRecord:
    stored, created = await deploys.record(
        parse_deploy({"service": service, "version": version, "time": at.isoformat(), **more}, now=NOW),
        source="webhook",
    )
    assert created
    return stored


async def count_deploys(db) -> int:
    async with db.transaction() as session:
        return await deploy_rows.count(session)


async def deploy_found(db, incident_id: int) -> bool | None:
    from storage import incidents as incident_rows

    async with db.transaction() as session:
        return (await incident_rows.get(session, incident_id)).deploy_found


@pytest.mark.both_databases
async def test_the_same_deploy_is_stored_once(db, deploys, clock):
    deploy_in = parse_deploy(
        {
            "service": "payments-api",
            "version": "v1.42",
            "time": "2026-11-23T13:00:00Z",
            "author": "alice",
            "url": "https://github.com/acme/payments/commit/abc",
            "description": "faster retries",
        },
        now=clock(),
    )
    first, created = await deploys.record(deploy_in, source="webhook")
    assert created and first.id >= 1
    assert (first.service, first.version, first.environment, first.deployed_at, first.author, first.source) == (
        "payments-api",
        "v1.42",
        "production",
        datetime(2026, 11, 23, 13, 0, tzinfo=UTC),
        "alice",
        "webhook",
    )
    again, created_again = await deploys.record(deploy_in.model_copy(update={"author": "bob"}), source="cli")
    assert not created_again and again == first  # the stored one, unchanged
    staging, created_staging = await deploys.record(deploy_in.model_copy(update={"environment": "staging"}), source="cli")
    assert created_staging and staging.id != first.id
    assert await count_deploys(db) == 2


@pytest.mark.both_databases
async def test_concurrent_reports_of_one_deploy_store_one_row(db, deploys, clock):
    deploy_in = parse_deploy({"service": "payments-api", "version": "v2", "time": "2026-11-23T13:30:00Z"}, now=clock())
    results = await asyncio.gather(*(deploys.record(deploy_in, source="webhook") for _ in range(6)))
    assert sum(created for _, created in results) == 1
    assert len({stored.id for stored, _ in results}) == 1
    assert await count_deploys(db) == 1


@pytest.mark.both_databases
async def test_insert_once_losing_the_race_rolls_back_only_its_savepoint(db, monkeypatch):
    """The unique constraint, not the first look, decides: simulate a look that missed the winner."""

    def row(version: str) -> Deploy:
        return Deploy(service="ledger", version=version, environment="production", deployed_at=T0, source="cli", recorded_at=T0)

    async with db.transaction() as session:
        winner, _ = await deploy_rows.insert_once(session, row("v1"))
    real_find = deploy_rows.find_same
    looks = []

    async def first_look_misses(session, deploy):
        looks.append(deploy.version)
        return None if len(looks) == 1 else await real_find(session, deploy)

    monkeypatch.setattr(deploy_rows, "find_same", first_look_misses)
    async with db.transaction() as session:
        other, created_other = await deploy_rows.insert_once(session, row("v0"))  # work before, in the same transaction
        looks.clear()
        stored, created = await deploy_rows.insert_once(session, row("v1"))
        assert (stored.id, created) == (winner.id, False)
        assert created_other
    monkeypatch.setattr(deploy_rows, "find_same", real_find)
    async with db.transaction() as session:
        assert await deploy_rows.get(session, other.id) is not None  # the transaction itself committed
    assert await count_deploys(db) == 2


@pytest.mark.both_databases
async def test_correlate_finds_deploys_in_the_window_and_links_them(db, deploys, clock):
    incident_id = await open_incident(db, clock)
    edge = await add(deploys, "payments-api", "v1", T0 - WINDOW)  # exactly two hours before: in
    await add(deploys, "payments-api", "v0", T0 - WINDOW - timedelta(seconds=1))  # one second more: out
    after = await add(deploys, "payments-api", "v2", T0 + timedelta(minutes=1))  # after impact start: out
    dependency = await add(deploys, "ledger", "abc123", T0 - timedelta(minutes=30, seconds=30))  # upstream: in
    await add(deploys, "search", "v9", T0 - timedelta(minutes=10))  # not involved: out
    await add(deploys, "payments-api", "v1-rc", T0 - timedelta(minutes=5), environment="staging")  # other env: out

    matches = await deploys.correlate(incident_id, ["payments-api", "ledger"], T0, WINDOW)
    assert [(m.record.id, m.minutes_before_impact) for m in matches] == [(dependency.id, 30), (edge.id, 120)]
    assert await deploy_found(db, incident_id) is True
    linked = await deploys.for_incident(incident_id)
    assert linked == matches

    # Idempotent: running it again links nothing twice.
    assert await deploys.correlate(incident_id, ["payments-api", "ledger"], T0, WINDOW) == matches
    assert await deploys.for_incident(incident_id) == matches

    # Only the incident's own service: the dependency's deploy is no longer a suspect.
    own = await deploys.correlate(incident_id, ["payments-api"], T0, WINDOW)
    assert [m.record.id for m in own] == [edge.id]
    assert [m.record.id for m in await deploys.for_incident(incident_id)] == [edge.id]

    # Impact start corrected to later: the links follow the new window.
    later = T0 + timedelta(minutes=2)
    moved = await deploys.correlate(incident_id, ["payments-api"], later, WINDOW)
    assert [m.record.id for m in moved] == [after.id]
    assert moved[0].minutes_before_impact == 1


async def test_correlate_with_no_deploy_in_the_window_sets_deploy_found_false(db, deploys, clock):
    incident_id = await open_incident(db, clock)
    await add(deploys, "payments-api", "v1", T0 - WINDOW - timedelta(seconds=1))
    await add(deploys, "payments-api", "v2", T0 + timedelta(seconds=1))
    assert await deploy_found(db, incident_id) is None  # not checked yet
    assert await deploys.correlate(incident_id, ["payments-api"], T0, WINDOW) == []
    assert await deploy_found(db, incident_id) is False
    assert await deploys.for_incident(incident_id) == []


async def test_correlate_with_no_services_checks_nothing(db, deploys, clock):
    incident_id = await open_incident(db, clock)
    await add(deploys, "payments-api", "v1", T0 - timedelta(minutes=5))
    assert await deploys.correlate(incident_id, ["payments-api"], T0, WINDOW) != []
    assert await deploys.correlate(incident_id, [], T0, WINDOW) == []
    assert await deploy_found(db, incident_id) is None
    assert await deploys.for_incident(incident_id) == []


async def test_correlate_and_for_incident_of_an_unknown_incident(deploys):
    with pytest.raises(LookupError, match="INC-99"):
        await deploys.correlate(99, ["payments-api"], T0, WINDOW)
    with pytest.raises(LookupError, match="INC-99"):
        await deploys.for_incident(99)


@pytest.mark.both_databases
async def test_link_to_incident_is_idempotent(db, deploys, clock):
    incident_id = await open_incident(db, clock)
    first = await add(deploys, "payments-api", "v1", T0 - timedelta(minutes=5))
    second = await add(deploys, "ledger", "v1", T0 - timedelta(minutes=7))
    for _ in range(2):
        async with db.transaction() as session:
            await deploy_rows.link_to_incident(session, incident_id, [first.id, second.id, first.id])
    async with db.transaction() as session:
        assert [row.id for row in await deploy_rows.for_incident(session, incident_id)] == [first.id, second.id]


@pytest.mark.both_databases
async def test_recent_is_newest_first_and_filters_by_service_and_time(db, deploys, clock):
    now = clock()
    old = await add(deploys, "payments-api", "v1", now - timedelta(hours=3))
    mid = await add(deploys, "ledger", "v7", now - timedelta(minutes=90))
    new = await add(deploys, "payments-api", "v2", now - timedelta(minutes=10))
    assert [d.id for d in await deploys.recent(None, timedelta(hours=2))] == [new.id, mid.id]
    assert [d.id for d in await deploys.recent("payments-api", timedelta(hours=4))] == [new.id, old.id]
    assert await deploys.recent("search", timedelta(days=1)) == []
    async with db.transaction() as session:
        in_window = await deploy_rows.in_window(session, ["payments-api", "ledger"], now - timedelta(hours=2), now)
    assert [d.id for d in in_window] == [new.id, mid.id]


# ================================================================================================
# The webhook through the bot's real HTTP server
# ================================================================================================


@pytest.fixture
async def hook_bot(settings, fake_slack):
    running = await start_bot(settings.model_copy(update={"deploy_webhook_secret": SECRET}), fake_slack)
    yield running
    await running.stop()


async def post(
    bot,
    body=None,
    *,
    raw: bytes | None = None,
    headers: dict | None = None,
    secret: str | None = SECRET,
    content_type: str | None = "application/json",
):
    sent = {}
    if secret is not None:
        sent["X-Incident-Bot-Secret"] = secret
    if content_type is not None:
        sent["Content-Type"] = content_type
    sent.update(headers or {})
    data = raw if raw is not None else json.dumps(body).encode()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{bot.port}/hooks/deploys", data=data, headers=sent) as response:
            assert response.content_type == "application/json"
            return response.status, await response.json()


async def stored_deploys(bot) -> int:
    return await count_deploys(bot.runtime.db)


def recent_time(minutes_ago: int = 10) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(microsecond=0).isoformat()


async def test_webhook_records_a_deploy_once(hook_bot):
    body = {
        "service": "payments-api",
        "version": "v1.42",
        "environment": "production",
        "time": recent_time(),
        "author": "alice",
        "url": "https://github.com/acme/payments/pull/7",
        "description": "faster retries",
    }
    status, answer = await post(hook_bot, body)
    assert (status, answer) == (201, {"ok": True, "deploy_id": 1, "duplicate": False})
    status, answer = await post(hook_bot, body)
    assert (status, answer) == (200, {"ok": True, "deploy_id": 1, "duplicate": True})
    [stored] = await hook_bot.runtime.deploys.recent("payments-api", timedelta(hours=1))
    assert (stored.id, stored.version, stored.author, stored.url, stored.description, stored.source) == (
        1,
        "v1.42",
        "alice",
        "https://github.com/acme/payments/pull/7",
        "faster retries",
        "webhook",
    )
    assert await stored_deploys(hook_bot) == 1


async def test_webhook_accepts_the_bearer_form_and_defaults(hook_bot):
    status, answer = await post(
        hook_bot, {"service": "auth", "version": "abc123"}, secret=None, headers={"Authorization": f"bearer {SECRET}"}
    )
    assert (status, answer["ok"], answer["duplicate"]) == (201, True, False)
    [stored] = await hook_bot.runtime.deploys.recent("auth", timedelta(minutes=5))
    assert stored.environment == "production"
    assert abs(stored.deployed_at - datetime.now(UTC)) < timedelta(minutes=1)


@pytest.mark.parametrize(
    "headers, reason",
    [
        ({}, "no secret given"),
        ({"X-Incident-Bot-Secret": "not-the-secret-at-all-0000"}, "wrong secret"),
        ({"Authorization": "Bearer not-the-secret-at-all-0000"}, "wrong secret"),
        ({"Authorization": f"Basic {SECRET}"}, "no secret given"),
        ({"X-Incident-Bot-Secret": SECRET[:-1]}, "wrong secret"),
        ({"X-Incident-Bot-Secret": "sécret-non-ascii-ünïcode"}, "wrong secret"),
    ],
)
async def test_webhook_refuses_without_the_right_secret(hook_bot, headers, reason):
    status, answer = await post(hook_bot, {"service": "a", "version": "1"}, secret=None, headers=headers)
    assert status == 401
    assert answer["ok"] is False and answer["error"].startswith(reason)
    assert "X-Incident-Bot-Secret" in answer["error"] and "Bearer" in answer["error"]
    assert SECRET not in json.dumps(answer) and SECRET[:-1] not in json.dumps(answer)
    assert await stored_deploys(hook_bot) == 0


async def test_webhook_checks_the_secret_before_anything_else(hook_bot):
    status, _ = await post(hook_bot, raw=b"not json", secret="wrong-wrong-wrong-wrong", content_type="text/plain")
    assert status == 401


async def test_webhook_is_disabled_without_a_secret(bot):
    assert bot.runtime.settings.deploy_webhook_secret is None
    status, answer = await post(bot, {"service": "a", "version": "1"})
    assert (status, answer) == (503, {"ok": False, "error": "deploy webhook disabled: set DEPLOY_WEBHOOK_SECRET"})
    assert await stored_deploys(bot) == 0


async def test_webhook_refuses_bad_requests_and_writes_nothing(hook_bot):
    good = {"service": "payments-api", "version": "v1"}
    cases = [
        (415, dict(body=good, content_type="text/plain"), "Content-Type: application/json"),
        (415, dict(body=good, content_type="application/x-www-form-urlencoded"), "Content-Type: application/json"),
        (415, dict(body=good, content_type=None), "Content-Type: application/json"),
        (413, dict(raw=b'{"service": "a", "version": "' + b"v" * (64 * 1024) + b'"}'), "64 KiB"),
        (400, dict(raw=b'{"service": "a", "version": '), "not valid JSON"),
        (400, dict(raw=b""), "not valid JSON"),
        (400, dict(raw=b'{"service": "a", "version": "\xff\xfe"}'), "not valid JSON"),
        (400, dict(raw=b"[" * 30_000 + b"]" * 30_000), "not valid JSON"),
        (400, dict(raw=b'{"service": "a", "version": ' + b"1" * 5000 + b"}"), "not valid JSON"),
    ]
    for expected, kwargs, words in cases:
        status, answer = await post(hook_bot, **kwargs)
        assert (status, answer["ok"]) == (expected, False), (kwargs.get("content_type"), answer)
        assert words in answer["error"], answer
    assert await stored_deploys(hook_bot) == 0


async def test_webhook_refuses_an_oversized_chunked_body(hook_bot):
    async def chunks():
        yield b'{"service": "a", "version": "'
        for _ in range(5):
            yield b"v" * 16 * 1024
        yield b'"}'

    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{hook_bot.port}/hooks/deploys",
            data=chunks(),
            headers={"X-Incident-Bot-Secret": SECRET, "Content-Type": "application/json"},
        ) as response:
            assert response.status == 413
    assert await stored_deploys(hook_bot) == 0


async def test_webhook_answers_422_naming_the_field_for_every_validation_failure(hook_bot):
    now = datetime.now(UTC)
    for body, names, form in BAD_BODIES:
        if isinstance(body, dict) and body.get("version") == "\ud800":
            raw = b'{"service": "a", "version": "\\ud800"}'  # a lone surrogate, escaped as JSON allows
            status, answer = await post(hook_bot, raw=raw)
        else:
            status, answer = await post(hook_bot, _resolve(body, now))
        assert status == 422, (body, answer)
        assert answer["ok"] is False
        assert names in answer["error"] and form in answer["error"], answer
    assert await stored_deploys(hook_bot) == 0


# ================================================================================================
# The CLI, as a pipeline step runs it
# ================================================================================================


def sqlite_rows(path: Path, query: str) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


@pytest.mark.slow
def test_cli_records_a_deploy_once_with_only_a_database_url(tmp_path, migrated_sqlite, incident):
    at = (datetime.now(UTC) - timedelta(minutes=3)).replace(microsecond=0)
    args = (
        "deploy",
        "payments-api",
        "v1.42",
        "--at",
        at.isoformat(),
        "--url",
        "https://github.com/acme/payments/pull/7",
        "--author",
        "ci-bot",
        "--description",
        "retry budget",
    )
    first = run_installed(tmp_path, *args, DATABASE_URL="sqlite:///incidents.db")  # the console script, as a process
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    assert first.stdout.strip() == f"recorded deploy #1: payments-api v1.42 (production) at {at:%Y-%m-%d %H:%M} UTC"
    again = incident(tmp_path, *args, DATABASE_URL="sqlite:///incidents.db")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().startswith("already recorded as #1: payments-api v1.42 (production)")
    staging = incident(tmp_path, "deploy", "payments-api", "v1.42", "--env", "staging", DATABASE_URL="sqlite:///incidents.db")
    assert staging.returncode == 0 and staging.stdout.startswith("recorded deploy #2: payments-api v1.42 (staging) at ")
    rows = sqlite_rows(
        migrated_sqlite, "SELECT id, service, version, environment, author, url, description, source FROM deploys ORDER BY id"
    )
    assert rows == [
        (1, "payments-api", "v1.42", "production", "ci-bot", "https://github.com/acme/payments/pull/7", "retry budget", "cli"),
        (2, "payments-api", "v1.42", "staging", None, None, None, "cli"),
    ]


@pytest.mark.parametrize(
    "args, words",
    [
        (("Payments API", "v1"), "service: 'Payments API' is not a service name"),
        (("payments-api", " "), "version: empty"),
        (("payments-api", "v1", "--at", "2026-11-23T14:05"), "time: '2026-11-23T14:05' has no time zone"),
        (("payments-api", "v1", "--at", "2001-01-01T00:00Z"), "more than 30 days ago"),
        (("payments-api", "v1", "--url", "ftp://example.com"), "url: 'ftp://example.com' is not an http(s) URL"),
        (("payments-api", "v1", "--env", ""), "environment: empty"),
    ],
)
def test_cli_bad_input_exits_2_in_one_line_and_writes_nothing(tmp_path, migrated_sqlite, incident, args, words):
    result = incident(tmp_path, "deploy", *args, DATABASE_URL="sqlite:///incidents.db")
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("incident-bot: ") and words in line, line
    assert result.stdout == ""
    assert sqlite_rows(migrated_sqlite, "SELECT count(*) FROM deploys") == [(0,)]


def test_cli_requires_a_migrated_database(tmp_path, incident):
    missing = incident(tmp_path, "deploy", "payments-api", "v1", DATABASE_URL="sqlite:///incidents.db")
    assert missing.returncode == 1
    [line] = missing.stderr.splitlines()
    assert "run `incident-bot db upgrade`" in line, line
    assert not (tmp_path / "incidents.db").exists()  # not created behind the pipeline's back

    sqlite3.connect(tmp_path / "empty.db").close()
    empty = incident(tmp_path, "deploy", "payments-api", "v1", DATABASE_URL="sqlite:///empty.db")
    assert empty.returncode == 1
    [line] = empty.stderr.splitlines()
    assert "not migrated" in line and "run `incident-bot db upgrade`" in line, line
    assert sqlite_rows(tmp_path / "empty.db", "SELECT name FROM sqlite_master WHERE type = 'table'") == []


DOORS = ("webhook", "cli", "command")


@pytest.fixture
async def clocked_hook_bot(settings, fake_slack, monkeypatch):
    """The webhook bot on a clock the test moves, shared with the CLI, so that each report comes
    minutes after the one before (never in the same second, where the identity alone matches)."""
    from handlers import cli

    clock = FakeClock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))
    monkeypatch.setattr(cli, "utc_now", clock)
    running = await start_bot(settings.model_copy(update={"deploy_webhook_secret": SECRET}), fake_slack, clock=clock)
    running.clock = clock  # type: ignore[attr-defined]
    yield running
    await running.stop()


async def record_through(door: str, bot, version: str, *, at: str | None = None) -> None:
    """Report a payments-api deploy the way a person or a pipeline would through ``door``, ten
    minutes after the previous report."""
    if hasattr(bot, "clock"):
        bot.clock.now += timedelta(minutes=10)
    if door == "webhook":
        status, answer = await post(bot, {"service": "payments-api", "version": version} | ({"time": at} if at else {}))
        assert status in (200, 201) and answer["ok"], answer
    elif door == "cli":
        from bot.settings import DatabaseSettings
        from handlers import cli

        argv = ["deploy", "payments-api", version] + (["--at", at] if at else [])
        settings = DatabaseSettings(_env_file=None, DATABASE_URL=bot.runtime.settings.database_url)
        assert await cli._deploy(settings, cli._parser().parse_args(argv)) == 0
    else:
        assert at is None  # the command has no time: it reports the deploy just done
        await bot.slack.command(f"deploy payments-api {version}", user="U_BOB")
        await bot.settle()


@pytest.mark.both_databases
@pytest.mark.parametrize("second", DOORS)
@pytest.mark.parametrize("first", DOORS)
async def test_the_same_deploy_reported_twice_is_one_row_whatever_the_doors(clocked_hook_bot, first, second, capsys):
    bot = clocked_hook_bot
    await record_through(first, bot, "v1.42")
    await record_through(second, bot, "v1.42")
    assert await stored_deploys(bot) == 1
    await record_through(second, bot, "v1.43")  # a new version is a new deploy
    await record_through(first, bot, "v1.42")  # and so is going back to the earlier one
    assert await stored_deploys(bot) == 3


async def test_a_deploy_reported_with_its_own_time_is_kept_apart_from_an_earlier_one_of_that_version(clocked_hook_bot):
    bot = clocked_hook_bot
    stated = (bot.clock() - timedelta(minutes=30)).isoformat()
    await record_through("webhook", bot, "v1.42", at=stated)
    await record_through("cli", bot, "v1.42", at=stated)  # the same deploy: its identity
    assert await stored_deploys(bot) == 1
    await record_through("cli", bot, "v1.42", at=(bot.clock() - timedelta(minutes=1)).isoformat())  # redeployed at a stated time
    assert await stored_deploys(bot) == 2
