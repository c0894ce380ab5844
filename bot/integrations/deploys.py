"""Deploys: record them (webhook, CLI, Slack), list recent ones, and find the ones that landed in the
window before an incident's impact began.

The same deploy (service, version, environment, time) is stored once, however often a pipeline
reports it. The validation rules live in ``DeployIn`` so that the webhook, the CLI and the slash
command accept exactly the same things. ``select_in_window`` and the text parsers and renderers are
pure; ``Deploys`` is the only part that talks to the database.

The correlation window is closed at both ends: with a two-hour window, a deploy exactly two hours
before impact counts, one two hours and one second before does not, and one after impact began
does not either (it may be the fix, not the cause).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, ValidationInfo, field_validator, model_validator
from sqlalchemy import Row

from bot.core.clock import Clock, utc_now
from bot.core.columns import record_from_columns
from bot.core.command_text import CommandTextError, unescape_slack
from bot.core.text_input import escape, storable
from bot.core.tiers import SpanTooLong, parse_span
from bot.core.timefmt import slack_time, utc_clock, zoned_time
from storage import clicks as click_rows
from storage import deploys as deploy_rows
from storage import incidents as incident_rows
from storage import openings as opening_rows
from storage.db import Database, Statements
from storage.models import DEFAULT_DEPLOY_ENVIRONMENT, DEPLOY_SOURCES, Deploy

log = logging.getLogger(__name__)

DEFAULT_ENVIRONMENT = DEFAULT_DEPLOY_ENVIRONMENT
MAX_FUTURE = timedelta(minutes=5)  # clocks of CI runners drift; more than this is a wrong time
MAX_AGE = timedelta(days=30)  # the same bound as backdating an incident's start
# DORA's slowest lead-time band ends at six months; a first commit a year before its deploy is a wrong time.
MAX_LEAD_TIME = timedelta(days=365)
MAX_VERSION = 100
MAX_ENVIRONMENT = 40
MAX_AUTHOR = 100
MAX_URL = 500
MAX_DESCRIPTION = 2000
RECENT_LIMIT = 50

# The same rule as bot.core.command_text.parse_service (what people type in `service:payments-api`).
SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_HTTP_URL = re.compile(r"^https?://[^\s/?#]+(?:[/?#]\S*)?$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# The right form of each field, said after whatever was wrong with it.
FORMS = {
    "service": "the service's name: lowercase letters, digits, '.', '_' or '-', 1–80 characters, e.g. \"payments-api\"",
    "version": f'1–{MAX_VERSION} characters, e.g. "v1.42" or a commit SHA',
    "environment": f'1–{MAX_ENVIRONMENT} characters, e.g. "staging"; default: "production"',
    "time": 'ISO 8601 with a zone such as "2026-11-23T14:05:00Z", at most '
    f"{int(MAX_FUTURE.total_seconds() // 60)} minutes ahead and {MAX_AGE.days} days back; default: now",
    "author": f"who deployed, up to {MAX_AUTHOR} characters",
    "url": f"the commit or PR URL, http:// or https://, up to {MAX_URL} characters",
    "description": f"what changed, up to {MAX_DESCRIPTION} characters",
    "commit_time": 'when the deploy\'s first commit was made, ISO 8601 with a zone such as "2026-11-23T09:30:00Z", '
    f"no later than the deploy and at most {MAX_LEAD_TIME.days} days before it",
}
BODY_FORM = '{"service": "payments-api", "version": "v1.42"} (optional: environment, time, author, url, description, commit_time)'


# --------------------------------------------------------------------------- the deploy as sent


def _text(value: Any, *, required: bool, max_length: int | None, multiline: bool = False) -> str | None:
    """Strip; blank is None (or an error when required); refuse what no column should hold.

    Errors say only what is wrong; ``validation_reason`` adds the field's right form.
    """
    if value is None:
        if required:
            raise ValueError("missing")
        return None
    if not isinstance(value, str):
        raise ValueError(f"should be a JSON string, not {_json_kind(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text") from None
    text = value.strip()
    if not text:
        if required:
            raise ValueError("empty")
        return None
    if (_CONTROL_BUT_LINES if multiline else _CONTROL).search(text):
        raise ValueError("control characters are not allowed")
    text = storable(text)  # what no stored text keeps (bidirectional controls), as everywhere
    if max_length is not None and len(text) > max_length:
        raise ValueError(f"{len(text)} characters, more than {max_length}")
    return text


def _shown(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _now_from(info: ValidationInfo) -> datetime:
    now = (info.context or {}).get("now") if isinstance(info.context, dict) else None
    now = now or utc_now()
    if now.tzinfo is None:
        raise TypeError("the validation context's now must be timezone-aware")
    return now


def _zoned_json_time(value: Any, *, what: str) -> datetime | None:
    """A JSON string holding an ISO 8601 time with its zone, in UTC; None for null."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"should be a JSON string, not {_json_kind(value)}")
    text = value.strip()
    moment = zoned_time(
        text,
        unreadable=f"{_shown(text)} is not an ISO 8601 time",
        unzoned=f"{_shown(text)} has no time zone; add Z for UTC or an offset such as +01:00",
    )
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00, before the first UTC moment there is
        raise ValueError(f"{_shown(text)} is not {what}") from None


