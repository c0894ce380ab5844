"""Secrets stay secret, and garbage gets a 4xx (issue 14, section 4).

- Every setting marked secret is redacted from every field of every log line, in any letter case.
- The request ID a caller sends is bounded before it reaches a log line.
- Unauthenticated garbage at any HTTP door is refused with 400, 401 or 413, one WARNING line,
  counted as refused (not as an error), and nothing is written.
- A signed Slack request replayed within Slack's five minutes is refused, and nothing is written twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import re
import time
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import func, select

from bot import logs
from bot.metrics import REGISTRY
from bot.settings import Settings, is_secret_field
from storage.models import Base, SlackRequestSeen
from tests.conftest import SIGNING_SECRET, start_bot
from tests.slack_requests import open_form_values, sign

WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"

SECRET_SETTING_NAMES = [name for name in Settings.model_fields if is_secret_field(name, Settings)]


def distinctive_secret(name: str) -> str:
    """A value no line could contain by chance, in the form the setting's validator takes, with
    letters in both cases so that a lower- or upper-cased copy differs from it."""
    marker = uuid.uuid4().hex[:16]
    if name == "slack_signing_secret":
        return "ABCDEF" + marker + "abcdef"
    if name == "slack_bot_token":
        return f"xoxb-Bot-{marker}"
    if name == "slack_app_token":
        return f"xapp-App-{marker}"
    return f"Secret-{name}-{marker}"


def case_variants(secret: str) -> list[str]:
    return [secret, secret.lower(), secret.upper(), secret.swapcase()]


def leaked(text: str, secrets: list[str]) -> list[str]:
    folded = text.lower()
    return [secret for secret in secrets if secret.lower() in folded]


def test_settings_that_look_secret_are_marked_secret():
    """A new token, secret, password or key setting is redacted only if it is marked SecretField:
    this catches one declared with a plain Field."""
    looks_secret = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|CREDENTIAL", re.IGNORECASE)
    unmarked = [
        info.alias or name
        for name, info in Settings.model_fields.items()
        if looks_secret.search(info.alias or name) and not is_secret_field(name, Settings)
    ]
    assert unmarked == []
    assert {"slack_bot_token", "slack_signing_secret", "slack_app_token", "deploy_webhook_secret", "alert_webhook_secret"} <= set(
        SECRET_SETTING_NAMES
    )


def test_secret_values_cover_every_marked_setting_and_the_database_password(settings):
    values = {name: distinctive_secret(name) for name in SECRET_SETTING_NAMES}
    secret_settings = settings.model_copy(update=values)
    assert set(values.values()) <= set(secret_settings.secret_values())
    with_password = settings.model_copy(update={"database_url": "postgresql+asyncpg://bot:Db-Pass%21word@db.example:5432/incidents"})
    assert "Db-Pass!word" in with_password.secret_values()
    assert all(name not in repr(secret_settings) for name in values.values())


@pytest.mark.parametrize("json_lines", [True, False], ids=["json", "text"])
def test_every_field_of_a_line_is_redacted_in_any_case_and_encoding(settings, json_lines):
    """The message, its arguments, the exception, the stack and the slack_request field, with each
    secret as itself, lower- and upper-cased, URL-encoded and JSON-escaped."""
    secrets = [distinctive_secret(name) + '/+ &"' for name in SECRET_SETTING_NAMES]
    stream = io.StringIO()
    handler = logs.make_handler(json_lines=json_lines, secrets=secrets, stream=stream)
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        for secret in secrets:
            for variant in case_variants(secret):
                logs.set_request(variant)
                logger.warning("recorded deploy: %s", variant)
                logger.info("body %s", json.dumps({"text": variant}))
                logger.info("form %s", urlencode({"text": variant, "channel_id": "C1"}))
                try:
                    raise ValueError(f"refused {variant!r}")
                except ValueError:
                    logger.exception("failed for %s", variant, stack_info=True)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logs.set_request(None)
    text = stream.getvalue()
    assert "[redacted secret]" in text
    assert leaked(text, [s.removesuffix('/+ &"') for s in secrets]) == []


def test_the_request_id_is_bounded():
    assert logs.set_request("abc-123") == "abc-123"
    assert logs.set_request("x" * 100) == "x" * 100
    for unusable in ("x" * 101, "a\nfake line", "has space", "bidi\u202eevil", "", "\x00"):
        replaced = logs.set_request(unusable)
        assert replaced != unusable and re.fullmatch(r"[0-9a-f]{12}", replaced)
    logs.set_request(None)


async def post_hook(bot, path: str, body: dict, secret: str, *, request_id: str | None = None) -> int:
    headers = {"Content-Type": "application/json", "X-Incident-Bot-Secret": secret}
    if request_id is not None:
        headers["X-Request-Id"] = request_id
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{bot.port}{path}", json=body, headers=headers) as response:
            await response.read()
            return response.status


@pytest.fixture
def secret_settings(settings) -> Settings:
    """The test settings with a distinctive value in every setting marked secret."""
    return settings.model_copy(update={name: distinctive_secret(name) for name in SECRET_SETTING_NAMES})


@pytest.fixture
def every_log_line(secret_settings):
    """Every line the process writes at DEBUG, as JSON and as text, redacted with the settings'
    secrets exactly as `incident-bot serve` configures it."""
    streams = [io.StringIO(), io.StringIO()]
    handlers = [
        logs.make_handler(json_lines=json_lines, secrets=secret_settings.secret_values(), stream=stream)
        for json_lines, stream in zip((True, False), streams, strict=True)
    ]
    root = logging.getLogger()
    level = root.level
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lambda: "".join(stream.getvalue() for stream in streams)
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(level)


async def test_no_secret_setting_reaches_a_log_line_through_the_http_doors(secret_settings, fake_slack, every_log_line):
    """Each secret, in each letter case, sent where a log line would echo it: as a deploy's
    service (lower-cased by normalisation), an alert's title, a wrong webhook secret, the
    X-Request-Id (the slack_request field), and the text of a slash command (Bolt logs bodies
    at DEBUG)."""
    bot = await start_bot(secret_settings, fake_slack)
    try:
        secrets = [getattr(secret_settings, name) for name in SECRET_SETTING_NAMES]
        deploy_secret, alert_secret = secret_settings.deploy_webhook_secret, secret_settings.alert_webhook_secret
        for secret in secrets:
            for variant in case_variants(secret):
                deploy = {"service": variant, "version": variant, "time": "2026-11-23T10:00:00Z", "description": variant}
                await post_hook(bot, "/hooks/deploys", deploy, deploy_secret, request_id=variant)  # refused: not in the catalog
                known = {**deploy, "service": "payments-api"}
                await post_hook(bot, "/hooks/deploys", known, deploy_secret, request_id=variant)
                await post_hook(bot, "/hooks/deploys", deploy, variant, request_id=variant)
                alert = {
                    "service": "payments-api",
                    "title": f"down {variant}",
                    "status": "firing",
                    "dedup_key": variant,
                    "severity": "warning",
                    "started_at": "2026-11-23T10:02:00Z",
                }
                await post_hook(bot, "/hooks/alerts", alert, alert_secret, request_id=variant)
                await post_hook(bot, "/hooks/alerts", alert, variant, request_id=variant)
            await bot.slack.command(f"note INC-99 {secret.lower()}")
        await bot.settle()
    finally:
        await bot.stop()
    text = every_log_line()
    assert "recorded deploy" in text and "wrong secret" in text  # the lines that would have leaked were written
    assert leaked(text, secrets) == [], text[:2000]


# --- Garbage at the doors -------------------------------------------------------------------------


def _now() -> str:
    return str(int(time.time()))


def _signed(body: bytes, content_type: str, *, timestamp: str | None = None) -> tuple[dict[str, str], bytes]:
    ts = timestamp or _now()
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}, body


def _forged(body: bytes, content_type: str, **headers: str) -> tuple[dict[str, str], bytes]:
    sent = {"Content-Type": content_type, "X-Slack-Request-Timestamp": _now(), "X-Slack-Signature": "v0=" + "0" * 64}
    sent.update(headers)
    return {name: value for name, value in sent.items() if value != ""}, body


OVERSIZED = b"command=%2Fincident&text=" + b"a" * (2 * 1024 * 1024)
FORM = "application/x-www-form-urlencoded"
# (headers, body) as an attacker or a broken proxy sends them to /slack/events.
SLACK_GARBAGE = {
    "json type, body not JSON": _forged(b"{not json", "application/json"),
    "json type, body not JSON, no headers": _forged(
        b"{not json", "application/json", **{"X-Slack-Request-Timestamp": "", "X-Slack-Signature": ""}
    ),
    "raw non-UTF-8 bytes": _forged(b"\xff\xfe\x00payload=\xc3\x28", FORM),
    "oversized body": _forged(OVERSIZED, FORM),
    "oversized body, unsigned": _forged(OVERSIZED, FORM, **{"X-Slack-Request-Timestamp": "", "X-Slack-Signature": ""}),
    "non-numeric timestamp": _forged(b"command=%2Fincident&text=status", FORM, **{"X-Slack-Request-Timestamp": "yesterday"}),
    "timestamp with digits and junk": _forged(b"command=%2Fincident", FORM, **{"X-Slack-Request-Timestamp": "1_700_000_000"}),
    "enormous timestamp": _forged(b"command=%2Fincident", FORM, **{"X-Slack-Request-Timestamp": "9" * 400}),
    "missing signature": _forged(b"command=%2Fincident&text=status", FORM, **{"X-Slack-Signature": ""}),
    "missing timestamp": _forged(b"command=%2Fincident&text=status", FORM, **{"X-Slack-Request-Timestamp": ""}),
    "missing both headers": _forged(b"command=%2Fincident&text=open+x", FORM, **{"X-Slack-Request-Timestamp": "", "X-Slack-Signature": ""}),
    "empty body, no headers": _forged(b"", FORM, **{"X-Slack-Request-Timestamp": "", "X-Slack-Signature": ""}),
    "signature of another body": ({**_signed(b"command=%2Fincident&text=status", FORM)[0]}, b"command=%2Fincident&text=open+forged"),
    "signed but expired": _signed(b"command=%2Fincident&text=open+old", FORM, timestamp=str(int(time.time()) - 3600)),
    # Signed garbage can only come from someone holding the signing secret; still a 400, not a 500.
    "signed non-UTF-8": _signed(b"text=\xff\xfe", FORM),
    "signed JSON that is not an object": _signed(b"[1, 2, 3]", "application/json"),
    "signed JSON that is not JSON": _signed(b"{nope", "application/json"),
    "signed payload that is not JSON": _signed(b"payload=%7Bnope", FORM),
}
WEBHOOK_GARBAGE = {
    "no secret, body not JSON": ({"Content-Type": "application/json"}, b"{not json"),
    "wrong secret, non-UTF-8": ({"Content-Type": "application/json", "X-Incident-Bot-Secret": "wrong-secret-0000000000"}, b"\xff\xfe"),
    "no secret, oversized": ({"Content-Type": "application/json"}, b"[" + b"1," * (1024 * 1024) + b"1]"),
    "right secret, non-UTF-8": ({"Content-Type": "application/json", "X-Incident-Bot-Secret": WEBHOOK_SECRET}, b"\xff\xfe{"),
    "right secret, not JSON": ({"Content-Type": "application/json", "X-Incident-Bot-Secret": WEBHOOK_SECRET}, b"{nope"),
    "right secret, oversized": (
        {"Content-Type": "application/json", "X-Incident-Bot-Secret": WEBHOOK_SECRET},
        b"[" + b"1," * (1024 * 1024) + b"1]",
    ),
    "right secret, not declared JSON": ({"Content-Type": "text/plain", "X-Incident-Bot-Secret": WEBHOOK_SECRET}, b"{}"),
}
CASES = [("/slack/events", name) for name in SLACK_GARBAGE] + [
    (path, name) for path in ("/hooks/deploys", "/hooks/alerts") for name in WEBHOOK_GARBAGE
]
DOORS = {"/slack/events": "slack", "/hooks/deploys": "deploy_webhook", "/hooks/alerts": "alert_webhook"}


@pytest.fixture
async def door_bot(settings, fake_slack):
    running = await start_bot(
        settings.model_copy(update={"deploy_webhook_secret": WEBHOOK_SECRET, "alert_webhook_secret": WEBHOOK_SECRET}), fake_slack
    )
    yield running
    await running.stop()


async def row_counts(bot) -> dict[str, int]:
    """Rows in every table: "nothing written" over the whole schema, not a chosen few tables."""
    async with bot.runtime.db.reading() as session:
        return {table.name: await session.scalar(select(func.count()).select_from(table)) for table in Base.metadata.sorted_tables}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def errors_total() -> float:
    return sum(
        s.value
        for family in REGISTRY.collect()
        if family.name == "incident_bot_errors"
        for s in family.samples
        if s.name == "incident_bot_errors_total"
    )


def refused_total(door: str) -> float:
    return sum(
        s.value
        for family in REGISTRY.collect()
        if family.name == "incident_bot_refused_requests"
        for s in family.samples
        if s.name == "incident_bot_refused_requests_total" and s.labels["door"] == door
    )


@pytest.mark.parametrize("path,shape", CASES, ids=[f"{p} {n}" for p, n in CASES])
async def test_garbage_at_a_door_gets_a_4xx_one_warning_and_writes_nothing(door_bot, caplog, path, shape):
    bot = door_bot
    headers, body = (SLACK_GARBAGE if path == "/slack/events" else WEBHOOK_GARBAGE)[shape]
    rows_before, errors_before, refused_before = await row_counts(bot), errors_total(), refused_total(DOORS[path])
    caplog.set_level(logging.WARNING)
    caplog.clear()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{bot.port}{path}", data=body, headers=headers) as response:
            status, answer = response.status, await response.text()
    await bot.settle()

    assert status in {400, 401, 413, 415}, answer
    assert json.loads(answer)["ok"] is False and json.loads(answer)["error"]
    if path == "/slack/events":
        assert status != 415
    loud = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert [record.levelname for record in loud] == ["WARNING"], [record.getMessage() for record in loud]
    assert loud[0].exc_info is None and "Traceback" not in caplog.text
    assert errors_total() == errors_before
    assert refused_total(DOORS[path]) == refused_before + 1
    assert await row_counts(bot) == rows_before


async def test_slack_certificate_check_is_answered_without_a_signature(door_bot, caplog):
    """Slack checks a slash command URL's certificate with an unsigned ``ssl_check=1`` form."""
    caplog.set_level(logging.WARNING)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{door_bot.port}/slack/events", data=b"ssl_check=1&token=legacy", headers={"Content-Type": FORM}
        ) as response:
            assert response.status == 200
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


