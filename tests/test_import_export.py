"""Importing past incidents (CSV, the bot's JSON export, PagerDuty) and exporting them again.

Three layers: the pure parsing and validation in ``bot.integrations.importing`` (no database), the import and
export through the Python API on SQLite and PostgreSQL, and the ``incident-bot import`` and
``export`` commands (fresh working directory, minimal environment): in this process, but for one run
of each as the installed console script.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import OperationalError

from bot.core.command_text import OpenRequest
from bot.core.phases import PHASES, Stamp
from bot.incidents.operations import Incidents
from bot.incidents.stamping import Stamper
from bot.integrations import importing
from bot.integrations.importing import (
    EXPORT_COLUMNS,
    Importer,
    ImportStopped,
    export_incidents,
    export_record,
    parse_bound,
    parse_file,
)
from bot.settings import DatabaseSettings, load_settings
from handlers import cli
from storage import history
from storage.db import Database
from storage.migrate import head_revision
from storage.models import Incident, TimelineEvent
from tests.clocks import FakeClock
from tests.command_line import InProcess, run_installed

DATA = Path(__file__).parent / "data"
CSV_SAMPLE = DATA / "incidents.csv"
PAGERDUTY_SAMPLE = DATA / "pagerduty_incidents.json"
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)

HEADER = "id,title,severity,service,detection_method,started_at,detected_at,diagnosed_at,mitigated_at,verified_at,commander"
GOOD_ROW = "A-1,Checkout down,P1,payments-api,alert,2026-03-01T10:00:00Z,2026-03-01T10:05:00Z,2026-03-01T10:20:00Z,2026-03-01T10:30:00Z,2026-03-01T11:00:00Z,U024BE7LH"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def parse_csv_text(text: str, now: datetime = NOW):
    return parse_file(text.encode(), "csv", now=now)


def sample_pagerduty() -> dict:
    return json.loads(PAGERDUTY_SAMPLE.read_text())


def pagerduty_bytes(*incidents: dict) -> bytes:
    return json.dumps({"incidents": list(incidents), "limit": 25, "offset": 0, "total": None, "more": False}).encode()


# ================================================================================================
# Pure: parsing and validation
# ================================================================================================


def test_the_csv_sample_is_read_with_defaults_aliases_zones_and_implied_stamps():
    parsed = parse_file(CSV_SAMPLE.read_bytes(), "csv", now=NOW)
    assert parsed.problems == []
    assert parsed.source == "csv"
    by_id = {i.external_id: i for i in parsed.incidents}
    assert list(by_id) == ["JIRA-101", "JIRA-102", "JIRA-103", "JIRA-104", "JIRA-105"]

    full = by_id["JIRA-101"]
    assert (full.where, full.title, full.severity, full.service, full.detection_method, full.commander) == (
        "line 2",
        "Checkout returns 502 for card payments",
        "P1",
        "payments-api",
        "alert",
        "U024BE7LH",
    )
    assert full.timeline.durations() and full.timeline.time_to_restore == timedelta(minutes=68)
    assert not full.diagnosed_implied and not full.mitigated_implied and full.status == "resolved"

    # +01:00 becomes UTC; "customer_report" kept; diagnosed empty but mitigated given: implied at mitigated.
    search = by_id["JIRA-102"]
    assert search.title == "Search slow, timeouts on page 2"
    assert search.started_at == utc(2026, 3, 5, 12, 0) and search.detected_at == utc(2026, 3, 5, 12, 40)
    assert search.diagnosed_at == search.mitigated_at == utc(2026, 3, 5, 13, 5)
    assert search.diagnosed_implied and not search.mitigated_implied
    assert search.commander == ""

    # Only verified given: both earlier stamps implied at it.
    emails = by_id["JIRA-103"]
    assert emails.diagnosed_at == emails.mitigated_at == emails.verified_at == utc(2026, 3, 9, 23, 0)
    assert emails.diagnosed_implied and emails.mitigated_implied

    # "p4" is P4, empty service is none, empty detection method is engineer, no verified: open.
    stuck = by_id["JIRA-104"]
    assert (stuck.severity, stuck.service, stuck.detection_method, stuck.status) == ("P4", None, "engineer", "open")
    assert stuck.diagnosed_at == utc(2026, 3, 11, 7, 0) and stuck.mitigated_at is None

    # "customer" is the customer_report alias; equal diagnosed and mitigated given are both real stamps.
    mobile = by_id["JIRA-105"]
    assert mobile.detection_method == "customer_report"
    assert mobile.diagnosed_at == mobile.mitigated_at and not mobile.diagnosed_implied


def test_header_is_case_insensitive_in_any_order_with_a_bom_crlf_and_trailing_blank_lines():
    text = (
        "\ufeffSeverity,ID,Title,Detected_At,Started_At\r\n"
        'P2,X-1,"Multi\nline title",2026-03-01T10:05:00Z,2026-03-01T10:00:00Z\r\n'
        ",,,,\r\n\r\n"
    )
    parsed = parse_csv_text(text)
    assert parsed.problems == []
    [incident] = parsed.incidents
    assert (incident.external_id, incident.title, incident.severity) == ("X-1", "Multi line title", "P2")
    assert incident.status == "open" and incident.diagnosed_at is None


def test_a_header_only_file_is_valid_and_empty():
    parsed = parse_csv_text(HEADER + "\n")
    assert parsed.problems == [] and parsed.incidents == []


def test_line_numbers_count_physical_lines_across_quoted_line_breaks():
    text = HEADER + "\n" + GOOD_ROW + '\nA-2,"two\nlines",P9,,,2026-03-01T10:00:00Z,2026-03-01T10:05:00Z,,,,\n'
    [problem] = parse_csv_text(text).problems
    assert str(problem).startswith('line 3: severity: "P9" is not a severity')


def row_with(**changes: str) -> str:
    cells = dict(zip(HEADER.split(","), GOOD_ROW.split(","), strict=True))
    cells["id"] = "A-2"  # GOOD_ROW is A-1
    cells.update(changes)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells.values())
    return out.getvalue()


def bad_cell(what: str, field: str, value: str, problem: str, form: str) -> tuple[str, str, str, str]:
    """A row with one bad cell: its problem names line 3 and the cell's field, then says ``problem``."""
    return (what, row_with(**{field: value}), f"line 3: {field}: {problem}", form)


