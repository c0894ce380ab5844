"""Alerts open incidents through POST /hooks/alerts; acknowledgement; escalations, reminders and
the monitoring window with a controllable clock; timers claimed once across schedulers."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select, update

from bot.integrations.alerts import AlertPayloadError, AlertRules, parse_alerts
from bot.runtime import incident_timers_of
from bot.timers.scheduler import IncidentTimers
from storage.db import Database
from storage.models import AlertGroup, Incident, TimelineEvent, TimerFiring
from tests.clocks import FakeClock
from tests.conftest import start_bot
from tests.team_helpers import click, single_page_settings

DATA = Path(__file__).parent / "data"
SECRET = "alert-secret-0123456789abcdef"
T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
ESCALATION_CONTACT = "U02HX4TB9LC"  # checkout-web's escalation in runbooks/catalog.yml


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def escalation() -> str:
    """P1 and P2 page through the default chain; a test of the single page overrides this with
    ``@SINGLE_PAGE`` (tests/test_escalation_chain.py has the chain's)."""
    return "default chain"


SINGLE_PAGE = pytest.mark.parametrize("escalation", ["single page"])


@pytest.fixture
async def bot(settings, fake_slack, clock, escalation, tmp_path):
    fake_slack.add_user(ESCALATION_CONTACT, "escalation-lead")
    if escalation == "single page":
        settings = single_page_settings(settings, tmp_path)
    running = await start_bot(settings.model_copy(update={"alert_webhook_secret": SECRET}), fake_slack, clock=clock)
    yield running
    await running.stop()


def example(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def generic(
    service: str = "checkout-web",
    *,
    status: str = "firing",
    key: str = "checkout-5xx",
    severity: str = "critical",
    started: datetime = T0,
    title: str = "Checkout 5xx above 5%",
) -> dict:
    return {
        "service": service,
        "title": title,
        "status": status,
        "dedup_key": key,
        "severity": severity,
        "started_at": started.isoformat().replace("+00:00", "Z"),
    }


async def post(bot, body, *, headers: dict | None = None, raw: bytes | None = None) -> tuple[int, dict]:
    sent = {"Content-Type": "application/json", "Authorization": f"Bearer {SECRET}"} if headers is None else headers
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{bot.port}/hooks/alerts", data=raw if raw is not None else json.dumps(body).encode(), headers=sent
        ) as response:
            return response.status, await response.json()


async def count(bot, model) -> int:
    async with bot.runtime.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model)))


async def events(bot, incident_id: int = 1, kind: str | None = None) -> list[TimelineEvent]:
    timeline = await bot.timeline(incident_id)
    return [e for e in timeline if kind is None or e.kind == kind]


def lines(fake, channel_id: str) -> list[str]:
    return [m["text"] for m in fake.channels[channel_id].messages if not m.get("blocks") and not m.get("files")]


def buttons(fake, incident) -> list[str]:
    message = next(m for m in fake.channels[incident.channel_id].messages if m["ts"] == incident.control_message_ts)
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


# --------------------------------------------------------------------------- intake


