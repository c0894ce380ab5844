"""Paging through PagerDuty's Events API v2 and the generic paging webhook, and PagerDuty's V3
webhooks back into the bot, against the fake PagerDuty (tests/fake_pagerduty.py) and through the
bot's real HTTP endpoint: a page at open, acknowledge, resolve and reopen followed; one page
whatever retries, processes and restarts; 429, 5xx and 400 answers; signatures; privacy."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from bot import logs
from bot.catalog.runbooks import check_report
from bot.catalog.services import CatalogError, load_catalog, routing_key_values
from bot.paging import delivery
from bot.paging.external_pagers import SEND_LEASE
from bot.paging.signatures import WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER, webhook_signature
from bot.settings import ConfigError, load_settings
from handlers import cli
from storage import pages as page_rows
from tests.clocks import FakeClock
from tests.conftest import ROOT, start_bot
from tests.fake_pagerduty import API_TOKEN, KEY_VARIABLE, ROUTING_KEY, WebhookSender, catalog_with_pagerduty, v3_event
from tests.team_helpers import click
from tests.waiting import eventually

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
WEBHOOK_SECRET = "pagerduty-webhook-secret-0123456789"
PAGING_SECRET = "paging-webhook-secret-0123456789ab"
TITLE = "Checkout returns 500s"
ALERT_SECRET = "alert-secret-0123456789abcdef"
P1_OPEN = f"{TITLE} sev:P1 service:checkout-web"


@pytest.fixture(autouse=True)
def retries_without_pauses(monkeypatch):
    """The pauses between attempts stay what production waits; here they only let other tasks run."""

    async def let_others_run(_seconds: float) -> None:
        await asyncio.sleep(0)

    monkeypatch.setattr(delivery, "pause", let_others_run)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def pager_settings(settings, pagerduty, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_VARIABLE, ROUTING_KEY)
    return settings.model_copy(
        update={
            "service_catalog": catalog_with_pagerduty(tmp_path),
            "pagerduty_events_url": pagerduty.events_url,
            "pagerduty_webhook_secret": WEBHOOK_SECRET,
            "paging_webhook_url": pagerduty.webhook_url,
            "paging_webhook_secret": PAGING_SECRET,
        }
    )


@pytest.fixture
async def bot(pager_settings, fake_slack, clock):
    running = await start_bot(pager_settings, fake_slack, clock=clock)
    yield running
    await running.stop()


def sender(bot) -> WebhookSender:
    return WebhookSender(f"http://127.0.0.1:{bot.port}/hooks/pagerduty", WEBHOOK_SECRET)


async def open_incident(bot, text: str = P1_OPEN, *, retry_num: int | None = None, trigger_id: str | None = None):
    response = await bot.slack.command(f"open {text}", user="U_ALICE", retry_num=retry_num, trigger_id=trigger_id)
    assert response.status == 200
    await bot.settle()
    return await bot.incident(1)


async def kinds(bot, incident_id: int = 1) -> list[str]:
    return [event.kind for event in await bot.timeline(incident_id)]


async def pages(bot, incident_id: int = 1):
    async with bot.runtime.db.reading() as session:
        return await page_rows.for_incident(session, incident_id)


# --------------------------------------------------------------------------- paging at open


@pytest.mark.both_databases
async def test_a_p1_on_a_paged_service_pages_pagerduty_and_the_webhook_once_at_open(bot, pagerduty, fake_slack):
    incident = await open_incident(bot)
    [event] = pagerduty.events()
    assert event["event_action"] == "trigger" and event["routing_key"] == ROUTING_KEY
    assert event["dedup_key"] == "INC-1"
    assert event["payload"]["severity"] == "critical"
    assert TITLE in event["payload"]["summary"] and event["payload"]["summary"].startswith("INC-1")
    assert event["payload"]["custom_details"]["level"] == 1
    hrefs = {link["text"]: link["href"] for link in event["links"]}
    assert hrefs["War room in Slack"].endswith(incident.channel_id)
    [permalink_call] = fake_slack.calls_to("chat.getPermalink")
    assert permalink_call.args["message_ts"] == incident.control_message_ts
    assert "Control message" in hrefs
    assert pagerduty.open_alert(ROUTING_KEY, "INC-1").status == "triggered"

    [call] = pagerduty.webhook_calls()
    body = call.json()
    assert body["version"] == 1 and body["action"] == "trigger" and body["incident"] == "INC-1"
    assert body["title"] == TITLE and body["severity"] == "P1" and body["service"] == "checkout-web" and body["level"] == 1
    timestamp = int(call.headers[WEBHOOK_TIMESTAMP_HEADER])
    assert call.headers[WEBHOOK_SIGNATURE_HEADER] == webhook_signature(PAGING_SECRET, timestamp, call.body)

    paged = [event for event in await bot.timeline() if event.kind == "paged"]
    assert sorted(event.data["via"] for event in paged) == ["pagerduty", "webhook"]
    assert all(event.data["level"] == 1 for event in paged)


async def test_the_opener_is_answered_without_waiting_for_pagerduty(bot, pagerduty, fake_slack):
    pagerduty.held = asyncio.Event()
    response = await bot.slack.command(f"open {P1_OPEN}", user="U_ALICE")
    assert response.status == 200
    await eventually(lambda: any("INC-1" in r.get("text", "") for r in fake_slack.responses), what="the opener's answer")
    assert pagerduty.events() == []  # PagerDuty has not answered yet
    pagerduty.held.set()
    await bot.settle()
    assert len(pagerduty.events("trigger")) == 1


@pytest.mark.parametrize(
    "text, pagerduty_events, webhook_calls",
    [
        ("Slow search sev:P3 service:checkout-web", 0, 0),  # P3: not paged at open
        ("Card declines sev:P2 service:payments-api", 0, 1),  # no routing key: the webhook only
        ("Checkout slow sev:P2 service:checkout-web", 1, 1),
    ],
)
async def test_only_the_configured_severities_and_services_are_paged_at_open(bot, pagerduty, text, pagerduty_events, webhook_calls):
    await open_incident(bot, text)
    assert len(pagerduty.events()) == pagerduty_events
    assert len(pagerduty.webhook_calls()) == webhook_calls


async def test_an_alert_that_opens_a_p1_pages_once_however_often_it_fires(pager_settings, fake_slack, pagerduty, clock):
    running = await start_bot(pager_settings.model_copy(update={"alert_webhook_secret": ALERT_SECRET}), fake_slack, clock=clock)
    alert = {"service": "checkout-web", "title": TITLE, "status": "firing", "dedup_key": "checkout-5xx", "severity": "critical"}
    try:
        for _ in range(3):  # Alertmanager repeats a firing group
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    f"http://127.0.0.1:{running.port}/hooks/alerts",
                    json=alert,
                    headers={"Authorization": f"Bearer {ALERT_SECRET}"},
                ) as response:
                    assert response.status in (200, 201)
            await running.settle()
    finally:
        await running.stop()
    [event] = pagerduty.events()
    assert event["dedup_key"] == "INC-1" and event["payload"]["severity"] == "critical"


# --------------------------------------------------------------------------- following the incident


@pytest.mark.both_databases
async def test_acknowledge_verify_and_reopen_in_slack_follow_in_pagerduty(bot, pagerduty, clock):
    incident = await open_incident(bot)
    await click(bot, incident, "incident_acknowledge", "1", "U_ALICE", action_ts=clock.at(2))
    assert [e["event_action"] for e in pagerduty.events()] == ["trigger", "acknowledge"]
    assert pagerduty.open_alert(ROUTING_KEY, "INC-1").status == "acknowledged"
    await click(bot, incident, "incident_acknowledge", "1", "U_BOB", action_ts=clock.at(3))  # already: nothing more
    assert len(pagerduty.events()) == 2

    await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.at(10))
    assert [e["event_action"] for e in pagerduty.events()] == ["trigger", "acknowledge", "resolve"]
    assert pagerduty.open_alert(ROUTING_KEY, "INC-1") is None
    assert [c.json()["action"] for c in pagerduty.webhook_calls()] == ["trigger", "acknowledge", "resolve"]

    await click(bot, incident, "incident_reopen", "1", "U_ALICE", action_ts=clock.at(12))
    assert [e["event_action"] for e in pagerduty.events()] == ["trigger", "acknowledge", "resolve", "trigger"]
    assert [a.status for a in pagerduty.alerts] == ["resolved", "triggered"]  # a new PagerDuty alert
    assert [c.json()["action"] for c in pagerduty.webhook_calls()][-1] == "trigger"

    # The reopened round is followed as the first: verifying again resolves the new alert.
    await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.at(20))
    assert [a.status for a in pagerduty.alerts] == ["resolved", "resolved"]


# --------------------------------------------------------------------------- exactly once


@pytest.mark.both_databases
async def test_no_second_page_from_a_retried_open_a_second_process_or_a_restart(bot, pagerduty, pager_settings, fake_slack, clock):
    incident = await open_incident(bot, trigger_id="1337.42.open")
    await open_incident(bot, retry_num=1, trigger_id="1337.42.open")  # Slack's retry of the same command
    await bot.runtime.pagers.page_at_open(incident, frozenset({"P1"}))  # the flow run again
    second = await start_bot(pager_settings, fake_slack, clock=clock)  # another process, same database
    try:
        results = await asyncio.gather(
            bot.runtime.pagers.page_at_open(incident, frozenset({"P1"})),
            second.runtime.pagers.page_at_open(incident, frozenset({"P1"})),
            second.runtime.pagers.acknowledge(incident),
            bot.runtime.pagers.acknowledge(incident),
        )
    finally:
        await second.stop()
    await bot.stop()  # a restart
    restarted = await start_bot(pager_settings, fake_slack, clock=clock)
    try:
        assert [r.outcome for r in await restarted.runtime.pagers.page_at_open(incident, frozenset({"P1"}))] == ["duplicate", "duplicate"]
        await restarted.runtime.pagers.acknowledge(incident)
    finally:
        await restarted.stop()
    assert all(result.outcome == "duplicate" for result in results[0] + results[1])
    assert [e["event_action"] for e in pagerduty.events()] == ["trigger", "acknowledge"]
    assert [c.json()["action"] for c in pagerduty.webhook_calls()] == ["trigger", "acknowledge"]
    assert pagerduty.alerts[0].triggers == 1


@pytest.mark.both_databases
async def test_a_page_whose_sender_died_mid_send_is_sent_by_the_next_once_its_lease_runs_out(bot, pagerduty, clock):
    incident = await open_incident(bot, "Slow search sev:P3 service:checkout-web")  # not paged at open
    claim = page_rows.PageClaim(1, "pagerduty:trigger:round0:level1", "pagerduty", "trigger", 1, "INC-1")
    async with bot.runtime.db.transaction() as session:  # a process claimed it, then died before PagerDuty answered
        assert await page_rows.claim(session, claim, token="dead", at=clock(), stale_before=clock() - SEND_LEASE)
    links = await bot.runtime.pagers.links(incident)
    target = bot.runtime.pagers.trigger
    from bot.paging.pager import PageTarget

    assert (await target(incident, level=1, target=PageTarget("pagerduty"), links=links)).outcome == "duplicate"
    clock.now += SEND_LEASE + timedelta(seconds=1)
    assert (await target(incident, level=1, target=PageTarget("pagerduty"), links=links)).outcome == "sent"
    assert (await target(incident, level=1, target=PageTarget("pagerduty"), links=links)).outcome == "duplicate"
    assert len(pagerduty.events("trigger")) == 1


async def test_repair_does_not_resend_a_dead_senders_trigger_once_the_incident_was_acknowledged(bot, pagerduty, clock):
    """A trigger whose sender died is sent again by the repair only while nobody has taken the
    incident on: afterwards it would wake someone for nothing. It is recorded as not sent, once."""
    incident = await open_incident(bot, "Slow search sev:P3 service:checkout-web")  # not paged at open
    claim = page_rows.PageClaim(1, "pagerduty:trigger:round0:level2", "pagerduty", "trigger", 2, "INC-1")
    async with bot.runtime.db.transaction() as session:
        assert await page_rows.claim(session, claim, token="dead", at=clock(), stale_before=clock() - SEND_LEASE)
    await click(bot, incident, "incident_acknowledge", "1", "U_ALICE", action_ts=clock.at(1))
    clock.now += SEND_LEASE
    repairs = bot.runtime.interactions.repairs
    report = await repairs.bring_slack_up_to_date(1)
    assert "paged PagerDuty (level 2): not sent again, INC-1 was acknowledged or resolved since" in report.done, report
    assert not report.failures and pagerduty.events() == []
    assert [(p.key, p.status) for p in await pages(bot)] == [("pagerduty:trigger:round0:level2", "failed")]
    assert (await kinds(bot)).count("page_failed") == 1
    again = await repairs.bring_slack_up_to_date(1)
    assert not again.done and not again.failures and pagerduty.events() == []


# --------------------------------------------------------------------------- PagerDuty's answers


async def test_429_and_5xx_are_retried_until_pagerduty_takes_the_event(bot, pagerduty, fake_slack, announce_channel):
    pagerduty.script(429, 500, 503)
    await open_incident(bot)
    assert [r.status for r in pagerduty.enqueue_requests()] == [429, 500, 503, 202]
    assert len(pagerduty.events("trigger")) == 1
    [paged] = [e for e in await bot.timeline() if e.kind == "paged" and e.data["via"] == "pagerduty"]
    assert paged.data["attempts"] == 4


async def test_pagerduty_down_through_every_retry_is_a_failed_page_on_the_timeline(bot, pagerduty, fake_slack, announce_channel):
    pagerduty.script(*[500] * (len(delivery.RETRY_PAUSES) + 1))
    await open_incident(bot)
    assert len(pagerduty.enqueue_requests()) == len(delivery.RETRY_PAUSES) + 1
    [failed] = [e for e in await bot.timeline() if e.kind == "page_failed"]
    assert "500" in failed.text and failed.data["via"] == "pagerduty"
    [row] = [p for p in await pages(bot) if p.via == "pagerduty"]
    assert row.status == "failed"


async def test_a_400_is_a_configuration_error_told_once_to_the_announcement_channel(
    bot, pagerduty, fake_slack, announce_channel, monkeypatch
):
    monkeypatch.setenv(KEY_VARIABLE, "too-short")  # PagerDuty refuses a routing key that is not 32 characters
    incident = await open_incident(bot)
    assert [r.status for r in pagerduty.enqueue_requests()] == [400]  # never retried
    await bot.runtime.pagers.page_at_open(incident, frozenset({"P1"}))
    assert len(pagerduty.enqueue_requests()) == 1
    told = [m["text"] for m in fake_slack.channels[announce_channel].messages if "⚠️" in m.get("text", "")]
    assert len(told) == 1 and "INC-1" in told[0] and "routing_key" in told[0]
    [failed] = [e for e in await bot.timeline() if e.kind == "page_failed"]
    assert "400" in failed.text


async def test_a_missing_routing_key_variable_is_a_failed_page_told_once(bot, pagerduty, fake_slack, announce_channel, monkeypatch):
    monkeypatch.delenv(KEY_VARIABLE)
    await open_incident(bot)
    assert pagerduty.enqueue_requests() == []
    told = [m["text"] for m in fake_slack.channels[announce_channel].messages if "⚠️" in m.get("text", "")]
    assert len(told) == 1 and KEY_VARIABLE in told[0]


# --------------------------------------------------------------------------- PagerDuty's webhooks


@pytest.mark.both_databases
async def test_acknowledged_in_pagerduty_stamps_the_acknowledgement_once_with_pagerdutys_time(bot, pagerduty, fake_slack):
    incident = await open_incident(bot)
    delivery_body = v3_event("incident.acknowledged", "INC-1", occurred_at="2026-11-23T14:03:00.000Z", agent="Carol Oncall")
    status, answer = await sender(bot).send(delivery_body)
    assert (status, answer["outcome"]) == (200, "acknowledged")
    await bot.settle()
    status, answer = await sender(bot).send(delivery_body)  # PagerDuty delivers it again
    assert (status, answer["outcome"]) == (200, "already_acknowledged")
    await bot.settle()
    stamped = await bot.incident(1)
    assert stamped.acknowledged_at == datetime(2026, 11, 23, 14, 3, tzinfo=UTC)
    assert stamped.acknowledged_by == "Carol Oncall"
    assert (await kinds(bot)).count("acknowledged") == 1
    room = fake_slack.channels[incident.channel_id].messages
    assert sum("acknowledged in PagerDuty" in m.get("text", "") for m in room) == 1
    # The button afterwards finds it taken.
    await click(bot, incident, "incident_acknowledge", "1", "U_BOB")
    assert (await kinds(bot)).count("acknowledged") == 1


async def test_acknowledged_in_pagerduty_after_verification_stamps_nothing(bot, pagerduty, clock):
    incident = await open_incident(bot)
    await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.at(10))
    status, answer = await sender(bot).send(v3_event("incident.acknowledged", "INC-1"))
    assert (status, answer["outcome"]) == (200, "not_open")
    assert (await bot.incident(1)).acknowledged_at is None and "acknowledged" not in await kinds(bot)


async def test_a_pagerduty_user_with_a_slack_account_is_matched_by_email(bot, pagerduty, fake_slack):
    fake_slack.add_user("U_CARLOS", "carlos", email="carlos@example.com")
    await open_incident(bot)
    status, _ = await sender(bot).send(v3_event("incident.acknowledged", "INC-1", agent="Carlos", agent_email="carlos@example.com"))
    assert status == 200
    await bot.settle()
    assert (await bot.incident(1)).acknowledged_by == "U_CARLOS"


PAGERDUTY_USER = "PCAROL1"
ACKNOWLEDGER = "Carol Oncall"


@pytest.mark.parametrize("case", ["matched", "no API key", "key refused (401)", "unknown user (404)", "rate limited (429)", "not in Slack"])
async def test_an_acknowledgement_in_pagerduty_is_stamped_as_the_slack_user_pagerduty_names_else_by_name(
    pager_settings, fake_slack, pagerduty, clock, case, caplog
):
    """V3's agent is a user reference (no e-mail): the e-mail comes from GET /users/{id} with
    PAGERDUTY_API_TOKEN, then users.lookupByEmail. Whatever fails, the acknowledgement is stamped
    once, by the PagerDuty name, and the webhook is answered 200; the key is never logged."""
    token = {"no API key": None, "key refused (401)": "u+not-the-right-key0"}.get(case, API_TOKEN)
    if case != "unknown user (404)":
        pagerduty.users[PAGERDUTY_USER] = (ACKNOWLEDGER, "carol@example.com")
    if case == "rate limited (429)":
        pagerduty.users_scripted.append(429)
    if case != "not in Slack":
        fake_slack.add_user("U_CAROL", "carol", email="carol@example.com")
    settings = pager_settings.model_copy(update={"pagerduty_api_url": pagerduty.api_url, "pagerduty_api_token": token})
    bot = await start_bot(settings, fake_slack, clock=clock)
    try:
        with caplog.at_level(logging.DEBUG):
            await open_incident(bot)
            delivery_body = v3_event("incident.acknowledged", "INC-1", agent=ACKNOWLEDGER, agent_id=PAGERDUTY_USER)
            status, answer = await sender(bot).send(delivery_body)
            assert (status, answer["outcome"]) == (200, "acknowledged")
            await bot.settle()
        acknowledged = await bot.incident(1)
        assert acknowledged.acknowledged_by == ("U_CAROL" if case == "matched" else ACKNOWLEDGER), case
        assert (await kinds(bot)).count("acknowledged") == 1
        asked = pagerduty.user_requests()
        assert [r.path for r in asked] == ([] if token is None else [f"/users/{PAGERDUTY_USER}"])
        assert all(r.headers["Authorization"] == f"Token token={token}" for r in asked)
        assert all(r.headers["Accept"] == "application/vnd.pagerduty+json;version=2" for r in asked)
        assert API_TOKEN not in caplog.text and "u+not-the-right-key0" not in caplog.text
    finally:
        await bot.stop()


async def test_resolved_in_pagerduty_suggests_verifying_and_never_verifies(bot, pagerduty, fake_slack):
    incident = await open_incident(bot)
    status, answer = await sender(bot).send(v3_event("incident.resolved", "INC-1", agent="Carol Oncall"))
    assert (status, answer["outcome"]) == (200, "recorded")
    await bot.settle()
    assert (await bot.incident(1)).status == "open"
    room = fake_slack.channels[incident.channel_id].messages
    assert any("*Mark verified*" in m.get("text", "") for m in room)
    assert "pagerduty_resolved" in await kinds(bot)


@pytest.mark.both_databases
async def test_escalated_and_reassigned_go_to_the_timeline_once_each(bot, pagerduty):
    await open_incident(bot)
    escalated = v3_event("incident.escalated", "INC-1", assignees=("Dana Lead",))
    for body in (escalated, escalated, v3_event("incident.reassigned", "INC-1", assignees=("Erin",))):
        status, _ = await sender(bot).send(body)
        assert status == 200
    timeline = await bot.timeline()
    assert [e.text for e in timeline if e.kind.startswith("pagerduty_")] == [
        "Escalated in PagerDuty to Dana Lead",
        "Reassigned in PagerDuty to Erin",
    ]


async def test_an_event_for_an_incident_the_bot_did_not_page_is_ignored_with_a_200(bot, pagerduty):
    await open_incident(bot, "Slow search sev:P3 service:checkout-web")  # INC-1, never paged
    before = await kinds(bot)
    for body in (
        v3_event("incident.acknowledged", "INC-1"),
        v3_event("incident.acknowledged", "d3640fbd41094207a1c11e58e46b1662"),
        v3_event("incident.annotated", "INC-1"),
    ):
        status, answer = await sender(bot).send(body)
        assert (status, answer["outcome"]) == (200, "ignored")
    assert await kinds(bot) == before and (await bot.incident(1)).acknowledged_at is None


async def test_a_signature_from_either_secret_of_a_rotation_is_accepted(bot, pagerduty):
    await open_incident(bot)
    status, answer = await sender(bot).send(
        v3_event("incident.acknowledged", "INC-1"), secrets=("an-old-secret-0123456789", WEBHOOK_SECRET)
    )
    assert (status, answer["outcome"]) == (200, "acknowledged")


@pytest.mark.parametrize(
    "signature, content_type, raw, status, words",
    [
        ("", "application/json", None, 401, "no signature"),
        ("v1=" + "0" * 64, "application/json", None, 401, "wrong signature"),
        ("v0=whatever", "application/json", None, 401, "wrong signature"),
        (None, "text/plain", None, 415, "Content-Type"),
        (None, "application/json", b"{not json", 400, "not valid JSON"),
        (None, "application/json", b'{"event": {"id": "x", "event_type": "incident.acknowledged"}}', 422, "occurred_at"),
        (
            None,
            "application/json",
            b'{"event": {"id": "x", "event_type": "incident.acknowledged", "occurred_at": "yesterday"}}',
            422,
            "ISO 8601",
        ),
        (
            None,
            "application/json",
            b'{"event": {"id": "x", "event_type": "incident.resolved", "occurred_at": "2026-11-23T14:03:00Z", "data": 7}}',
            422,
            "event.data",
        ),
        (None, "application/json", b"[]", 422, "event: missing"),
    ],
)
async def test_bad_deliveries_are_refused_with_the_reason_and_write_nothing(bot, pagerduty, signature, content_type, raw, status, words):
    await open_incident(bot)
    before = (await kinds(bot), len(await pages(bot)))
    body = raw if raw is not None else v3_event("incident.acknowledged", "INC-1")
    got, answer = await sender(bot).send(body, signature=signature, content_type=content_type)
    assert got == status and answer["ok"] is False and words in answer["error"]
    await bot.settle()
    assert (await kinds(bot), len(await pages(bot))) == before
    assert (await bot.incident(1)).acknowledged_at is None


async def test_the_pagerduty_webhook_is_off_without_its_secret(settings, fake_slack, pagerduty, clock):
    running = await start_bot(settings, fake_slack, clock=clock)
    try:
        status, answer = await WebhookSender(f"http://127.0.0.1:{running.port}/hooks/pagerduty", WEBHOOK_SECRET).send(
            v3_event("incident.acknowledged", "INC-1")
        )
    finally:
        await running.stop()
    assert status == 503 and "PAGERDUTY_WEBHOOK_SECRET" in answer["error"]


# --------------------------------------------------------------------------- privacy


MARKER = "ZQXPAGERTITLE"


async def test_a_private_incidents_pages_carry_no_title_service_room_or_people(
    bot, pagerduty, fake_slack, announce_channel, clock, monkeypatch
):
    """Every outbound body, whichever path sent it: open, acknowledge, verify, reopen, PagerDuty's
    acknowledgement, a failed page's report."""
    incident = await open_incident(bot, f"{MARKER} payroll leak sev:P1 service:checkout-web private")
    assert incident.is_private
    await sender(bot).send(v3_event("incident.escalated", "INC-1"))
    await click(bot, incident, "incident_acknowledge", "1", "U_ALICE", action_ts=clock.at(2))
    await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.at(10))
    await click(bot, incident, "incident_reopen", "1", "U_ALICE", action_ts=clock.at(12))
    monkeypatch.setenv(KEY_VARIABLE, "too-short")
    await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.at(20))  # PagerDuty refuses the resolve
    await bot.settle()

    bodies = [r.body.decode() for r in pagerduty.received]
    assert len(pagerduty.enqueue_requests()) >= 5 and len(pagerduty.webhook_calls()) >= 4
    forbidden = [MARKER, "payroll", incident.channel_id, "checkout-web", "U_ALICE", "app_redirect"]
    for body in bodies:
        for word in forbidden:
            assert word not in body, f"{word!r} leaked in a page: {body}"
    assert all(json.loads(r.body)["private"] is True and "title" not in json.loads(r.body) for r in pagerduty.webhook_calls())
    told = [m for m in fake_slack.channels[announce_channel].messages if "⚠️" in m.get("text", "")]
    assert told, "the refused resolve is told to the announcement channel"
    for message in fake_slack.channels[announce_channel].messages:
        for word in (MARKER, "payroll", incident.channel_id):
            assert word not in json.dumps(message)