class DeployIn(BaseModel):
    """A deploy as reported (the webhook's JSON body, the CLI's arguments, the slash command).

    Validate with ``parse_deploy(data, now=...)`` (or ``model_validate(data, context={"now": now})``)
    so that "now" (the default time and the bounds of ``time``) comes from the bot's clock.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str
    version: str
    environment: str = DEFAULT_ENVIRONMENT
    time: datetime | None = None  # always set after validation (default: now)
    author: str | None = None
    url: str | None = None
    description: str | None = None
    commit_time: datetime | None = None  # the deploy's first commit: lead time for changes

    @field_validator("service", mode="before")
    @classmethod
    def _service(cls, value: Any) -> str:
        text = _text(value, required=True, max_length=None)
        assert text is not None
        name = text.lower()  # as parse_service does: "Payments-API" is payments-api
        if not SERVICE_NAME.match(name):
            raise ValueError(f"{_shown(text)} is not a service name")
        return name

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> str:
        text = _text(value, required=True, max_length=MAX_VERSION)
        assert text is not None
        return text

    @field_validator("environment", mode="before")
    @classmethod
    def _environment(cls, value: Any) -> str:
        if value is None:
            return DEFAULT_ENVIRONMENT
        text = _text(value, required=True, max_length=MAX_ENVIRONMENT)
        assert text is not None
        # One spelling per environment, so "Production" still matches the correlation's "production".
        return text.lower()

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, value: Any, info: ValidationInfo) -> datetime | None:
        moment = _zoned_json_time(value, what="a time a deploy was made")
        if moment is None:
            return None
        text = value.strip()
        now = _now_from(info)
        if moment > now + MAX_FUTURE:
            raise ValueError(
                f"{_shown(text)} ({utc_clock(moment)}) is more than {int(MAX_FUTURE.total_seconds() // 60)} "
                f"minutes in the future (now is {utc_clock(now)})"
            )
        if now - moment > MAX_AGE:
            raise ValueError(f"{_shown(text)} ({utc_clock(moment)}) is more than {MAX_AGE.days} days ago")
        return moment

    @field_validator("commit_time", mode="before")
    @classmethod
    def _commit_time(cls, value: Any) -> datetime | None:
        return _zoned_json_time(value, what="a time a commit was made")

    @field_validator("author", mode="before")
    @classmethod
    def _author(cls, value: Any) -> str | None:
        return _text(value, required=False, max_length=MAX_AUTHOR)

    @field_validator("url", mode="before")
    @classmethod
    def _url(cls, value: Any) -> str | None:
        text = _text(value, required=False, max_length=MAX_URL)
        if text is None:
            return None
        try:
            host = urlsplit(text).hostname
        except ValueError:  # e.g. an unclosed [IPv6 bracket
            host = None
        if not _HTTP_URL.match(text) or not host:
            raise ValueError(f"{_shown(text)} is not an http(s) URL")
        return text

    @field_validator("description", mode="before")
    @classmethod
    def _description(cls, value: Any) -> str | None:
        return _text(value, required=False, max_length=MAX_DESCRIPTION, multiline=True)

    # Whether the sender said when: a deploy reported without a time is "the one just done".
    _time_given: bool = PrivateAttr(default=True)

    @model_validator(mode="after")
    def _default_time(self, info: ValidationInfo) -> DeployIn:
        if self.time is None:
            self._time_given = False
            # Whole seconds: a pipeline retrying within the same second reports the same deploy.
            object.__setattr__(self, "time", _now_from(info).astimezone(UTC).replace(microsecond=0))
        if self.commit_time is not None:
            # Said against the deploy's time, which is known only now (it may be the default).
            deployed = self.deployed_at
            if self.commit_time > deployed:
                raise ValueError(
                    f"commit_time: {utc_clock(self.commit_time)} is after the deploy ({utc_clock(deployed)}); "
                    f"the first commit comes before its deploy (expected {FORMS['commit_time']})"
                )
            if deployed - self.commit_time > MAX_LEAD_TIME:
                raise ValueError(
                    f"commit_time: {utc_clock(self.commit_time)} is more than {MAX_LEAD_TIME.days} days before the deploy "
                    f"({utc_clock(deployed)}) (expected {FORMS['commit_time']})"
                )
        return self

    @property
    def deployed_at(self) -> datetime:
        assert self.time is not None
        return self.time

    @property
    def time_given(self) -> bool:
        return self._time_given


def parse_deploy(data: Any, *, now: datetime) -> DeployIn:
    """Validate a deploy (a decoded JSON body or a dict of CLI arguments). Raises ValidationError."""
    return DeployIn.model_validate(data, context={"now": now})


def validation_reason(error: ValidationError) -> str:
    """One line naming every bad field, what is wrong with it and its right form, e.g.
    ``time: '2026-11-23T14:05' has no time zone (…) (expected ISO 8601 with a zone, e.g. …)``."""
    known = ", ".join(DeployIn.model_fields)
    reasons: list[str] = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        field = ".".join(loc)
        kind = item["type"]
        if not loc:
            if kind in ("model_type", "model_attributes_type", "dict_type"):
                reason = f"the body should be a JSON object such as {BODY_FORM}"
            else:
                reason = str(item["msg"]).removeprefix("Value error, ")
        elif kind == "extra_forbidden":
            reason = f"{_shown(field, 60)} is not a field: the fields are {known}"
        else:
            problem = "missing" if kind == "missing" else str(item["msg"]).removeprefix("Value error, ")
            form = FORMS.get(field)
            reason = f"{field}: {problem} (expected {form})" if form else f"{field}: {problem}"
        if reason not in reasons:
            reasons.append(reason)
    return "; ".join(reasons)


# --------------------------------------------------------------------------- stored deploys


@dataclass(frozen=True)
class DeployRecord:
    """A stored deploy, detached from the database."""

    id: int
    service: str
    version: str
    environment: str
    deployed_at: datetime
    author: str | None
    url: str | None
    description: str | None
    source: str
    recorded_at: datetime
    commit_time: datetime | None = None


@dataclass(frozen=True)
class DeployMatch:
    """A deploy in the window before an incident's impact, and how long before impact it landed."""

    record: DeployRecord
    minutes_before_impact: int  # whole minutes, rounded down; negative if it landed after impact began