# --- Replays ----------------------------------------------------------------------------------------


class ReplayableSlack:
    """Wraps the bot's SignedSlack so that the exact bytes of the last request (body, timestamp,
    signature) can be sent again, as someone who captured it would."""

    def __init__(self, signed_slack) -> None:
        self._post = signed_slack.post
        self._secret = signed_slack.secret
        self.last: tuple[str, str, str, str] | None = None
        signed_slack.post = self.post

    async def post(self, body: str, content_type: str, *, retry_num=None, signature=None, timestamp=None):
        timestamp = timestamp or str(int(time.time()))
        signature = signature or sign(self._secret, timestamp, body)
        self.last = (body, content_type, timestamp, signature)
        return await self._post(body, content_type, retry_num=retry_num, signature=signature, timestamp=timestamp)

    async def replay_last(self):
        assert self.last is not None
        body, content_type, timestamp, signature = self.last
        return await self._post(body, content_type, timestamp=timestamp, signature=signature)


async def footprint(bot) -> tuple[dict[str, int], int, int]:
    """Everything a request can leave behind: rows in every table, Slack Web API calls, replies."""
    return await row_counts(bot), len(bot.fake.calls), len(bot.fake.responses)


@pytest.mark.both_databases
async def test_a_replayed_signed_request_of_any_kind_writes_nothing_and_shows_nothing(door_bot, fake_slack, caplog):
    """Every kind of signed request, sent once and then replayed byte for byte within Slack's five
    minutes: the copy is answered 200, nothing more is written, nothing more reaches Slack (no
    message, no reply), and it is counted as refused with one WARNING line."""
    bot = door_bot
    slack = ReplayableSlack(bot.slack)
    await slack.post(*_open_body(bot))
    await bot.settle()
    incident = await bot.incident(1)
    fake_slack.channels[incident.channel_id].members.add("U_BOB")
    room = incident.channel_id

    async def open_form_submission():
        await bot.slack.command("open", channel=room)
        await bot.settle()
        view = next(v for v in reversed(list(fake_slack.views.values())) if v.get("callback_id") == "incident_open_modal")
        return await bot.slack.view_submission(view, open_form_values(title="Replayed form outage"))

    async def add_action_submission():
        await bot.slack.block_action("add_action_item", "1", channel=room, message_ts=incident.control_message_ts)
        await bot.settle()
        view = next(v for v in reversed(list(fake_slack.views.values())) if v.get("callback_id") == "add_action_item_modal")
        values = {
            "text": {"text": {"type": "plain_text_input", "value": "Replay-proof the webhook"}},
            "owner": {"owner": {"type": "users_select", "selected_user": "U_BOB"}},
            "due": {"due": {"type": "datepicker", "selected_date": "2099-12-20"}},
        }
        return await bot.slack.view_submission(view, values, user="U_ALICE")

    async def edit_times_submission():
        await bot.slack.block_action("edit_times", "1", channel=room, message_ts=incident.control_message_ts)
        await bot.settle()
        view = next(v for v in reversed(list(fake_slack.views.values())) if v.get("callback_id") == "edit_times_modal")
        original = json.loads(view["private_metadata"])["original"]
        times = {name: int(datetime.fromisoformat(value).timestamp()) for name, value in original.items() if value}
        times["started"] -= 60
        values = {
            f"time_{name}": {f"time_{name}": {"type": "datetimepicker", "selected_date_time": moment}} for name, moment in times.items()
        }
        values["reason"] = {"reason": {"type": "plain_text_input", "value": "the first alert fired a minute earlier"}}
        return await bot.slack.view_submission(view, values, user="U_ALICE")

    def in_room(text: str, user: str = "U_ALICE"):
        return lambda: bot.slack.command(text, channel=room, user=user)

    def button(action_id: str, value: str = "1", user: str = "U_ALICE"):
        return lambda: bot.slack.block_action(action_id, value, user=user, channel=room, message_ts=incident.control_message_ts)

    requests = {
        "command: open": lambda: bot.slack.command("open Replayed outage sev:P3"),
        "command: note": in_room("note rolled back payments-api"),
        "command: update": in_room("update error rate falling"),
        "command: action": in_room("action Add a replay guard <@U_BOB|bob>"),
        "command: severity": in_room("severity P1"),
        "command: role": in_room("role scribe <@U_BOB|bob>"),
        "command: breakglass": in_room("breakglass prod DB write access"),
        "command: ack": in_room("ack", user="U_BOB"),
        "command: deploy": in_room("deploy payments-api v1.43"),
        "command: runbook": in_room("runbook"),
        "command: status": in_room("status"),
        "command: actions": in_room("actions"),
        "command: repair": in_room("repair INC-1"),
        "block action: action item done": button("action_item_done", "1", user="U_BOB"),
        "block action: stamp": button("stamp_phase_mitigated"),
        "view submission: add action item": add_action_submission,
        "view submission: open form": open_form_submission,
        "view submission: edit times": edit_times_submission,
        "block action: stamp verified": button("stamp_phase_verified"),
        "block action: reopen": button("incident_reopen"),
    }
    caplog.set_level(logging.WARNING)
    for name, send in requests.items():
        before = await footprint(bot)
        first = await send()
        assert first.status == 200, (name, first.text)
        await bot.settle()
        after_first = await footprint(bot)
        assert after_first != before, f"{name} did nothing the first time, so its replay proves nothing"
        refused_before = sample("incident_bot_refused_requests_total", door="slack", reason="replayed")
        caplog.clear()
        replayed = await slack.replay_last()
        await bot.settle()
        assert replayed.status == 200, name
        assert await footprint(bot) == after_first, name
        assert sample("incident_bot_refused_requests_total", door="slack", reason="replayed") == refused_before + 1, name
        assert [r.levelname for r in caplog.records if r.levelno >= logging.WARNING] == ["WARNING"], name