@pytest.mark.both_databases
async def test_alertmanager_example_opens_one_incident_and_its_repeats_join_the_timeline(bot, fake_slack, clock):
    body = example("alertmanager_v4_firing.json")
    body["alerts"][0]["labels"]["service"] = "payments-api"
    started = datetime(2023, 2, 6, 13, 8, 45, 828000, tzinfo=UTC)
    clock.now = started + timedelta(minutes=2)  # the example's alert, received as it fired
    status, answer = await post(bot, body)
    assert (status, answer["opened"]) == (201, ["INC-1"])
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.detection_method == "alert"
    assert incident.severity == "P1"  # severity=critical through the config's label mapping
    assert incident.title == "BlackBox Probe Failure: https://server.example.org"
    assert incident.service == "payments-api"
    assert incident.started_at == started and incident.timeline.at(incident.timeline.last_stamp[0]) == started
    # the same war room as a manual open: channel, pinned control message, the service's runbook
    room = fake_slack.channels[incident.channel_id]
    assert incident.control_message_ts in room.pins
    assert buttons(fake_slack, incident)[0] == "incident_acknowledge"
    assert any("payments-api-errors" in json.dumps(m.get("blocks", "")) for m in room.messages)
    assert {"U01PAY7QX3K", "U05MLR2ZC8D"} <= room.members

    status, answer = await post(bot, body)  # Alertmanager repeats the group
    assert (status, answer["opened"], answer["added"]) == (200, [], ["INC-1"])
    assert await count(bot, Incident) == 1
    assert len(await events(bot, 1, "alert_firing")) == 2

    resolved = copy.deepcopy(body)
    resolved["status"] = resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2023-02-06T13:20:00.000Z"
    status, answer = await post(bot, resolved)
    assert (status, answer["resolved"]) == (200, ["INC-1"])
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.timeline.at(incident.timeline.last_stamp[0]) == started  # no phase stamped by the alert
    assert incident.status == "open" and len(incident.timeline.stamps) == 1
    assert any(
        line.startswith("✅ Alert *ProbeFailure* resolved") and "Mark verified" in line for line in lines(fake_slack, incident.channel_id)
    )
    assert [e.kind for e in await events(bot, 1)][-1] == "alert_resolved"


async def test_grafana_example_needs_a_service_label_then_opens_one_incident_for_its_group(bot, fake_slack, clock):
    body = example("grafana_webhook_firing.json")
    clock.now = datetime(2021, 10, 12, 7, 55, tzinfo=UTC)  # the example's alerts, received as they fired
    status, answer = await post(bot, body)
    assert status == 422
    assert answer["error"].startswith("alerts[0]: no `service` label naming the affected service; add one with one of:")
    assert await count(bot, Incident) == 0 and await count(bot, AlertGroup) == 0

    body["commonLabels"]["service"] = "checkout-web"
    status, answer = await post(bot, body)
    assert (status, answer["opened"], answer["added"]) == (201, ["INC-1"], ["INC-1"])  # two alerts, one group
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.severity == "P3"  # no severity label: the configured default
    assert incident.title == "This alert was triggered for zone us-1"
    assert incident.started_at == datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)
    assert len(await events(bot, 1, "alert_firing")) == 2

    # one alert of the group resolves while the other still fires: no hint to verify yet
    partly = copy.deepcopy(body)
    partly["alerts"][1]["status"] = "resolved"
    partly["alerts"][1]["endsAt"] = "2021-10-12T10:30:00+02:00"
    status, answer = await post(bot, partly)
    assert (status, answer["added"], answer["resolved"]) == (200, ["INC-1"], ["INC-1"])
    await bot.settle()
    assert lines(fake_slack, incident.channel_id)[-1] == (
        "✅ Alert *High CPU usage* resolved at <!date^1634027400^{date_short_pretty} {time}|2021-10-12 08:30 UTC>. "
        "Other alerts of its group are still firing."
    )


@pytest.mark.both_databases
async def test_a_storm_of_100_concurrent_alerts_is_one_incident(bot, fake_slack):
    results = await asyncio.gather(*(post(bot, generic()) for _ in range(100)))
    await bot.settle()
    assert sorted(status for status, _ in results) == [200] * 99 + [201]
    assert await count(bot, Incident) == 1
    assert await count(bot, AlertGroup) == 1
    assert len(await events(bot, 1, "alert_firing")) == 100
    assert len(fake_slack.calls_to("conversations.create")) == 1


def grouped(*services: str, status: str = "firing") -> dict:
    """An Alertmanager body (the published example) with one alert per service named."""
    body = example("alertmanager_v4_firing.json")
    template = body["alerts"][0]
    body["alerts"] = []
    for index, service in enumerate(services):
        alert = copy.deepcopy(template)
        alert["labels"] |= {"service": service, "alertname": f"Alert{index}"}
        alert["fingerprint"] = f"fp{index}"
        alert["status"] = status
        body["alerts"].append(alert)
    return body


