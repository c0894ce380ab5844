"""Logging for operators: JSON lines when LOG_FORMAT=json, the incident and the Slack request on
every line, and never a token or a secret.

The incident ID and the Slack request ID live in context variables. The HTTP endpoint sets the
request ID when a request arrives; the domain sets the incident ID as soon as it knows it. Tasks
started after the ack copy the context, so their lines carry both.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone

incident_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("incident_id", default=None)
slack_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("slack_request_id", default=None)

# Slack tokens of every kind (bot, user, app, refresh, config) look like this wherever they appear.
_TOKEN = re.compile(r"\bx(?:ox[abprse]|app)-[0-9A-Za-z-]{6,}")


def set_incident(number: int | None) -> None:
    incident_id.set(number)


def set_request(request_id: str | None) -> str:
    """Set the request ID (a fresh one when Slack's payload carries none) and return it."""
    value = request_id or uuid.uuid4().hex[:12]
    slack_request_id.set(value)
    return value


def slack_request_key(body: dict) -> str | None:
    """The ID Slack gives a request: the event ID for events, the trigger ID for commands and
    interactions (unique per user action)."""
    for key in ("event_id", "trigger_id"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return None


class Redactor:
    """Replaces tokens and the configured secrets with a placeholder in a formatted line."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = _TOKEN.sub("[redacted token]", text)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "[redacted secret]")
        return text


class ContextFilter(logging.Filter):
    """Puts the incident and Slack request IDs on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        number = incident_id.get()
        record.incident = f"INC-{number}" if number is not None else "-"
        record.slack_request = slack_request_id.get() or "-"
        return True


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(incident)s %(slack_request)s]: %(message)s")
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, incident, slack_request, exception."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._redact(record.getMessage()),
            "incident": getattr(record, "incident", "-"),
            "slack_request": getattr(record, "slack_request", "-"),
        }
        if record.exc_info:
            line["exception"] = self._redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def make_handler(*, json_lines: bool = False, secrets: Iterable[str | None] = (), stream=None) -> logging.Handler:
    """A handler writing redacted text or JSON lines with the incident and Slack request IDs."""
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter(redact) if json_lines else TextFormatter(redact))
    return handler


def configure(level: str, *, json_lines: bool = False, secrets: Iterable[str | None] = (), stream=None) -> logging.Handler:
    """Install one such handler on the root logger (replacing earlier ones) and return it."""
    handler = make_handler(json_lines=json_lines, secrets=secrets, stream=stream)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
