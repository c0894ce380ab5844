"""A real ``incident-bot serve`` killed with SIGKILL at each Slack step of a war room's set-up, of
the resolution and of a handover of command, and at each page to PagerDuty (the trigger at open,
the resolve at verifying), then the repair: exactly one of everything.

The steps are not listed here: a clean open and resolution (the probe, INC-1) is watched, and every
Slack call it makes that creates or changes something is a crash point, so a step added to the code
is covered without touching this file. At each point the fake Slack holds the call open and the
process is killed either while the call is in flight (Slack never did it) or right after Slack did it
(the process never heard the answer, so the database does not know). The pages are held the same
way by the fake PagerDuty (tests/fake_pagerduty.py). The service is paged through PagerDuty and
has a standing call bridge, so the page at open and the call-link bookmark are crash points too.
The repair must then leave exactly what the probe has: one channel, one pinned control message,
one announcement, every invite, bookmark (the call link among them) and runbook post, one summary
in each channel, one postmortem draft, one action-items message, one PagerDuty alert in the
probe's state and each page once on the timeline, and for a handover one post in the war room and
one DM to the new commander. The repair runs after the page lease
(``SEND_LEASE``), as a repair of a process that died a while ago: a page claimed more recently
may still be in a live process's hands, and the repair says so instead of sending it.

Every crash point is its own incident, killed in a ``serve`` process of its own (the first one
started as installed, the others forked from a warm one: tests/serve_process.py). Each crash point
at each moment runs once, on PostgreSQL or on SQLite, alternately (``half_of``). The repair is the one the command
runs (``Repairs.bring_slack_up_to_date``): through ``incident-bot repair`` itself for the first crash
point of each flow, in the test's process for the others (a process start each would cost more than
the sweep). What the command prints is the last test's subject.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import yaml

from bot.core.clock import utc_now
from bot.paging.external_pagers import SEND_LEASE
from tests import serve_process
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, RunningBot, start_bot
from tests.fake_pagerduty import KEY_VARIABLE, ROUTING_KEY, FakePagerDuty, catalog_with_pagerduty
from tests.fake_slack import FakeSlack, step_payload
from tests.serve_process import ForkedServe, ServeForks, ServeProcess, run_cli
from tests.team_helpers import single_page_settings
from tests.waiting import HANG_SECONDS

pytestmark = [pytest.mark.processes, pytest.mark.slow]

# Web API methods that create or change something in Slack (the rest only read).
WRITES = {
    "conversations.create",
    "conversations.invite",
    "conversations.setTopic",
    "chat.postMessage",
    "pins.add",
    "bookmarks.add",
    "files.getUploadURLExternal",
    "files.completeUploadExternal",
}
FLOWS = ("open", "resolution", "handover")
MOMENTS = ("in flight", "answered")
OPEN_COMMAND = "open Card payments failing sev:P1 service:payments-api"
HANDOVER_COMMAND = "handover <@U_BOB|bob> PSP TLS rotation suspected; rolled back; watch p99"
SERVICE = "payments-api"
BRIDGE = "https://meet.example.com/payments-bridge"
PAGERDUTY = "pagerduty"  # a crash point's first word when it is a page, as a Slack method's for a step
WEBHOOK = "webhook"  # ... when it is the generic paging webhook's call


class LaterClock:
    """The time now, moved on by ``ahead``: the in-process bot repairs as a while after the kill."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.ahead


def point(method: str, args: dict) -> str | None:
    """A crash point's name: the method, and which of its calls (the same for every incident)."""
    if method not in WRITES:
        return None
    if method == "chat.postMessage":
        step = step_payload(args).get("step")
        # A handover's steps carry its number, which differs from one incident to the next.
        return f"{method} {re.sub(r'^handover:[0-9]+:', 'handover:', step)}" if step else None  # a line in the room (a stamp) is not a step
    if method == "conversations.invite":
        return f"{method} {args.get('users')}"
    if method == "bookmarks.add":
        return f"{method} {args.get('title')}"
    return method