@pytest.mark.parametrize("unknown_at", [0, 1, 2])
async def test_a_grouped_body_with_an_unknown_service_takes_every_usable_alert_and_lists_the_others(bot, fake_slack, unknown_at, caplog):
    services = ["checkout-web", "payments-api"]
    services.insert(unknown_at, "kube-state-metrics")  # a Kubernetes service, as kube-prometheus labels it
    with caplog.at_level("WARNING", logger="handlers.hooks"):
        status, answer = await post(bot, grouped(*services))
    assert status == 201, answer
    assert answer["opened"] == ["INC-1", "INC-2"]
    assert answer["refused"] == [
        {
            "alert": f"alerts[{unknown_at}]",
            "alertname": f"Alert{unknown_at}",
            "error": f"alerts[{unknown_at}]: service='kube-state-metrics' is not a service in the catalog; known services: "
            + ", ".join(sorted(bot.runtime.catalog.names())),
        }
    ]
    assert any("kube-state-metrics" in r.getMessage() for r in caplog.records)
    await bot.settle()
    assert sorted([(await bot.incident(1)).service, (await bot.incident(2)).service]) == ["checkout-web", "payments-api"]
    assert await count(bot, Incident) == 2 and await count(bot, AlertGroup) == 2
    # Alertmanager repeats the group: the known alerts join their incidents, the unknown is listed again
    status, answer = await post(bot, grouped(*services))
    assert (status, answer["opened"], sorted(answer["added"]), len(answer["refused"])) == (200, [], ["INC-1", "INC-2"], 1)
    assert await count(bot, Incident) == 2


async def test_a_grouped_body_with_no_usable_alert_is_refused_whole_with_every_reason(bot):
    body = grouped("kube-state-metrics", "coredns")
    body["alerts"].append({"status": "firing", "labels": {"service": "auth", "alertname": "NoStart"}, "fingerprint": "x"})
    status, answer = await post(bot, body)
    assert status == 422
    assert answer["error"] == (
        f"alerts[0]: service='kube-state-metrics' is not a service in the catalog; known services: {', '.join(sorted(bot.runtime.catalog.names()))}; "
        f"alerts[1]: service='coredns' is not a service in the catalog; known services: {', '.join(sorted(bot.runtime.catalog.names()))}; "
        "alerts[2].startsAt: a firing alert needs its start time, like 2026-11-23T10:02:00Z"
    )
    assert await count(bot, Incident) == 0 and await count(bot, AlertGroup) == 0 and await count(bot, TimelineEvent) == 0


async def test_grafana_test_button_is_answered_200_and_shown_in_the_announcement_channel_recording_nothing(
    bot, fake_slack, announce_channel
):
    status, answer = await post(bot, example("grafana_test_notification.json"))
    assert (status, answer["ok"], answer["test"]) == (200, True, True)
    assert [m["text"] for m in fake_slack.channels[announce_channel].messages] == [
        "🧪 Test alert received from Grafana: the alert webhook works. Nothing was recorded."
    ]
    assert await count(bot, Incident) == 0 and await count(bot, AlertGroup) == 0 and await count(bot, TimelineEvent) == 0
    # The same labels from Alertmanager (no orgId) are an ordinary alert, not Grafana's test.
    alertmanager = example("grafana_test_notification.json")
    del alertmanager["orgId"]
    status, answer = await post(bot, alertmanager)
    assert status == 422 and "no `service` label" in answer["error"]


async def test_grafana_legacy_alert_body_is_told_the_format_is_not_supported_and_how_to_switch(bot):
    legacy = {
        "dashboardId": 1,
        "evalMatches": [{"value": 1, "metric": "Count", "tags": {}}],
        "orgId": 1,
        "panelId": 2,
        "ruleId": 1,
        "ruleName": "Panel Title alert",
        "ruleUrl": "http://localhost:3000/d/hZ7BuVbWz/test-dashboard",
        "state": "alerting",
        "tags": {"tag name": "tag value"},
        "title": "[Alerting] Panel Title alert",
    }
    status, answer = await post(bot, legacy)
    assert status == 422
    assert answer["error"].startswith(
        "this is Grafana's legacy alerting webhook (ruleName, evalMatches), which incident-bot does not support"
    )
    assert "contact point of type Webhook" in answer["error"]
    assert await count(bot, Incident) == 0