BAD_ROWS = [
    # (what, a CSV body after the header, the expected problem's start, a fragment of its right form)
    bad_cell("no id", "id", "", "is missing", "unique in the file"),
    bad_cell("no title", "title", "  ", "is missing", "1–150 characters"),
    bad_cell("long title", "title", "x" * 151, "is 151 characters long", "1–150"),
    bad_cell("severity", "severity", "P5", '"P5" is not a severity', "P1, P2, P3 or P4"),
    bad_cell("no severity", "severity", "", "is missing", "P1, P2, P3 or P4"),
    bad_cell("service", "service", "Payments API", '"Payments API" is not a service name', '"payments-api"'),
    bad_cell(
        "detection", "detection_method", "pager", '"pager" is not a detection method', "alert, customer_report, engineer or synthetic"
    ),
    bad_cell("no start", "started_at", "", "is missing", "ISO 8601 with a zone"),
    bad_cell("no detection time", "detected_at", "", "is missing", "ISO 8601 with a zone"),
    bad_cell("no zone", "started_at", "2026-03-01T10:00:00", '"2026-03-01T10:00:00" has no time zone', "2026-11-23T14:05:00Z"),
    bad_cell("a date", "verified_at", "2026-03-02", '"2026-03-02" has no time zone', "ISO 8601"),
    bad_cell("not a time", "diagnosed_at", "yesterday", '"yesterday" is not a time', "ISO 8601 with a zone"),
    bad_cell("future", "verified_at", "2026-05-01T00:00:00Z", '"2026-05-01T00:00:00Z" is in the future', "past incidents"),
    bad_cell(
        "start after detection",
        "started_at",
        "2026-03-01T10:06:00Z",
        "2026-03-01T10:06:00Z is later than detected_at (2026-03-01T10:05:00Z)",
        "before (or when)",
    ),
    bad_cell(
        "diagnosed before detected",
        "diagnosed_at",
        "2026-03-01T10:04:00Z",
        "2026-03-01T10:04:00Z is earlier than detected_at (2026-03-01T10:05:00Z)",
        "not be earlier than the one before it",
    ),
    bad_cell(
        "verified before mitigated",
        "verified_at",
        "2026-03-01T10:29:00Z",
        "2026-03-01T10:29:00Z is earlier than mitigated_at (2026-03-01T10:30:00Z)",
        "not be earlier",
    ),
    (
        "mitigated before an implied-free diagnosed",
        row_with(diagnosed_at="", mitigated_at="2026-03-01T10:04:59Z"),
        "line 3: mitigated_at: 2026-03-01T10:04:59Z is earlier than detected_at",
        "not be earlier",
    ),
    bad_cell("commander", "commander", "alice", '"alice" is not a Slack user ID', '"U024BE7LH"'),
    bad_cell("duplicate id", "id", "A-1", '"A-1" is already used at line 2', "unique in the file"),
    ("field count", GOOD_ROW + ",extra\n", "line 3: has 12 fields but the header has 11", "double quotes"),
]


@pytest.mark.parametrize("what, body, start, form", BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_every_bad_row_names_its_line_the_field_and_the_right_form(what, body, start, form):
    parsed = parse_csv_text(f"{HEADER}\n{GOOD_ROW}\n{body}")
    assert len(parsed.problems) == 1, parsed.problems
    message = str(parsed.problems[0])
    assert message.startswith(start), message
    assert form in message, message


def test_every_bad_field_of_a_row_is_reported_not_only_the_first():
    parsed = parse_csv_text(f"{HEADER}\n{row_with(severity='high', service='A B', commander='bob', started_at='')}")
    assert [p.field for p in parsed.problems] == ["severity", "service", "started_at", "commander"]
    # With every time readable, their order is checked too.
    parsed = parse_csv_text(f"{HEADER}\n{row_with(severity='high', verified_at='2026-03-01T10:29:00Z')}")
    assert [p.field for p in parsed.problems] == ["severity", "verified_at"]
    assert {p.where for p in parsed.problems} == {"line 2"}


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "line 1: the file is empty; the first line must be the header (required: id, title"),
        (
            HEADER + ",owner\n",
            'line 1: unknown column "owner" (the first line must be the header); known columns: required: id, title, severity, started_at, detected_at; optional: service',
        ),
        (GOOD_ROW + "\n", "line 1: unknown columns"),  # no header: the data is taken for one and refused
        ("id,title,severity,started_at\n", 'line 1: the header lacks the required column "detected_at"'),
        ("id,title,title,severity,started_at,detected_at\n", 'line 1: the header names "title" more than once'),
    ],
    ids=["empty", "unknown column", "no header", "missing column", "duplicate column"],
)
def test_header_problems(text, fragment):
    parsed = parse_csv_text(text)
    assert parsed.incidents == []
    assert any(str(p).startswith(fragment) for p in parsed.problems), parsed.problems


def test_a_file_that_is_not_utf8_is_refused_with_the_fix():
    [problem] = parse_file((HEADER + "\nA,Caf\xe9,P1,,,x,y,,,,\n").encode("latin-1"), "csv", now=NOW).problems
    assert str(problem).startswith("file: is not UTF-8 text") and "CSV UTF-8" in str(problem)


def test_implied_flags_from_an_export_are_kept_and_checked():
    header = HEADER + ",diagnosed_implied,mitigated_implied"
    same = row_with(diagnosed_at="2026-03-01T10:30:00Z").rstrip("\n") + ",true,false"
    [incident] = parse_csv_text(f"{header}\n{same}").incidents
    assert incident.diagnosed_at == incident.mitigated_at and incident.diagnosed_implied and not incident.mitigated_implied

    differs = row_with().rstrip("\n") + ",true,"
    [problem] = parse_csv_text(f"{header}\n{differs}").problems
    assert str(problem).startswith("line 2: diagnosed_implied: is true, so diagnosed_at (2026-03-01T10:20:00Z) must equal")

    nothing_later = row_with(mitigated_at="", verified_at="").rstrip("\n") + ",,true"
    [problem] = parse_csv_text(f"{header}\n{nothing_later}").problems
    assert str(problem) == "line 2: mitigated_implied: is true but no later time is given to fill mitigated_at from"

    [problem] = parse_csv_text(f"{header}\n{row_with().rstrip()},maybe,").problems
    assert str(problem) == 'line 2: diagnosed_implied: "maybe" is not true or false'


def test_pagerduty_incidents_map_to_the_documented_fields():
    parsed = parse_file(PAGERDUTY_SAMPLE.read_bytes(), "pagerduty", now=NOW)
    assert parsed.problems == [] and parsed.source == "pagerduty"
    by_id = {i.external_id: i for i in parsed.incidents}

    p1 = by_id["Q2WCRO3QXS8ZB6"]  # priority P1 wins over urgency high
    assert (p1.title, p1.severity, p1.service, p1.detection_method, p1.commander) == (
        "Checkout API error rate above 5%",
        "P1",
        "checkout-api",
        "alert",
        "",
    )
    assert p1.where == 'incidents[0] (id "Q2WCRO3QXS8ZB6")'
    # created_at is impact start and detection; the resolution is verified with the rest implied.
    assert p1.started_at == p1.detected_at == utc(2026, 2, 10, 14, 3, 11)
    assert p1.diagnosed_at == p1.mitigated_at == p1.verified_at == utc(2026, 2, 10, 15, 12, 40)
    assert p1.diagnosed_implied and p1.mitigated_implied and p1.status == "resolved"
    durations = {phase.value: d for phase, d in p1.timeline.durations().items()}
    # The split is unknown: the phase model puts the whole time to restore in diagnose, as a first
    # click on Verified does; the implied flags say so.
    assert durations == {
        "detect": timedelta(0),
        "diagnose": timedelta(minutes=69, seconds=29),
        "mitigate": timedelta(0),
        "verify": timedelta(0),
    }
    assert p1.timeline.time_to_restore == timedelta(minutes=69, seconds=29)

    assert by_id["Q0XK2LQ8V3PZAB"].severity == "P2"  # no priority, urgency high
    assert by_id["Q0XK2LQ8V3PZAB"].service == "orders-db-postgres"  # "Orders DB (Postgres)"
    assert by_id["Q1LOWURG9XY7CD"].severity == "P3"  # priority "P5" is not P1–P4: urgency low
    assert by_id["Q1LOWURG9XY7CD"].started_at == utc(2026, 2, 12, 8, 0)  # +01:00 to UTC

    acknowledged, triggered = by_id["Q3ACKOPEN4MN2E"], by_id["Q4TRIGGERED5FG"]
    assert acknowledged.severity == "P3" and acknowledged.status == "open"  # priority P3 wins over high
    assert acknowledged.diagnosed_at is None and acknowledged.verified_at is None
    assert triggered.severity == "P3" and triggered.status == "open" and triggered.service == "auth-service"