# --------------------------------------------------------------------------- configuration


def test_the_catalog_refuses_a_routing_key_written_in_the_file(tmp_path):
    for pagerduty, words in (
        ("{routing_key: 0123456789abcdef0123456789abcdef}", "never write the routing key itself"),
        ("0123456789abcdef0123456789abcdef", "routing_key_env: PAGERDUTY_PAYMENTS_KEY"),
        ("{routing_key_env: 0123456789abcdef0123456789abcdef}", "not an environment variable's name"),
        ("{routing_key_env: PAGERDUTY_KEY, extra: 1}", "extra"),
    ):
        path = tmp_path / "catalog.yml"
        path.write_text(f"services:\n  - name: checkout-web\n    team: storefront\n    pagerduty: {pagerduty}\n")
        with pytest.raises(CatalogError) as error:
            load_catalog(path, required=True)
        text = str(error.value)
        assert words in text and "catalog.yml:4" in text
        assert "0123456789abcdef0123456789abcdef" not in text  # a key is never echoed


def test_runbooks_check_warns_of_a_routing_key_variable_that_is_not_set(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    (tmp_path / "catalog.yml").write_text(
        f"services:\n  - name: checkout-web\n    team: storefront\n    runbook: https://wiki.example.com/x\n    pagerduty: {{routing_key_env: {KEY_VARIABLE}}}\n"
    )
    report = check_report(tmp_path, tmp_path / "catalog.yml")
    [problem] = [p for p in report.problems if "pagerduty" in p.message]
    assert problem.level == "warning" and KEY_VARIABLE in problem.message and "catalog.yml:5" in problem.where
    monkeypatch.setenv(KEY_VARIABLE, ROUTING_KEY)
    assert not [p for p in check_report(tmp_path, tmp_path / "catalog.yml").problems if "pagerduty" in p.message]


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"PAGE_AT_OPEN": "P1,P5"}, "PAGE_AT_OPEN is malformed (P5 is not a severity"),
        ({"PAGING_WEBHOOK_URL": "ftp://pager"}, "PAGING_WEBHOOK_URL is malformed"),
        ({"PAGING_WEBHOOK_URL": "https://pager.example.com/in"}, "PAGING_WEBHOOK_SECRET is not set"),
        ({"PAGERDUTY_WEBHOOK_SECRET": "short"}, "PAGERDUTY_WEBHOOK_SECRET is malformed (5 characters"),
        ({"PAGERDUTY_API_URL": "api.pagerduty.com"}, "PAGERDUTY_API_URL is malformed"),
    ],
)
def test_paging_settings_say_what_is_wrong(overrides, words):
    base = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "0123456789abcdef0123"}
    with pytest.raises(ConfigError) as error:
        load_settings(None, **{**base, **overrides})
    assert words in str(error.value)