@pytest.mark.parametrize(
    "headers, raw, body, expected_status, reason_start",
    [
        ({"Content-Type": "application/json"}, None, None, 401, "no secret given"),
        ({"Content-Type": "application/json", "Authorization": "Bearer not-the-secret-at-all"}, None, None, 401, "wrong secret"),
        ({"Content-Type": "application/json", "X-Incident-Bot-Secret": "nope-nope-nope-nope"}, None, None, 401, "wrong secret"),
        ({"Content-Type": "text/plain", "Authorization": f"Bearer {SECRET}"}, None, None, 415, "the body must be JSON"),
        (None, b'{"alerts": [', None, 400, "the body is not valid JSON"),
        (None, None, generic(service="billing"), 422, "service: 'billing' is not a service in the catalog"),
        (None, None, {"service": "checkout-web", "status": "firing", "dedup_key": "x"}, 422, "missing title"),
        (
            None,
            None,
            {"status": "firing", "alerts": [{"status": "firing", "labels": {"service": "auth", "alertname": "A"}, "fingerprint": "f1"}]},
            422,
            "alerts[0].startsAt: a firing alert needs",
        ),
        (None, None, {"alerts": [{"status": "burning", "labels": {}}]}, 422, "alerts[0].status: expected firing or resolved"),
        (None, None, [1, 2], 422, "the body must be a JSON object"),
    ],
)
async def test_bad_webhook_input_gets_a_reason_and_writes_nothing(bot, headers, raw, body, expected_status, reason_start):
    status, answer = await post(bot, body if body is not None else generic(), headers=headers, raw=raw)
    assert status == expected_status
    assert answer["ok"] is False and answer["error"].startswith(reason_start), answer["error"]
    assert await count(bot, Incident) == 0
    assert await count(bot, AlertGroup) == 0
    assert await count(bot, TimelineEvent) == 0


async def test_the_secret_may_come_in_the_header_and_the_webhook_is_off_without_one(settings, fake_slack, clock):
    running = await start_bot(settings.model_copy(update={"alert_webhook_secret": SECRET}), fake_slack, clock=clock)
    try:
        status, _ = await post(running, generic(), headers={"Content-Type": "application/json", "X-Incident-Bot-Secret": SECRET})
        assert status == 201
    finally:
        await running.stop()
    off = await start_bot(settings, fake_slack, clock=clock)
    try:
        status, answer = await post(off, generic(key="other"))
        assert (status, answer["error"]) == (503, "alert webhook disabled: set ALERT_WEBHOOK_SECRET")
    finally:
        await off.stop()


# --------------------------------------------------------------------------- acknowledgement


async def open_by_alert(bot, **kwargs):
    status, _ = await post(bot, generic(**kwargs))
    assert status == 201
    await bot.settle()
    incident = await bot.incident(1)
    # The responders join the war room (acknowledging and stamping take war-room membership).
    bot.fake.channels[incident.channel_id].members.update({"U_BOB", "U_CAROL"})
    return incident


@pytest.mark.both_databases
async def test_acknowledge_stamps_once_even_when_clicked_twice_at_once(bot, fake_slack, clock):
    incident = await open_by_alert(bot)
    ts = clock.at(3)
    clicks = [
        bot.slack.block_action(
            "incident_acknowledge", "1", user=user, channel=incident.channel_id, message_ts=incident.control_message_ts, action_ts=ts
        )
        for user in ("U_BOB", "U_CAROL")
    ]
    await asyncio.gather(*clicks)
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.acknowledged_at == T0 + timedelta(minutes=3)
    assert incident.acknowledged_by in ("U_BOB", "U_CAROL")
    assert len(await events(bot, 1, "acknowledged")) == 1
    assert "incident_acknowledge" not in buttons(fake_slack, incident)
    assert incident.timeline.stamps.keys() == {incident.timeline.last_stamp[0]}  # no phase stamped
    clock.at(4)
    await bot.slack.command("ack", user="U_ALICE", channel=incident.channel_id)
    await bot.settle()
    assert any("was already acknowledged" in r.get("text", "") for r in fake_slack.responses)
    assert (await bot.incident(1)).acknowledged_at == T0 + timedelta(minutes=3)


