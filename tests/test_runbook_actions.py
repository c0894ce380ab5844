"""One-click runbook actions: declared in a runbook's front matter, shown as buttons with Slack's
confirmation dialog on the runbook message, run once per click through a database claim, recorded
in the timeline, posted in the war room. Every test clicks as Slack does (signed requests to the
bot's endpoint, the fake Slack behind the Web API) against a local endpoint that records what it
receives (tests/action_endpoint.py)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.catalog.runbook_actions import ACTION_PERMISSION_LEVELS, ActionFacts, fill
from bot.catalog.runbooks import check_report, parse_runbook
from bot.core.phases import Stamp
from bot.incidents.permissions import PERMISSION_LEVELS
from bot.slack import messages
from bot.warroom.action_runs import SEND_LEASE, step_name
from storage import runbook_action_runs as runs
from storage.models import Base, RunbookActionRun, TimelineEvent
from tests.action_endpoint import TOKEN, TOKEN_VARIABLE, ActionEndpoint, runbooks_with_actions
from tests.conftest import ROOT, start_bot
from tests.team_helpers import ADMIN, OUTSIDER, team_settings
from tests.waiting import eventually

OPEN = "open Card payments failing sev:P1 service:payments-api"


# --------------------------------------------------------------------------- fixtures and clicks


@pytest.fixture
async def endpoint():
    fake = ActionEndpoint()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    monkeypatch.delenv("RUNBOOK_ACTION_NEVER_SET", raising=False)
    return TOKEN


@pytest.fixture
def action_settings(settings, fake_slack, tmp_path, endpoint, token):
    team = team_settings(settings, fake_slack, tmp_path)
    return team.model_copy(update={"runbooks_dir": runbooks_with_actions(tmp_path / "runbooks", endpoint)})


@pytest.fixture
async def bot(action_settings, fake_slack):
    running = await start_bot(action_settings, fake_slack)
    yield running
    await running.stop()


async def open_war_room(bot, members=("U_BOB", "U_CAROL")):
    await bot.slack.command(OPEN, user="U_ALICE")
    await bot.settle()
    incident = await bot.incident(1)
    bot.fake.channels[incident.channel_id].members.update(members)
    return incident


def runbook_message(fake, incident) -> dict:
    return next(m for m in fake.channels[incident.channel_id].messages if str(m.get("text", "")).startswith("Runbook:"))


def result_messages(fake, incident) -> list[dict]:
    return [m for m in fake.channels[incident.channel_id].messages if "ran *" in str(m.get("text", ""))]


def find_button(message: dict, action_id: str) -> tuple[str, dict]:
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("type") == "button" and element.get("action_id") == action_id:
                return block["block_id"], element
    raise AssertionError(f"no button {action_id} in {json.dumps(message['blocks'])[:400]}")


def click_payload(bot, incident, action_id: str, *, user: str, message: dict, channel: str | None = None) -> dict:
    block_id, element = find_button(message, action_id)
    payload = bot.slack.block_action_payload(
        element["action_id"], element["value"], user=user, channel=channel or incident.channel_id, message_ts=message["ts"], message=message
    )
    payload["actions"][0]["block_id"] = block_id
    return payload


async def run_action(bot, incident, action: str, *, user: str = "U_BOB", message: dict | None = None, settle: bool = True, **kwargs):
    message = message or runbook_message(bot.fake, incident)
    response = await bot.slack.interactive(click_payload(bot, incident, f"runbook_action_{action}", user=user, message=message, **kwargs))
    assert response.status == 200
    if settle:
        await bot.settle()


async def stored_runs(bot) -> list[RunbookActionRun]:
    async with bot.runtime.db.lookup() as session:
        return await runs.for_incident(session, 1)


async def action_events(bot) -> list[TimelineEvent]:
    return [e for e in await bot.timeline(1) if e.kind == "runbook_action_run"]


def last_answer(fake) -> str:
    return fake.responses[-1]["text"]


# --------------------------------------------------------------------------- the front matter


def runbook_file(tmp_path: Path, actions: str) -> Path:
    path = tmp_path / "x.md"
    path.write_text(f"---\ntitle: X\nservices: [payments-api]\n{textwrap.dedent(actions)}---\n\nbody\n")
    return path


GOOD_ACTION = """\
actions:
  - id: rollback
    label: Roll back
    confirm: Sure?
    permission: commander
    request:
      url: https://ci.example.com/rollback
      headers:
        Authorization: {env: ROLLBACK_TOKEN, prefix: "Bearer "}
      body: {service: "{service}", number: "{number}", text: "INC-{number} on {service} ({severity})"}