def to_record(row: Deploy | Row[Any]) -> DeployRecord:
    return record_from_columns(DeployRecord, row)


def matches_of(impact_start: datetime, rows: Iterable[Deploy]) -> list[DeployMatch]:
    """An incident's linked deploys (storage/deploys.py), each timed against its impact start."""
    return [DeployMatch(to_record(row), minutes_before(impact_start, row.deployed_at)) for row in rows]


def minutes_before(impact_start: datetime, deployed_at: datetime) -> int:
    """Floor of (impact_start - deployed_at) in minutes: 59 s is 0, 2 h exactly is 120."""
    return (impact_start - deployed_at) // timedelta(minutes=1)


def select_in_window(
    deploys: Iterable[DeployRecord],
    services: Iterable[str],
    impact_start: datetime,
    window: timedelta,
    *,
    environment: str | None = DEFAULT_ENVIRONMENT,
) -> list[DeployMatch]:
    """Deploys to ``services`` (in ``environment``; None: any) with
    impact_start - window <= deployed_at <= impact_start, newest first."""
    if impact_start.tzinfo is None:
        raise ValueError("impact_start must be timezone-aware")
    if window < timedelta(0):
        raise ValueError("the window must not be negative")
    wanted = set(services)
    start = impact_start - window
    matches = [
        DeployMatch(deploy, minutes_before(impact_start, deploy.deployed_at))
        for deploy in deploys
        if deploy.service in wanted
        and (environment is None or deploy.environment == environment)
        and start <= deploy.deployed_at <= impact_start
    ]
    matches.sort(key=lambda match: (match.record.deployed_at, match.record.id), reverse=True)
    return matches