# --------------------------------------------------------------------------- escalation and reminders


@SINGLE_PAGE
async def test_unacknowledged_p1_pages_the_escalation_contact_after_5_minutes_then_unmitigated_after_30(
    bot, fake_slack, clock, announce_channel
):
    incident = await open_by_alert(bot)  # checkout-web, critical -> P1
    clock.at(4.99)
    assert await bot.runtime.timers.run_once() == []
    clock.at(5)
    fired = await bot.runtime.timers.run_once()
    assert [f.kind.value for f in fired] == ["ack_escalation"]
    room = lines(fake_slack, incident.channel_id)
    assert room[-1].startswith("🚨 INC-1 has not been acknowledged after 5 min. Paging <@U02HX4TB9LC>")
    dms = [c for c in fake_slack.calls_to("chat.postMessage") if c.args["channel"] == ESCALATION_CONTACT]
    assert len(dms) == 1 and "You are paged for *INC-1*" in dms[0].args["text"]
    assert ESCALATION_CONTACT in fake_slack.channels[incident.channel_id].members
    clock.at(6)
    assert await bot.runtime.timers.run_once() == []  # once only
    clock.at(30)
    fired = await bot.runtime.timers.run_once()
    assert [f.kind.value for f in fired] == ["mitigation_escalation"]
    assert lines(fake_slack, announce_channel)[-1].startswith("⏱️ *INC-1* (P1)")
    kinds = [e.kind for e in await events(bot)]
    assert kinds.count("ack_escalation") == 1 and kinds.count("mitigation_escalation") == 1


@SINGLE_PAGE
async def test_acknowledged_in_time_means_no_page_and_timers_read_the_current_severity(bot, fake_slack, clock):
    await open_by_alert(bot, severity="warning")  # P3: no acknowledgement timer
    clock.at(10)
    assert await bot.runtime.timers.run_once() == []
    async with bot.runtime.db.transaction() as session:  # raised to P1 (as /incident severity would)
        await session.execute(update(Incident).where(Incident.id == 1).values(severity="P1"))
    fired = await bot.runtime.timers.run_once()
    assert [f.kind.value for f in fired] == ["ack_escalation"]

    await post(bot, generic(service="auth", key="auth-down"))
    await bot.settle()
    second = await bot.incident(2)
    fake_slack.channels[second.channel_id].members.add("U_BOB")
    ts = clock.at(12)
    await click(bot, second, "incident_acknowledge", "2", "U_BOB", action_ts=ts)
    clock.at(16)
    assert [f.incident_id for f in await bot.runtime.timers.run_once()] == []


async def test_status_reminders_come_after_30_quiet_minutes_and_activity_resets_them(bot, fake_slack, clock):
    incident = await open_by_alert(bot, severity="info")  # P4: reminders only
    clock.at(29)
    assert await bot.runtime.timers.run_once() == []
    clock.at(30)
    assert [f.kind.value for f in await bot.runtime.timers.run_once()] == ["reminder"]
    assert lines(fake_slack, incident.channel_id)[-1].startswith("⏰ Nothing on the INC-1 timeline for 30 min")
    clock.at(45)
    await bot.slack.command("note Rolled back checkout-web", user="U_BOB", channel=incident.channel_id)
    await bot.settle()
    clock.at(60)
    assert await bot.runtime.timers.run_once() == []  # the note at 45 resets the clock
    clock.at(75)
    assert [f.kind.value for f in await bot.runtime.timers.run_once()] == ["reminder"]
    assert len(await events(bot, 1, "reminder")) == 2