def test_pagerduty_bare_list_is_the_same_as_the_response_object():
    document = sample_pagerduty()
    wrapped = parse_file(json.dumps(document).encode(), "pagerduty", now=NOW)
    bare = parse_file(json.dumps(document["incidents"]).encode(), "pagerduty", now=NOW)
    assert bare.problems == []
    assert [(i.external_id, i.facts()) for i in bare.incidents] == [(i.external_id, i.facts()) for i in wrapped.incidents]
    assert bare.incidents[2].where == '[2] (id "Q1LOWURG9XY7CD")'


def test_pagerduty_summary_stands_in_for_title_and_long_titles_are_cut():
    incident = sample_pagerduty()["incidents"][0]
    del incident["title"]
    [parsed] = parse_file(pagerduty_bytes(incident), "pagerduty", now=NOW).incidents
    assert parsed.title == "[#2041] Checkout API error rate above 5%"
    incident["title"] = "y" * 400
    [parsed] = parse_file(pagerduty_bytes(incident), "pagerduty", now=NOW).incidents
    assert len(parsed.title) == 150 and parsed.title.endswith("…")


def pagerduty_problem(change) -> str:
    incidents = sample_pagerduty()["incidents"]
    change(incidents)
    parsed = parse_file(pagerduty_bytes(*incidents), "pagerduty", now=NOW)
    assert len(parsed.problems) == 1, parsed.problems
    return str(parsed.problems[0])


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda incidents: incidents[1].pop("id"), 'incidents[1]: id: is missing; a PagerDuty incident has an "id"'),
        (
            lambda incidents: incidents[1].update(id=2042),
            'incidents[1] (id "2042"): id: is a number, not a string; a PagerDuty incident has an "id"',
        ),
        (
            lambda incidents: incidents[1].pop("created_at"),
            'incidents[1] (id "Q0XK2LQ8V3PZAB"): created_at: is missing; use ISO 8601 with a zone',
        ),
        (
            lambda incidents: incidents[1].update(created_at="2026-02-11 03:47"),
            'incidents[1] (id "Q0XK2LQ8V3PZAB"): created_at: "2026-02-11 03:47" has no time zone',
        ),
        (
            lambda incidents: incidents[0].pop("last_status_change_at"),
            'incidents[0] (id "Q2WCRO3QXS8ZB6"): last_status_change_at: is missing',
        ),
        (
            lambda incidents: incidents[0].update(last_status_change_at="2026-02-10T14:00:00Z"),
            'incidents[0] (id "Q2WCRO3QXS8ZB6"): last_status_change_at: 2026-02-10T14:00:00Z is earlier than created_at (2026-02-10T14:03:11Z)',
        ),
        (
            lambda incidents: incidents[1].update(urgency="medium"),
            'incidents[1] (id "Q0XK2LQ8V3PZAB"): urgency: is "medium" and there is no P1–P4 priority.summary',
        ),
        (
            lambda incidents: incidents[4].update(status="closed"),
            "incidents[4] (id \"Q4TRIGGERED5FG\"): status: is 'closed'; PagerDuty's are triggered, acknowledged, resolved",
        ),
        (
            lambda incidents: (incidents[2].pop("title"), incidents[2].pop("summary")),
            'incidents[2] (id "Q1LOWURG9XY7CD"): title: is missing (and so is "summary")',
        ),
        (lambda incidents: incidents.append("PT4KHLK"), "incidents[5]: should be an incident object, not a string"),
        (
            lambda incidents: incidents.append(dict(incidents[0])),
            'incidents[5] (id "Q2WCRO3QXS8ZB6"): id: "Q2WCRO3QXS8ZB6" is already used at incidents[0] (id "Q2WCRO3QXS8ZB6")',
        ),
    ],
    ids=[
        "no id",
        "numeric id",
        "no created_at",
        "naive created_at",
        "resolved without time",
        "resolved before created",
        "urgency",
        "status",
        "no title",
        "not an object",
        "duplicate",
    ],
)
def test_every_bad_pagerduty_incident_names_its_index_id_and_field(change, expected):
    assert pagerduty_problem(change).startswith(expected)


def test_every_problem_of_a_pagerduty_incident_is_listed_not_only_the_first():
    incidents = sample_pagerduty()["incidents"]
    incidents[0].update(status="resolved", urgency="medium", created_at="2026-02-11 03:47", last_status_change_at="yesterday")
    incidents[0].pop("title"), incidents[0].pop("summary", None)
    incidents[1].update(status="closed", urgency="medium")
    for incident in incidents[:2]:
        incident["priority"] = None  # else the priority, not the urgency, gives the severity
    parsed = parse_file(pagerduty_bytes(*incidents), "pagerduty", now=NOW)
    assert [(p.where.split(" ")[0], p.field) for p in parsed.problems] == [
        ("incidents[0]", "title"),
        ("incidents[0]", "urgency"),
        ("incidents[0]", "created_at"),
        ("incidents[0]", "last_status_change_at"),
        ("incidents[1]", "status"),
        ("incidents[1]", "urgency"),
    ]


@pytest.mark.parametrize(
    "data, fmt, expected",
    [
        (b'{"incidents": [', "pagerduty", "file: is not JSON (line 1, column 16"),
        (b'{"incident": {}}', "pagerduty", 'file: should be PagerDuty\'s "List incidents" response'),
        (b'{"rows": []}', "json", "file: should be a JSON list of incident objects"),
        (b"[1]", "json", "[0]: should be an object, not a number"),
        (b'[{"id": "A", "owner": "x"}]', "json", '[0] (id "A"): unknown key "owner"; known keys: required: id'),
        (b'[{"id": "A", "title": ["x"]}]', "json", '[0] (id "A"): title: should be a string, not a list'),
    ],
)
def test_malformed_json_files(data, fmt, expected):
    parsed = parse_file(data, fmt, now=NOW)
    assert parsed.incidents == []
    assert str(parsed.problems[0]).startswith(expected), parsed.problems


def test_export_bounds_are_utc_days_or_exact_times():
    assert parse_bound("2026-03-01", end=False) == utc(2026, 3, 1)
    assert parse_bound("2026-03-01", end=True) == utc(2026, 3, 2)  # the whole day is included
    assert parse_bound("2026-03-01T10:00:00+02:00", end=True) == utc(2026, 3, 1, 8)
    for bad in ("2026-02-30", "March", "2026-03-01T10:00"):
        with pytest.raises(ValueError, match="2026-11-23"):
            parse_bound(bad, end=False)