def _open_body(bot) -> tuple[str, str]:
    return urlencode(bot.slack.command_payload("open Checkout returns 500s sev:P2")), FORM


async def test_replays_are_refused_across_processes_and_a_failed_request_can_be_retried(settings, fake_slack, monkeypatch):
    """Two processes on one database: a copy sent to the other process is refused too. A request
    the bot failed to handle (a 500) is forgotten, so Slack's retry of it gets through."""
    from slack_bolt.async_app import AsyncApp

    first = await start_bot(settings, fake_slack)
    second = await start_bot(settings, fake_slack)
    try:
        await first.slack.command("open Checkout returns 500s sev:P2")
        await first.settle()
        room = (await first.incident(1)).channel_id
        body = urlencode(first.slack.command_payload("note shared database", channel=room))
        timestamp = _now()
        signature = sign(SIGNING_SECRET, timestamp, body)
        assert (await first.slack.post(body, FORM, timestamp=timestamp, signature=signature)).status == 200
        await first.settle()
        answer = await second.slack.post(body, FORM, timestamp=timestamp, signature=signature)
        assert (answer.status, answer.text) == (200, "")
        await second.settle()
        assert [event.kind for event in await first.timeline(1)].count("note") == 1

        crashed = urlencode(first.slack.command_payload("note after a crash", channel=room))
        signature = sign(SIGNING_SECRET, timestamp, crashed)
        with monkeypatch.context() as patched:

            async def crash(*_args, **_kwargs):
                raise RuntimeError("the listener crashed")

            patched.setattr(AsyncApp, "async_dispatch", crash)
            assert (await first.slack.post(crashed, FORM, timestamp=timestamp, signature=signature)).status == 500
        await first.settle()  # the failed request is forgotten after its answer; Slack retries seconds later
        retried = await second.slack.post(crashed, FORM, timestamp=timestamp, signature=signature)
        assert retried.status == 200
        await second.settle()
        assert [event.kind for event in await first.timeline(1)].count("note") == 2
    finally:
        await first.stop()
        await second.stop()


