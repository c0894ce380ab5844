"""Tier tables at their boundaries, the MTTR summary, and the team config file."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.analytics.summary import bar, phase_table, summarize, summary_blocks
from bot.core.phases import Phase, Stamp, StampValue, Timeline
from bot.core.records import IncidentRecord
from bot.core.tiers import DORA_BANDS, SEVERITY_TARGETS, TierTables, parse_span
from bot.core.timefmt import human_duration
from bot.team_config import TeamConfigError, load_tier_tables
from tests.test_phases import worked_example

M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.mark.parametrize(
    "duration, band",
    [
        (59 * M, "elite"),
        (H, "high"),
        (D - timedelta(seconds=1), "high"),
        (D, "medium"),
        (7 * D - M, "medium"),
        (7 * D, "low"),
        (90 * D, "low"),
    ],
)
def test_dora_2023_bands_at_their_boundaries(duration, band):
    assert DORA_BANDS[2023].tier(duration).name == band


@pytest.mark.parametrize(
    "severity, duration, band",
    [
        ("P1", 29 * M, "elite"),
        ("P1", 30 * M, "high"),
        ("P1", 2 * H - M, "high"),
        ("P1", 2 * H, "medium"),
        ("P1", 6 * H, "low"),
        ("P2", 59 * M, "elite"),
        ("P2", H, "high"),
        ("P2", 4 * H, "medium"),
        ("P2", 12 * H, "low"),
        ("P3", 4 * H - M, "elite"),
        ("P3", 4 * H, "high"),
        ("P3", 8 * H, "medium"),
        ("P3", 24 * H, "low"),
        ("P4", 8 * H - M, "high"),
        ("P4", 24 * H - M, "medium"),
        ("P4", 24 * H, "low"),
    ],
)
def test_severity_targets_at_their_boundaries(severity, duration, band):
    assert SEVERITY_TARGETS[severity].tier(duration).name == band


@pytest.mark.parametrize(
    "delta, text",
    [
        (timedelta(seconds=40), "40 s"),
        (7 * M, "7 min"),
        (67 * M, "1 h 07 min"),
        (2 * H, "2 h"),
        (3 * D + 4 * H + 59 * M, "3 d 4 h"),
        (7 * D, "7 d"),
        (timedelta(0), "0 s"),
    ],
)
def test_durations_read_as_people_say_them(delta, text):
    assert human_duration(delta) == text


def record(timeline: Timeline, severity: str = "P1") -> IncidentRecord:
    return IncidentRecord(
        id=42,
        title="Checkout <returns> 500s",
        severity=severity,
        service="payments",
        status="resolved",
        detection_method="alert",
        opened_by="U1",
        commander="U1",
        channel_id="C1",
        channel_name="inc-42",
        control_message_ts="1.1",
        timeline=timeline,
        created_at=timeline.started_at,
    )


def test_worked_example_summary():
    summary = summarize(record(worked_example()), TierTables.default())
    assert summary.time_to_restore == 18 * M
    assert [round(f.share * 100) for f in summary.phases] == [0, 28, 17, 56]
    assert summary.slowest is Phase.VERIFY
    assert (summary.tiering.severity.name, summary.tiering.dora.name, summary.tiering.dora_year) == ("elite", "elite", 2023)
    table = phase_table(summary)
    assert "Verify" in table.splitlines()[3] and "← slowest" in table.splitlines()[3]
    text = str(summary_blocks(summary))
    assert "restored in 18 min" in text
    assert "DORA band (2023 report): *Elite* (< 1 h)" in text
    assert "P1 target: *Elite* (< 30 min)" in text
    assert "Checkout &lt;returns&gt; 500s" in text


def test_implied_stamps_are_marked_in_the_summary():
    t0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    timeline = Timeline(
        started_at=t0,
        stamps={
            Stamp.DETECTED: StampValue(t0, "U1"),
            Stamp.DIAGNOSED: StampValue(t0 + 20 * M, "U2", implied=True),
            Stamp.MITIGATED: StampValue(t0 + 20 * M, "U2"),
            Stamp.VERIFIED: StampValue(t0 + 50 * M, "U2"),
        },
    )
    summary = summarize(record(timeline, "P2"), TierTables.default())
    assert summary.figure(Phase.DIAGNOSE).implied and not summary.figure(Phase.MITIGATE).implied
    assert "implied" in phase_table(summary).splitlines()[1]
    assert "_Implied:_ diagnose" in str(summary_blocks(summary))


def test_zero_time_to_restore_has_no_shares():
    t0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    timeline = Timeline(started_at=t0, stamps={s: StampValue(t0, "U") for s in Stamp})
    summary = summarize(record(timeline), TierTables.default())
    assert all(f.share is None for f in summary.phases)
    assert bar(None) == "░" * 10


def test_spans():
    assert parse_span("30m") == 30 * M and parse_span("1w") == 7 * D
    with pytest.raises(ValueError, match="write it like 30m"):
        parse_span("soon")


def test_config_file_replaces_severity_targets(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("severity_targets:\n  P1: {elite: 15m, high: 1h, low: null}\n")
    tables = load_tier_tables(path)
    assert tables.severity["P1"].tier(20 * M).name == "high"
    assert tables.severity["P2"] is SEVERITY_TARGETS["P2"]


def test_config_file_adds_a_dora_year(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("dora:\n  bands:\n    2030: {elite: 30m, high: 1d, low: null}\n")
    assert load_tier_tables(path, dora_year=2030).dora.tier(45 * M).name == "high"


@pytest.mark.parametrize(
    "content, message",
    [
        ("severity_targets:\n  P7: {elite: 1h, low: null}\n", "severity_targets: unknown severity ['P7']"),
        ("severity_targets:\n  P1: {elite: 2h, high: 1h, low: null}\n", "band bounds must increase"),
        ("severity_targets:\n  P1: {elite: 1h, high: 2h}\n", "the last band must have no upper bound"),
        ("severity_targets:\n  P1: {elite: soon, low: null}\n", "'soon' is not a duration"),
        ("colour: blue\n", "colour: Extra inputs are not permitted"),
        ("severity_targets: [\n", "line 2: not valid YAML"),
    ],
)
def test_bad_config_names_the_file_and_field(tmp_path, content, message):
    refusal = config_refusal(tmp_path, content, load_tier_tables)
    assert refusal.startswith(str(tmp_path / "config.yml"))
    assert message in refusal


def config_refusal(tmp_path, content: str, load) -> str:
    """What ``load`` says of a team config file holding ``content``."""
    path = tmp_path / "config.yml"
    path.write_text(content)
    with pytest.raises(TeamConfigError) as error:
        load(path)
    return str(error.value)


def test_unknown_dora_year_is_refused(tmp_path):
    with pytest.raises(TeamConfigError, match="DORA_REPORT_YEAR=2019 has no band table"):
        load_tier_tables(tmp_path / "absent.yml", dora_year=2019)


def test_shipped_config_matches_the_built_in_tables():
    from pathlib import Path

    shipped = load_tier_tables(Path(__file__).parent.parent / "runbooks" / "config.yml", required=True)
    for severity, target in SEVERITY_TARGETS.items():
        assert shipped.severity[severity].bands == target.bands
    assert shipped.dora.bands == DORA_BANDS[2023].bands


def test_a_team_template_replaces_the_default(tmp_path):
    from bot.warroom.postmortem import TemplateProblem, TimelineEntry, load_template, render_postmortem

    incident = record(worked_example())
    custom = tmp_path / "ours.md.j2"
    custom.write_text("{{ incident.reference }} took {{ summary.time_to_restore | duration }}; {{ events | length }} events\n")
    rendered = render_postmortem(
        load_template(custom),
        incident,
        [TimelineEntry(incident.started_at, "U1", "opened", "x")],
        summarize(incident, TierTables.default()),
        generated_at=incident.started_at,
    )
    assert rendered == "INC-42 took 18 min; 1 events\n"
    broken = tmp_path / "broken.md.j2"
    broken.write_text("line one\n{% if %}\n")
    with pytest.raises(TemplateProblem, match="broken.md.j2 line 2"):
        load_template(broken)
    typo = tmp_path / "typo.md.j2"
    typo.write_text("{{ incident.titel }}")
    with pytest.raises(TemplateProblem, match="titel"):
        render_postmortem(load_template(typo), incident, [], None, generated_at=incident.started_at)


def test_timeline_text_cannot_break_the_postmortem_table():
    from bot.warroom.postmortem import TimelineEntry, load_template, render_postmortem

    incident = record(worked_example())
    events = [TimelineEntry(incident.started_at, "U1", "note", "rolled back | then\nrestarted")]
    rendered = render_postmortem(load_template(), incident, events, None, generated_at=incident.started_at)
    assert "| rolled back \\| then restarted |" in rendered
    assert "not restored yet" in rendered


@pytest.mark.parametrize(
    "content, message",
    [
        ("digests:\n  - channel: '#payments'\n", "digests.0.channel: '#payments' is not a channel ID"),
        ("digests:\n  - channel: C0PAYMENTS\n    day: someday\n", "digests.0.day: 'someday' is not a weekday"),
        ("digests:\n  - channel: C0PAYMENTS\n    time: '9am'\n", "digests.0.time: '9am' is not a time of day"),
        ("digests:\n  - channel: C0PAYMENTS\n    time_zone: Mars/Olympus\n", "'Mars/Olympus' is not a time zone"),
        ("reports:\n  min_count: 0\n", "reports.min_count"),
        ("reports:\n  business_hours: {start: '18:00', end: '09:00'}\n", "business_start must be before business_end"),
        (
            "permissions:\n  close: bosses\n",
            "permissions.close: 'bosses' is not a permission level; use one of everyone, war_room, commander, admins",
        ),
        ("permissions:\n  reopen: everyone\n", "permissions.reopen: Extra inputs are not permitted"),
    ],
)
def test_bad_report_and_digest_settings_name_the_field(tmp_path, content, message):
    from bot.team_config import load_team_config

    assert message in config_refusal(tmp_path, content, load_team_config)


def test_report_and_digest_settings_are_read(tmp_path):
    from datetime import time as clock

    from bot.team_config import load_team_config

    path = tmp_path / "config.yml"
    path.write_text(
        "reports:\n  min_count: 3\n  business_hours: {days: [mon, tue], start: '08:00', end: '17:30', time_zone: Europe/Berlin}\n"
        "digests:\n  - {channel: C0PAYMENTS, services: [payments-api], severities: [P1], day: tue, time: '10:30', time_zone: Europe/Berlin}\n"
    )
    team = load_team_config(path)
    assert team.reports.min_count == 3 and team.reports.business_days == frozenset({0, 1})
    assert team.reports.business_end == clock(17, 30) and str(team.reports.time_zone) == "Europe/Berlin"
    [digest] = team.digests
    assert (digest.weekday, digest.local_time, digest.services) == (1, clock(10, 30), ["payments-api"])
