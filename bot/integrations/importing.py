"""Past incidents in and out: import them from a file, export every incident with its phase times.

A team starting with the bot has months of history elsewhere; importing it gives the MTTR
reports a baseline from day one. Parsing and validation are pure (``parse_file`` and what it
calls take the text and "now", and touch no database); ``Importer`` and ``export_incidents`` are
the only parts that talk to the database, through ``storage.history``.

Formats
=======

``csv``: a header row, then one incident per line. Column names are case-insensitive and may
stand in any order; an unknown column is an error that lists the known ones.

================== ======== =====================================================================
column             required what it holds
================== ======== =====================================================================
id                 yes      the incident's ID in the tool it came from (1–200 characters),
                            unique in the file; importing the same ID again finds it
title              yes      1–150 characters
severity           yes      P1, P2, P3 or P4
service            no       e.g. payments-api: lowercase letters, digits, '.', '_' or '-'
detection_method   no       alert, customer_report, engineer or synthetic (default: engineer)
started_at         yes      impact began: ISO 8601 with a zone, e.g. 2026-11-23T14:05:00Z
detected_at        yes      someone noticed (the incident was opened), ISO 8601 with a zone
diagnosed_at       no       cause identified, ISO 8601 with a zone
mitigated_at       no       rollback or fix applied, ISO 8601 with a zone
verified_at        no       service confirmed healthy (restored), ISO 8601 with a zone
commander          no       the incident commander's Slack user ID, e.g. U024BE7LH
================== ======== =====================================================================

The times follow the phase model (``bot.core.phases``): each is not earlier than the one before it,
and an empty time with a later one present is filled with that later time and marked implied,
as a button click out of order does (``plan_stamp``). An incident with ``verified_at`` is
imported resolved, any other open. Times more than five minutes in the future are refused.

What ``export`` adds to these columns is accepted too, so an export can be imported elsewhere:
``diagnosed_implied`` and ``mitigated_implied`` (true/false; true means the time was filled from
the next stamp, and must equal it) keep the implied marks; ``number``, ``status``,
``time_to_restore_seconds`` and ``detect_seconds`` … ``verify_seconds`` follow from the times and
are ignored.

``json``: what ``export --format json`` writes: a list of objects whose keys are the columns
above (null for an empty value). Same rules; stored under the same source as ``csv``, so the
same incident in either form is found again.

``pagerduty``: the JSON of PagerDuty's REST API "List incidents" (``GET /incidents``): either the
response ``{"incidents": [...], "limit": ..., "more": ...}`` or a bare list of incident objects.

- ``id`` is the external ID; ``title`` (else ``summary``) the title, cut to 150 characters.
- severity: ``priority.summary`` when it is P1–P4 (any case); otherwise ``urgency``:
  high → P2, low → P3. PagerDuty's urgency only says whether to wake someone, so it never maps
  to P1 or P4; a priority scheme other than P1–P4 (say "SEV-1", "P5") falls back to urgency.
- ``service.summary``, lowercased, with each run of other characters than letters, digits, '.',
  '_' and '-' replaced by '-' ("Checkout API (EU)" → "checkout-api-eu"); none when absent.
- detection method: alert. ``created_at`` is both the impact start and the detection:
  PagerDuty knows no earlier impact time, so the detect phase counts 0.
- ``status == "resolved"``: ``last_status_change_at`` is the restore time (verified); diagnosed
  and mitigated are implied at that same time. PagerDuty does not record when the cause was found
  or the fix applied, so the phase split of a PagerDuty import is unknown: its time to restore
  (created → resolved) is right, but the phase model puts all of it in diagnose (detect, mitigate
  and verify count 0, diagnosed and mitigated marked implied), as when a responder clicks
  *Verified* first. Triggered and acknowledged incidents are imported open.
- commander: none (PagerDuty users are not Slack users).

Whatever the format, every problem in the file is reported (CSV: the line; JSON: the index in the
list and the incident's id) with the field and its right form, and if there is any, nothing is
written. The new incidents are then stored a batch at a time, each batch a transaction of its own
(a running bot's clicks go between two batches); a database failing part-way leaves whole batches,
and the same import run again stores the rest.

Export
======

``export`` writes the import columns plus ``number`` (INC-n), ``status``,
``time_to_restore_seconds``, ``detect_seconds``, ``diagnose_seconds``, ``mitigate_seconds``,
``verify_seconds``, ``diagnosed_implied`` and ``mitigated_implied``; times in UTC ISO 8601 to
the microsecond. ``id`` is the external ID of an imported incident, else its number (INC-n).
Rows are streamed from the database: memory does not grow with the number of incidents.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any, TextIO

from sqlalchemy import RowMapping
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.core.clock import Clock
from bot.core.command_text import DETECTION_METHODS, MAX_TITLE, IncidentOpening, severity_named
from bot.core.phases import PHASES, Stamp, StampRefused, StampValue, Timeline, plan_stamp
from bot.core.text_input import spreadsheet_cell, spreadsheet_text, storable
from bot.core.timefmt import zoned_time
from storage import history
from storage.db import Database
from storage.models import TIMELINE_STAMPS

log = logging.getLogger(__name__)

FORMATS = ("csv", "json", "pagerduty")
EXPORT_FORMATS = ("csv", "json")
# What ``Incident.imported_from`` records for each format; the same rows in CSV or JSON are one source.
SOURCES = {"csv": "csv", "json": "csv", "pagerduty": "pagerduty"}

IMPORT_COLUMNS = (
    "id",
    "title",
    "severity",
    "service",
    "detection_method",
    "started_at",
    "detected_at",
    "diagnosed_at",
    "mitigated_at",
    "verified_at",
    "commander",
)
REQUIRED_COLUMNS = ("id", "title", "severity", "started_at", "detected_at")
STAMP_COLUMNS = {Stamp.DIAGNOSED: "diagnosed_at", Stamp.MITIGATED: "mitigated_at", Stamp.VERIFIED: "verified_at"}
IMPLIED_COLUMNS = {Stamp.DIAGNOSED: "diagnosed_implied", Stamp.MITIGATED: "mitigated_implied"}
PHASE_COLUMNS = tuple(f"{phase.value}_seconds" for phase in PHASES)
EXPORT_COLUMNS = (*IMPORT_COLUMNS, "number", "status", "time_to_restore_seconds", *PHASE_COLUMNS, *IMPLIED_COLUMNS.values())
KNOWN_COLUMNS = frozenset(EXPORT_COLUMNS)

MAX_ID = 200
MAX_SERVICE = 80
INSERT_BATCH = 1000
# SQLite's busy handler sleeps up to 100 ms between two looks at a taken lock: the gap an import
# leaves between its batches, so that another process's writer waiting for the lock gets it.
BATCH_GAP = 0.1
MAX_FUTURE = timedelta(minutes=5)  # clock drift; anything later is a wrong time, not a past incident
PAGERDUTY_URGENCY = {"high": "P2", "low": "P3"}
PAGERDUTY_STATUSES = ("triggered", "acknowledged", "resolved")

TIME_FORM = 'ISO 8601 with a zone, e.g. "2026-11-23T14:05:00Z" or "2026-11-23T15:05:00+01:00"'
FORMS = {
    "id": f"the incident's ID in the tool it came from, 1–{MAX_ID} characters, unique in the file",
    "title": f"1–{MAX_TITLE} characters",
    "severity": "P1, P2, P3 or P4",
    "service": f'lowercase letters, digits, ".", "_" or "-", 1–{MAX_SERVICE} characters, e.g. "payments-api", or empty',
    "detection_method": "alert, customer_report, engineer or synthetic; empty means engineer",
    "started_at": TIME_FORM,
    "detected_at": TIME_FORM,
    "diagnosed_at": f"{TIME_FORM}, or empty",
    "mitigated_at": f"{TIME_FORM}, or empty",
    "verified_at": f"{TIME_FORM}, or empty",
    "commander": 'a Slack user ID such as "U024BE7LH" (profile → ⋮ → Copy member ID), or empty',
    "diagnosed_implied": "true or false, or empty",
    "mitigated_implied": "true or false, or empty",
}

_SERVICE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_NOT_SERVICE_CHARS = re.compile(r"[^a-z0-9._-]+")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9_]{1,31}$")  # loose on purpose: whatever the bot stored must re-import
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PRIORITY = re.compile(r"^p([1-4])$", re.IGNORECASE)
_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0", ""}


# --------------------------------------------------------------------------- what a file holds


@dataclass(frozen=True)
class ImportProblem:
    """One thing wrong with the file: where (a line, or an index and id), the field, and the fix."""

    where: str
    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}" if self.field else f"{self.where}: {self.message}"


@dataclass(frozen=True)
class ImportedIncident(IncidentOpening):
    """An incident as the file describes it, validated and with its implied stamps filled in."""

    external_id: str
    where: str  # "line 7" or 'incidents[3] (id "PT4KHLK")', for reports
    diagnosed_at: datetime | None = None
    diagnosed_implied: bool = False
    mitigated_at: datetime | None = None
    mitigated_implied: bool = False
    verified_at: datetime | None = None
    commander: str = ""

    @property
    def status(self) -> str:
        return "resolved" if self.verified_at is not None else "open"

    @property
    def label(self) -> str:
        """Where it is in the file and its id: 'line 7 (id "JIRA-101")', 'incidents[3] (id "PT4KHLK")'."""
        marker = f'(id "{self.external_id}")'
        return self.where if self.where.endswith(marker) else f"{self.where} {marker}"

    @property
    def timeline(self) -> Timeline:
        stamps = {Stamp.DETECTED: StampValue(self.detected_at)}
        for stamp, value, implied in (
            (Stamp.DIAGNOSED, self.diagnosed_at, self.diagnosed_implied),
            (Stamp.MITIGATED, self.mitigated_at, self.mitigated_implied),
            (Stamp.VERIFIED, self.verified_at, False),
        ):
            if value is not None:
                stamps[stamp] = StampValue(value, None, implied)
        return Timeline(started_at=self.started_at, stamps=stamps)

    def facts(self) -> dict[str, Any]:
        """The stored facts an import compares to find a changed row (``history.COMPARED``)."""
        return {
            "title": self.title,
            "severity": self.severity,
            "service": self.service,
            "detection_method": self.detection_method,
            "started_at": self.started_at,
            "detected_at": self.detected_at,
            "diagnosed_at": self.diagnosed_at,
            "diagnosed_implied": self.diagnosed_implied,
            "mitigated_at": self.mitigated_at,
            "mitigated_implied": self.mitigated_implied,
            "verified_at": self.verified_at,
            "commander": self.commander,
        }


@dataclass
class ParsedImport:
    format: str
    incidents: list[ImportedIncident] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)

    @property
    def source(self) -> str:
        return SOURCES[self.format]

    @property
    def ok(self) -> bool:
        return not self.problems


class _Bad(ValueError):
    """A field's value is wrong; the message says how, and the right form."""