def page_point(event: dict) -> str:
    return f"{PAGERDUTY} {event.get('event_action')}"


def webhook_point(body: dict) -> str | None:
    return f"{WEBHOOK} {body.get('action')}" if "version" in body else None  # a PagerDuty event has no version


def points_of(calls: list) -> list[str]:
    seen: list[str] = []
    for call in calls:
        name = point(call.method, call.args)
        if name and name not in seen:
            seen.append(name)
    return seen


def incident_of(fake: FakeSlack, args: dict) -> int | None:
    """Which incident a step's call is for: its metadata, else the war room (by its name: inc-42-...)
    or the file it uploads (inc-42-postmortem.md)."""
    payload = step_payload(args)
    if "incident" in payload:
        return int(payload["incident"])
    room = fake.channels.get(args.get("channel") or args.get("channel_id") or "")
    for name in (args.get("name"), args.get("filename"), room.name if room else None):
        if name and (match := re.match(r"inc-(\d+)(?:-|$)", name)):
            return int(match.group(1))
    return None


@dataclass(frozen=True)
class Artefacts:
    """What Slack shows for one incident, counted by what people see (not by the bot's metadata)."""

    channels: int
    control_messages: int
    pinned_control: bool
    announcements: int
    runbook_posts: int
    bookmarks: tuple[tuple[str, str], ...]
    members: frozenset[str]
    topic_set: bool
    summaries: int
    announced_summaries: int
    drafts: int
    action_messages: int
    handover_posts: int
    handover_dms: int
    pagerduty_alerts: tuple[str, ...] = ()  # the status of each alert PagerDuty holds for the incident
    pages_on_timeline: tuple[str, ...] = ()


def artefacts(fake: FakeSlack, announce_channel: str, number: int, channel_id: str | None, control_ts: str | None) -> Artefacts:
    ref = f"INC-{number}"
    rooms = [c for c in fake.channels.values() if c.name == f"inc-{number}" or c.name.startswith(f"inc-{number}-")]
    room = fake.channels.get(channel_id or "")
    messages = room.messages if room else []
    announced = fake.channels[announce_channel].messages
    return Artefacts(
        channels=len(rooms),
        control_messages=sum(bool(m.get("blocks")) and m["text"].startswith(f"{ref} (") for m in messages),
        pinned_control=room is not None and room.pins == [control_ts],
        announcements=sum(f"{ref} (" in m.get("text", "") and "war room <#" in m.get("text", "") for m in announced),
        runbook_posts=sum(m.get("text", "").startswith("Runbook:") for m in messages),
        bookmarks=tuple(sorted((b["title"], b["link"]) for b in room.bookmarks)) if room else (),
        members=frozenset(room.members) if room else frozenset(),
        topic_set=bool(room and room.topic),
        summaries=sum(m.get("text", "").startswith(f"{ref} resolved") for m in messages),
        announced_summaries=sum(m.get("text", "").startswith(f"{ref} resolved") for m in announced),
        drafts=sum(any(f.get("title") == f"{ref} postmortem draft" for f in m.get("files") or []) for m in messages),
        action_messages=sum(m.get("text") == f"Action items for {ref}" for m in messages),
        handover_posts=sum(m.get("text", "").startswith(f"🔁 <@U_ALICE> handed command of {ref} ") for m in messages),
        handover_dms=sum(
            f"handed you command of *{ref}*" in m.get("text", "")
            for c in fake.channels.values()
            if c.is_im and "U_BOB" in c.members
            for m in c.messages
        ),
    )


@dataclass(frozen=True)
class Crash:
    flow: str
    moment: str
    where: str
    number: int  # the incident that is killed there

    def __str__(self) -> str:
        return f"INC-{self.number}: {self.flow}, killed at {self.where} ({self.moment})"