class Deploys:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def record(self, deploy_in: DeployIn, source: str) -> tuple[DeployRecord, bool]:
        """Store the deploy once; returns the stored deploy and whether this call created it."""
        if source not in DEPLOY_SOURCES:
            raise ValueError(f"unknown deploy source {source!r}; one of {', '.join(DEPLOY_SOURCES)}")
        reported = deploy_in.model_dump(exclude={"time"})
        row = Deploy(**reported, deployed_at=deploy_in.deployed_at, source=source, recorded_at=self._clock())
        async with self._db.transaction() as session:
            stored, created = None, False
            if not deploy_in.time_given:
                # Reported without a time (the CLI without --at, `/incident deploy`), a version that
                # is already the newest of its service and environment is that deploy reported again:
                # redeploying what runs changes nothing, and a second row would be a second suspect.
                newest = await deploy_rows.newest(session, row.service, row.environment)
                if newest is not None and newest.version == row.version:
                    stored = newest
            if stored is None:
                stored, created = await deploy_rows.insert_once(session, row)
            record = to_record(stored)
        if created:
            log.info("recorded deploy #%d: %s (from %s)", record.id, deploy_summary(record), source)
        return record, created

    async def recent(
        self,
        service: str | None,
        within: timedelta,
        *,
        environment: str | None = None,
        limit: int | None = RECENT_LIMIT,
    ) -> list[DeployRecord]:
        """Deploys of ``service`` (None: every service) in the last ``within``, newest first."""
        since = self._clock() - within
        async with self._db.transaction() as session:
            rows = await deploy_rows.recent(session, service, since, environment=environment, limit=limit)
            return [to_record(row) for row in rows]

    async def correlate(
        self,
        incident_id: int,
        services: list[str],
        impact_start: datetime,
        window: timedelta,
        *,
        environment: str | None = DEFAULT_ENVIRONMENT,
    ) -> list[DeployMatch]:
        """Find the deploys to ``services`` in [impact_start - window, impact_start], link them to the
        incident (replacing earlier links) and set its ``deploy_found``, in one transaction.

        ``services`` is the incident's service and whatever it depends on. With no services there is
        nothing to check: ``deploy_found`` becomes None ("not checked") and no deploy is linked.
        Raises LookupError for an unknown incident.
        """
        if impact_start.tzinfo is None:
            raise ValueError("impact_start must be timezone-aware")

        def linked(work: Statements) -> list[DeployMatch]:
            # Locking the incident row serialises two correlations of the same incident on PostgreSQL
            # (SQLite's BEGIN IMMEDIATE already does).
            if not opening_rows.lock_incident(work, incident_id):
                raise LookupError(f"there is no incident INC-{incident_id}")
            return self.correlate_in(work, incident_id, services, impact_start, window, environment=environment, new_incident=False)

        return await self._db.run_transaction(linked)

    def correlate_in(
        self,
        work: Statements,
        incident_id: int,
        services: list[str],
        impact_start: datetime,
        window: timedelta,
        *,
        environment: str | None = DEFAULT_ENVIRONMENT,
        new_incident: bool,
    ) -> list[DeployMatch]:
        """``correlate`` inside the caller's transaction (``Database.run_transaction``), whose
        incident row nobody else may change meanwhile (locked, or, ``new_incident``, inserted by
        that transaction: it has no earlier links to replace)."""
        wanted = sorted({service.strip().lower() for service in services if service and service.strip()})
        matches: list[DeployMatch] = []
        if wanted:
            rows = opening_rows.deploys_in_window(work, wanted, impact_start - window, impact_start, environment=environment)
            matches = select_in_window([to_record(row) for row in rows], wanted, impact_start, window, environment=environment)
        opening_rows.link_deploys(work, incident_id, [match.record.id for match in matches], replace=not new_incident)
        click_rows.set_fields(work, incident_id, at=self._clock(), deploy_found=bool(matches) if wanted else None)
        return matches

    async def get(self, deploy_id: int) -> DeployRecord | None:
        async with self._db.transaction() as session:
            row = await deploy_rows.get(session, deploy_id)
            return to_record(row) if row else None

    async def for_incident(self, incident_id: int) -> list[DeployMatch]:
        """The deploys linked to an incident, newest first, timed against its impact start."""
        async with self._db.reading() as session:
            incident = await incident_rows.get(session, incident_id)
            if incident is None:
                raise LookupError(f"there is no incident INC-{incident_id}")
            return matches_of(incident.started_at, await deploy_rows.for_incident(session, incident_id))