# --------------------------------------------------------------------------- one field at a time


def _text(value: str, name: str, *, max_length: int, required: bool) -> str | None:
    value = value.strip()
    if not value:
        if required:
            raise _Bad(f"is missing; use {FORMS[name]}")
        return None
    if _CONTROL.search(value):
        raise _Bad(f"contains a control character (a tab or line break); use {FORMS[name]}")
    value = storable(value)  # what no stored text keeps (bidirectional controls), as everywhere
    if len(value) > max_length:
        raise _Bad(f"is {len(value)} characters long; use {FORMS[name]}")
    return value


def parse_title(value: str) -> str:
    # Line breaks inside a quoted CSV title become spaces: a title is one line wherever it is shown.
    title = " ".join(storable(value).split())
    if not title:
        raise _Bad(f"is missing; use {FORMS['title']}")
    if len(title) > MAX_TITLE:
        raise _Bad(f"is {len(title)} characters long; use {FORMS['title']}")
    return title


def parse_severity(value: str) -> str:
    if not value.strip():
        raise _Bad(f"is missing; use {FORMS['severity']}")
    severity = severity_named(value)
    if severity is None:
        raise _Bad(f'"{value.strip()}" is not a severity; use {FORMS["severity"]}')
    return severity


def parse_service(value: str) -> str | None:
    service = value.strip().lower()
    if not service:
        return None
    if not _SERVICE.match(service):
        raise _Bad(f'"{value.strip()}" is not a service name; use {FORMS["service"]}')
    return service