def test_the_routing_keys_the_catalog_names_are_redacted_from_the_logs(tmp_path, monkeypatch, settings):
    monkeypatch.setenv(KEY_VARIABLE, ROUTING_KEY)
    path = catalog_with_pagerduty(tmp_path)
    keys = routing_key_values(load_catalog(path, required=True), os.environ)
    assert keys == [ROUTING_KEY]
    assert cli._routing_keys(settings.model_copy(update={"service_catalog": path})) == [ROUTING_KEY]  # what `serve` redacts
    stream = io.StringIO()
    logger = logging.getLogger("tests.routing_key_redaction")
    logger.addHandler(logs.make_handler(secrets=keys, stream=stream))
    logger.propagate = False
    logger.error("PagerDuty refused routing key %s", ROUTING_KEY.upper())
    assert ROUTING_KEY.lower() not in stream.getvalue().lower() and "[redacted secret]" in stream.getvalue()


async def test_a_receiver_verifies_the_paging_webhook_as_docs_paging_md_shows(bot, pagerduty, monkeypatch):
    """The verification example of docs/paging.md, run against a real call of the bot."""
    doc = (ROOT / "docs" / "paging.md").read_text()
    example = doc.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(example, namespace)  # noqa: S102 - the docs' own example, run as a receiver would
    await open_incident(bot)
    [call] = pagerduty.webhook_calls()
    verify = namespace["verify"]
    headers = (call.headers[WEBHOOK_TIMESTAMP_HEADER], call.headers[WEBHOOK_SIGNATURE_HEADER])
    # The bot's clock is the test's (2026-11-23); the receiver's is now, so its replay window is moved to the call.
    monkeypatch.setattr(namespace["time"], "time", lambda: float(headers[0]))
    assert verify(PAGING_SECRET, *headers, call.body)
    assert not verify("another-secret-0123456789", *headers, call.body)
    assert not verify(PAGING_SECRET, *headers, call.body + b" ")