def timers_of_another_process(runtime, db: Database, clock, **more) -> IncidentTimers:
    """The timer scheduler a second process would run: the same team config, Slack and catalog as
    ``runtime``'s, on its own database connections ``db``."""
    return incident_timers_of(
        db,
        clock,
        runtime.team.timers,
        slack=runtime.slack,
        catalog=runtime.catalog,
        war_rooms=runtime.war_rooms,
        announce_channel=more.pop("announce_channel", runtime.settings.announce_channel),
        **more,
    )


@pytest.mark.both_databases
@SINGLE_PAGE
async def test_two_schedulers_on_one_database_fire_each_timer_once(bot, fake_slack, clock):
    await open_by_alert(bot)
    await post(bot, generic(service="auth", key="auth-down"))
    await bot.settle()
    runtime = bot.runtime
    # the second "process": its own engine and connections on the same database
    other_db = Database(runtime.settings.database_url)
    other = timers_of_another_process(runtime, other_db, clock)
    clock.at(31)
    try:
        results = await asyncio.gather(runtime.timers.run_once(), other.run_once(), runtime.timers.run_once(), other.run_once())
    finally:
        await other_db.dispose()
    fired = sorted((f.incident_id, f.kind.value) for batch in results for f in batch)
    # (the escalations are timeline activity, so no reminder is due in the same minute)
    assert fired == [(1, "ack_escalation"), (1, "mitigation_escalation"), (2, "ack_escalation"), (2, "mitigation_escalation")]
    async with runtime.db.transaction() as session:
        claims = list(
            await session.scalars(select(TimerFiring).where(TimerFiring.claimed_by != "migration 0006", ~TimerFiring.kind.contains(":")))
        )
    assert len(claims) == 4 and {c.status for c in claims} == {"notified"}
    room = lines(fake_slack, (await bot.incident(1)).channel_id)
    assert sum(line.startswith("🚨 INC-1 has not been acknowledged") for line in room) == 1
    # a restart (a fresh scheduler) fires nothing again
    clock.at(32)
    again = timers_of_another_process(runtime, runtime.db, clock, announce_channel=None)
    assert await again.run_once() == []


# --------------------------------------------------------------------------- monitoring and reopen


async def verify(bot, incident, clock, minutes: float, user: str = "U_BOB"):
    """``user`` acknowledges (so takes command of the alert's incident: verifying takes the
    ``close`` permission) and marks it verified, both at ``minutes``."""
    for action_id in ("incident_acknowledge", "stamp_phase_verified"):
        await click(bot, incident, action_id, str(incident.id), user, action_ts=clock.at(minutes))
    assert (await bot.incident(incident.id)).timeline.restored


async def test_acknowledging_an_alert_incident_takes_command_and_outsiders_are_refused(bot, fake_slack, clock):
    incident = await open_by_alert(bot)
    bot_user = incident.commander
    await click(bot, incident, "incident_acknowledge", "1", "U_OUTSIDER", action_ts=clock.at(2))
    assert (await bot.incident(1)).acknowledged_at is None
    assert "may" in fake_slack.responses[-1]["text"] and "nothing changed" in fake_slack.responses[-1]["text"].lower()

    await click(bot, incident, "incident_acknowledge", "1", "U_CAROL", action_ts=clock.at(3))
    incident = await bot.incident(1)
    assert (incident.acknowledged_by, incident.commander) == ("U_CAROL", "U_CAROL")
    assert [(e.data["user"], e.data["previous"]) for e in await events(bot, 1, "role_assigned")] == [("U_CAROL", bot_user)]
    # A second acknowledgement changes neither.
    await bot.slack.command("ack", user="U_BOB", channel=incident.channel_id)
    await bot.settle()
    assert (await bot.incident(1)).commander == "U_CAROL"