# --------------------------------------------------------------------------- slash-command text

DEPLOY_USAGE = "/incident deploy SERVICE VERSION"
DEPLOY_EXAMPLE = "/incident deploy payments-api v1.42"
DEPLOY_COMMIT_EXAMPLE = "/incident deploy payments-api v1.42 commit:2026-11-23T09:30Z"
DEPLOYS_USAGE = "/incident deploys [service] [2h]"
MAX_LOOKBACK = MAX_AGE
COMMIT_PREFIX = "commit:"


@dataclass(frozen=True)
class DeploysQuery:
    """``/incident deploys [service] [2h]``: one service or all, over the last ``within``."""

    service: str | None
    within: timedelta


def parse_deploy_text(text: str, *, now: datetime, author: str | None = None) -> DeployIn:
    """``/incident deploy payments-api v1.42`` -> a deploy to production at ``now``;
    ``… commit:2026-11-23T09:30Z`` adds when its first commit was made (lead time for changes)."""
    words = unescape_slack(text).split()
    commit_words = [word for word in words[2:] if word.lower().startswith(COMMIT_PREFIX)]
    if len(words) not in (2, 3) or len(words) == 3 and not commit_words:
        got = "nothing" if not words else f"{len(words)} words"
        raise CommandTextError(
            f"`/incident deploy` takes a service and a version (got {got}): `{DEPLOY_USAGE}`, e.g. `{DEPLOY_EXAMPLE}`; "
            f"add the first commit's time for lead time, e.g. `{DEPLOY_COMMIT_EXAMPLE}`."
        )
    service_text, version = words[:2]
    service = _service_word(service_text, usage=DEPLOY_USAGE)
    if len(version) > MAX_VERSION:
        raise CommandTextError(f"The version is {len(version)} characters; keep it to {MAX_VERSION}, e.g. `{DEPLOY_EXAMPLE}`.")
    given: dict[str, str | None] = {"service": service, "version": version, "author": author}
    if commit_words:
        given["commit_time"] = commit_words[0][len(COMMIT_PREFIX) :]
    try:
        return parse_deploy(given, now=now)
    except ValidationError as error:
        raise CommandTextError(f"{validation_reason(error)}. Usage: `{DEPLOY_USAGE}`, e.g. `{DEPLOY_COMMIT_EXAMPLE}`.") from None


