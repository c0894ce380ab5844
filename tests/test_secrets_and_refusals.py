"""Secrets stay secret, and garbage gets a 4xx (issue 14, section 4).

- Every setting marked secret is redacted from every field of every log line, in any letter case.
- The request ID a caller sends is bounded before it reaches a log line.
- Unauthenticated garbage at any HTTP door is refused with 400, 401 or 413, one WARNING line,
  counted as refused (not as an error), and nothing is written.
- A signed Slack request replayed within Slack's five minutes is refused, and nothing is written twice.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import time
import uuid
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import func, select

from bot import logs
from bot.config import Settings, is_secret_field
from bot.metrics import REGISTRY
from storage.models import Base
from tests.conftest import SIGNING_SECRET, start_bot

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
        info.alias or name for name, info in Settings.model_fields.items()
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
    secrets = [distinctive_secret(name) + "/+ &\"" for name in SECRET_SETTING_NAMES]
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
    assert leaked(text, [s.removesuffix("/+ &\"") for s in secrets]) == []


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
        for json_lines, stream in zip((True, False), streams)
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
                await post_hook(bot, "/hooks/deploys", deploy, deploy_secret, request_id=variant)
                await post_hook(bot, "/hooks/deploys", deploy, variant, request_id=variant)
                alert = {"service": "payments-api", "title": f"down {variant}", "status": "firing",
                         "dedup_key": variant, "severity": "warning", "started_at": "2026-11-23T10:02:00Z"}
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
    "json type, body not JSON, no headers": _forged(b"{not json", "application/json", **{"X-Slack-Request-Timestamp": "", "X-Slack-Signature": ""}),
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
    "right secret, oversized": ({"Content-Type": "application/json", "X-Incident-Bot-Secret": WEBHOOK_SECRET}, b"[" + b"1," * (1024 * 1024) + b"1]"),
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
        return {
            table.name: await session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def errors_total() -> float:
    return sum(
        s.value for family in REGISTRY.collect() if family.name == "incident_bot_errors" for s in family.samples
        if s.name == "incident_bot_errors_total"
    )


def refused_total(door: str) -> float:
    return sum(
        s.value for family in REGISTRY.collect() if family.name == "incident_bot_refused_requests" for s in family.samples
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