def test_export_record_derives_status_seconds_and_implied_flags():
    row = {
        "id": 7,
        "external_id": None,
        "status": "resolved",
        "title": "T",
        "severity": "P2",
        "service": None,
        "detection_method": "alert",
        "started_at": utc(2026, 3, 1, 10),
        "detected_at": utc(2026, 3, 1, 10, 5),
        "diagnosed_at": datetime(2026, 3, 1, 10, 30, 0, 250000, tzinfo=UTC),
        "diagnosed_implied": True,
        "mitigated_at": datetime(2026, 3, 1, 10, 30, 0, 250000, tzinfo=UTC),
        "mitigated_implied": False,
        "verified_at": utc(2026, 3, 1, 11),
        "commander": "",
    }
    record = export_record(row)
    assert list(record) == list(EXPORT_COLUMNS)
    assert record["id"] == record["number"] == "INC-7"
    assert record["diagnosed_at"] == "2026-03-01T10:30:00.250000Z"
    assert (record["time_to_restore_seconds"], record["detect_seconds"], record["diagnose_seconds"]) == (3600, 300, 1500.25)
    assert (record["mitigate_seconds"], record["verify_seconds"]) == (0, 1799.75)
    assert record["diagnosed_implied"] is True and record["mitigated_implied"] is False
    assert record["commander"] is None and record["service"] is None

    open_row = {
        **row,
        "id": 8,
        "external_id": "PD1",
        "status": "open",
        "diagnosed_at": None,
        "diagnosed_implied": False,
        "mitigated_at": None,
        "verified_at": None,
    }
    record = export_record(open_row)
    assert record["id"] == "PD1" and record["number"] == "INC-8"
    assert record["time_to_restore_seconds"] is None and record["detect_seconds"] == 300 and record["diagnose_seconds"] is None


# ================================================================================================
# The Python API on SQLite and PostgreSQL
# ================================================================================================


@pytest.fixture
async def other_db(second_database_url):
    """A second database of the same kind, at the newest schema with no incident: where an export
    is imported again."""
    database = Database(second_database_url)
    yield database
    await database.dispose()


async def incident_rows(database: Database) -> list[Incident]:
    async with database.transaction() as session:
        return list(await session.scalars(select(Incident).order_by(Incident.id)))


async def counts(database: Database) -> tuple[int, int]:
    async with database.transaction() as session:
        incidents = await session.scalar(select(func.count(Incident.id)))
        events = await session.scalar(select(func.count(TimelineEvent.id)))
    return int(incidents or 0), int(events or 0)


PHASE_FIELDS = ("started_at", "detected_at", "diagnosed_at", "diagnosed_implied", "mitigated_at", "mitigated_implied", "verified_at")


def phase_times(rows) -> dict[str, tuple]:
    return {row.title: tuple(getattr(row, f) for f in PHASE_FIELDS) for row in rows}


async def test_import_stores_incidents_without_a_war_room_and_with_an_imported_event(db):
    parsed = parse_file(CSV_SAMPLE.read_bytes(), "csv", now=NOW)
    report = await Importer(db, FakeClock(NOW)).run(parsed, origin="incidents.csv")
    assert report.summary() == "imported 5 new, 0 already present (INC-1 … INC-5)"

    rows = await incident_rows(db)
    assert [r.external_id for r in rows] == [i.external_id for i in parsed.incidents]
    for row, incident in zip(rows, parsed.incidents, strict=True):
        assert {k: getattr(row, k) for k in incident.facts()} == incident.facts()
        assert row.imported_from == "csv"
        assert row.status == incident.status
        assert row.opened_by == row.commander == incident.commander
        assert row.created_at == row.updated_at == NOW
        assert row.channel_id is None and row.channel_name is None and row.control_message_ts is None
        assert row.request_key is None and row.deploy_found is None
        assert row.diagnosed_by is None and row.verified_by is None
    assert [r.status for r in rows] == ["resolved", "resolved", "resolved", "open", "resolved"]
    assert rows[1].opened_by == ""

    async with db.transaction() as session:
        events = list(await session.scalars(select(TimelineEvent).order_by(TimelineEvent.id)))
    assert [(e.incident_id, e.kind, e.actor, e.occurred_at) for e in events] == [(r.id, "imported", None, NOW) for r in rows]
    assert events[0].data == {"source": "csv", "external_id": "JIRA-101", "file": "incidents.csv", "where": "line 2"}
    assert events[0].text == 'Imported from csv (incidents.csv, line 2 (id "JIRA-101"))'


@pytest.mark.both_databases
async def test_importing_the_same_file_again_creates_nothing_and_changed_rows_are_skipped(db):
    importer = Importer(db, FakeClock(NOW))
    parsed = parse_file(PAGERDUTY_SAMPLE.read_bytes(), "pagerduty", now=NOW)
    first = await importer.run(parsed, origin="pd.json")
    assert (first.new, first.present, first.changed) == (5, 0, [])
    again = await importer.run(parse_file(PAGERDUTY_SAMPLE.read_bytes(), "pagerduty", now=NOW), origin="pd.json")
    assert again.summary() == "imported 0 new, 5 already present"
    assert await counts(db) == (5, 5)

    # The acknowledged incident was resolved in PagerDuty since, and a new one appeared.
    document = sample_pagerduty()
    document["incidents"][3].update(status="resolved", last_status_change_at="2026-02-14T19:00:00Z")
    extra = dict(document["incidents"][0], id="QNEWONE", title="New one")
    document["incidents"].append(extra)
    changed = await importer.run(parse_file(json.dumps(document).encode(), "pagerduty", now=NOW), origin="pd.json")
    assert changed.summary() == "imported 1 new, 4 already present, 1 changed and skipped (INC-6)"
    [skipped] = changed.changed
    assert str(skipped) == (
        'incidents[3] (id "Q3ACKOPEN4MN2E"): differs from INC-4 in diagnosed_at, diagnosed_implied, mitigated_at, '
        "mitigated_implied, verified_at; not overwritten"
    )
    stored = {r.external_id: r for r in await incident_rows(db)}
    assert stored["Q3ACKOPEN4MN2E"].status == "open" and stored["Q3ACKOPEN4MN2E"].verified_at is None

    # The same external ID from another source is another incident.
    csv_text = f"{HEADER}\nQ2WCRO3QXS8ZB6,Same id elsewhere,P2,,,2026-03-01T10:00:00Z,2026-03-01T10:05:00Z,,,,\n"
    other = await importer.run(parse_csv_text(csv_text), origin="x.csv")
    assert (other.new, other.present) == (1, 0)


async def test_a_dry_run_counts_but_writes_nothing(db):
    importer = Importer(db, FakeClock(NOW))
    parsed = parse_file(CSV_SAMPLE.read_bytes(), "csv", now=NOW)
    report = await importer.run(parsed, origin="incidents.csv", dry_run=True)
    assert report.summary() == "would import 5 new, 0 already present (dry run: nothing written)"
    assert await counts(db) == (0, 0)
    await importer.run(parsed, origin="incidents.csv")
    report = await importer.run(parsed, origin="incidents.csv", dry_run=True)
    assert report.summary() == "would import 0 new, 5 already present (dry run: nothing written)"
    assert await counts(db) == (5, 5)