"""


def with_request(request: str, *, top: str = "") -> str:
    """One action whose ``request:`` (or, with ``top``, whose other fields) is the bad part."""
    fields = top or "    label: Roll back\n    confirm: Sure?\n    permission: commander\n"
    return f"actions:\n  - id: rollback\n{fields}    request:\n{textwrap.indent(textwrap.dedent(request), '      ')}"


LITERAL_SECRET = "sk_live_51HxQZ2eZvKYlo2C8"


@pytest.mark.parametrize(
    ("actions", "problem"),
    [
        (
            with_request(f"url: https://ci.example.com/x\nheaders:\n  Authorization: Bearer {LITERAL_SECRET}\n"),
            "actions[0] (rollback).request.headers: Authorization: looks like a secret written in the runbook; never write one in "
            "the file: put it in an environment variable and write Authorization: {env: VARIABLE_NAME}",
        ),
        (
            with_request(f"url: https://ci.example.com/x\nheaders:\n  X-Custom: {LITERAL_SECRET}\n"),
            "actions[0] (rollback).request.headers: X-Custom: looks like a secret written in the runbook",
        ),
        (
            with_request("url: https://ci.example.com/x\nheaders:\n  Authorization: {env: rollback-token}\n"),
            "actions[0] (rollback).request.headers: Authorization: env: give the name of an environment variable in capitals",
        ),
        (
            with_request('url: https://ci.example.com/x\nbody: {title: "{title}"}\n'),
            "actions[0] (rollback).request.body: title: {title} is unknown; a body may name only {service}, {severity}, {number}",
        ),
        (
            with_request("url: https://ci.example.com/x\nbody: {n: {number}}\n"),
            'actions[0] (rollback).request.body: n: write "{number}" in quotes',
        ),
        (
            with_request('url: https://ci.example.com/x\nbody: {n: "{number!r}"}\n'),
            "actions[0] (rollback).request.body: n: {number!r} is unknown",
        ),
        (
            with_request("url: http://ci.example.com/x\n"),
            "actions[0] (rollback).request.url: 'http://ci.example.com/x': use https (http only to this host: localhost, 127.0.0.1)",
        ),
        (
            with_request(f"url: https://bot:{LITERAL_SECRET}@ci.example.com/x\n"),
            "actions[0] (rollback).request.url: a URL must not carry a user or password",
        ),
        (with_request("url: https://ci.example.com/x\nmethod: YEET\n"), "actions[0] (rollback).request.method: 'YEET' is not a method"),
        (with_request("url: https://ci.example.com/x\ntimeout_seconds: 300\n"), "actions[0] (rollback).request.timeout_seconds:"),
        (with_request("url: https://ci.example.com/x\nretries: 3\n"), "actions[0] (rollback).request.retries: unknown field"),
        (
            with_request("url: https://ci.example.com/x\n", top="    label: Roll back\n    confirm: Sure?\n    permission: root\n"),
            "actions[0] (rollback).permission: 'root' is not a permission level; use one of everyone, war_room, commander, admins",
        ),
        (
            with_request("url: https://ci.example.com/x\n", top="    lable: Roll back\n    confirm: Sure?\n    permission: commander\n"),
            "actions[0] (rollback).lable: unknown field (did you mean label?)",
        ),
        (
            with_request("url: https://ci.example.com/x\n", top="    label: Roll back\n    permission: commander\n"),
            "actions[0] (rollback).confirm: required",
        ),
        (
            GOOD_ACTION + GOOD_ACTION.removeprefix("actions:\n"),
            "actions: id 'rollback' is used twice; give each action its own id",
        ),
    ],
)
def test_a_bad_action_is_refused_at_load_naming_the_file_the_action_and_the_right_form(tmp_path, actions, problem):
    path = runbook_file(tmp_path, actions)
    runbook, problems = parse_runbook(path)
    assert runbook is None
    assert any(message.startswith(problem) for _, message in problems), problems
    # A secret written in the file is refused without being repeated anywhere.
    assert not [message for _, message in problems if LITERAL_SECRET in message]
    report = check_report(tmp_path, tmp_path / "catalog.yml")
    assert [p for p in report.problems if p.level == "error" and problem in p.message and p.where.startswith(str(path))]


def test_a_good_action_loads_and_its_body_carries_only_service_severity_and_number(tmp_path):
    runbook, problems = parse_runbook(runbook_file(tmp_path, GOOD_ACTION))
    assert problems == [] and runbook is not None
    [action] = runbook.actions
    assert (action.id, action.permission, action.mitigation, action.request.method) == ("rollback", "commander", False, "POST")
    assert action.request.variables() == ["ROLLBACK_TOKEN"]
    assert fill(action.request.body, ActionFacts("payments-api", "P1", 42)) == {
        "service": "payments-api",
        "number": 42,
        "text": "INC-42 on payments-api (P1)",
    }
    assert fill({"s": "{service}", "t": "x-{service}"}, ActionFacts(None, "P3", 7)) == {"s": None, "t": "x-"}


def test_the_action_levels_are_the_permission_levels():
    assert ACTION_PERMISSION_LEVELS == PERMISSION_LEVELS


def test_check_warns_of_each_unset_variable_without_a_value(tmp_path, monkeypatch):
    monkeypatch.delenv("ROLLBACK_TOKEN", raising=False)
    path = runbook_file(tmp_path, GOOD_ACTION)
    report = check_report(tmp_path, tmp_path / "catalog.yml")
    [warning] = [p for p in report.problems if "ROLLBACK_TOKEN" in p.message]
    assert warning.level == "warning" and warning.where == f"{path}:11"
    assert warning.message.startswith("actions[0] (rollback).request.headers: ROLLBACK_TOKEN is not set in this environment")
    monkeypatch.setenv("ROLLBACK_TOKEN", "set-now-0123456789")
    assert not [p for p in check_report(tmp_path, tmp_path / "catalog.yml").problems if "ROLLBACK_TOKEN" in p.message]


def test_the_shipped_runbooks_declare_no_live_action():
    """The shipped examples are commented out: a new install runs nothing by accident."""
    shipped = (ROOT / "runbooks" / "payments-api-errors.md").read_text()
    assert "#   - id: rollback" in shipped
    runbook, problems = parse_runbook(ROOT / "runbooks" / "payments-api-errors.md")
    assert problems == [] and runbook is not None and runbook.actions == ()


# --------------------------------------------------------------------------- a run, end to end


@pytest.mark.both_databases
async def test_a_click_runs_the_request_once_records_it_and_offers_mark_mitigated(bot, fake_slack, endpoint):
    incident = await open_war_room(bot)
    message = runbook_message(fake_slack, incident)
    _, button = find_button(message, "runbook_action_rollback")
    assert button["text"]["text"] == "Roll back payments-api"
    assert button["confirm"]["text"]["text"] == "Redeploy the last good payments-api release?"
    assert button["confirm"]["confirm"]["text"] == "Run it"

    await run_action(bot, incident, "rollback", user="U_BOB")

    [request] = endpoint.received
    assert (request.method, request.path) == ("POST", "/rollback")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}" and request.headers["X-Team"] == "payments"
    assert request.json() == {
        "ref": "main",
        "variables": {"SERVICE": "payments-api", "SEVERITY": "P1", "INCIDENT": 1, "NOTE": "INC-1 rollback"},
    }
    [run] = await stored_runs(bot)
    assert (run.status, run.http_status, run.requested_by, run.attempt) == ("succeeded", 200, "U_BOB", 1)
    [event] = await action_events(bot)
    assert event.actor == "U_BOB"
    assert event.text == "Ran “Roll back payments-api” from the payments-api-errors runbook: answered 200 OK"
    assert event.data == {"runbook": "payments-api-errors", "action": "rollback", "attempt": 1, "outcome": "succeeded", "status": 200}

    [result] = result_messages(fake_slack, incident)
    assert result["text"] == "✅ <@U_BOB> ran *Roll back payments-api*: answered 200 OK."
    assert run.result_ts == result["ts"]
    # Mark mitigated, on the result message: the control message's stamp, once, whoever clicks it.
    for user in ("U_CAROL", "U_BOB"):
        assert (await bot.slack.interactive(click_payload(bot, incident, "stamp_phase_mitigated", user=user, message=result))).status == 200
        await bot.settle()
    stamp = (await bot.incident(1)).timeline.get(Stamp.MITIGATED)
    assert stamp is not None and stamp.by == "U_CAROL"
    assert len([e for e in await bot.timeline(1) if e.kind == "phase_stamped" and e.data["stamp"] == "mitigated"]) == 1
    assert last_answer(fake_slack).startswith("*Mitigated* was already marked by <@U_CAROL>")
    assert len(endpoint.received) == 1


@pytest.mark.parametrize(
    ("action", "status", "outcome", "reason", "path"),
    [
        ("rollback", 403, "failed", "answered 403 Forbidden", "/rollback"),
        ("rollback", 503, "failed", "answered 503 Service Unavailable", "/rollback"),
        ("slow", None, "unknown", "no answer within 1 s (the request was sent, so it may have run)", "/slow"),
        ("refused", None, "failed", "could not connect to 127.0.0.1 (nothing was sent)", None),
    ],
)
async def test_each_kind_of_answer_is_recorded_and_posted_without_mark_mitigated(
    bot, fake_slack, endpoint, action, status, outcome, reason, path
):
    incident = await open_war_room(bot)
    if status is not None:
        endpoint.script(status)
    if action == "slow":
        endpoint.hold("/slow")
    await run_action(bot, incident, action)
    assert [r.path for r in endpoint.received] == ([path] if path else [])
    [run] = await stored_runs(bot)
    assert (run.status, run.http_status, run.reason) == (outcome, status, reason)
    [event] = await action_events(bot)
    assert event.text.endswith(f": {reason}") and event.data["outcome"] == outcome
    [result] = result_messages(fake_slack, incident)
    assert reason in result["text"]
    action_ids = [e["action_id"] for b in result["blocks"] for e in b.get("elements", []) if e.get("type") == "button"]
    assert action_ids == [f"runbook_action_{action}"]  # Run again only: nothing succeeded, nothing to mark
    if outcome == "unknown":
        assert "Nobody knows whether it ran" in result["text"]


async def test_a_double_click_and_slack_s_retry_send_the_request_once(bot, fake_slack, endpoint):
    incident = await open_war_room(bot)
    endpoint.hold("/rollback")
    message = runbook_message(fake_slack, incident)
    first = click_payload(bot, incident, "runbook_action_rollback", user="U_BOB", message=message)
    second = click_payload(bot, incident, "runbook_action_rollback", user="U_CAROL", message=message)
    answers = await asyncio.gather(bot.slack.interactive(first), bot.slack.interactive(second), bot.slack.interactive(first, retry_num=1))
    assert [a.status for a in answers] == [200, 200, 200]
    await eventually(lambda: endpoint.received, what="the request reached the endpoint")
    await eventually(lambda: any("being run right now" in r["text"] for r in fake_slack.responses), what="the second clicker told")
    endpoint.release()
    await bot.settle()
    assert len(endpoint.received) == 1
    assert len(await stored_runs(bot)) == 1 and len(await action_events(bot)) == 1
    assert len(result_messages(fake_slack, incident)) == 1
    # A click on the original button afterwards: it ran once, and says by whom.
    await run_action(bot, incident, "rollback", user="U_CAROL")
    assert "was already run by <@U_BOB>" in last_answer(fake_slack) or "was already run by <@U_CAROL>" in last_answer(fake_slack)
    assert len(endpoint.received) == 1


async def test_run_again_is_a_new_confirmed_attempt_and_is_itself_run_once(bot, fake_slack, endpoint):
    incident = await open_war_room(bot)
    await run_action(bot, incident, "rollback")
    [result] = result_messages(fake_slack, incident)
    _, again = find_button(result, "runbook_action_rollback")
    assert again["text"]["text"] == "Run again" and "Run it again?" in again["confirm"]["text"]["text"]
    payload = click_payload(bot, incident, "runbook_action_rollback", user="U_CAROL", message=result)
    other = click_payload(bot, incident, "runbook_action_rollback", user="U_BOB", message=result)
    answers = await asyncio.gather(
        bot.slack.interactive(payload), bot.slack.interactive(other), bot.slack.interactive(payload, retry_num=1)
    )
    assert [a.status for a in answers] == [200, 200, 200]
    await bot.settle()
    assert len(endpoint.received) == 2
    # Carol's click and Bob's race for run 2: whichever is claimed first runs it, the other is told.
    runs = [(r.attempt, r.requested_by, r.status) for r in await stored_runs(bot)]
    assert runs[0] == (1, "U_BOB", "succeeded") and len(runs) == 2
    assert runs[1] in ((2, "U_CAROL", "succeeded"), (2, "U_BOB", "succeeded"))
    assert [e.text.split(":")[0] for e in await action_events(bot)] == [
        "Ran “Roll back payments-api” from the payments-api-errors runbook",
        "Ran “Roll back payments-api” (run 2) from the payments-api-errors runbook",
    ]
    # A forged attempt that skips a number runs nothing.
    forged = click_payload(bot, incident, "runbook_action_rollback", user="U_CAROL", message=result)
    forged["actions"][0]["value"] = forged["actions"][0]["value"].rsplit(":", 1)[0] + ":9"
    assert (await bot.slack.interactive(forged)).status == 200
    await bot.settle()
    assert len(endpoint.received) == 2 and last_answer(fake_slack) == messages.action_not_finished("Roll back payments-api")


async def test_two_processes_clicked_at_once_send_the_request_once(action_settings, fake_slack, endpoint):
    first = await start_bot(action_settings, fake_slack)
    second = await start_bot(action_settings, fake_slack)
    try:
        incident = await open_war_room(first)
        endpoint.hold("/rollback")
        message = runbook_message(fake_slack, incident)
        answers = await asyncio.gather(
            first.slack.interactive(click_payload(first, incident, "runbook_action_rollback", user="U_BOB", message=message)),
            second.slack.interactive(click_payload(second, incident, "runbook_action_rollback", user="U_CAROL", message=message)),
        )
        assert [a.status for a in answers] == [200, 200]
        await eventually(lambda: endpoint.received, what="the request reached the endpoint")
        await eventually(lambda: any("being run right now" in r["text"] for r in fake_slack.responses), what="the other clicker told")
        endpoint.release()
        await first.settle()
        await second.settle()
        assert len(endpoint.received) == 1
        assert len(await stored_runs(first)) == 1 and len(result_messages(fake_slack, incident)) == 1
    finally:
        await second.stop()
        await first.stop()


# --------------------------------------------------------------------------- refusals


async def _nothing_written_or_sent(bot, endpoint) -> None:
    assert endpoint.received == []
    assert await stored_runs(bot) == [] and await action_events(bot) == []


@pytest.mark.parametrize(
    ("action", "user", "who"),
    [
        ("flag", "U_BOB", "the incident commander (<@U_ALICE>) and the incident admins"),  # a member; commander only
        ("rollback", OUTSIDER, "members of the war room"),  # not in the war room
    ],
)
async def test_someone_without_the_action_s_permission_is_refused_and_nothing_is_written(bot, fake_slack, endpoint, action, user, who):
    incident = await open_war_room(bot)
    await run_action(bot, incident, action, user=user)
    answer = fake_slack.responses[-1]
    assert answer["text"].startswith(f"Only {who}") and answer["text"].endswith("Nothing was run.")
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    await _nothing_written_or_sent(bot, endpoint)
    # The commander and an admin may.
    await run_action(bot, incident, "flag", user="U_ALICE")
    assert [r.path for r in endpoint.received] == ["/flag"] and endpoint.received[0].json() == {
        "flag": "new-checkout",
        "enabled": False,
        "incident": 1,
    }


async def test_an_unset_variable_refuses_the_click_naming_it_and_writes_nothing(bot, fake_slack, endpoint):
    incident = await open_war_room(bot)
    await run_action(bot, incident, "unset")
    assert last_answer(fake_slack) == messages.action_variables_unset("Page the PSP", ["RUNBOOK_ACTION_NEVER_SET"])
    await _nothing_written_or_sent(bot, endpoint)


async def test_a_button_from_another_incident_s_runbook_runs_nothing(bot, fake_slack, endpoint):
    incident = await open_war_room(bot)
    message = runbook_message(fake_slack, incident)
    elsewhere = fake_slack.add_channel("random", members={"U_BOB"})
    await run_action(bot, incident, "rollback", message=message, channel=elsewhere)
    assert last_answer(fake_slack) == messages.ACTION_NOT_HERE
    await _nothing_written_or_sent(bot, endpoint)


@pytest.mark.parametrize("value", ["1:0", "x:1", "1", "99999999999999:1", "1:1:1", ""])
async def test_a_forged_button_value_gets_no_traceback_and_runs_nothing(bot, fake_slack, endpoint, caplog, value):
    incident = await open_war_room(bot)
    payload = click_payload(bot, incident, "runbook_action_rollback", user="U_BOB", message=runbook_message(fake_slack, incident))
    payload["actions"][0]["value"] = value
    assert (await bot.slack.interactive(payload)).status == 200
    await bot.settle()
    assert "Traceback" not in caplog.text
    await _nothing_written_or_sent(bot, endpoint)


# --------------------------------------------------------------------------- secrets


class EveryRecord(logging.Handler):
    """Every log record at DEBUG, unredacted: the test proves nothing logs the secret at all."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter().format(record) + repr(record.args) + repr(record.__dict__))