def parse_detection_method(value: str) -> str:
    text = value.strip().lower()
    if not text:
        return "engineer"
    method = DETECTION_METHODS.get(text)
    if method is None:
        raise _Bad(f'"{value.strip()}" is not a detection method; use {FORMS["detection_method"]}')
    return method


def parse_commander(value: str) -> str:
    commander = value.strip()
    if commander.startswith("<@") and commander.endswith(">"):
        commander = commander[2:-1].split("|", 1)[0]  # a pasted Slack mention
    if not commander:
        return ""
    if not _SLACK_USER.match(commander):
        raise _Bad(f'"{value.strip()}" is not a Slack user ID; use {FORMS["commander"]}')
    return commander


def parse_time(value: str, name: str, *, now: datetime) -> datetime | None:
    """ISO 8601 with a zone -> an aware UTC datetime; empty -> None."""
    text = value.strip()
    if not text:
        return None
    moment = zoned_time(
        text, unreadable=f'"{text}" is not a time; use {TIME_FORM}', unzoned=f'"{text}" has no time zone; use {TIME_FORM}', error=_Bad
    ).astimezone(UTC)
    if moment > now + MAX_FUTURE:
        raise _Bad(f'"{text}" is in the future; only past incidents can be imported')
    return moment


def parse_flag(value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Bad(f'"{value.strip()}" is not true or false')


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- the phase rules


def plan_phase_times(
    started_at: datetime,
    detected_at: datetime,
    given: Mapping[Stamp, datetime | None],
    implied: Mapping[Stamp, bool] | None = None,
) -> Timeline:
    """Apply the phase model to a past incident's times, as the buttons would have.

    Each given stamp goes through ``plan_stamp`` in order, so a stamp earlier than the one before
    it is refused with the same rule as a click, and an empty stamp with a later one present is
    filled with that later time, marked implied. ``implied`` (from an export) says a given time
    was itself filled that way; it must then equal the time that fills it. Raises ``_Bad`` with
    the name of the offending column in ``args[1]``.
    """
    implied = implied or {}
    if started_at > detected_at:
        raise _Bad(
            f"{_iso(started_at)} is later than detected_at ({_iso(detected_at)}); impact starts before (or when) it is detected",
            "started_at",
        )
    timeline = Timeline(started_at=started_at, stamps={Stamp.DETECTED: StampValue(detected_at)})
    for stamp, column in STAMP_COLUMNS.items():
        at = given.get(stamp)
        if at is None or implied.get(stamp):
            continue
        try:
            plan = plan_stamp(timeline, stamp, at, by="")
        except StampRefused:
            before, value = timeline.last_stamp
            before_column = "detected_at" if before is Stamp.DETECTED else STAMP_COLUMNS[before]
            raise _Bad(
                f"{_iso(at)} is earlier than {before_column} ({_iso(value.at)}); each phase time must not be "
                "earlier than the one before it",
                column,
            ) from None
        assert plan is not None
        writes = {s: StampValue(at, None, implied=s in plan.implied) for s in plan.writes()}
        timeline = Timeline(started_at=started_at, stamps={**timeline.stamps, **writes})
    for stamp, flagged in implied.items():
        if not flagged:
            continue
        column, flag = STAMP_COLUMNS[stamp], IMPLIED_COLUMNS[stamp]
        filled = timeline.get(stamp)
        if filled is None:
            raise _Bad(f"is true but no later time is given to fill {column} from", flag)
        given_at = given.get(stamp)
        if given_at is not None and given_at != filled.at:
            raise _Bad(
                f"is true, so {column} ({_iso(given_at)}) must equal the next time given ({_iso(filled.at)})",
                flag,
            )
    return timeline


# --------------------------------------------------------------------------- rows of columns (CSV, JSON)


def _incident_from_cells(cells: Mapping[str, str], where: str, *, now: datetime) -> tuple[ImportedIncident | None, list[ImportProblem]]:
    """Validate one row of the documented columns; every bad field is reported, not just the first."""
    problems: list[ImportProblem] = []
    values: dict[str, Any] = {}

    def check(name: str, parse: Callable[[str], object]) -> None:
        try:
            values[name] = parse(cells.get(name, ""))
        except _Bad as bad:
            problems.append(ImportProblem(where, name, str(bad)))

    check("id", lambda v: _text(v, "id", max_length=MAX_ID, required=True))
    check("title", parse_title)
    check("severity", parse_severity)
    check("service", parse_service)
    check("detection_method", parse_detection_method)
    for name in ("started_at", "detected_at", "diagnosed_at", "mitigated_at", "verified_at"):
        check(name, partial(parse_time, name=name, now=now))
    for name in ("started_at", "detected_at"):
        if name in values and values[name] is None:
            del values[name]
            problems.append(ImportProblem(where, name, f"is missing; use {TIME_FORM}"))
    check("commander", parse_commander)
    for name in IMPLIED_COLUMNS.values():
        check(name, parse_flag)
    timeline: Timeline | None = None
    times = ("started_at", "detected_at", *STAMP_COLUMNS.values(), *IMPLIED_COLUMNS.values())
    if all(name in values for name in times):
        # The order of the times is checked even when another field is wrong: one pass shows all.
        try:
            timeline = plan_phase_times(
                values["started_at"],
                values["detected_at"],
                {stamp: values[column] for stamp, column in STAMP_COLUMNS.items()},
                {stamp: values[column] for stamp, column in IMPLIED_COLUMNS.items()},
            )
        except _Bad as bad:
            problems.append(ImportProblem(where, bad.args[1], bad.args[0]))
    if problems or timeline is None:
        return None, problems
    return _incident(values["id"], where, values, timeline), []


def _incident(external_id: str, where: str, values: Mapping[str, Any], timeline: Timeline) -> ImportedIncident:
    def stamp(s: Stamp) -> tuple[datetime | None, bool]:
        value = timeline.get(s)
        return (value.at, value.implied) if value else (None, False)

    diagnosed_at, diagnosed_implied = stamp(Stamp.DIAGNOSED)
    mitigated_at, mitigated_implied = stamp(Stamp.MITIGATED)
    verified_at, _ = stamp(Stamp.VERIFIED)
    return ImportedIncident(
        external_id=external_id,
        where=where,
        title=values["title"],
        severity=values["severity"],
        service=values["service"],
        detection_method=values["detection_method"],
        started_at=timeline.started_at,
        detected_at=timeline.detected_at,
        diagnosed_at=diagnosed_at,
        diagnosed_implied=diagnosed_implied,
        mitigated_at=mitigated_at,
        mitigated_implied=mitigated_implied,
        verified_at=verified_at,
        commander=values.get("commander", ""),
    )


def _known_columns_text() -> str:
    required = ", ".join(REQUIRED_COLUMNS)
    optional = ", ".join(c for c in IMPORT_COLUMNS if c not in REQUIRED_COLUMNS)
    written = ", ".join(c for c in EXPORT_COLUMNS if c not in IMPORT_COLUMNS)
    return f"required: {required}; optional: {optional}; also accepted from an export: {written}"


class _Ids:
    """IDs seen so far in a file: each may appear once."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def claim(self, external_id: str, where: str) -> ImportProblem | None:
        first = self._seen.setdefault(external_id, where)
        if first == where:
            return None
        return ImportProblem(where, "id", f'"{external_id}" is already used at {first}; each id must be unique in the file')


def parse_csv(text: str, *, now: datetime) -> ParsedImport:
    parsed = ParsedImport("csv")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        parsed.problems.append(ImportProblem("line 1", None, f"is not CSV ({error})"))
        return parsed
    if header is None or not any(cell.strip() for cell in header):
        parsed.problems.append(
            ImportProblem("line 1", None, f"the file is empty; the first line must be the header ({_known_columns_text()})")
        )
        return parsed
    columns = [cell.strip().lower() for cell in header]
    problems = _header_problems(columns)
    if problems:
        parsed.problems.extend(problems)
        return parsed
    ids = _Ids()
    start = reader.line_num + 1
    try:
        for row in reader:
            where, start = f"line {start}", reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue  # a blank line, or one of only commas, as spreadsheets leave at the end
            if len(row) != len(columns):
                parsed.problems.append(
                    ImportProblem(
                        where,
                        None,
                        f"has {len(row)} fields but the header has {len(columns)} "
                        "(a value with a comma in it needs double quotes around it)",
                    )
                )
                continue
            # A cell the export quoted against spreadsheet formulas reads back as what was stored.
            cells = dict(zip(columns, (spreadsheet_text(cell) for cell in row), strict=True))
            _add_row(parsed, ids, cells, where, now=now)
    except csv.Error as error:
        parsed.problems.append(ImportProblem(f"line {start}", None, f"is not valid CSV ({error}); nothing after it was read"))
    return parsed


def _header_problems(columns: list[str]) -> list[ImportProblem]:
    problems = []
    if any(not c for c in columns):
        problems.append(ImportProblem("line 1", None, f"the header has an empty column name; use: {_known_columns_text()}"))
    duplicates = sorted({c for c in columns if c and columns.count(c) > 1})
    if duplicates:
        problems.append(ImportProblem("line 1", None, f"the header names {_quoted(duplicates)} more than once"))
    unknown = [c for c in columns if c and c not in KNOWN_COLUMNS]
    if unknown:
        problems.append(
            ImportProblem(
                "line 1",
                None,
                f"unknown column{'s' if len(unknown) > 1 else ''} {_quoted(unknown)} (the first line must be the "
                f"header); known columns: {_known_columns_text()}",
            )
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append(
            ImportProblem("line 1", None, f"the header lacks the required column{'s' if len(missing) > 1 else ''} {_quoted(missing)}")
        )
    return problems


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


# An incident read from one row or object of the file, or what is wrong with it.
_Read = tuple[ImportedIncident | None, list[ImportProblem]]


def _add_row(parsed: ParsedImport, ids: _Ids, cells: Mapping[str, str], where: str, *, now: datetime) -> None:
    _add(parsed, ids, cells.get("id", "").strip(), where, partial(_incident_from_cells, cells, where, now=now))


def _add(parsed: ParsedImport, ids: _Ids, external_id: str, where: str, read: Callable[[], _Read]) -> None:
    """One incident of the file, whatever its format: refused if its id came earlier in the file,
    otherwise read, and kept or its problems noted."""
    if external_id and (duplicate := ids.claim(external_id, where)):
        parsed.problems.append(duplicate)
        return
    incident, problems = read()
    parsed.problems.extend(problems)
    if incident is not None:
        parsed.incidents.append(incident)


def _json_document(text: str, parsed: ParsedImport) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        parsed.problems.append(ImportProblem("file", None, f"is not JSON (line {error.lineno}, column {error.colno}: {error.msg})"))
        return None


def _json_where(prefix: str, index: int, item: Any) -> str:
    where = f"{prefix}[{index}]"
    if isinstance(item, dict) and isinstance(item.get("id"), (str, int)) and not isinstance(item.get("id"), bool):
        where += f' (id "{item["id"]}")'
    return where


def parse_json_rows(text: str, *, now: datetime) -> ParsedImport:
    """What ``export --format json`` writes: a list of objects keyed by the CSV columns."""
    parsed = ParsedImport("json")
    document = _json_document(text, parsed)
    if parsed.problems:
        return parsed
    if not isinstance(document, list):
        parsed.problems.append(
            ImportProblem("file", None, "should be a JSON list of incident objects, as `incident-bot export --format json` writes")
        )
        return parsed
    ids = _Ids()
    for index, item in enumerate(document):
        where = _json_where("", index, item)
        if not isinstance(item, dict):
            parsed.problems.append(ImportProblem(where, None, f"should be an object, not {_json_kind(item)}"))
            continue
        unknown = [key for key in item if key not in KNOWN_COLUMNS]
        if unknown:
            parsed.problems.append(
                ImportProblem(
                    where, None, f"unknown key{'s' if len(unknown) > 1 else ''} {_quoted(unknown)}; known keys: {_known_columns_text()}"
                )
            )
            continue
        cells: dict[str, str] = {}
        bad = False
        for key, value in item.items():
            if isinstance(value, (dict, list)):
                parsed.problems.append(ImportProblem(where, key, f"should be a string, not {_json_kind(value)}"))
                bad = True
            elif value is None:
                cells[key] = ""
            elif isinstance(value, bool):
                cells[key] = "true" if value else "false"
            else:
                cells[key] = str(value)
        if not bad:
            _add_row(parsed, ids, cells, where, now=now)
    return parsed


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "a string"


# --------------------------------------------------------------------------- PagerDuty


def pagerduty_severity(incident: Mapping[str, Any]) -> str:
    """priority.summary when it is P1–P4; else urgency high → P2, low → P3 (``_Bad`` otherwise)."""
    priority = incident.get("priority")
    if isinstance(priority, dict) and isinstance(priority.get("summary"), str):
        if match := _PRIORITY.match(priority["summary"].strip()):
            return f"P{match.group(1)}"
    urgency = incident.get("urgency")
    if isinstance(urgency, str) and urgency.strip().lower() in PAGERDUTY_URGENCY:
        return PAGERDUTY_URGENCY[urgency.strip().lower()]
    shown = "missing" if urgency is None else f'"{urgency}"'
    raise _Bad(
        f'is {shown} and there is no P1–P4 priority.summary; PagerDuty\'s urgency is "high" (→ P2) or '
        '"low" (→ P3), a priority.summary "P1"–"P4" is taken as it is',
        "urgency",
    )


def pagerduty_service(incident: Mapping[str, Any]) -> str | None:
    service = incident.get("service")
    summary = service.get("summary") if isinstance(service, dict) else None
    if not isinstance(summary, str):
        return None
    slug = _NOT_SERVICE_CHARS.sub("-", summary.strip().lower()).strip("-._")[:MAX_SERVICE].rstrip("-._")
    return slug or None


def _pagerduty_title(incident: Mapping[str, Any]) -> str:
    for key in ("title", "summary"):
        value = incident.get(key)
        if isinstance(value, str) and value.strip():
            title = " ".join(storable(value).split())
            # PagerDuty allows long titles; the bot shows at most MAX_TITLE characters.
            return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1].rstrip() + "…"
    raise _Bad('is missing (and so is "summary"); a PagerDuty incident has a "title"', "title")


def _pagerduty_time(incident: Mapping[str, Any], key: str, *, now: datetime) -> datetime:
    value = incident.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"is {'missing' if value is None else _json_kind(value)}; use {TIME_FORM}", key)
    try:
        moment = parse_time(value, key, now=now)
    except _Bad as bad:
        raise _Bad(str(bad), key) from None
    assert moment is not None
    return moment


def _incident_from_pagerduty(item: Mapping[str, Any], where: str, *, now: datetime) -> tuple[ImportedIncident | None, list[ImportProblem]]:
    """Validate one PagerDuty incident; every bad field is reported, not just the first (as for CSV)."""
    problems: list[ImportProblem] = []
    values: dict[str, Any] = {"detection_method": "alert", "commander": ""}

    def check(name: str, read: Callable[[], object]) -> Any:
        try:
            values[name] = read()
        except _Bad as bad:
            problems.append(ImportProblem(where, bad.args[1], bad.args[0]))
        return values.get(name)

    def identifier() -> str:
        external_id = item.get("id")
        if not isinstance(external_id, str) or not external_id.strip():
            shown = "missing" if external_id in (None, "") else f"{_json_kind(external_id)}, not a string"
            raise _Bad(f'is {shown}; a PagerDuty incident has an "id" such as "PT4KHLK"', "id")
        if len(external_id.strip()) > MAX_ID:
            raise _Bad(f"is longer than {MAX_ID} characters", "id")
        return external_id.strip()

    def status() -> str:
        value = item.get("status")
        if not isinstance(value, str) or value not in PAGERDUTY_STATUSES:
            raise _Bad(f"is {'missing' if value is None else repr(value)}; PagerDuty's are {', '.join(PAGERDUTY_STATUSES)}", "status")
        return value

    check("id", identifier)
    check("status", status)
    check("title", lambda: _pagerduty_title(item))
    check("severity", lambda: pagerduty_severity(item))
    values["service"] = pagerduty_service(item)
    created = check("created_at", lambda: _pagerduty_time(item, "created_at", now=now))
    restored = None
    if values.get("status") == "resolved":
        restored = check("last_status_change_at", lambda: _pagerduty_time(item, "last_status_change_at", now=now))
    if restored is not None and created is not None and restored < created:
        problems.append(
            ImportProblem(
                where,
                "last_status_change_at",
                f"{_iso(restored)} is earlier than created_at ({_iso(created)}); a resolved incident's last status "
                "change is its resolution",
            )
        )
    if problems:
        return None, problems
    try:
        timeline = plan_phase_times(created, created, {Stamp.VERIFIED: restored})
    except _Bad as bad:
        return None, [ImportProblem(where, bad.args[1], bad.args[0])]
    return _incident(values["id"], where, values, timeline), []


def parse_pagerduty(text: str, *, now: datetime) -> ParsedImport:
    parsed = ParsedImport("pagerduty")
    document = _json_document(text, parsed)
    if parsed.problems:
        return parsed
    prefix = ""
    if isinstance(document, dict) and isinstance(document.get("incidents"), list):
        document, prefix = document["incidents"], "incidents"
    if not isinstance(document, list):
        parsed.problems.append(
            ImportProblem(
                "file",
                None,
                'should be PagerDuty\'s "List incidents" response ({"incidents": [...]}) or a list of incident objects',
            )
        )
        return parsed
    ids = _Ids()
    for index, item in enumerate(document):
        where = _json_where(prefix, index, item)
        if not isinstance(item, dict):
            parsed.problems.append(ImportProblem(where, None, f"should be an incident object, not {_json_kind(item)}"))
            continue
        external_id = item["id"].strip() if isinstance(item.get("id"), str) else ""
        _add(parsed, ids, external_id, where, partial(_incident_from_pagerduty, item, where, now=now))
    return parsed


def parse_file(data: bytes, fmt: str, *, now: datetime) -> ParsedImport:
    """Validate a whole file. Pure: nothing is read but ``data``, nothing is written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    try:
        text = data.decode("utf-8-sig")  # a spreadsheet's byte-order mark is not part of the header
    except UnicodeDecodeError as error:
        parsed = ParsedImport(fmt)
        parsed.problems.append(
            ImportProblem("file", None, f'is not UTF-8 text (byte {error.start}); save it as UTF-8 ("CSV UTF-8" in Excel)')
        )
        return parsed
    if fmt == "csv":
        return parse_csv(text, now=now)
    if fmt == "json":
        return parse_json_rows(text, now=now)
    return parse_pagerduty(text, now=now)


# --------------------------------------------------------------------------- writing an import


@dataclass(frozen=True)
class ChangedIncident:
    """A row whose external ID is already stored with other facts: reported, never overwritten."""

    incident: ImportedIncident
    number: int
    fields: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.incident.label}: differs from INC-{self.number} in {', '.join(self.fields)}; not overwritten"