async def test_a_file_with_problems_is_never_written(db):
    parsed = parse_csv_text(f"{HEADER}\n{GOOD_ROW}\n{row_with(id='A-2', severity='P9')}")
    assert len(parsed.incidents) == 1 and len(parsed.problems) == 1
    with pytest.raises(ValueError, match="not imported"):
        await Importer(db, FakeClock(NOW)).run(parsed, origin="bad.csv")
    assert await counts(db) == (0, 0)


@pytest.mark.both_databases
async def test_two_imports_of_one_file_at_once_store_each_incident_once(db):
    parsed = parse_file(PAGERDUTY_SAMPLE.read_bytes(), "pagerduty", now=NOW)
    reports = await asyncio.gather(*(Importer(db, FakeClock(NOW)).run(parsed, origin="pd.json") for _ in range(3)))
    assert sorted((r.new, r.present) for r in reports) == [(0, 5), (0, 5), (5, 0)]
    assert await counts(db) == (5, 5)


async def committed_counts(database: Database) -> tuple[int, int]:
    """What another connection sees (a click of a running bot): committed rows only, and on SQLite
    a read that does not wait for the write lock."""
    async with database.reading() as session:
        incidents = await session.scalar(select(func.count(Incident.id)))
        events = await session.scalar(select(func.count(TimelineEvent.id)))
    return int(incidents or 0), int(events or 0)


@pytest.mark.both_databases
async def test_an_import_commits_each_batch_before_it_starts_the_next(db, monkeypatch):
    """On SQLite one writer holds the file's lock: an import in one transaction held every click
    and open of a running bot past its ack's bound for as long as it wrote (1.6 s for 20,000
    incidents here). Each batch committed before the next starts leaves room between them."""
    monkeypatch.setattr(importing, "INSERT_BATCH", 2)
    seen_at_each_batch: list[tuple[int, int]] = []
    insert_imported = history.insert_imported

    async def watched(session, source, rows):
        seen_at_each_batch.append(await committed_counts(db))
        return await insert_imported(session, source, rows)

    monkeypatch.setattr(history, "insert_imported", watched)
    parsed = parse_file(CSV_SAMPLE.read_bytes(), "csv", now=NOW)
    report = await Importer(db, FakeClock(NOW)).run(parsed, origin="incidents.csv")
    assert report.summary() == "imported 5 new, 0 already present (INC-1 … INC-5)"
    assert seen_at_each_batch == [(0, 0), (2, 2), (4, 4)]
    assert [r.external_id for r in await incident_rows(db)] == [i.external_id for i in parsed.incidents]


def failing_at_batch(monkeypatch, failing: int) -> None:
    """The database fails while the ``failing``-th batch writes its timeline events."""
    insert_events = history.insert_events
    batches = 0

    async def fails_once(session, rows):
        nonlocal batches
        batches += 1
        if batches == failing:
            raise OperationalError("INSERT INTO timeline_events", {}, Exception("disk I/O error"))
        await insert_events(session, rows)

    monkeypatch.setattr(history, "insert_events", fails_once)


@pytest.mark.both_databases
async def test_an_import_the_database_stops_part_way_keeps_whole_batches_and_the_same_import_stores_the_rest(db, monkeypatch):
    monkeypatch.setattr(importing, "INSERT_BATCH", 2)
    failing_at_batch(monkeypatch, 2)
    parsed = parse_file(CSV_SAMPLE.read_bytes(), "csv", now=NOW)
    with pytest.raises(ImportStopped) as stopped:
        await Importer(db, FakeClock(NOW)).run(parsed, origin="incidents.csv")
    assert stopped.value.summary() == (
        "stored 2 of 5 new incidents (INC-1 … INC-2) before the database failed; "
        "run the same import again to store the rest: what is stored is found and skipped"
    )
    assert await counts(db) == (2, 2)  # the failed batch left nothing: no incident without its event

    monkeypatch.undo()  # the database is back
    again = await Importer(db, FakeClock(NOW)).run(parsed, origin="incidents.csv")
    assert (again.new, again.present, again.changed) == (3, 2, [])
    assert await counts(db) == (5, 5)
    assert sorted(r.external_id for r in await incident_rows(db)) == sorted(i.external_id for i in parsed.incidents)


@pytest.mark.both_databases
async def test_a_batch_another_import_stored_first_is_tried_again_and_counted_once(db, monkeypatch):
    """The batch's look at what is stored misses one incident another import has just committed
    (PostgreSQL: both imports looked at the same moment): its insert breaks the unique key, the
    batch is rolled back whole and tried again, and each incident is counted once."""
    parsed = parse_file(CSV_SAMPLE.read_bytes(), "csv", now=NOW)
    await Importer(db, FakeClock(NOW)).run(parsed, origin="incidents.csv")
    monkeypatch.setattr(importing, "INSERT_BATCH", 2)
    find_imported = history.find_imported
    looks = 0

    async def misses_one_at_first(session, source, external_ids):
        nonlocal looks
        looks += 1
        found = await find_imported(session, source, external_ids)
        if looks == 1:
            return {}  # the file's first look: stored before any of them
        if looks == 2:
            found.pop(external_ids[0])  # the first batch's look: one committed a moment later
        return found

    monkeypatch.setattr(history, "find_imported", misses_one_at_first)
    report = await Importer(db, FakeClock(NOW)).run(parsed, origin="incidents.csv")
    assert report.summary() == "imported 0 new, 5 already present"
    assert looks == 5  # the file, the first batch twice, the other two batches
    assert await counts(db) == (5, 5)


def stored_first_by_another_import(monkeypatch, tries_raced: int) -> list[int]:
    """Every incident of the file is stored already, but the file's look and the first
    ``tries_raced`` looks of its first batch miss them all, as when another import of the same file
    stores them at that moment: each such try's insert breaks the unique key. Returns the count of
    looks, as it grows."""
    find_imported = history.find_imported
    looks = [0]

    async def raced(session, source, external_ids):
        looks[0] += 1
        found = await find_imported(session, source, external_ids)
        return {} if looks[0] <= 1 + tries_raced else found

    monkeypatch.setattr(history, "find_imported", raced)
    return looks


@pytest.mark.both_databases
async def test_a_batch_raced_on_all_but_its_last_try_is_stored_once(db, monkeypatch):
    parsed = parse_file(CSV_SAMPLE.read_bytes(), "csv", now=NOW)
    await Importer(db, FakeClock(NOW)).run(parsed, origin="incidents.csv")
    monkeypatch.setattr(importing, "INSERT_BATCH", 2)
    looks = stored_first_by_another_import(monkeypatch, importing.BATCH_TRIES - 1)
    report = await Importer(db, FakeClock(NOW)).run(parsed, origin="incidents.csv")
    assert report.summary() == "imported 0 new, 5 already present"
    assert looks[0] == 1 + importing.BATCH_TRIES + 2  # the file, the first batch's tries, the other two batches
    assert await counts(db) == (5, 5)