async def test_identities_older_than_the_window_are_cleaned_up(db):
    from bot.background import BackgroundWork
    from bot.slack.request_replays import KEEP_FOR, ReplayGuard

    now = [1_800_000_000.0]
    background = BackgroundWork()
    guard = ReplayGuard(db, background, now=lambda: now[0])
    assert await guard.first_time("v0=" + "a" * 64, int(now[0]))
    await background.drain()
    now[0] += KEEP_FOR + 61
    assert await guard.first_time("v0=" + "b" * 64, int(now[0]))
    await background.drain()
    async with db.reading() as session:
        kept = (await session.scalars(select(SlackRequestSeen.signature))).all()
    assert kept == ["v0=" + "b" * 64]


async def test_the_first_clean_up_comes_a_minute_after_start_not_with_the_first_request(db):
    # The first request after a restart (an open, whose war room waits for its commit) must not
    # share the database's write lock with a sweep of what the last run left.
    from bot.background import BackgroundWork
    from bot.slack.request_replays import CLEAN_UP_EVERY, KEEP_FOR, ReplayGuard

    now = [1_800_000_000.0]
    background = BackgroundWork()
    guard = ReplayGuard(db, background, now=lambda: now[0])
    stale, first, later = ("v0=" + letter * 64 for letter in "sfl")
    assert await guard.first_time(stale, int(now[0]) - KEEP_FOR - 10)  # left by the last run
    assert await guard.first_time(first, int(now[0]))
    await background.drain()
    async with db.reading() as session:
        assert set((await session.scalars(select(SlackRequestSeen.signature))).all()) == {stale, first}
    now[0] += CLEAN_UP_EVERY + 1
    assert await guard.first_time(later, int(now[0]))
    await background.drain()
    async with db.reading() as session:
        assert set((await session.scalars(select(SlackRequestSeen.signature))).all()) == {first, later}