@dataclass
class ImportReport:
    source: str
    dry_run: bool
    created: list[int] = field(default_factory=list)  # incident numbers (would be none in a dry run)
    new: int = 0
    present: int = 0
    changed: list[ChangedIncident] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        text = f"{verb} {self.new} new, {self.present} already present"
        if self.changed:
            text += f", {len(self.changed)} changed and skipped"
        if self.dry_run:
            text += " (dry run: nothing written)"
        elif self.created:
            first, last = min(self.created), max(self.created)
            text += f" (INC-{first})" if first == last else f" (INC-{first} … INC-{last})"
        return text


def _differences(incident: ImportedIncident, stored: Mapping[str, Any] | RowMapping) -> tuple[str, ...]:
    return tuple(name for name, value in incident.facts().items() if stored[name] != value)


def _incident_values(incident: ImportedIncident, now: datetime) -> dict[str, Any]:
    return {
        **incident.facts(),
        "status": incident.status,
        "opened_by": incident.commander,
        "external_id": incident.external_id,
        "created_at": now,
        "updated_at": now,
    }


def _event_values(number: int, incident: ImportedIncident, source: str, origin: str, now: datetime) -> dict[str, Any]:
    return {
        "incident_id": number,
        "kind": "imported",
        "actor": None,
        "occurred_at": now,
        "text": f"Imported from {source} ({origin}, {incident.label})",
        "data": {"source": source, "external_id": incident.external_id, "file": origin, "where": incident.where},
    }