@pytest.mark.both_databases
async def test_a_batch_raced_on_every_try_stops_saying_another_import_stored_them_not_that_the_database_failed(db, monkeypatch):
    parsed = parse_file(CSV_SAMPLE.read_bytes(), "csv", now=NOW)
    await Importer(db, FakeClock(NOW)).run(parsed, origin="incidents.csv")
    monkeypatch.setattr(importing, "INSERT_BATCH", 2)
    stored_first_by_another_import(monkeypatch, importing.BATCH_TRIES)
    with pytest.raises(ImportStopped) as stopped:
        await Importer(db, FakeClock(NOW)).run(parsed, origin="incidents.csv")
    assert stopped.value.raced
    assert stopped.value.summary() == (
        f"stored 0 of 5 new incidents before another import of the same incidents stored some of them first, "
        f"{importing.BATCH_TRIES} times in a row; run the same import again to store the rest: what is stored is found and skipped"
    )
    assert await counts(db) == (5, 5)  # nothing stored twice, nothing half-written


async def open_native_incidents(db: Database) -> None:
    """Two incidents opened through the bot: one restored with an implied diagnosis, one open."""
    clock = FakeClock(NOW)
    incidents, stamper = Incidents(db, clock), Stamper(db, clock)
    started = datetime(2026, 3, 20, 9, 0, 0, 123456, tzinfo=UTC)
    restored = await incidents.record_new(
        OpenRequest("Native restored", "P2", "payments-api", "alert", started, started + timedelta(minutes=3, microseconds=1)),
        opener="U_ALICE",
        request_key="k1",
        origin_channel="C1",
    )
    await stamper.stamp(restored.record.id, Stamp.MITIGATED, by="U_ALICE", at=started + timedelta(minutes=40, seconds=1.5))
    await stamper.stamp(restored.record.id, Stamp.VERIFIED, by="U_BOB", at=started + timedelta(hours=1, microseconds=7))
    await incidents.record_new(
        OpenRequest("Native open", "P4", None, "engineer", started, started), opener="U_BOB", request_key="k2", origin_channel=None
    )


@pytest.mark.both_databases
@pytest.mark.parametrize("fmt", ["csv", "json"])
async def test_export_round_trips_through_import_into_a_fresh_database(db, other_db, fmt):
    importer = Importer(db, FakeClock(NOW))
    await importer.run(parse_file(CSV_SAMPLE.read_bytes(), "csv", now=NOW), origin="incidents.csv")
    await importer.run(parse_file(PAGERDUTY_SAMPLE.read_bytes(), "pagerduty", now=NOW), origin="pd.json")
    await open_native_incidents(db)

    out = io.StringIO()
    assert await export_incidents(db, out, fmt) == 12
    exported = out.getvalue()

    later = NOW + timedelta(days=1)
    parsed = parse_file(exported.encode(), fmt, now=later)
    assert parsed.problems == []
    report = await Importer(other_db, FakeClock(later)).run(parsed, origin=f"export.{fmt}")
    assert (report.new, report.present) == (12, 0)

    original, copy = await incident_rows(db), await incident_rows(other_db)
    assert phase_times(copy) == phase_times(original)
    for a, b in zip(original, copy, strict=True):
        assert (b.title, b.severity, b.service, b.detection_method, b.status, b.commander) == (
            a.title,
            a.severity,
            a.service,
            a.detection_method,
            a.status,
            a.commander,
        )
        assert b.external_id == (a.external_id or f"INC-{a.id}")
    native = next(r for r in copy if r.title == "Native restored")
    assert native.diagnosed_implied and native.diagnosed_at == native.mitigated_at
    assert native.verified_at.microsecond == 123463

    # The export of the copy is the export of the original but for what is the copy's own.
    again = io.StringIO()
    await export_incidents(other_db, again, fmt)
    assert phase_columns(again.getvalue(), fmt) == phase_columns(exported, fmt)
    # And importing the export into the copy a second time finds every incident.
    second = await Importer(other_db, FakeClock(later)).run(parse_file(exported.encode(), fmt, now=later), origin="x")
    assert (second.new, second.present, second.changed) == (0, 12, [])


def records(text: str, fmt: str) -> list[dict]:
    if fmt == "json":
        return json.loads(text)
    return list(csv.DictReader(io.StringIO(text)))


def phase_columns(text: str, fmt: str) -> list[tuple]:
    keep = (
        "id",
        "started_at",
        "detected_at",
        "diagnosed_at",
        "mitigated_at",
        "verified_at",
        "time_to_restore_seconds",
        "detect_seconds",
        "diagnose_seconds",
        "mitigate_seconds",
        "verify_seconds",
        "diagnosed_implied",
        "mitigated_implied",
    )
    return [tuple(r[k] for k in keep) for r in records(text, fmt)]


@pytest.mark.both_databases
async def test_export_columns_and_filters(db):
    await Importer(db, FakeClock(NOW)).run(parse_file(CSV_SAMPLE.read_bytes(), "csv", now=NOW), origin="incidents.csv")
    out = io.StringIO()
    await export_incidents(db, out, "csv", since=utc(2026, 3, 5), until=utc(2026, 3, 12))
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["id"] for r in rows] == ["JIRA-102", "JIRA-103", "JIRA-104"]
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    search = rows[0]
    assert (search["number"], search["status"], search["started_at"], search["diagnosed_at"]) == (
        "INC-2",
        "resolved",
        "2026-03-05T12:00:00Z",
        "2026-03-05T13:05:00Z",
    )
    assert (search["time_to_restore_seconds"], search["detect_seconds"], search["diagnose_seconds"]) == ("5400", "2400", "1500")
    assert (search["mitigate_seconds"], search["verify_seconds"]) == ("0", "1500")
    assert (search["diagnosed_implied"], search["mitigated_implied"], search["commander"]) == ("true", "false", "")
    stuck = rows[2]
    assert (stuck["status"], stuck["verified_at"], stuck["time_to_restore_seconds"], stuck["mitigate_seconds"]) == ("open", "", "", "")

    # The per-phase seconds are the phase model's durations.
    everything = io.StringIO()
    await export_incidents(db, everything, "json")
    parsed = parse_file(CSV_SAMPLE.read_bytes(), "csv", now=NOW)
    for record, incident in zip(json.loads(everything.getvalue()), parsed.incidents, strict=True):
        durations = incident.timeline.durations()
        assert [record[f"{phase.value}_seconds"] for phase in PHASES] == [
            durations[phase].total_seconds() if phase in durations else None for phase in PHASES
        ]
        ttr = incident.timeline.time_to_restore
        assert record["time_to_restore_seconds"] == (ttr.total_seconds() if ttr else None)

    empty = io.StringIO()
    assert await export_incidents(db, empty, "json", since=utc(2027, 1, 1)) == 0
    assert json.loads(empty.getvalue()) == []