async def test_reopen_within_the_window_clears_the_verification_and_the_last_one_counts(bot, fake_slack, clock):
    incident = await open_by_alert(bot, severity="info")
    await verify(bot, incident, clock, 20)
    incident = await bot.incident(1)
    assert incident.monitoring and "incident_reopen" in buttons(fake_slack, incident)
    ts = clock.at(30)
    await click(bot, incident, "incident_reopen", "1", "U_CAROL", action_ts=ts)
    incident = await bot.incident(1)
    assert incident.status == "open" and not incident.timeline.restored
    reopened = await events(bot, 1, "reopened")
    assert len(reopened) == 1 and reopened[0].data["earlier_verified_at"] == (T0 + timedelta(minutes=20)).isoformat()
    assert reopened[0].data["earlier_verified_by"] == "U_BOB"
    assert lines(fake_slack, incident.channel_id)[-1].startswith("🔁 <@U_CAROL> *reopened* the incident")
    await verify(bot, incident, clock, 40)
    incident = await bot.incident(1)
    assert incident.timeline.time_to_restore == timedelta(minutes=40)
    summaries = [
        m["text"]
        for m in fake_slack.channels[incident.channel_id].messages
        if m.get("blocks") and " resolved: time to restore" in m["text"]
    ]
    assert summaries == ["INC-1 resolved: time to restore 20 min", "INC-1 resolved: time to restore 40 min"]
    assert len(fake_slack.calls_to("files.completeUploadExternal")) == 2  # a fresh postmortem draft
    assert reopened[0].data["earlier_postmortem_file_id"] is not None
    # the window runs from the last verification: closed at 40 + 30
    clock.at(69)
    assert [f.kind.value for f in await bot.runtime.timers.run_once()] == []
    clock.at(70)
    assert [f.kind.value for f in await bot.runtime.timers.run_once()] == ["close"]
    incident = await bot.incident(1)
    assert incident.closed_at == T0 + timedelta(minutes=70) and "incident_reopen" not in buttons(fake_slack, incident)
    clock.at(71)
    await bot.slack.command("reopen INC-1", user="U_CAROL", channel="C_GENERAL")
    await bot.settle()
    assert any("was closed at" in r.get("text", "") for r in fake_slack.responses)
    assert (await bot.incident(1)).status == "resolved"


async def test_reopen_after_the_window_is_refused_even_before_the_scheduler_closed_it(bot, fake_slack, clock):
    incident = await open_by_alert(bot, severity="info")
    await verify(bot, incident, clock, 10)
    clock.at(40)
    await bot.slack.command("reopen", user="U_CAROL", channel=incident.channel_id)
    await bot.settle()
    assert any("cannot be reopened" in r.get("text", "") for r in fake_slack.responses)
    incident = await bot.incident(1)
    assert incident.status == "resolved" and incident.timeline.restored
    assert await events(bot, 1, "reopened") == []


@pytest.mark.both_databases
async def test_after_close_the_same_alert_opens_a_new_incident(bot, fake_slack, clock):
    incident = await open_by_alert(bot, severity="info")
    await verify(bot, incident, clock, 10)
    clock.at(20)
    status, answer = await post(bot, generic(severity="info"))  # firing again while monitoring
    assert answer["added"] == ["INC-1"]
    await bot.settle()
    assert lines(fake_slack, incident.channel_id)[-1].startswith("🔥 Alert *Checkout 5xx above 5%* is firing again")
    clock.at(40)
    await bot.runtime.timers.run_once()
    status, answer = await post(bot, generic(severity="info", started=T0 + timedelta(minutes=39)))
    assert (status, answer["opened"]) == (201, ["INC-2"])
    await bot.settle()