async def database_text(bot) -> str:
    async with bot.runtime.db.lookup() as session:
        rows = []
        for table in Base.metadata.sorted_tables:
            rows += [repr(tuple(row)) for row in (await session.execute(select(table))).all()]
    return "\n".join(rows)


async def test_the_secret_reaches_the_endpoint_and_nothing_else(bot, fake_slack, endpoint):
    """Every kind of run (success, 4xx, 5xx, timeout, refused connection, an unset variable, a
    refusal, a double click, a repair) with a known secret: it reaches the endpoint, and no Slack
    call, response_url answer, log record, exception text or database row."""
    records = EveryRecord()
    root = logging.getLogger()
    level = root.level
    root.addHandler(records)
    root.setLevel(logging.DEBUG)
    try:
        incident = await open_war_room(bot)
        await run_action(bot, incident, "rollback")
        endpoint.script(401)
        await run_action(bot, incident, "flag", user="U_ALICE")
        endpoint.hold("/slow")
        await run_action(bot, incident, "slow")
        await run_action(bot, incident, "refused")
        await run_action(bot, incident, "unset")
        await run_action(bot, incident, "flag", user="U_BOB")  # refused
        await run_action(bot, incident, "rollback", user="U_CAROL")  # already run
        await bot.slack.command("repair", user="U_ALICE", channel=incident.channel_id)
        await bot.settle()
    finally:
        root.removeHandler(records)
        root.setLevel(level)
    assert [r.headers.get("Authorization") or r.headers.get("X-Api-Token") for r in endpoint.received] == [
        f"Bearer {TOKEN}",
        TOKEN,
        f"Bearer {TOKEN}",
    ]
    outbound = json.dumps([[c.method, c.args] for c in fake_slack.calls] + fake_slack.responses, ensure_ascii=False)
    assert "answered 401 Unauthorized" in outbound  # the results were posted
    assert TOKEN not in outbound
    logged = "\n".join(records.lines)
    assert "ran payments-api-errors/rollback" in logged  # the runs were logged
    assert TOKEN not in logged
    assert TOKEN not in await database_text(bot)