@pytest.mark.both_databases
async def test_export_streams_in_bounded_memory(db):
    """Peak memory while exporting does not grow with the number of incidents."""

    async def fill(total: int) -> None:
        base = utc(2025, 1, 1)
        async with db.transaction() as session:
            have = int(await session.scalar(select(func.count(Incident.id))) or 0)
            rows = [
                {
                    "title": f"Incident {n} with a title of a realistic length for the table",
                    "severity": "P3",
                    "service": "payments-api",
                    "status": "resolved",
                    "detection_method": "alert",
                    "opened_by": "U024BE7LH",
                    "commander": "U024BE7LH",
                    "started_at": base + timedelta(minutes=n),
                    "detected_at": base + timedelta(minutes=n, seconds=30),
                    "diagnosed_at": base + timedelta(minutes=n + 5),
                    "mitigated_at": base + timedelta(minutes=n + 9),
                    "verified_at": base + timedelta(minutes=n + 20),
                    "diagnosed_implied": False,
                    "mitigated_implied": False,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for n in range(have, total)
            ]
            await session.execute(insert(Incident), rows)

    async def peak() -> int:
        sink = io.StringIO()
        sink.write = lambda text: len(text)  # type: ignore[method-assign]  # keep nothing
        tracemalloc.start()
        try:
            count = await export_incidents(db, sink, "csv")
            return tracemalloc.get_traced_memory()[1], count
        finally:
            tracemalloc.stop()

    await fill(1_200)  # two batches of the export
    small, count = await peak()
    assert count == 1_200
    await fill(6_000)
    large, count = await peak()
    assert count == 6_000
    assert large < small * 2 + 1_000_000, (small, large)


# ================================================================================================
# The command line
# ================================================================================================


def run(cwd: Path, *args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    """The installed console script as a process: one smoke per command (import, export); the
    other runs are in this process (`command`), which spares each a second of imports."""
    return run_installed(cwd, *args, DATABASE_URL=database_url)


@pytest.fixture
def command(incident: InProcess) -> Callable[..., Awaitable[subprocess.CompletedProcess[str]]]:
    """``await command(cwd, *argv, database_url=...)``: `incident-bot` in this process, as `run` runs it."""

    async def command(cwd: Path, *args: str, database_url: str) -> subprocess.CompletedProcess[str]:
        return await incident.in_thread(cwd, *args, DATABASE_URL=database_url)

    return command


@pytest.fixture
def cli_db(database_url, tmp_path):
    """A working directory, and the test's database as `incident-bot db upgrade` leaves it (a copy
    of the database migrated once per run)."""
    work = tmp_path / "work"
    work.mkdir()
    return work, database_url


async def stored_count(database_url: str) -> int:
    database = Database(database_url)
    try:
        return (await counts(database))[0]
    finally:
        await database.dispose()


@pytest.mark.slow
async def test_cli_imports_csv_once_and_says_so_the_second_time(cli_db, command):
    work, url = cli_db
    first = run(work, "import", str(CSV_SAMPLE), "--format", "csv", database_url=url)  # the console script, as a process
    assert first.returncode == 0, first.stderr
    assert first.stdout == "imported 5 new, 0 already present (INC-1 … INC-5)\n"
    assert first.stderr == ""
    second = await command(work, "import", str(CSV_SAMPLE), "--format", "csv", database_url=url)
    assert second.returncode == 0, second.stderr
    assert second.stdout == "imported 0 new, 5 already present\n"
    assert await stored_count(url) == 5


async def test_cli_import_raced_by_another_import_says_so_and_not_that_the_database_failed(cli_db, command, monkeypatch):
    work, url = cli_db
    assert (await command(work, "import", str(CSV_SAMPLE), "--format", "csv", database_url=url)).returncode == 0
    monkeypatch.setattr(importing, "INSERT_BATCH", 2)
    stored_first_by_another_import(monkeypatch, importing.BATCH_TRIES)
    result = await command(work, "import", str(CSV_SAMPLE), "--format", "csv", database_url=url)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "incident-bot: stored 0 of 5 new incidents before another import of the same incidents stored some of them first, "
        f"{importing.BATCH_TRIES} times in a row; run the same import again to store the rest: what is stored is found and skipped\n"
    )
    monkeypatch.undo()
    again = await command(work, "import", str(CSV_SAMPLE), "--format", "csv", database_url=url)
    assert (again.returncode, again.stdout) == (0, "imported 0 new, 5 already present\n"), again.stderr
    assert await stored_count(url) == 5


async def test_cli_import_the_database_stops_part_way_says_what_is_stored_and_what_to_run(cli_db, command, monkeypatch):
    work, url = cli_db
    monkeypatch.setattr(importing, "INSERT_BATCH", 2)
    failing_at_batch(monkeypatch, 3)
    result = await command(work, "import", str(CSV_SAMPLE), "--format", "csv", database_url=url)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "incident-bot: the database (DATABASE_URL) failed: disk I/O error\n"
        "incident-bot: stored 4 of 5 new incidents (INC-1 … INC-4) before the database failed; "
        "run the same import again to store the rest: what is stored is found and skipped\n"
    )
    monkeypatch.undo()
    again = await command(work, "import", str(CSV_SAMPLE), "--format", "csv", database_url=url)
    assert (again.returncode, again.stdout) == (0, "imported 1 new, 4 already present (INC-5)\n"), again.stderr
    assert await stored_count(url) == 5


async def test_cli_import_interrupted_part_way_says_the_same_import_stores_the_rest(cli_db, command, monkeypatch, capsys):
    """Ctrl-C: asyncio.run cancels the command where it awaits, here while a batch is stored."""
    work, url = cli_db
    monkeypatch.setattr(importing, "INSERT_BATCH", 2)
    insert_events = history.insert_events
    batches = 0

    async def interrupted_at_the_second(session, rows):
        nonlocal batches
        batches += 1
        if batches == 2:
            asyncio.current_task().cancel()
        await insert_events(session, rows)
        await asyncio.sleep(0)  # the cancellation lands here, inside the batch's transaction

    monkeypatch.setattr(history, "insert_events", interrupted_at_the_second)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(work)
    args = cli._parser().parse_args(["import", str(CSV_SAMPLE), "--format", "csv"])
    with pytest.raises(asyncio.CancelledError):
        await cli._import(load_settings(None, kind=DatabaseSettings), args)
    assert capsys.readouterr().err == (
        "incident-bot: interrupted: the batches stored so far stay; "
        "run the same import again to store the rest: what is stored is found and skipped\n"
    )
    assert await stored_count(url) == 2  # the first batch; the interrupted one rolled back
    monkeypatch.undo()
    again = await command(work, "import", str(CSV_SAMPLE), "--format", "csv", database_url=url)
    assert (again.returncode, again.stdout) == (0, "imported 3 new, 2 already present (INC-3 … INC-5)\n"), again.stderr
    assert await stored_count(url) == 5


@pytest.mark.parametrize("shape", ["response", "bare list"])
async def test_cli_imports_pagerduty_in_both_shapes(cli_db, shape, command):
    work, url = cli_db
    document = sample_pagerduty()
    path = work / "pd.json"
    path.write_text(json.dumps(document if shape == "response" else document["incidents"]))
    result = await command(work, "import", "pd.json", "--format", "pagerduty", database_url=url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "imported 5 new, 0 already present (INC-1 … INC-5)\n"
    database = Database(url)
    try:
        rows = await incident_rows(database)
    finally:
        await database.dispose()
    assert [(r.external_id, r.imported_from, r.severity, r.status) for r in rows] == [
        ("Q2WCRO3QXS8ZB6", "pagerduty", "P1", "resolved"),
        ("Q0XK2LQ8V3PZAB", "pagerduty", "P2", "resolved"),
        ("Q1LOWURG9XY7CD", "pagerduty", "P3", "resolved"),
        ("Q3ACKOPEN4MN2E", "pagerduty", "P3", "open"),
        ("Q4TRIGGERED5FG", "pagerduty", "P3", "open"),
    ]


async def test_cli_bad_rows_exit_2_list_every_problem_and_write_nothing(cli_db, command):
    work, url = cli_db
    text = (
        "\n".join(
            [
                HEADER,
                GOOD_ROW,
                row_with(id="A-2", severity="P9").rstrip(),
                row_with(id="A-3").rstrip(),
                row_with(id="A-4", verified_at="2026-03-01T10:10:00Z", commander="bob").rstrip(),
            ]
        )
        + "\n"
    )
    (work / "bad.csv").write_text(text)
    result = await command(work, "import", "bad.csv", "--format", "csv", database_url=url)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "incident-bot: bad.csv: 3 problems; nothing was imported",
        '  line 3: severity: "P9" is not a severity; use P1, P2, P3 or P4',
        '  line 5: commander: "bob" is not a Slack user ID; use a Slack user ID such as "U024BE7LH" (profile → ⋮ → Copy member ID), or empty',
        "  line 5: verified_at: 2026-03-01T10:10:00Z is earlier than mitigated_at (2026-03-01T10:30:00Z); each phase time must not be earlier than the one before it",
    ]
    assert result.stdout == ""
    assert await stored_count(url) == 0

    dry = await command(work, "import", "bad.csv", "--format", "csv", "--dry-run", database_url=url)
    assert dry.returncode == 2 and dry.stderr == result.stderr