# What to do about an import that stopped part-way: its stored batches stay.
# Tries of a batch that another import keeps storing parts of first (each try rolls back whole).
BATCH_TRIES = 4
RUN_AGAIN = "run the same import again to store the rest: what is stored is found and skipped"
INTERRUPTED_IMPORT = f"the batches stored so far stay; {RUN_AGAIN}"


class ImportStopped(Exception):
    """The database failed part-way through storing an import, or another import of the same
    incidents kept storing a batch's incidents first (``raced``): ``report`` says what was stored
    (each batch is its own transaction: a stored batch stays, the failed one left nothing). The
    same import run again finds what is stored and stores the rest."""

    def __init__(self, report: ImportReport, to_store: int, error: Exception) -> None:
        super().__init__(str(error))
        self.report = report
        self.to_store = to_store
        self.error = error

    @property
    def raced(self) -> bool:
        """Stopped by another import storing the same incidents, not by a failing database."""
        return isinstance(self.error, IntegrityError)

    def summary(self) -> str:
        stored = len(self.report.created)
        numbers = f" (INC-{min(self.report.created)} … INC-{max(self.report.created)})" if self.report.created else ""
        why = (
            f"another import of the same incidents stored some of them first, {BATCH_TRIES} times in a row"
            if self.raced
            else "the database failed"
        )
        return f"stored {stored} of {self.to_store} new incidents{numbers} before {why}; {RUN_AGAIN}"