@pytest.mark.both_databases
@SINGLE_PAGE
async def test_a_timer_seen_due_does_nothing_if_the_incident_moved_on_before_it_fired(bot, fake_slack, clock):
    from bot.timers.rules import due_timers
    from storage import timers as timer_rows

    incident = await open_by_alert(bot)
    clock.at(6)
    async with bot.runtime.db.reading() as session:
        [(row, last)] = await timer_rows.watched(session)
        from bot.timers.scheduler import _state

        seen = due_timers(_state(row, last), bot.runtime.team.timers, clock())
    assert [d.kind.value for d in seen] == ["ack_escalation"]
    await bot.slack.command("ack", user="U_BOB", channel=incident.channel_id)  # acknowledged meanwhile
    await bot.settle()
    assert await bot.runtime.timers._fire(1, seen[0]) is None
    assert await events(bot, 1, "ack_escalation") == []
    assert not any(line.startswith("🚨") for line in lines(fake_slack, incident.channel_id))


async def test_an_alert_start_in_the_future_is_taken_as_now(bot, clock):
    status, _ = await post(bot, generic(started=T0 + timedelta(minutes=3)))
    assert status == 201
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.started_at == T0 and incident.timeline.at(incident.timeline.last_stamp[0]) == T0


@pytest.mark.parametrize("days_ago, kept", [(29, True), (31, False), (365 * 2025, False)])
async def test_an_alert_start_more_than_30_days_ago_is_set_aside_and_the_timeline_says_so(bot, clock, days_ago, kept):
    """The bound of a typed start: within it the alert's start is the incident's; beyond it (a zero
    time, a replayed example) the incident starts when the alert arrived, and the timeline keeps
    the alert's start and says how to set it."""
    started = max(T0 - timedelta(days=days_ago), datetime(1, 1, 1, tzinfo=UTC))
    status, _ = await post(bot, generic(started=started))
    assert status == 201
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.started_at == (started if kept else T0)
    (firing,) = await events(bot, 1, "alert_firing")
    assert firing.data["starts_at"] == started.isoformat()
    said = "is more than 30 days ago, so the incident starts when the alert arrived" in firing.text
    assert said is not kept, firing.text


async def test_escalation_pages_the_escalation_group_when_the_contact_has_no_slack_user(settings, fake_slack, clock, tmp_path):
    from tests.conftest import ROOT

    catalog = (ROOT / "runbooks" / "catalog.yml").read_text()
    assert "    escalation: priya.raman@shopwise.example\n" in catalog  # payments-api: no Slack user has this email
    catalog = catalog.replace(
        "    escalation: priya.raman@shopwise.example\n",
        "    escalation: priya.raman@shopwise.example\n    escalation_group: S0LEADS001\n",
    )
    (tmp_path / "catalog.yml").write_text(catalog)
    fake_slack.add_usergroup("S0LEADS001", "payments-leads", ["U_CAROL"])
    running = await start_bot(
        single_page_settings(settings, tmp_path).model_copy(
            update={"alert_webhook_secret": SECRET, "service_catalog": tmp_path / "catalog.yml"}
        ),
        fake_slack,
        clock=clock,
    )
    try:
        incident = await open_by_alert(running, service="payments-api", key="pay")
        clock.at(5)
        assert [f.kind.value for f in await running.runtime.timers.run_once()] == ["ack_escalation"]
        assert lines(fake_slack, incident.channel_id)[-1].startswith(
            "🚨 INC-1 has not been acknowledged after 5 min. Paging <!subteam^S0LEADS001>"
        )
        dms = [c for c in fake_slack.calls_to("chat.postMessage") if c.args["channel"] == "U_CAROL"]
        assert len(dms) == 1 and "U_CAROL" in fake_slack.channels[incident.channel_id].members
    finally:
        await running.stop()


@pytest.mark.parametrize("body", [generic(), example("alertmanager_v4_firing.json")], ids=["generic", "alertmanager"])
def test_an_alert_to_a_bot_without_a_catalog_is_told_where_the_catalog_comes_from(body):
    """Every alert must name a catalog service; with no catalog at all, the refusal says so and
    where one is set, rather than listing no services."""
    with pytest.raises(AlertPayloadError) as refused:
        parse_alerts(copy.deepcopy(body), AlertRules(), set())
    assert "none: the bot has no service catalog (SERVICE_CATALOG, or catalog.yml in RUNBOOKS_DIR" in str(refused.value)