def parse_deploys_text(text: str, *, default_within: timedelta) -> DeploysQuery:
    """``/incident deploys``, ``/incident deploys payments-api``, ``/incident deploys 6h``,
    ``/incident deploys payments-api 6h`` (either order). A word that reads as a duration is one."""
    service: str | None = None
    within: timedelta | None = None
    words = unescape_slack(text).split()
    if len(words) > 2:
        raise CommandTextError(
            f"`/incident deploys` takes at most a service and a duration: `{DEPLOYS_USAGE}`, e.g. `/incident deploys payments-api 6h`."
        )
    for word in words:
        try:
            span = parse_span(word)
        except SpanTooLong:
            raise CommandTextError(
                f"`{word[:40]}` is more than {MAX_LOOKBACK.days} days; look back at most `{MAX_LOOKBACK.days}d`."
            ) from None
        except ValueError:
            span = None
        if span is not None:
            if within is not None:
                raise CommandTextError(f"Give one duration, not two: `{DEPLOYS_USAGE}`.")
            if span <= timedelta(0):
                raise CommandTextError(f"`{word}` is no time at all; look back e.g. `2h` or `1d`.")
            if span > MAX_LOOKBACK:
                raise CommandTextError(f"`{word}` is more than {MAX_LOOKBACK.days} days; look back at most `{MAX_LOOKBACK.days}d`.")
            within = span
            continue
        if service is not None:
            raise CommandTextError(
                f"Give one service, not two (`{service}` and `{word}`): `{DEPLOYS_USAGE}`. A duration is written like 30m, 2h, 1d or 1w."
            )
        service = _service_word(word, usage=DEPLOYS_USAGE, also=" or a duration like 30m, 2h, 1d")
    return DeploysQuery(service=service, within=within or default_within)


def _service_word(word: str, *, usage: str, also: str = "") -> str:
    name = word.strip().lower()
    if not SERVICE_NAME.match(name):
        raise CommandTextError(
            f"`{word}` is not a service name{also}. A service name is lowercase letters, digits, '.', '_' "
            f"or '-', up to 80 characters, e.g. `payments-api`. Usage: `{usage}`."
        )
    return name


# --------------------------------------------------------------------------- rendering


def deploy_summary(deploy: DeployRecord) -> str:
    """Plain: ``payments-api v1.42 (production) at 2026-11-23 14:05 UTC``."""
    return f"{deploy.service} {deploy.version} ({deploy.environment}) at {utc_clock(deploy.deployed_at)}"


def link_label(url: str) -> str:
    lowered = url.lower()
    if "/pull/" in lowered or "/merge_requests/" in lowered or "/pull-requests/" in lowered:
        return "PR"
    if "/commit/" in lowered or "/commits/" in lowered:
        return "commit"
    return "link"


def deploy_line(deploy: DeployRecord | DeployMatch, *, mrkdwn: bool = True) -> str:
    """One line per deploy: service, version, environment, when (a Slack date token in mrkdwn),
    author, link, and for a match how long before impact it landed.

    mrkdwn: ``*payments-api* `v1.42` (production) · <!date^…> · by alice · <https://…|PR> · 12 min before impact``
    plain:  ``payments-api v1.42 (production) · 2026-11-23 14:05 UTC · by alice · https://… · 12 min before impact``
    """
    match = deploy if isinstance(deploy, DeployMatch) else None
    record = deploy.record if isinstance(deploy, DeployMatch) else deploy
    if mrkdwn:
        version = escape(record.version).replace("`", "'")
        parts = [
            f"*{escape(record.service)}* `{version}` ({escape(record.environment)})",
            slack_time(record.deployed_at),
        ]
        if record.author:
            parts.append(f"by {escape(record.author)}")
        if record.url:
            parts.append(f"<{escape(record.url).replace('|', '%7C')}|{link_label(record.url)}>")
    else:
        parts = [f"{record.service} {record.version} ({record.environment})", utc_clock(record.deployed_at)]
        if record.author:
            parts.append(f"by {record.author}")
        if record.url:
            parts.append(record.url)
    if match is not None:
        parts.append(impact_distance(match.minutes_before_impact))
    return " · ".join(parts)


def impact_distance(minutes_before_impact: int) -> str:
    if minutes_before_impact < 0:
        return f"{-minutes_before_impact} min after impact began"
    return f"{minutes_before_impact} min before impact"
