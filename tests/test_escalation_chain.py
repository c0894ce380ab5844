"""The escalation chain: per severity, levels paged at their delays while nobody acknowledges,
each once across schedulers and restarts, stopped by an acknowledgement however it came, shown
on the control message and the timeline, told to the announcement channel when exhausted, and
listed in the postmortem draft. Driven with a controllable clock through alerts and clicks sent
as Slack and the alert sender send them."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot.core.records import IncidentRecord
from bot.incidents.stamping import acknowledge
from bot.paging.chain import ChainTarget, EscalationChain, chain_from_spans, exhausted_due, levels_due
from bot.paging.pager import NO_EXTERNAL_PAGER, PageLinks, PageResult, PageTarget
from bot.team_config import TeamConfigError, load_team_config
from bot.timers.scheduler import IncidentTimers
from storage.db import Database
from storage.models import TimerFiring
from tests.clocks import FakeClock
from tests.conftest import ROOT, start_bot
from tests.fake_pagerduty import API_TOKEN, KEY_VARIABLE, ROUTING_KEY, WebhookSender, catalog_with_pagerduty, v3_event
from tests.team_helpers import click
from tests.test_alerts import SECRET, T0, events, generic, lines, post, timers_of_another_process

ESCALATION_CONTACT = "U02HX4TB9LC"  # checkout-web's escalation in runbooks/catalog.yml
LEAD = "U0LEAD0001"
EXTRA = "U0EXTRA001"
LEADS_GROUP = "S0LEADS001"
LEADS_MEMBER = "U0LEADGRP1"

# The seeds' chain (on-call at once, escalation contact after 5 min, the lead after 15), with a
# user, a user group and both external pagers on the way, and the "not mitigated" notice kept.
CHAIN = [
    {"after": "0m", "page": ["service_oncall"]},
    {"after": "5m", "page": ["service_escalation", "pagerduty"]},
    {"after_previous": "10m", "page": ["service_lead", {"slack_user": EXTRA}, {"slack_group": LEADS_GROUP}, "webhook"]},
]


def chain_config(tmp_path: Path, chain: list | None = None, **p1: object) -> Path:
    config = yaml.safe_load((ROOT / "runbooks" / "config.yml").read_text())
    config["escalation"]["P1"] = {"chain": chain or CHAIN, "unmitigated_after": "30m", "reminder_every": "30m"} | p1
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def catalog_with_lead(tmp_path: Path) -> Path:
    catalog = yaml.safe_load((ROOT / "runbooks" / "catalog.yml").read_text())
    service = next(s for s in catalog["services"] if s["name"] == "checkout-web")
    service["lead"] = LEAD
    path = tmp_path / "catalog.yml"
    path.write_text(yaml.safe_dump(catalog, sort_keys=False))
    return path


@dataclass
class RecordingPager:
    """A ``Pager`` that records every page it is asked to send."""

    triggers: list[tuple[int, int, PageTarget, PageLinks, IncidentRecord]] = field(default_factory=list)
    answer: PageResult = PageResult("sent")

    async def trigger(self, incident: IncidentRecord, *, level: int, target: PageTarget, links: PageLinks) -> PageResult:
        self.triggers.append((incident.id, level, target, links, incident))
        return self.answer

    async def acknowledge(self, incident: IncidentRecord) -> None:
        return None

    async def resolve(self, incident: IncidentRecord) -> None:
        return None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def pager() -> RecordingPager:
    return RecordingPager()


def people(fake_slack) -> None:
    for user, name in ((ESCALATION_CONTACT, "escalation-lead"), (LEAD, "lead"), (EXTRA, "extra"), (LEADS_MEMBER, "leads-member")):
        fake_slack.add_user(user, name)
    fake_slack.add_usergroup(LEADS_GROUP, "storefront-leads", [LEADS_MEMBER])


@pytest.fixture
async def bot(settings, fake_slack, clock, tmp_path, pager):
    people(fake_slack)
    running = await start_bot(
        settings.model_copy(
            update={
                "alert_webhook_secret": SECRET,
                "incident_config": chain_config(tmp_path),
                "service_catalog": catalog_with_lead(tmp_path),
            }
        ),
        fake_slack,
        clock=clock,
    )
    running.runtime.timers.pager = pager
    yield running
    await running.stop()


async def open_p1(bot) -> IncidentRecord:
    status, _ = await post(bot, generic())  # checkout-web, critical -> P1
    assert status == 201
    await bot.settle()
    return await bot.incident(1)


def oncall_members(fake_slack) -> list[str]:
    [group] = [g for g, handle in fake_slack.usergroup_handles.items() if handle == "storefront-oncall"]
    return sorted(fake_slack.usergroups[group])


def dms_to(fake_slack, user: str) -> list[str]:
    return [c.args["text"] for c in fake_slack.calls_to("chat.postMessage") if c.args["channel"] == user]


async def fire(bot, minutes: float) -> list[tuple[str, str]]:
    bot.runtime.clock.at(minutes)
    return [(f.kind.value, f.slot) for f in await bot.runtime.timers.run_once()]


def control_text(fake_slack, incident) -> str:
    message = next(m for m in fake_slack.channels[incident.channel_id].messages if m["ts"] == incident.control_message_ts)
    return json.dumps(message["blocks"], ensure_ascii=False)


# --------------------------------------------------------------------------- the chain as plain functions


def test_levels_are_due_at_their_delay_from_opening_until_acknowledged():
    chain = chain_from_spans(
        [
            (timedelta(0), False, (ChainTarget("service_oncall"),)),
            (timedelta(minutes=5), False, (ChainTarget("service_escalation"),)),
            (timedelta(minutes=10), True, (ChainTarget("service_lead"),)),
        ],
        timedelta(minutes=5),
    )
    assert [level.after for level in chain.levels] == [timedelta(0), timedelta(minutes=5), timedelta(minutes=15)]

    def due(minutes: float, acknowledged: float | None = None) -> list[int]:
        acked = T0 + timedelta(minutes=acknowledged) if acknowledged is not None else None
        return [level.number for level in levels_due(chain, opened_at=T0, acknowledged_at=acked, now=T0 + timedelta(minutes=minutes))]

    assert due(0) == [1] and due(4.9) == [1] and due(5) == [1, 2] and due(15) == [1, 2, 3]
    assert due(15, acknowledged=3) == []
    assert exhausted_due(chain, opened_at=T0, acknowledged_at=None, now=T0 + timedelta(minutes=19.9)) is None
    assert exhausted_due(chain, opened_at=T0, acknowledged_at=None, now=T0 + timedelta(minutes=20)) == T0 + timedelta(minutes=20)
    assert exhausted_due(chain, opened_at=T0, acknowledged_at=T0, now=T0 + timedelta(minutes=60)) is None
    assert exhausted_due(EscalationChain(()), opened_at=T0, acknowledged_at=None, now=T0 + timedelta(days=1)) is None


def test_the_config_reads_the_chain_and_a_chain_replaces_the_single_page(tmp_path):
    config = chain_config(tmp_path, chain_exhausted_after="10m")
    written = yaml.safe_load(config.read_text())
    written["escalation"]["P2"] |= {"unacknowledged_after": "5m"}  # P2 on the single page
    config.write_text(yaml.safe_dump(written, sort_keys=False))
    timers = load_team_config(config).timers
    policy = timers.policy("P1")
    assert policy.unacknowledged_after is None and policy.unmitigated_after == timedelta(minutes=30)
    assert policy.chain is not None and policy.chain.exhausted_after == timedelta(minutes=10)
    assert [(level.after, level.targets) for level in policy.chain.levels] == [
        (timedelta(0), (ChainTarget("service_oncall"),)),
        (timedelta(minutes=5), (ChainTarget("service_escalation"), ChainTarget("pagerduty"))),
        (
            timedelta(minutes=15),
            (
                ChainTarget("service_lead"),
                ChainTarget("slack_user", EXTRA),
                ChainTarget("slack_group", LEADS_GROUP),
                ChainTarget("webhook"),
            ),
        ),
    ]
    assert timers.policy("P2").chain is None  # the single page stays where it is given without a chain
    assert timers.policy("P2").unacknowledged_after == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("level", "message"),
    [
        ({"page": ["service_oncall"]}, "escalation.P1.chain.0: give each level exactly one of after (from opening"),
        ({"after": "5m", "after_previous": "1m", "page": ["webhook"]}, "escalation.P1.chain.0: give each level exactly one of after"),
        ({"after": "5m", "page": []}, "escalation.P1.chain.0.page: List should have at least 1 item"),
        (
            {"after": "5m", "page": ["pagerdooty"]},
            "escalation.P1.chain.0.page: 'pagerdooty' is not a page target; use one of service_oncall",
        ),
        ({"after": "5m", "page": [{"slack_user": "bob"}]}, "slack_user: 'bob' is neither a Slack user ID (U012ABCDEF) nor an e-mail"),
        ({"after": "5m", "page": [{"slack_group": "Not A Group"}]}, "slack_group: 'Not A Group' is neither a Slack user group ID"),
        ({"after": "soon", "page": ["webhook"]}, "escalation.P1.chain.0.after: 'soon' is not a duration; write it like 30m"),
        ({"after": "-5m", "page": ["webhook"]}, "escalation.P1.chain.0.after: '-5m' is not a duration"),
        ({"after": "5m", "page": ["webhook"], "wait": "1m"}, "escalation.P1.chain.0.wait: Extra inputs are not permitted"),
    ],
)
def test_a_wrong_chain_is_refused_naming_the_field_and_the_right_form(tmp_path, level, message):
    with pytest.raises(TeamConfigError) as refused:
        load_team_config(chain_config(tmp_path, [level]))
    assert message in str(refused.value) and str(tmp_path / "config.yml") in str(refused.value)


def test_levels_out_of_order_or_a_chain_beside_the_single_page_are_refused(tmp_path):
    with pytest.raises(TeamConfigError, match=r"escalation\.P1\.chain: level 2 comes 5 min after opening, before level 1 \(10 min\)"):
        load_team_config(chain_config(tmp_path, [{"after": "10m", "page": ["webhook"]}, {"after": "5m", "page": ["webhook"]}]))
    with pytest.raises(TeamConfigError, match="give either chain .* or unacknowledged_after .*, not both"):
        load_team_config(chain_config(tmp_path, unacknowledged_after="5m"))


# --------------------------------------------------------------------------- the chain in a running bot


@pytest.mark.both_databases
async def test_each_level_pages_at_its_delay_then_the_announcement_channel_is_told(bot, fake_slack, clock, pager, announce_channel):
    incident = await open_p1(bot)
    room = incident.channel_id
    oncall = oncall_members(fake_slack)

    assert await fire(bot, 0) == [("page", "level-1")]  # the on-call group at once
    assert lines(fake_slack, room)[-1].startswith("📟 INC-1 is open and not acknowledged. Escalation level 1: paging <!subteam^")
    for member in oncall:
        assert len(dms_to(fake_slack, member)) == 1 and "You are paged for *INC-1*" in dms_to(fake_slack, member)[0]
    assert await fire(bot, 4.99) == []
    assert dms_to(fake_slack, ESCALATION_CONTACT) == [] and pager.triggers == []

    assert await fire(bot, 5) == [("page", "level-2")]
    assert len(dms_to(fake_slack, ESCALATION_CONTACT)) == 1 and ESCALATION_CONTACT in fake_slack.channels[room].members
    [(incident_id, level, target, links, _)] = pager.triggers
    assert (incident_id, level, target) == (1, 2, PageTarget("pagerduty"))
    assert links.war_room and room in links.war_room and links.control_message

    assert await fire(bot, 14.99) == []
    assert await fire(bot, 15) == [("page", "level-3")]
    for user in (LEAD, EXTRA, LEADS_MEMBER):
        assert len(dms_to(fake_slack, user)) == 1, user
    assert [(t[1], t[2].kind) for t in pager.triggers] == [(2, "pagerduty"), (3, "webhook")]
    pages = await events(bot, 1, "page")
    assert [(e.data["level"], e.occurred_at) for e in pages] == [(1, T0), (2, T0 + timedelta(minutes=5)), (3, T0 + timedelta(minutes=15))]
    assert pages[1].text == f"Paged level 2, not acknowledged after 5 min: <@{ESCALATION_CONTACT}>, PagerDuty"
    assert pages[2].data["people"] == [LEAD, EXTRA, LEADS_MEMBER] and pages[2].data["pagers"] == ["webhook"]

    assert await fire(bot, 19.99) == []
    assert await fire(bot, 20) == [("chain_exhausted", "once")]
    [notice] = [line for line in lines(fake_slack, announce_channel) if line.startswith("📟")]
    assert notice.startswith("📟 *INC-1* (P1) Checkout 5xx above 5%: every level of its escalation chain was paged")
    assert len(await events(bot, 1, "chain_exhausted")) == 1
    assert await fire(bot, 29) == []  # nothing twice; the "not mitigated" notice stays at 30
    assert await fire(bot, 30) == [("mitigation_escalation", "once")]


@pytest.mark.parametrize("how", ["Slack click", "PagerDuty"])
async def test_an_acknowledgement_however_it_came_stops_the_chain(bot, fake_slack, clock, pager, announce_channel, how):
    incident = await open_p1(bot)
    assert await fire(bot, 0) == [("page", "level-1")]
    clock.at(3)
    if how == "Slack click":
        fake_slack.channels[incident.channel_id].members.add("U_BOB")
        await click(bot, incident, "incident_acknowledge", "1", "U_BOB", action_ts=clock.ts())
    else:  # what the PagerDuty webhook does on incident.acknowledged: the same stamp
        await acknowledge(bot.runtime.db, 1, by="U_BOB", at=clock())
    assert (await bot.incident(1)).acknowledged_at == T0 + timedelta(minutes=3)
    for minutes in (5, 15, 20, 25):
        assert await fire(bot, minutes) == []
    assert dms_to(fake_slack, ESCALATION_CONTACT) == [] and dms_to(fake_slack, LEAD) == [] and pager.triggers == []
    assert not [line for line in lines(fake_slack, announce_channel) if line.startswith("📟")]
    assert [e.data["level"] for e in await events(bot, 1, "page")] == [1]


@pytest.mark.both_databases
async def test_each_level_fires_once_with_two_schedulers_on_one_database_and_after_a_restart(bot, fake_slack, clock, pager):
    incident = await open_p1(bot)
    runtime = bot.runtime
    other_db = Database(runtime.settings.database_url)
    other_pager = RecordingPager()

    def scheduler(db) -> IncidentTimers:
        return timers_of_another_process(runtime, db, clock, pager=other_pager)

    other = scheduler(other_db)
    try:
        for minutes in (0, 5, 15, 20):
            clock.at(minutes)
            await asyncio.gather(runtime.timers.run_once(), other.run_once(), runtime.timers.run_once(), other.run_once())
    finally:
        await other_db.dispose()
    async with runtime.db.transaction() as session:
        claims = sorted(
            (c.kind, c.slot, c.status) for c in await session.scalars(select(TimerFiring).where(~TimerFiring.kind.contains(":")))
        )
    assert claims == [
        ("chain_exhausted", "once", "notified"),
        ("page", "level-1", "notified"),
        ("page", "level-2", "notified"),
        ("page", "level-3", "notified"),
    ]
    assert [e.data["level"] for e in await events(bot, 1, "page")] == [1, 2, 3]
    assert sorted((t[1], t[2].kind) for t in pager.triggers + other_pager.triggers) == [(2, "pagerduty"), (3, "webhook")]
    for user in (*oncall_members(fake_slack), ESCALATION_CONTACT, LEAD, EXTRA, LEADS_MEMBER):
        assert len(dms_to(fake_slack, user)) == 1, user
    room = lines(fake_slack, incident.channel_id)
    waits = ("is open and not acknowledged", "has not been acknowledged after 5 min", "has not been acknowledged after 15 min")
    assert [sum(line.startswith(f"📟 INC-1 {wait}.") for line in room) for wait in waits] == [1, 1, 1]
    # a restart: a fresh scheduler on the same database fires nothing again
    clock.at(21)
    assert await scheduler(runtime.db).run_once() == []


async def test_the_control_message_shows_the_paging_state_until_acknowledged(bot, fake_slack, clock):
    incident = await open_p1(bot)
    assert "Paging:" not in control_text(fake_slack, incident)
    await fire(bot, 5)  # levels 1 and 2 are both due: each fires, the last one shows
    text = control_text(fake_slack, incident)
    at = int((T0 + timedelta(minutes=5)).timestamp())
    assert f"📟 *Paging:* level 2, <@{ESCALATION_CONTACT}>, PagerDuty, <!date^{at}^{{ago}}|" in text
    fake_slack.channels[incident.channel_id].members.add("U_BOB")
    await click(bot, incident, "incident_acknowledge", "1", "U_BOB", action_ts=clock.at(6))
    assert "Paging:" not in control_text(fake_slack, await bot.incident(1))


async def test_a_page_outside_slack_that_could_not_be_sent_is_on_the_timeline(bot, fake_slack, clock, pager):
    await open_p1(bot)
    pager.answer = PageResult("failed", NO_EXTERNAL_PAGER)
    assert await fire(bot, 5) == [("page", "level-1"), ("page", "level-2")]
    [failed] = await events(bot, 1, "page_failed")
    assert failed.text == f"Could not page level 2 through PagerDuty: {NO_EXTERNAL_PAGER}"
    assert await fire(bot, 7) == []  # reported once; the level is not paged again


async def test_a_pager_that_raises_is_reported_and_the_levels_slack_pages_still_go_out(bot, fake_slack, clock, pager):
    await open_p1(bot)

    async def broken(incident, *, level, target, links):
        raise RuntimeError("pager bug")

    pager.trigger = broken
    assert await fire(bot, 15) == [("page", "level-1"), ("page", "level-2"), ("page", "level-3")]
    assert [e.text for e in await events(bot, 1, "page_failed")] == [
        "Could not page level 2 through PagerDuty: RuntimeError: pager bug",
        "Could not page level 3 through the paging webhook: RuntimeError: pager bug",
    ]
    for user in (ESCALATION_CONTACT, LEAD, EXTRA, LEADS_MEMBER):
        assert len(dms_to(fake_slack, user)) == 1, user


async def test_the_postmortem_lists_who_was_paged_when_and_how_long_each_level_took(bot, fake_slack, clock):
    incident = await open_p1(bot)
    for minutes in (0, 5, 15):
        await fire(bot, minutes)
    fake_slack.channels[incident.channel_id].members.add("U_BOB")
    await click(bot, incident, "incident_acknowledge", "1", "U_BOB", action_ts=clock.at(18))
    _, markdown = await bot.runtime.resolutions.render(1)
    section = markdown.split("## Paging", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split(" | ")[0] for row in rows] == ["| 1", "| 2", "| 3"]
    assert [row.split(" | ")[-2:] for row in rows] == [["5 min", "level 2 |"], ["10 min", "level 3 |"], ["3 min", "acknowledged |"]]
    assert "2026-11-23 14:05:00" in rows[1] and "PagerDuty" in rows[1] and "escalation-lead" in rows[1]
    assert "Acknowledged 2026-11-23 14:18 UTC by" in section and "18 min after the first page" in section


async def test_a_chain_step_that_fails_is_retried_alone(bot, fake_slack, clock):
    """Every Slack call of a whole chain run (three levels and the exhausted-chain announcement:
    war-room lines, invitations, direct messages, the announcement) failed in turn: each retry does
    only what is missing, so nobody is paged twice and nobody is left out. On SQLite: the step
    claims' SQL is the escalation's, which test_multi_step_posts sweeps on both databases."""
    from tests.test_multi_step_posts import each_escalation_step_failed_once

    assert await each_escalation_step_failed_once(bot, fake_slack, clock, due_after=timedelta(minutes=20)) >= 10


async def test_time_to_acknowledge_in_reports_counts_an_acknowledgement_from_pagerduty(bot, fake_slack, clock):
    """PagerDuty's acknowledgement is the same stamp as the button's: the chain stops and reports
    count it as the time to acknowledge."""
    incident = await open_p1(bot)
    assert await fire(bot, 5) == [("page", "level-1"), ("page", "level-2")]
    await acknowledge(bot.runtime.db, 1, by=ESCALATION_CONTACT, at=T0 + timedelta(minutes=7))  # as the webhook does
    assert await fire(bot, 16) == []  # level 3 (15 min) is not paged
    fake_slack.channels[incident.channel_id].members.add(ESCALATION_CONTACT)
    await click(bot, incident, "stamp_phase_verified", "1", ESCALATION_CONTACT, action_ts=clock.at(20))
    assert (await bot.incident(1)).timeline.restored
    restored, _ = await bot.runtime.reports.reads.columns(T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert restored.acknowledged.tolist() == [True]
    assert restored.ack_us.tolist() == [7 * 60 * 1_000_000]


# --------------------------------------------------------------------------- a whole chain run, end to end

PAGERDUTY_WEBHOOK_SECRET = "pagerduty-webhook-secret-0123456789"
# The seeds' chain with PagerDuty at every level (and the generic webhook with the lead): what the
# closing note of the issue shows.
PAGED_CHAIN = [
    {"after": "0m", "page": ["service_oncall", "pagerduty"]},
    {"after": "5m", "page": ["service_escalation", "pagerduty"]},
    {"after_previous": "10m", "page": ["service_lead", "pagerduty", "webhook"]},
]


@pytest.mark.both_databases
@pytest.mark.parametrize("acknowledged_in", ["Slack", "PagerDuty"])
async def test_a_whole_chain_run_through_pagerduty_from_the_alert_to_the_postmortem(
    settings, fake_slack, clock, tmp_path, pagerduty, monkeypatch, announce_channel, acknowledged_in
):
    """A P1 opened by an alert: level 1 pages PagerDuty at once (with the incident's dedup_key),
    level 2 after 5 minutes and level 3 after 15 without an acknowledgement; the acknowledgement
    (the button, or PagerDuty's webhook) stops the chain and acknowledges in PagerDuty; verifying
    resolves there; reopening triggers again; the postmortem's paging section lists it all."""
    people(fake_slack)
    monkeypatch.setenv(KEY_VARIABLE, ROUTING_KEY)
    catalog = catalog_with_pagerduty(tmp_path)
    data = yaml.safe_load(catalog.read_text())
    next(s for s in data["services"] if s["name"] == "checkout-web")["lead"] = LEAD
    catalog.write_text(yaml.safe_dump(data))
    update = {
        "alert_webhook_secret": SECRET,
        "incident_config": chain_config(tmp_path, PAGED_CHAIN),
        "service_catalog": catalog,
        "pagerduty_events_url": pagerduty.events_url,
        "pagerduty_webhook_secret": PAGERDUTY_WEBHOOK_SECRET,
        "paging_webhook_url": pagerduty.webhook_url,
        "paging_webhook_secret": "paging-webhook-secret-0123456789ab",
        "pagerduty_api_url": pagerduty.api_url,
        "pagerduty_api_token": API_TOKEN,
    }
    # Who acknowledges: Bob in Slack, or Carol on her phone (PagerDuty names her, its REST API gives
    # her e-mail, Slack her user); either becomes the commander by acknowledging, and verifies.
    responder = "U_BOB" if acknowledged_in == "Slack" else "U_CAROL"
    fake_slack.add_user("U_CAROL", "carol", email="carol@example.com")
    pagerduty.users["PCAROL1"] = ("Carol Oncall", "carol@example.com")
    bot = await start_bot(settings.model_copy(update=update), fake_slack, clock=clock)
    try:
        incident = await open_p1(bot)

        def pagerduty_actions() -> list[tuple[str, object]]:
            return [(e["event_action"], (e.get("payload") or {}).get("custom_details", {}).get("level")) for e in pagerduty.events()]

        assert await fire(bot, 0) == [("page", "level-1")]
        assert pagerduty_actions() == [("trigger", 1)]  # the page at open and level 1's are one claim
        assert {e["dedup_key"] for e in pagerduty.events()} == {"INC-1"}
        assert await fire(bot, 4.99) == []
        assert await fire(bot, 5) == [("page", "level-2")]
        assert pagerduty_actions() == [("trigger", 1), ("trigger", 2)]
        assert await fire(bot, 14.99) == []
        assert await fire(bot, 15) == [("page", "level-3")]
        assert pagerduty_actions() == [("trigger", 1), ("trigger", 2), ("trigger", 3)]
        assert [a.status for a in pagerduty.alerts] == ["triggered"]  # one PagerDuty alert, paged at each level
        # The webhook is paged at open (PAGE_AT_OPEN) and by level 3.
        assert [(c.json()["action"], c.json()["level"]) for c in pagerduty.webhook_calls()] == [("trigger", 1), ("trigger", 3)]

        clock.at(17)
        if acknowledged_in == "Slack":
            fake_slack.channels[incident.channel_id].members.add("U_BOB")
            await click(bot, incident, "incident_acknowledge", "1", "U_BOB", action_ts=clock.ts())
        else:
            sender = WebhookSender(f"http://127.0.0.1:{bot.port}/hooks/pagerduty", PAGERDUTY_WEBHOOK_SECRET)
            delivery = v3_event(
                "incident.acknowledged", "INC-1", occurred_at="2026-11-23T14:17:00.000Z", agent="Carol Oncall", agent_id="PCAROL1"
            )
            status, answer = await sender.send(delivery)
            assert (status, answer["outcome"]) == (200, "acknowledged")
            await bot.settle()
        acknowledged = await bot.incident(1)
        assert (acknowledged.acknowledged_at, acknowledged.acknowledged_by) == (T0 + timedelta(minutes=17), responder)
        assert [a for a, _ in pagerduty_actions()][3:] == ["acknowledge"]
        assert [a.status for a in pagerduty.alerts] == ["acknowledged"]
        assert [c.json()["action"] for c in pagerduty.webhook_calls()] == ["trigger", "trigger", "acknowledge"]
        for minutes in (20, 25):
            assert await fire(bot, minutes) == []  # the chain stopped: no exhaustion notice
        assert not [line for line in lines(fake_slack, announce_channel) if line.startswith("📟")]

        fake_slack.channels[incident.channel_id].members.add(responder)
        await click(bot, incident, "stamp_phase_verified", "1", responder, action_ts=clock.at(40))
        assert (await bot.incident(1)).status == "resolved"
        assert [a for a, _ in pagerduty_actions()][4:] == ["resolve"], pagerduty_actions()
        assert [a.status for a in pagerduty.alerts] == ["resolved"]

        _, markdown = await bot.runtime.resolutions.render(1)
        section = markdown.split("## Paging", 1)[1].split("\n## ", 1)[0]
        rows = [line for line in section.splitlines() if line.startswith("| ") and line[2].isdigit()]
        assert [row.split(" | ")[0] for row in rows] == ["| 1", "| 2", "| 3"]
        assert all("PagerDuty" in row for row in rows), rows
        assert [row.split(" | ")[-2:] for row in rows] == [["5 min", "level 2 |"], ["10 min", "level 3 |"], ["2 min", "acknowledged |"]]
        assert "Acknowledged 2026-11-23 14:17 UTC by" in section

        await click(bot, incident, "incident_reopen", "1", responder, action_ts=clock.at(50))
        assert [a for a, _ in pagerduty_actions()][5:] == ["trigger"]
        assert [a.status for a in pagerduty.alerts] == ["resolved", "triggered"]  # PagerDuty opens a new incident
        page_events = [e for e in await events(bot, 1, "page")]
        assert [e.data["level"] for e in page_events] == [1, 2, 3]
    finally:
        await bot.stop()


# --------------------------------------------------------------------------- the default chain (no chain in the config)


@pytest.fixture
async def default_chain_bot(settings, fake_slack, clock, tmp_path):
    """The shipped team config, whose P1 and P2 give no chain: the default one pages."""
    people(fake_slack)
    running = await start_bot(
        settings.model_copy(update={"alert_webhook_secret": SECRET, "service_catalog": catalog_with_lead(tmp_path)}),
        fake_slack,
        clock=clock,
    )
    yield running
    await running.stop()


@pytest.mark.both_databases
async def test_the_default_chain_pages_on_call_at_once_the_escalation_contact_at_5_and_the_lead_at_15(
    default_chain_bot, fake_slack, clock, announce_channel
):
    bot = default_chain_bot
    incident = await open_p1(bot)
    room = incident.channel_id
    runtime = bot.runtime
    other_db = Database(runtime.settings.database_url)
    other = timers_of_another_process(runtime, other_db, clock)  # a second process
    levels = ((0, oncall_members(fake_slack)), (5, [ESCALATION_CONTACT]), (15, [LEAD]))
    try:
        for number, (minutes, paged) in enumerate(levels, start=1):
            if minutes:
                assert await fire(bot, minutes - 0.01) == []
                assert all(dms_to(fake_slack, user) == [] for user in paged)
            clock.at(minutes)
            batches = await asyncio.gather(runtime.timers.run_once(), other.run_once())
            batches.append(await runtime.timers.run_once())
            assert sorted((f.kind.value, f.slot) for batch in batches for f in batch) == [("page", f"level-{number}")]
            for user in paged:
                [dm] = dms_to(fake_slack, user)
                assert (
                    dm.startswith("🚨 You are paged for *INC-1* (P1) Checkout 5xx above 5%") and user in fake_slack.channels[room].members
                )
        assert await fire(bot, 19.99) == []
        clock.at(20)
        batches = await asyncio.gather(runtime.timers.run_once(), other.run_once())
        assert [(f.kind.value, f.slot) for batch in batches for f in batch] == [("chain_exhausted", "once")]
    finally:
        await other_db.dispose()
    assert [(e.data["level"], e.occurred_at, e.data["people"]) for e in await events(bot, 1, "page")] == [
        (n, T0 + timedelta(minutes=minutes), paged) for n, (minutes, paged) in enumerate(levels, start=1)
    ]
    for user in (*oncall_members(fake_slack), ESCALATION_CONTACT, LEAD):
        assert len(dms_to(fake_slack, user)) == 1, user
    waits = ("is open and not acknowledged", "has not been acknowledged after 5 min", "has not been acknowledged after 15 min")
    assert [sum(line.startswith(f"📟 INC-1 {wait}.") for line in lines(fake_slack, room)) for wait in waits] == [1, 1, 1]
    [notice] = [line for line in lines(fake_slack, announce_channel) if line.startswith("📟")]
    assert notice.startswith("📟 *INC-1* (P1) Checkout 5xx above 5%: every level of its escalation chain was paged")
    assert await fire(bot, 30) == [("mitigation_escalation", "once")]  # the "not mitigated after 30 minutes" notice stays
    clock.at(31)
    assert await timers_of_another_process(runtime, runtime.db, clock).run_once() == []  # a restart fires nothing again


async def test_the_default_chain_of_a_p2_stops_at_the_acknowledgement(default_chain_bot, fake_slack, clock, announce_channel):
    bot = default_chain_bot
    status, _ = await post(bot, generic(severity="error"))  # checkout-web, error -> P2
    assert status == 201
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.severity == "P2"
    assert await fire(bot, 0) == [("page", "level-1")]
    assert await fire(bot, 5) == [("page", "level-2")]
    fake_slack.channels[incident.channel_id].members.add("U_BOB")
    await click(bot, incident, "incident_acknowledge", "1", "U_BOB", action_ts=clock.at(7))
    for minutes in (15, 20, 30):
        assert await fire(bot, minutes) == []
    assert dms_to(fake_slack, LEAD) == [] and len(dms_to(fake_slack, ESCALATION_CONTACT)) == 1
    assert not [line for line in lines(fake_slack, announce_channel) if line.startswith("📟")]
    assert [e.data["level"] for e in await events(bot, 1, "page")] == [1, 2]