# --------------------------------------------------------------------------- a process that stopped half-way


async def _age(bot, run_id: int, **values) -> None:
    async with bot.runtime.db.transaction() as session:
        await session.execute(update(RunbookActionRun).where(RunbookActionRun.id == run_id).values(**values))


async def test_the_repair_sends_a_claim_never_sent_once_and_never_resends_one_lost_in_flight(bot, fake_slack, endpoint):
    incident = await open_war_room(bot)
    now = bot.runtime.clock()
    stale = now - SEND_LEASE - timedelta(seconds=1)
    # Claimed by a process that stopped before sending; and one that stopped with its request in flight.
    for action, by in (("rollback", "U_BOB"), ("flag", "U_ALICE")):
        key = runs.RunKey(1, "payments-api-errors", action, 1)
        won, _ = await bot.runtime.db.run_transaction(lambda work, key=key, by=by: runs.claim_in(work, key, by=by, token="dead", at=stale))
        assert won
    [unsent, lost] = await stored_runs(bot)
    await _age(bot, lost.id, status="sending", sent_at=stale)

    async def repair() -> None:
        await bot.slack.command("repair", user="U_ALICE", channel=incident.channel_id)
        await bot.settle()

    await repair()
    assert [r.path for r in endpoint.received] == ["/rollback"]
    by_action = {r.action: r for r in await stored_runs(bot)}
    assert by_action["rollback"].status == "succeeded" and by_action["flag"].status == "unknown"
    texts = sorted(m["text"] for m in result_messages(fake_slack, incident))
    assert texts == [
        "⚠️ <@U_ALICE> ran *Disable feature flag new-checkout* by a repair, after the bot restarted,: the bot stopped while the "
        "request was in flight, so it may or may not have run. Nobody knows whether it ran: check there before running it again.",
        "✅ <@U_BOB> ran *Roll back payments-api* by a repair, after the bot restarted,: answered 200 OK.",
    ]
    assert [(e.actor, e.data["action"], e.data["outcome"]) for e in await action_events(bot)] == [
        ("U_BOB", "rollback", "succeeded"),
        ("U_ALICE", "flag", "unknown"),
    ]
    # Again: everything is in place, nothing is sent or posted twice.
    await repair()
    assert len(endpoint.received) == 1 and len(result_messages(fake_slack, incident)) == 2