async def test_a_clean_up_deletes_nothing_while_a_request_awaits_its_ack(db, monkeypatch):
    # On SQLite the DELETE takes the write lock the awaited commit needs: the sweep waits for the
    # acks (bot.background.after_awaited_acks), here with no time limit so that only the ack frees it.
    import bot.background
    from bot.background import BackgroundWork
    from bot.slack.request_replays import KEEP_FOR, ReplayGuard
    from tests.waiting import HANG_SECONDS, eventually

    monkeypatch.setattr(bot.background, "ACKS_FIRST_LIMIT", HANG_SECONDS)
    now = [1_800_000_000.0]
    background = BackgroundWork()
    guard = ReplayGuard(db, background, now=lambda: now[0])
    stale = "v0=" + "s" * 64
    assert await guard.first_time(stale, int(now[0]) - KEEP_FOR - 10)

    def awaiting(task: asyncio.Task[Any]) -> list[str]:
        names, step = [], task.get_coro()
        while step is not None and hasattr(step, "cr_code"):
            names.append(step.cr_code.co_name)
            step = step.cr_await
        return names

    with background.awaiting_ack():
        cleaning = asyncio.ensure_future(guard.clean_up())
        await eventually(lambda: cleaning.done() or "after_awaited_acks" in awaiting(cleaning), what="the clean-up waiting or done")
        assert not cleaning.done()
        async with db.reading() as session:
            assert (await session.scalars(select(SlackRequestSeen.signature))).all() == [stale]
    assert await cleaning == 1


