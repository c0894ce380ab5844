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
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

incident_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("incident_id", default=None)
slack_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("slack_request_id", default=None)

# Slack tokens of every kind (bot, user, app, refresh, config) look like this wherever they appear.
_TOKEN = re.compile(r"\bx(?:ox[abprse]|app)-[0-9A-Za-z-]{6,}", re.IGNORECASE)


def set_incident(number: int | None) -> None:
    incident_id.set(number)


# A request ID comes from outside (a caller's X-Request-Id, a payload's trigger ID): one that is
# longer, or holds anything but visible ASCII (spaces, newlines, control or bidi characters that
# would forge or hide log lines), is replaced by a fresh one.
REQUEST_ID_MAX = 100
_USABLE_REQUEST_ID = re.compile(rf"[\x21-\x7e]{{1,{REQUEST_ID_MAX}}}")


def set_request(request_id: str | None) -> str:
    """Set the request ID (a fresh one when the caller gave none or an unusable one) and return it."""
    usable = isinstance(request_id, str) and _USABLE_REQUEST_ID.fullmatch(request_id) is not None
    value = request_id if isinstance(request_id, str) and usable else uuid.uuid4().hex[:12]
    slack_request_id.set(value)
    return value


def slack_request_key(body: dict[str, Any]) -> str | None:
    """The ID Slack gives a request: the event ID for events, the trigger ID for commands and
    interactions (unique per user action)."""
    for key in ("event_id", "trigger_id"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return None


# Shorter values would redact ordinary words; every secret setting is far longer.
MIN_SECRET = 6


def _written_forms(secret: str) -> set[str]:
    """The ways a secret shows up in a line: as itself, inside a form-encoded or URL-quoted body,
    and escaped inside a JSON or Python string (a logged payload or repr)."""
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        repr(secret)[1:-1],
    }


class Redactor:
    """Replaces tokens and the configured secrets, in any letter case (a service name, a header or
    a hostname is lower-cased before it is logged), with a placeholder."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        forms = {form for secret in secrets if secret and len(secret) >= MIN_SECRET for form in _written_forms(secret)}
        longest_first = sorted(forms, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, longest_first)), re.IGNORECASE) if forms else None

    def __call__(self, text: str) -> str:
        text = _TOKEN.sub("[redacted token]", text)
        if self._secrets is not None:
            text = self._secrets.sub("[redacted secret]", text)
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
    """One JSON object a line: time, level, logger, message, incident, slack_request, exception
    (and stack, when the caller asked for one). Every field is redacted, not only the message."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "incident": str(getattr(record, "incident", "-")),
            "slack_request": str(getattr(record, "slack_request", "-")),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps({field: self._redact(value) for field, value in line.items()}, ensure_ascii=False)


def make_handler(*, json_lines: bool = False, secrets: Iterable[str | None] = (), stream: TextIO | None = None) -> logging.Handler:
    """A handler writing redacted text or JSON lines with the incident and Slack request IDs."""
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter(redact) if json_lines else TextFormatter(redact))
    return handler


def configure(level: str, *, json_lines: bool = False, secrets: Iterable[str | None] = (), stream: TextIO | None = None) -> logging.Handler:
    """Install one such handler on the root logger (replacing earlier ones) and return it."""
    handler = make_handler(json_lines=json_lines, secrets=secrets, stream=stream)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic's chatter ("Context impl SQLiteImpl.", "Will assume transactional DDL.", each
    # "Running upgrade" step) shows with LOG_LEVEL=DEBUG; the bot says the revision it reached.
    logging.getLogger("alembic").setLevel(level if level == "DEBUG" else "WARNING")
    return handler