async def seen(bot: RunningBot, pagerduty: FakePagerDuty, announce_channel: str, number: int) -> Artefacts:
    row = await bot.incident(number)
    return dataclasses.replace(
        artefacts(bot.fake, announce_channel, number, row.channel_id, row.control_message_ts),
        pagerduty_alerts=tuple(alert.status for alert in pagerduty.alerts_for(f"INC-{number}")),
        pages_on_timeline=tuple(event.text for event in await bot.timeline(number) if event.kind in ("paged", "page_failed")),
    )


async def resolve(slack, bot: RunningBot, number: int) -> None:
    row = await bot.incident(number)
    response = await slack.block_action(
        "stamp_phase_verified", str(number), user="U_ALICE", channel=row.channel_id, message_ts=row.control_message_ts
    )
    assert response.status == 200


async def hand_over(slack, bot: RunningBot, number: int) -> None:
    row = await bot.incident(number)
    response = await slack.command(HANDOVER_COMMAND, user="U_ALICE", channel=row.channel_id)
    assert response.status == 200


async def probe(bot: RunningBot, pagerduty: FakePagerDuty, announce_channel: str) -> tuple[dict[str, list[str]], dict[str, Artefacts]]:
    """A clean open, resolution and handover of INC-1: the crash points of each flow, and what each must leave."""
    fake = bot.fake
    before = len(fake.calls)
    assert (await bot.slack.command(OPEN_COMMAND)).status == 200
    await bot.settle()
    opened, paged = len(fake.calls), len(pagerduty.events())
    just_opened = await seen(bot, pagerduty, announce_channel, 1)
    await resolve(bot.slack, bot, 1)
    await bot.settle()
    resolved_at, resolve_paged = len(fake.calls), len(pagerduty.events())
    resolved = await seen(bot, pagerduty, announce_channel, 1)
    await hand_over(bot.slack, bot, 1)
    await bot.settle()
    points = {
        "open": points_of(fake.calls[before:opened]) + [page_point(e) for e in pagerduty.events()[:paged]],
        "resolution": points_of(fake.calls[opened:resolved_at]) + [page_point(e) for e in pagerduty.events()[paged:resolve_paged]],
        "handover": points_of(fake.calls[resolved_at:]) + [page_point(e) for e in pagerduty.events()[resolve_paged:]],
    }
    # Each step's call names its incident, or the holds below could stop another incident's.
    assert all(incident_of(fake, c.args) == 1 for c in fake.calls[before:] if point(c.method, c.args)), fake.calls[before:]

    handed = await seen(bot, pagerduty, announce_channel, 1)
    assert handed.handover_posts == handed.handover_dms == 1, handed
    assert resolved.channels == resolved.control_messages == resolved.announcements == resolved.runbook_posts == 1, resolved
    assert resolved.pinned_control and resolved.topic_set and resolved.bookmarks and len(resolved.members) >= 4, resolved
    assert resolved.summaries == resolved.announced_summaries == resolved.drafts == resolved.action_messages == 1, resolved
    # Every kind of step is a crash point (a step the code gains is one more).
    assert {"conversations.create", "chat.postMessage control_message", "pins.add"} <= set(points["open"]), points
    assert {"bookmarks.add Incident call", "pagerduty trigger"} <= set(points["open"]), points
    assert {"chat.postMessage summary_ts", "files.completeUploadExternal", "pagerduty resolve"} <= set(points["resolution"]), points
    assert {"chat.postMessage handover:room", "chat.postMessage handover:dm", "conversations.setTopic"} <= set(points["handover"]), points
    assert resolved.pagerduty_alerts == ("resolved",) and len(resolved.pages_on_timeline) == 2, resolved
    assert just_opened.pagerduty_alerts == ("triggered",) and len(just_opened.pages_on_timeline) == 1, just_opened
    # An incident killed while opening is not resolved: it is compared with the probe as opened.
    as_opened = dataclasses.replace(
        resolved,
        summaries=0,
        announced_summaries=0,
        drafts=0,
        action_messages=0,
        pagerduty_alerts=just_opened.pagerduty_alerts,
        pages_on_timeline=just_opened.pages_on_timeline,
    )
    return points, {"open": as_opened, "resolution": resolved, "handover": handed}