class Importer:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def run(self, parsed: ParsedImport, *, origin: str, dry_run: bool = False) -> ImportReport:
        """Store the file's new incidents; report what was new, present, changed.

        An incident is found again by (source, external ID): importing the same file twice
        creates nothing. The new ones are stored INSERT_BATCH at a time, each batch in a
        transaction of its own that first looks again for what another import stored meanwhile:
        on SQLite the one write lock is then held for one batch at a time, so a running bot's
        clicks and opens are recorded between two batches instead of waiting (past their ack's
        bound) for a whole history to be written. Raises ImportStopped when the database fails
        part-way.
        """
        if parsed.problems:
            raise ValueError("a file with problems is not imported; report parsed.problems instead")
        now = self._clock()
        report = ImportReport(parsed.source, dry_run)
        async with self._db.reading() as session:
            stored = await history.find_imported(session, parsed.source, [i.external_id for i in parsed.incidents])
        new = _sort_out(parsed.incidents, stored).counted_in(report)
        report.new = len(new)
        if dry_run or not new:
            return report
        for start in range(0, len(new), INSERT_BATCH):
            if start and self._db.dialect == "sqlite":
                # A writer of another process waiting for the lock (a click) looks again after a
                # sleep of its own, up to BATCH_GAP: a batch begun at once after the last would take
                # the lock back before it looked, batch after batch.
                await asyncio.sleep(BATCH_GAP)
            try:
                await self._store_batch(new[start : start + INSERT_BATCH], parsed.source, origin, now, report)
            except (SQLAlchemyError, OSError) as error:
                raise ImportStopped(report, len(new), error) from error
        report.new = len(report.created)
        log.info("imported %d incidents from %s (%s)", len(report.created), origin, parsed.source)
        return report

    async def _store_batch(self, batch: list[ImportedIncident], source: str, origin: str, now: datetime, report: ImportReport) -> None:
        for attempt in range(1, BATCH_TRIES + 1):
            try:
                async with self._db.transaction() as session:
                    stored = await history.find_imported(session, source, [i.external_id for i in batch])
                    sorted_out = _sort_out(batch, stored)
                    numbers = await history.insert_imported(session, source, [_incident_values(i, now) for i in sorted_out.new])
                    await history.insert_events(
                        session, [_event_values(n, i, source, origin, now) for n, i in zip(numbers, sorted_out.new, strict=True)]
                    )
                sorted_out.counted_in(report)  # only once committed: a try rolled back counts nothing
                report.created.extend(numbers)
                return
            except IntegrityError:
                # Another import (PostgreSQL: at the same moment) stored some of these first: the
                # batch is rolled back whole, and its next try finds them stored (unless that import
                # stores more of them meanwhile: two imports of one file in step, batch for batch).
                if attempt == BATCH_TRIES:
                    raise
                log.info("another import stored some of these incidents first; looking again")


