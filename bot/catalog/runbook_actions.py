"""Runbook actions: the one-click requests a runbook's front matter declares under ``actions:``.

Each action is an HTTP request the war room can make with one confirmed click (a CI pipeline's
rollback job, a feature-flag switch, a scale-up)::

    actions:
      - id: rollback
        label: Roll back payments-api
        confirm: Redeploy the last good payments-api release?
        permission: commander
        mitigation: true
        request:
          url: https://ci.shopwise.example/api/v4/projects/42/trigger/pipeline
          method: POST
          headers:
            Authorization: {env: ROLLBACK_TOKEN, prefix: "Bearer "}
          body: {ref: main, variables: {SERVICE: "{service}", INCIDENT: "{number}"}}

A secret is never written in the file: a header's value is either plain text that does not look
like a credential, or a reference to an environment variable read when the action runs. The body is
a JSON template that may name the incident's ``{service}``, ``{severity}`` and ``{number}`` and
nothing else, so no title, note or person ever leaves through it. Pure: pydantic and the standard
library only.
"""

from __future__ import annotations

import ipaddress
import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from bot.catalog.services import ENV_VAR_NAME, nonempty, strip_text
from bot.core.config_fields import PERMISSION_LEVELS, PermissionLevel

# Slack's limits: a button's text, and a confirmation dialog's text.
MAX_LABEL = 75
MAX_CONFIRM = 300
MAX_ACTIONS = 5
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 30.0
# An action's levels are those of every other action (bot/incidents/permissions.py).
ACTION_PERMISSION_LEVELS = PERMISSION_LEVELS
# What a body template may name: the incident's facts that say nothing private.
BODY_FIELDS = ("service", "severity", "number")
METHODS = ("POST", "PUT", "PATCH", "DELETE", "GET")

ACTION_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
# Header names that carry credentials whatever their value looks like.
_SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|password|passwd|api[-_]?key|signature|session|credential", re.I)
# Values that look like a credential: an auth scheme, or a long run of key-like characters with
# letters and digits mixed.
_SCHEME = re.compile(r"^\s*(bearer|basic|token|digest|apikey)\s+\S", re.I)
_KEYLIKE = re.compile(r"[A-Za-z0-9+/=_.~-]{20,}")
# Headers the HTTP client sets itself.
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})

HEADER_FORM = 'Authorization: {env: ROLLBACK_TOKEN, prefix: "Bearer "} (the name of an environment variable holding the secret)'


@dataclass(frozen=True)
class ActionFacts:
    """What of an incident a request may carry."""

    service: str | None
    severity: str
    number: int


# --------------------------------------------------------------------------- headers