@pytest.fixture
def settings(settings, pagerduty, tmp_path, monkeypatch):
    """The shipped settings with payments-api paged through the fake PagerDuty and given a call bridge.

    P1 and P2 on the single page after 5 minutes, not the default chain's level paged at once: the
    sweep's crash points are the open's, the resolution's and the handover's (the escalation
    chain's are tests/test_escalation_chain.py's), and at the default every doomed ``serve`` would
    first page every open incident of the sweep, each crash point's work lost in that of dozens."""
    monkeypatch.setenv(KEY_VARIABLE, ROUTING_KEY)
    catalog = catalog_with_pagerduty(tmp_path, SERVICE)
    data = yaml.safe_load(catalog.read_text())
    next(entry for entry in data["services"] if entry["name"] == SERVICE)["call"] = BRIDGE
    catalog.write_text(yaml.safe_dump(data))
    shipped = settings.model_copy(update={"service_catalog": catalog, "pagerduty_events_url": pagerduty.events_url})
    return single_page_settings(shipped, tmp_path)


@pytest.fixture
def clock() -> LaterClock:
    return LaterClock()


@pytest.fixture
async def bot(settings, fake_slack, clock):
    running = await start_bot(settings, fake_slack, clock=clock)
    yield running
    await running.stop()


@pytest.fixture
def serve_env(settings, database_url) -> dict[str, str]:
    """The doomed ``serve``'s settings, the same as the in-process bot's, through the environment."""
    return serve_process.serve_env(
        settings.slack_api_url,
        database_url.replace("+asyncpg", ""),
        settings.announce_channel,
        secrets=(BOT_TOKEN, SIGNING_SECRET),
        SERVICE_CATALOG=str(settings.service_catalog),
        PAGERDUTY_EVENTS_URL=settings.pagerduty_events_url,
        INCIDENT_CONFIG=str(settings.incident_config),
        LOG_FORMAT="json",
        **{KEY_VARIABLE: ROUTING_KEY},
    )


async def kill_inside(bot: RunningBot, pagerduty: FakePagerDuty, process: ServeProcess, crash: Crash) -> None:
    """``process`` takes the crash's open or resolution, held inside its step or page; then SIGKILL."""
    fake = bot.fake
    method = crash.where.split(" ")[0]
    answered = crash.moment == "answered"
    if method == PAGERDUTY:
        hold = pagerduty.hold(
            lambda event: page_point(event) == crash.where and event.get("dedup_key") == f"INC-{crash.number}", answered=answered
        )
    elif method == WEBHOOK:
        hold = pagerduty.hold(
            lambda body: webhook_point(body) == crash.where and body.get("incident") == f"INC-{crash.number}", answered=answered
        )
    else:
        hold = fake.hold(
            method, lambda args: point(method, args) == crash.where and incident_of(fake, args) == crash.number, answered=answered
        )
    await process.start()
    try:
        if crash.flow == "open":
            assert (await process.slack.command(OPEN_COMMAND)).status == 200
        elif crash.flow == "resolution":
            await resolve(process.slack, bot, crash.number)
        else:
            await hand_over(process.slack, bot, crash.number)
        try:
            await asyncio.wait_for(hold.arrived.wait(), HANG_SECONDS)
        except TimeoutError:
            raise AssertionError(f"{crash}: the {crash.flow} never reached {crash.where}") from None
        process.kill()
        assert await process.wait() == -9
    finally:
        await process.stop()
    hold.release()  # the dead process's request: answered into nothing


def half_of(bot: RunningBot) -> int:
    """Which half of the sweep's (crash point, moment) pairs runs on this database: each pair runs
    once, on one database or the other, alternately, so each database has every flow, both moments
    and a page among its crash points. What differs between the databases is the SQL of the step
    claims and of the repair's reads, which is the same for every step, so each half runs all of it;
    which step a process dies in, and when, is the same on both."""
    return 0 if bot.runtime.db.dialect == "postgresql" else 1


@pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)
async def test_killed_at_each_slack_step_then_repair_leaves_exactly_one_of_everything(
    bot, pagerduty, clock, serve_env, announce_channel, tmp_path
):
    points, want = await probe(bot, pagerduty, announce_channel)
    # The incidents to resolve are opened here, unheld; each crash is its own incident.
    crashes: list[Crash] = []
    for flow in ("handover", "resolution", "open"):
        for m, moment in enumerate(MOMENTS):
            for k, where in enumerate(points[flow]):
                if (k + m) % 2 != half_of(bot):
                    continue  # this point at this moment is the other database's half of the sweep
                crashes.append(Crash(flow, moment, where, number=len(crashes) + 2))
                if flow in ("resolution", "handover"):
                    assert (await bot.slack.command(OPEN_COMMAND)).status == 200
                    await bot.settle()
                    assert (await bot.incident(crashes[-1].number)) is not None
                if flow == "handover":  # handed over once resolved, as in the probe
                    await resolve(bot.slack, bot, crashes[-1].number)
                    await bot.settle()

    forks = await ServeForks(tmp_path).start()
    try:
        for n, crash in enumerate(crashes):
            name = f"doomed-inc-{crash.number}"
            if n == 0:  # one through the command exactly as installed; the others forked (tests/serve_process.py)
                process = ServeProcess(serve_env, tmp_path, response_url_factory=bot.fake.response_url, name=name)
            else:
                process = ForkedServe(forks, serve_env, tmp_path, response_url_factory=bot.fake.response_url, name=name)
            await kill_inside(bot, pagerduty, process, crash)
    finally:
        await forks.stop()

    # Within the lease the page may still be in a live process's hands: the repair sends nothing and says so.
    first_page = next(c for c in crashes if c.where.startswith(PAGERDUTY))
    events_before = len(pagerduty.enqueue_requests())
    report = await bot.runtime.interactions.repairs.bring_slack_up_to_date(first_page.number)
    assert any("being sent since" in failure and "repair again after" in failure for failure in report.failures), report
    assert len(pagerduty.enqueue_requests()) == events_before, pagerduty.enqueue_requests()[events_before:]
    clock.ahead = SEND_LEASE + timedelta(minutes=1)

    wrong: list[str] = []
    through_the_command = [next(c for c in crashes if c.flow == flow) for flow in FLOWS]
    for crash in crashes:
        if crash in through_the_command:
            code, out = await run_cli(serve_env, tmp_path, "repair", f"INC-{crash.number}")
            assert code == 0, f"{crash}: repair exited {code}:\n{out}"
            # It says what it did, or (killed at an idempotent last step Slack had done) that nothing was missing.
            assert "done: " in out or f"INC-{crash.number}: nothing to repair" in out, out
            said = out
        else:
            report = await bot.runtime.interactions.repairs.bring_slack_up_to_date(crash.number)
            assert not report.failures, f"{crash}: the repair could not finish: {report.failures}"
            said = f"done: {report.done}; already there: {report.already}"
        got = await seen(bot, pagerduty, announce_channel, crash.number)
        if got != want[crash.flow]:
            wrong.append(f"{crash}:\n got {got}\nwant {want[crash.flow]}\nrepair said: {said}")
    assert not wrong, f"{len(wrong)} of {len(crashes)} crash points:\n" + "\n".join(wrong)

    # A second repair finds nothing to do and changes nothing.
    for crash in crashes:
        report = await bot.runtime.interactions.repairs.bring_slack_up_to_date(crash.number)
        assert not report.done and not report.failures, f"{crash}: the second repair did {report.done}, failed {report.failures}"
        assert await seen(bot, pagerduty, announce_channel, crash.number) == want[crash.flow], crash


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_killed_around_the_paging_webhook_s_claim_then_repair_sends_its_page_at_most_once(
    settings, fake_slack, pagerduty, clock, serve_env, tmp_path
):
    """The generic paging webhook's page at open (after PagerDuty's: the open flow's last outside
    step), its ``serve`` killed before the webhook's claim (held inside PagerDuty's page), after it
    (the call held before the receiver took it) and after the receiver took it (the sender never
    heard). The repair, once the lease has run out, sends each page once: the receiver holds one of
    each, and two of the one it took unheard, with the same (incident, action, level) its
    deduplication key (docs/paging.md). The claim is PagerDuty's SQL (storage/pages.py), which the
    sweep above runs on both databases: SQLite here."""
    secret = "paging-webhook-secret-0123456789ab"
    bot = await start_bot(
        settings.model_copy(update={"paging_webhook_url": pagerduty.webhook_url, "paging_webhook_secret": secret}), fake_slack, clock=clock
    )
    env = {**serve_env, "PAGING_WEBHOOK_URL": pagerduty.webhook_url, "PAGING_WEBHOOK_SECRET": secret}
    crashes = [
        Crash("open", "in flight", f"{PAGERDUTY} trigger", 1),  # before the webhook's claim
        Crash("open", "in flight", f"{WEBHOOK} trigger", 2),  # claimed; the receiver took nothing
        Crash("open", "answered", f"{WEBHOOK} trigger", 3),  # claimed and taken, unheard
    ]

    def taken(number: int) -> list[tuple[str, str, int]]:
        bodies = (call.json() for call in pagerduty.webhook_calls())
        return [(body["incident"], body["action"], body["level"]) for body in bodies if body["incident"] == f"INC-{number}"]

    repair = bot.runtime.interactions.repairs.bring_slack_up_to_date
    try:
        forks = await ServeForks(tmp_path).start()
        try:
            for crash in crashes:
                process = ForkedServe(
                    forks, env, tmp_path, response_url_factory=fake_slack.response_url, name=f"doomed-webhook-{crash.number}"
                )
                await kill_inside(bot, pagerduty, process, crash)
        finally:
            await forks.stop()
        assert [len(taken(crash.number)) for crash in crashes] == [0, 0, 1]

        # Within the lease the claimed page may still be in a live process's hands: not sent, said so.
        report = await repair(2)
        assert any(failure.startswith("paged the paging webhook (level 1): being sent since") for failure in report.failures), report
        assert taken(2) == []

        clock.ahead = SEND_LEASE + timedelta(minutes=1)
        for crash in crashes:
            report = await repair(crash.number)
            assert not report.failures and "paged the paging webhook (level 1)" in report.done, (crash, report)
        for crash, times in zip(crashes, (1, 1, 2), strict=True):
            assert taken(crash.number) == [(f"INC-{crash.number}", "trigger", 1)] * times, crash
            paged = [e for e in await bot.timeline(crash.number) if e.kind == "paged" and e.data["via"] == WEBHOOK]
            assert len(paged) == 1, crash
            again = await repair(crash.number)
            assert not again.done and not again.failures, (crash, again)
        assert [len(taken(crash.number)) for crash in crashes] == [1, 1, 2]
    finally:
        await bot.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_repair_command_says_what_it_did_what_was_there_and_what_is_still_missing(bot, fake_slack, serve_env, tmp_path):
    fake_slack.fail_next("chat.postMessage", status=500, times=6)  # the control message and the announcement
    await bot.slack.command("open Checkout returns 500s sev:P1")
    await bot.settle()

    fake_slack.fail_next("chat.postMessage", status=500, times=6)  # Slack still failing
    code, out = await run_cli(serve_env, tmp_path, "repair", "INC-1")
    assert code == 1, out
    assert "still missing: post and pin the control message" in out and "the repair could not finish" in out, out
    assert "already there: in the war room: <@U_ALICE>" in out, out
    fake_slack.clear_faults()

    code, out = await run_cli(serve_env, tmp_path, "repair", "INC-1")
    assert code == 0, out
    assert "done: posted the control message" in out and "done: pinned the control message" in out, out
    assert "done: announced in" in out and "still missing" not in out, out

    code, out = await run_cli(serve_env, tmp_path, "repair", "INC-1")
    assert code == 0 and "INC-1: nothing to repair" in out and "done: " not in out, out
    assert "already there: the control message" in out, out


@pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)
async def test_killed_inside_a_runbook_action_then_repair_sends_it_at_most_once_and_posts_its_result_once(
    settings, fake_slack, serve_env, tmp_path, monkeypatch
):
    """A ``serve`` runs a runbook action and is killed at each of its outside steps: while the
    action's endpoint holds the request (it arrived: whatever it does is done, the bot never hears
    the answer), and while posting the result (Slack never did it, or did it unheard). After the
    repair: the endpoint received exactly one request, the war room shows exactly one result, and
    a request that may have run is recorded as such, never sent again. (A process stopped between
    the claim and the send is tests/test_runbook_actions.py's subject: no outside call to hold.)"""
    from bot.warroom import action_runs
    from tests.action_endpoint import TOKEN, TOKEN_VARIABLE, ActionEndpoint, runbooks_with_actions
    from tests.conftest import start_bot
    from tests.test_runbook_actions import click_payload, result_messages, runbook_message

    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    endpoint = ActionEndpoint()
    await endpoint.start()
    folder = runbooks_with_actions(tmp_path / "runbooks", endpoint)
    env = {**serve_env, "RUNBOOKS_DIR": str(folder), TOKEN_VARIABLE: TOKEN}
    bot = await start_bot(settings.model_copy(update={"runbooks_dir": folder}), fake_slack)
    crashes = [("http", "answered"), ("chat.postMessage", "in flight"), ("chat.postMessage", "answered")]
    try:
        for _ in crashes:
            assert (await bot.slack.command(OPEN_COMMAND)).status == 200
            await bot.settle()
        forks = await ServeForks(tmp_path).start()
        try:
            for number, (method, moment) in enumerate(crashes, start=1):
                incident = await bot.incident(number)
                if method == "http":
                    endpoint.hold("/rollback")
                    arrived = endpoint.arrived
                    arrived.clear()
                else:
                    hold = fake_slack.hold(
                        method,
                        lambda args, n=number: (
                            str(step_payload(args).get("step", "")).startswith("runbook_action:") and incident_of(fake_slack, args) == n
                        ),
                        answered=moment == "answered",
                    )
                    arrived = hold.arrived
                process = ForkedServe(forks, env, tmp_path, response_url_factory=fake_slack.response_url, name=f"doomed-action-{number}")
                await process.start()
                try:
                    click = click_payload(
                        process, incident, "runbook_action_rollback", user="U_ALICE", message=runbook_message(fake_slack, incident)
                    )
                    assert (await process.slack.interactive(click)).status == 200
                    await asyncio.wait_for(arrived.wait(), HANG_SECONDS)
                    process.kill()
                    assert await process.wait() == -9
                finally:
                    await process.stop()
                if method == "http":
                    endpoint.release()
                    endpoint.held = None
                else:
                    hold.release()
        finally:
            await forks.stop()

        monkeypatch.setattr(action_runs, "SEND_LEASE", timedelta(0))  # the dead processes' leases have run out
        for number, (method, moment) in enumerate(crashes, start=1):
            incident = await bot.incident(number)
            for _ in range(2):  # a second repair finds everything in place
                report = await bot.runtime.interactions.repairs.bring_slack_up_to_date(number)
                assert not report.failures, (method, moment, report.failures)
            requests = [r for r in endpoint.to("/rollback") if r.json()["variables"]["INCIDENT"] == number]
            assert len(requests) == 1, (method, moment, len(requests))
            assert len(result_messages(fake_slack, incident)) == 1, (method, moment)
            [run] = await stored_runs_of(bot, number)
            assert run.status == ("unknown" if method == "http" else "succeeded"), (method, moment, run.status)
    finally:
        await bot.stop()
        await endpoint.stop()


async def stored_runs_of(bot, number: int):
    from storage import runbook_action_runs

    async with bot.runtime.db.lookup() as session:
        return await runbook_action_runs.for_incident(session, number)