async def test_a_check_begun_inside_a_clicks_work_records_the_request_and_never_commits_for_the_click(db):
    """A click's ack waits for the commit of its own write (``CommitGate``). A check of the
    request's own, begun from inside that work (an answer given before any write), records the
    request, and neither it nor the clean-up it starts counts as that commit. The reverted first
    version of this let the clean-up's DELETE open the gate: the ack left before the write, and the
    rest of an open ran without a background slot (a burst of opens ran three at once with two
    slots, and the burst test waited for two forever)."""
    from bot.background import BackgroundWork
    from bot.slack.request_replays import CLEAN_UP_EVERY, ReplayGuard
    from storage.db import CommitGate, gate_commits, ungate_commits

    background = BackgroundWork()
    clock = [time.time()]
    guard = ReplayGuard(db, background, now=lambda: clock[0])
    clock[0] += CLEAN_UP_EVERY + 1  # a clean-up is due: this record starts one
    gate = CommitGate()
    check = guard.check("v0=" + "c" * 64, int(_now()))
    gate.request = check
    token = gate_commits(gate)
    try:
        assert await check.first_copy()
        await background.drain()
    finally:
        ungate_commits(token)
        gate.stop_awaiting()  # as the listener does: a gate left awaiting counts as a request waiting for a commit
    assert not gate.opened.is_set() and not gate.committed
    async with db.reading() as session:
        assert (await session.scalars(select(SlackRequestSeen.signature))).all() == ["v0=" + "c" * 64]


async def test_a_callers_request_id_reaches_the_logs_only_when_it_is_short_and_plain(door_bot):
    bot = door_bot
    stream = io.StringIO()
    handler = logs.make_handler(json_lines=True, stream=stream)
    logging.getLogger("handlers.web").addHandler(handler)
    try:
        plain, overlong, spaced = "deploy-7f3a9c", "r" * 101, "two words"
        for request_id in (plain, overlong, spaced):
            await post_hook(bot, "/hooks/deploys", {"service": "payments-api"}, "wrong-secret-0000000000", request_id=request_id)
    finally:
        logging.getLogger("handlers.web").removeHandler(handler)
    tagged = [json.loads(line)["slack_request"] for line in stream.getvalue().splitlines()]
    assert len(tagged) == 3 and tagged[0] == plain
    assert all(overlong not in tag and spaced not in tag and len(tag) <= logs.REQUEST_ID_MAX for tag in tagged)