async def test_the_repair_posts_a_missing_result_once_adopting_one_slack_already_shows(bot, fake_slack, endpoint):
    incident = await open_war_room(bot)
    await run_action(bot, incident, "rollback")
    await run_action(bot, incident, "flag", user="U_ALICE")
    [rollback, flag] = await stored_runs(bot)
    # The process stopped before it recorded either post; the rollback's one Slack had already shown.
    await _age(bot, rollback.id, result_ts=None, result_channel=None)
    await _age(bot, flag.id, result_ts=None, result_channel=None)
    flag_post = next(m for m in result_messages(fake_slack, incident) if "feature flag" in m["text"])
    fake_slack.channels[incident.channel_id].messages.remove(flag_post)
    await bot.slack.command("repair", user="U_ALICE", channel=incident.channel_id)
    await bot.settle()
    posted = result_messages(fake_slack, incident)
    assert sorted(m["text"] for m in posted) == [
        "✅ <@U_ALICE> ran *Disable feature flag new-checkout*: answered 200 OK.",
        "✅ <@U_BOB> ran *Roll back payments-api*: answered 200 OK.",
    ]
    assert all(r.result_ts for r in await stored_runs(bot))
    assert len(endpoint.received) == 2
    for run in await stored_runs(bot):
        message = fake_slack.channels[incident.channel_id].message(run.result_ts)
        assert message["metadata"]["event_payload"]["step"] == step_name(run.id)