@dataclass
class _SortedOut:
    """A file's (or a batch's) incidents against what is stored: the new ones, and the others."""

    new: list[ImportedIncident] = field(default_factory=list)
    present: int = 0
    changed: list[ChangedIncident] = field(default_factory=list)

    def counted_in(self, report: ImportReport) -> list[ImportedIncident]:
        """The present and changed ones added to ``report``; the new ones."""
        report.present += self.present
        report.changed.extend(self.changed)
        return self.new


def _sort_out(incidents: Sequence[ImportedIncident], stored: Mapping[str, RowMapping]) -> _SortedOut:
    sorted_out = _SortedOut()
    for incident in incidents:
        row = stored.get(incident.external_id)
        if row is None:
            sorted_out.new.append(incident)
        elif differences := _differences(incident, row):
            sorted_out.changed.append(ChangedIncident(incident, row["id"], differences))
        else:
            sorted_out.present += 1
    return sorted_out


# --------------------------------------------------------------------------- export


def parse_bound(text: str, *, end: bool) -> datetime:
    """``--since``/``--until``: a date (a UTC day, included whole) or ISO 8601 with a zone (exact).

    A date as ``end`` means the end of that day; a time as ``end`` is excluded.
    """
    text = text.strip()
    if _DATE.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f'"{text}" is not a date; use 2026-11-23 or {TIME_FORM}') from None
        start = datetime.combine(day, time(), tzinfo=UTC)
        return start + timedelta(days=1) if end else start
    moment = zoned_time(
        text,
        unreadable=f'"{text}" is not a date or time; use 2026-11-23 or {TIME_FORM}',
        unzoned=f'"{text}" has no time zone; use 2026-11-23 (a UTC day) or {TIME_FORM}',
    )
    return moment.astimezone(UTC)