class EnvHeader(BaseModel):
    """A header's value read from the environment when the action runs: ``prefix`` + the variable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str
    prefix: str = ""

    @field_validator("env", mode="before")
    @classmethod
    def _variable(cls, value: Any) -> Any:
        value = strip_text(value)
        if not isinstance(value, str) or not ENV_VAR_NAME.match(value):
            raise ValueError(f"env: give the name of an environment variable in capitals, e.g. {HEADER_FORM}")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if "\r" in value or "\n" in value or len(value) > 40:
            raise ValueError('prefix: a short text put before the value, like "Bearer "')
        return value


def _looks_secret(value: str) -> bool:
    if _SCHEME.match(value):
        return True
    return any(re.search(r"[A-Za-z]", run) and re.search(r"[0-9]", run) for run in _KEYLIKE.findall(value))


def _headers(value: Any) -> Any:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"should be a mapping of header names to values, e.g. {HEADER_FORM}")
    headers: dict[str, str | EnvHeader] = {}
    for name, header in value.items():
        if not isinstance(name, str) or not HEADER_NAME.match(name):
            raise ValueError(f"{str(name)[:40]!r} is not a header name")
        if name.lower() in _RESERVED_HEADERS:
            raise ValueError(f"{name}: set by the bot itself; leave it out")
        if isinstance(header, dict):
            try:
                headers[name] = EnvHeader.model_validate(header)
            except ValidationError as error:
                raise ValueError(f"{name}: {'; '.join(str(e['msg']).removeprefix('Value error, ') for e in error.errors())}") from None
            continue
        if not isinstance(header, (str, int, float)) or isinstance(header, bool):
            raise ValueError(f"{name}: should be text, or {HEADER_FORM}")
        text = str(header)
        if _SECRET_HEADER.search(name) or _looks_secret(text):
            raise ValueError(
                f"{name}: looks like a secret written in the runbook; never write one in the file: put it in an environment "
                f"variable and write {name}: {{env: VARIABLE_NAME}} (e.g. {HEADER_FORM})"
            )
        if "\r" in text or "\n" in text or len(text) > 500:
            raise ValueError(f"{name}: should be one line of text")
        headers[name] = text
    return headers


# --------------------------------------------------------------------------- the body template


def template_fields(text: str) -> list[str]:
    """The fields a template string names (``{service}``); ValueError naming what is wrong."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as error:
        raise ValueError(f"{text[:60]!r}: {error}; write {{{{ and }}}} for a literal brace") from None
    names: list[str] = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in BODY_FIELDS or spec or conversion:
            allowed = ", ".join(f"{{{field}}}" for field in BODY_FIELDS)
            raise ValueError(
                f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}} is unknown; a body may name only {allowed}"
            )
        names.append(name)
    return names