@pytest.mark.parametrize("level", ["admins"])
async def test_an_admin_outside_the_war_room_may_run_an_admins_action(settings, fake_slack, tmp_path, endpoint, token, level):
    team = team_settings(settings, fake_slack, tmp_path)
    folder = runbooks_with_actions(tmp_path / "runbooks", endpoint)
    path = folder / "payments-api-errors.md"
    path.write_text(path.read_text().replace("permission: commander", f"permission: {level}", 1))
    bot = await start_bot(team.model_copy(update={"runbooks_dir": folder}), fake_slack)
    try:
        incident = await open_war_room(bot)
        await run_action(bot, incident, "flag", user="U_ALICE")  # the commander is not an admin
        assert last_answer(fake_slack).startswith("Only the incident admins")
        assert endpoint.received == []
        await run_action(bot, incident, "flag", user=ADMIN)
        assert [r.path for r in endpoint.received] == ["/flag"]
    finally:
        await bot.stop()


def test_serve_redacts_the_actions_secret_values_from_its_logs_too(action_settings, token):
    """The second line of defence: the values the actions' headers read are among the secrets
    `serve` gives its log handler, like the secret settings and the PagerDuty routing keys."""
    from bot import logs
    from handlers.cli import _action_secrets

    secrets = _action_secrets(action_settings)
    assert secrets == [TOKEN]
    stream = io.StringIO()
    logger = logging.getLogger("tests.action_secrets")
    handler = logs.make_handler(secrets=secrets, stream=stream)
    logger.addHandler(handler)
    try:
        logger.warning("a careless line with %s in it", f"Bearer {TOKEN}")
    finally:
        logger.removeHandler(handler)
    assert TOKEN not in stream.getvalue() and "[redacted secret]" in stream.getvalue()


async def test_an_answer_arriving_after_the_repair_gave_its_request_up_is_not_recorded_twice(bot, fake_slack, endpoint, monkeypatch):
    """A process stalled past the lease while its request was in flight: the repair records the run
    as unknown and posts that; the late answer then changes nothing and posts nothing."""
    from bot.warroom import action_runs

    incident = await open_war_room(bot)
    endpoint.hold("/rollback")
    await run_action(bot, incident, "rollback", settle=False)
    await eventually(lambda: endpoint.received, what="the request in flight")
    monkeypatch.setattr(action_runs, "SEND_LEASE", timedelta(0))
    report = await bot.runtime.interactions.repairs.bring_slack_up_to_date(1)
    assert report.done == ["recorded that “Roll back payments-api” was lost in flight"]
    endpoint.release()
    await bot.settle()
    [run] = await stored_runs(bot)
    assert run.status == "unknown" and len(endpoint.received) == 1
    assert [e.data["outcome"] for e in await action_events(bot)] == ["unknown"]
    assert len(result_messages(fake_slack, incident)) == 1