def _seconds(delta: timedelta | None) -> int | float | None:
    if delta is None:
        return None
    seconds = delta.total_seconds()
    return int(seconds) if delta.microseconds == 0 else round(seconds, 6)


# The stamps that close each phase, in order (``bot.core.phases``: a phase runs from the stamp before).
_PHASE_STAMP_COLUMNS = tuple(column.key for column in TIMELINE_STAMPS)


DRILL_COLUMN = "drill"  # written only by an export asked for drills (--drills)


def export_record(row: Mapping[str, Any] | RowMapping, *, drills: bool = False) -> dict[str, Any]:
    """One stored incident (the columns of ``history.EXPORTED``) as the export's columns; pure.

    Runs once per exported row, so it works on the columns directly rather than building a
    ``Timeline``; ``tests/test_import_export.py`` checks it against ``Timeline.durations``.
    """
    times = [row[column] for column in _PHASE_STAMP_COLUMNS]
    record: dict[str, Any] = {
        "id": row["external_id"] or f"INC-{row['id']}",
        "title": row["title"],
        "severity": row["severity"],
        "service": row["service"],
        "detection_method": row["detection_method"],
        "started_at": _iso(times[0]),
        "detected_at": _iso(times[1]),
        "diagnosed_at": _iso(times[2]) or None,
        "mitigated_at": _iso(times[3]) or None,
        "verified_at": _iso(times[4]) or None,
        "commander": row["commander"] or None,
        "number": f"INC-{row['id']}",
        "status": row["status"],
        "time_to_restore_seconds": _seconds(times[4] - times[0]) if times[4] is not None else None,
    }
    for index, column in enumerate(PHASE_COLUMNS):
        start, end = times[index], times[index + 1]
        record[column] = _seconds(end - start) if start is not None and end is not None else None
    record["diagnosed_implied"] = bool(times[2] is not None and row["diagnosed_implied"])
    record["mitigated_implied"] = bool(times[3] is not None and row["mitigated_implied"])
    shown = {column: record[column] for column in EXPORT_COLUMNS}
    if drills:
        shown[DRILL_COLUMN] = bool(row["is_drill"])
    return shown


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return spreadsheet_cell(value)
    return str(value)


class _CsvOut:
    def __init__(self, out: TextIO, columns: tuple[str, ...] = EXPORT_COLUMNS) -> None:
        self._columns = columns
        self._writer = csv.writer(out, lineterminator="\n")
        self._writer.writerow(columns)

    def write(self, record: Mapping[str, Any]) -> None:
        self._writer.writerow([_csv_cell(record[c]) for c in self._columns])

    def close(self) -> None:
        pass


class _JsonOut:
    """A JSON list written one object at a time, so nothing is held but the current row."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._first = True
        out.write("[")

    def write(self, record: Mapping[str, Any]) -> None:
        self._out.write("\n  " if self._first else ",\n  ")
        self._out.write(json.dumps(record, ensure_ascii=False))
        self._first = False

    def close(self) -> None:
        self._out.write("]\n" if self._first else "\n]\n")


def _writer(out: TextIO, fmt: str, *, drills: bool = False) -> _CsvOut | _JsonOut:
    if fmt == "csv":
        return _CsvOut(out, (*EXPORT_COLUMNS, DRILL_COLUMN) if drills else EXPORT_COLUMNS)
    if fmt == "json":
        return _JsonOut(out)
    raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(EXPORT_FORMATS)}")


async def export_incidents(
    db: Database, out: TextIO, fmt: str, *, since: datetime | None = None, until: datetime | None = None, drills: bool = False
) -> int:
    """Write every incident whose impact started in [since, until) to ``out``, oldest number first;
    drills only with ``drills``, and then with a ``drill`` column (true or false).

    Rows are streamed in batches (``history.exported_rows``): memory stays flat however many
    incidents there are. Returns how many were written.
    """
    writer = _writer(out, fmt, drills=drills)
    count = 0
    async with db.reading() as session:
        async for row in history.exported_rows(session, since=since, until=until, drills=drills):
            writer.write(export_record(row, drills=drills))
            count += 1
    writer.close()
    return count