async def test_cli_dry_run_reports_and_writes_nothing(cli_db, command):
    work, url = cli_db
    result = await command(work, "import", str(PAGERDUTY_SAMPLE), "--format", "pagerduty", "--dry-run", database_url=url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "would import 5 new, 0 already present (dry run: nothing written)\n"
    assert await stored_count(url) == 0


async def test_cli_reports_changed_rows_as_skipped(cli_db, command):
    work, url = cli_db
    assert (await command(work, "import", str(CSV_SAMPLE), "--format", "csv", database_url=url)).returncode == 0
    changed = CSV_SAMPLE.read_text().replace("JIRA-104,Nightly export job stuck,p4", "JIRA-104,Nightly export job stuck,P2")
    (work / "changed.csv").write_text(changed)
    result = await command(work, "import", "changed.csv", "--format", "csv", database_url=url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        'skipped: line 5 (id "JIRA-104"): differs from INC-4 in severity; not overwritten',
        "imported 0 new, 4 already present, 1 changed and skipped",
    ]


def test_cli_import_problems_before_any_database(tmp_path, incident):
    url = f"sqlite:///{tmp_path / 'none.db'}"
    missing = incident(tmp_path, "import", "nope.csv", "--format", "csv", DATABASE_URL=url)
    assert missing.returncode == 2
    assert missing.stderr == "incident-bot: cannot read nope.csv: No such file or directory\n"

    (tmp_path / "good.csv").write_text(f"{HEADER}\n{GOOD_ROW}\n")
    unmigrated = incident(tmp_path, "import", "good.csv", "--format", "csv", DATABASE_URL=url)
    assert unmigrated.returncode == 1
    assert unmigrated.stderr == f"incident-bot: there is no database at {tmp_path / 'none.db'}: run `incident-bot db upgrade` first\n"
    assert not (tmp_path / "none.db").exists()

    wrong = incident(tmp_path, "import", "good.csv", "--format", "xml", DATABASE_URL=url)
    assert wrong.returncode == 2 and "invalid choice: 'xml'" in wrong.stderr


def test_cli_database_problems_exit_1_in_one_line(tmp_path, incident):
    (tmp_path / "good.csv").write_text(f"{HEADER}\n{GOOD_ROW}\n")
    (tmp_path / "empty.db").write_bytes(b"")  # exists, never migrated
    result = incident(tmp_path, "import", "good.csv", "--format", "csv", DATABASE_URL="sqlite:///empty.db")
    assert result.returncode == 1
    assert result.stderr == (
        f"incident-bot: the database is not migrated (revision none, needs {head_revision()}): run `incident-bot db upgrade` first\n"
    )
    unreachable = incident(tmp_path, "export", DATABASE_URL="postgresql://nobody@127.0.0.1:9/none")
    assert unreachable.returncode == 1
    assert "Traceback" not in unreachable.stderr and len(unreachable.stderr.splitlines()) == 1, unreachable.stderr


@pytest.mark.parametrize(
    "output, shown, why",
    [
        ("no-such-folder/history.csv", "no-such-folder/history.csv", "No such file or directory"),
        (".", ".", "it is a folder: name a file in it"),
        ("", "''", "it is empty: name a file"),
    ],
)
async def test_cli_export_to_a_file_it_cannot_write_says_which_and_why(cli_db, command, output, shown, why):
    work, url = cli_db
    result = await command(work, "export", "--output", output, database_url=url)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"incident-bot: cannot write --output {shown}: {why}\n"
    assert sorted(p.name for p in work.iterdir()) == []


@pytest.mark.parametrize("fmt", ["csv", "json"])
async def test_cli_export_round_trips_into_a_fresh_database(cli_db, second_database_url, command, fmt):
    work, url = cli_db
    assert (await command(work, "import", str(CSV_SAMPLE), "--format", "csv", database_url=url)).returncode == 0
    assert (await command(work, "import", str(PAGERDUTY_SAMPLE), "--format", "pagerduty", database_url=url)).returncode == 0

    to_file = await command(work, "export", "--format", fmt, "--output", f"history.{fmt}", database_url=url)
    assert to_file.returncode == 0, to_file.stderr
    assert to_file.stdout == f"exported 10 incidents to history.{fmt}\n"
    assert not (work / f"history.{fmt}.partial").exists()
    to_stdout = await command(work, "export", "--format", fmt, database_url=url)
    assert to_stdout.returncode == 0 and to_stdout.stderr == "exported 10 incidents\n"
    assert to_stdout.stdout == (work / f"history.{fmt}").read_text()

    fresh = second_database_url  # as `incident-bot db upgrade` makes a new one
    result = await command(work, "import", f"history.{fmt}", "--format", fmt, database_url=fresh)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "imported 10 new, 0 already present (INC-1 … INC-10)\n"

    originals, copies = Database(url), Database(fresh)
    try:
        assert phase_times(await incident_rows(copies)) == phase_times(await incident_rows(originals))
    finally:
        await originals.dispose()
        await copies.dispose()
    again = await command(work, "export", "--format", fmt, database_url=fresh)
    assert phase_columns(again.stdout, fmt) == phase_columns(to_stdout.stdout, fmt)


@pytest.mark.slow
async def test_cli_export_filters_by_date_and_refuses_bad_bounds(cli_db, command):
    work, url = cli_db
    assert (await command(work, "import", str(CSV_SAMPLE), "--format", "csv", database_url=url)).returncode == 0
    result = run(work, "export", "--since", "2026-03-05", "--until", "2026-03-11", database_url=url)  # the console script, as a process
    assert result.returncode == 0, result.stderr
    assert [r["id"] for r in csv.DictReader(io.StringIO(result.stdout))] == ["JIRA-102", "JIRA-103", "JIRA-104"]

    bad = await command(work, "export", "--since", "last week", database_url=url)
    assert bad.returncode == 2 and '"last week" is not a date or time' in bad.stderr
    backwards = await command(work, "export", "--since", "2026-03-05", "--until", "2026-03-01", database_url=url)
    assert backwards.returncode == 2
    assert backwards.stderr == "incident-bot: --since must be earlier than --until\n"