def _check_template(value: Any, where: str = "") -> None:
    """Raises ValueError naming where in the body (``variables.SERVICE``) a value is wrong."""
    at = f"{where}: " if where else ""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in BODY_FIELDS and next(iter(value.values())) is None:
            # YAML reads an unquoted {number} as a mapping.
            raise ValueError(f'{at}write "{{{next(iter(value))}}}" in quotes')
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{at}keys should be text")
            _check_template(item, f"{where}.{key}" if where else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_template(item, f"{where}[{index}]")
    elif isinstance(value, str):
        try:
            template_fields(value)
        except ValueError as error:
            raise ValueError(f"{at}{error}") from None
    elif value is not None and not isinstance(value, (bool, int, float)):
        raise ValueError(f"{at}should be JSON (text, numbers, true/false, lists, mappings)")


def _body(value: Any) -> Any:
    _check_template(value)
    return value


def fill(template: Any, facts: ActionFacts) -> Any:
    """The body for ``facts``: each ``{field}`` replaced; a string that is only ``{number}`` becomes
    the number itself, only ``{service}`` with no service becomes null."""
    if isinstance(template, dict):
        return {key: fill(item, facts) for key, item in template.items()}
    if isinstance(template, list):
        return [fill(item, facts) for item in template]
    if isinstance(template, str):
        values = {"service": facts.service or "", "severity": facts.severity, "number": facts.number}
        if template == "{number}":
            return facts.number
        if template == "{service}" and facts.service is None:
            return None
        return template.format_map(values)
    return template


# --------------------------------------------------------------------------- the request


def _url(value: str) -> str:
    """https, or http to this host only (a sidecar, a test): a request never crosses a network in clear."""
    nonempty(value)
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError(f"{value[:80]!r} is not an https URL (https://ci.example.com/…)")
    if parts.username or parts.password:
        raise ValueError("a URL must not carry a user or password; send the secret in a header from an environment variable")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ValueError(f"{value[:80]!r}: use https (http only to this host: localhost, 127.0.0.1)")
    if "{" in value or "}" in value:
        raise ValueError("a URL is used as written: put the incident's fields in the body")
    return value


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _method(value: Any) -> Any:
    text = str(value).strip().upper() if isinstance(value, str) else value
    if text not in METHODS:
        raise ValueError(f"{value!r} is not a method; use one of {', '.join(METHODS)}")
    return text


class ActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Annotated[str, BeforeValidator(strip_text), AfterValidator(_url)]
    method: Annotated[str, BeforeValidator(_method)] = "POST"
    headers: Annotated[dict[str, str | EnvHeader], BeforeValidator(_headers)] = {}
    body: Annotated[Any, AfterValidator(_body)] = None
    timeout_seconds: Annotated[float, Field(gt=0, le=MAX_TIMEOUT)] = DEFAULT_TIMEOUT

    def variables(self) -> list[str]:
        """The environment variables the headers read, in order."""
        return [header.env for header in self.headers.values() if isinstance(header, EnvHeader)]


def _action_id(value: str) -> str:
    if not ACTION_ID.match(value):
        raise ValueError(f"{value[:40]!r} is not an action id; use lowercase letters, digits, - and _ (e.g. rollback)")
    return value


def _limited(limit: int, what: str) -> AfterValidator:
    def check(value: str) -> str:
        nonempty(value)
        if len(value) > limit:
            raise ValueError(f"{len(value)} characters; keep it to {limit} ({what})")
        return value

    return AfterValidator(check)


class RunbookAction(BaseModel):
    """One action of a runbook."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, BeforeValidator(strip_text), AfterValidator(_action_id)]
    label: Annotated[str, BeforeValidator(strip_text), _limited(MAX_LABEL, "it is the button's text")]
    confirm: Annotated[str, BeforeValidator(strip_text), _limited(MAX_CONFIRM, "it is the confirmation dialog's text")]
    permission: Annotated[PermissionLevel, BeforeValidator(strip_text)]
    mitigation: bool = False
    request: ActionRequest

    def body_bytes(self, facts: ActionFacts) -> bytes | None:
        if self.request.body is None:
            return None
        return json.dumps(fill(self.request.body, facts), ensure_ascii=False).encode()


def _unique_ids(actions: list[RunbookAction]) -> list[RunbookAction]:
    if len(actions) > MAX_ACTIONS:
        raise ValueError(f"{len(actions)} actions; keep it to {MAX_ACTIONS} (each is a button on the runbook message)")
    seen: set[str] = set()
    for action in actions:
        if action.id in seen:
            raise ValueError(f"id {action.id!r} is used twice; give each action its own id")
        seen.add(action.id)
    return actions


RunbookActions = Annotated[list[RunbookAction], AfterValidator(_unique_ids)]


# --------------------------------------------------------------------------- at run time


@dataclass(frozen=True)
class ResolvedHeaders:
    headers: dict[str, str]
    missing: list[str]  # variables unset (or not one line of text): nothing may be sent
    secrets: list[str]  # the values read from the environment, for the logs to redact


def resolve_headers(request: ActionRequest, environ: Mapping[str, str]) -> ResolvedHeaders:
    """The headers to send, their secrets read from ``environ``. A variable that is unset, empty, or
    holds more than one line (it could not be a header) is ``missing``."""
    headers: dict[str, str] = {}
    missing: list[str] = []
    secrets: list[str] = []
    for name, header in request.headers.items():
        if isinstance(header, str):
            headers[name] = header
            continue
        value = environ.get(header.env, "").strip()
        if not value or "\r" in value or "\n" in value or not value.isprintable():
            missing.append(header.env)
            continue
        secrets.append(value)
        headers[name] = header.prefix + value
    return ResolvedHeaders(headers, missing, secrets)


def unset_variables(actions: list[RunbookAction] | tuple[RunbookAction, ...], environ: Mapping[str, str]) -> list[str]:
    return sorted({variable for action in actions for variable in resolve_headers(action.request, environ).missing})


def secret_values(actions: list[RunbookAction] | tuple[RunbookAction, ...], environ: Mapping[str, str]) -> list[str]:
    """Every value the actions' headers read from ``environ``: secrets the logs redact."""
    return sorted({value for action in actions for value in resolve_headers(action.request, environ).secrets})


Outcome = Literal["succeeded", "failed", "unknown"]
