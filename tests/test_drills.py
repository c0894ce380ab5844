"""Drills: an incident marked as a rehearsal, opened by the word ``drill``, the form's checkbox or
the alert label ``drill=true``. Its war room is ``drill-<n>-<slug>``, every message about it carries
the drill banner, it pages only the people named for drills, and it counts in no figure unless
drills are asked for (then apart, with their own figures).

Each guarantee is an invariant over every path: every outbound Slack call about the drill, every
person and pager reached, every figure-producing output (report in each format, stats, App Home,
digest, chart, export)."""

from __future__ import annotations

import io
import json
import re
import time
from datetime import timedelta

import aiohttp
import pytest
import yaml
from sqlalchemy import select
from sqlalchemy import text as sql

from bot.analytics.digest_schedule import DigestChannel
from bot.analytics.reports import parse_stats_text
from bot.core.command_text import CommandTextError, parse_open_text
from bot.integrations.alerts import AlertPayloadError, AlertRules, parse_alerts
from bot.integrations.importing import export_incidents
from bot.interactions.dashboard import Viewer
from bot.slack.blocks import DRILL_BANNER, DRILL_OPTION, OPEN_MODAL_CALLBACK
from bot.team_config import TeamConfigError, load_team_config
from bot.warroom.channel_names import slugify, war_room_name
from handlers import cli, cli_reports
from storage.db import Database
from storage.models import Deploy, Incident, IncidentDeploy
from tests.conftest import start_bot
from tests.fake_pagerduty import KEY_VARIABLE, ROUTING_KEY, FakePagerDuty, catalog_with_pagerduty
from tests.slack_requests import open_form_values
from tests.stored_incidents import incident_row
from tests.team_helpers import T0, FakeClock, click, team_settings
from tests.test_migration_0006 import _to

DRILLER = "U0DRILLER1"  # named under drills.page
DRILL_LEAD = "U0DRILLLEAD"  # named under drills.escalate_to
OPENER = "U_ALICE"
ALERT_SECRET = "alert-secret-0123456789abcdef"
DRILL_KEY_VARIABLE = "PAGERDUTY_DRILL_KEY"
DRILL_ROUTING_KEY = "d" * 32  # an Events API v2 key is 32 characters
# checkout-web's people in runbooks/catalog.yml: a drill must reach none of them.
SERVICE_ESCALATION = "U02HX4TB9LC"
SERVICE_OWNER = "U03KQ7RMV2A"

# Every level of the seeds' chain, so that a drill meets every kind of target.
CHAIN = {
    "chain": [
        {"after": "0m", "page": ["service_oncall"]},
        {"after": "5m", "page": ["service_escalation", "pagerduty", "webhook"]},
        {"after": "15m", "page": ["service_lead", {"slack_user": SERVICE_OWNER}]},
    ],
    "unmitigated_after": "30m",
    "reminder_every": "30m",
}


# --------------------------------------------------------------------------- pure parts


def test_the_word_drill_marks_a_drill_wherever_it_stands_and_only_as_a_word_of_its_own():
    for text in ("drill Checkout down sev:P1", "Checkout down drill sev:P1", "Checkout down sev:P1 drill"):
        request = parse_open_text(text, now=T0)
        assert (request.drill, request.title) == (True, "Checkout down"), text
    for text in ("Drill press down", "drilled checkout", "Checkout down"):
        assert parse_open_text(text, now=T0).drill is False, text
    assert parse_open_text("Checkout down drill private", now=T0).private is True


@pytest.mark.parametrize("title", ["Checkout returns 500s", "", "é" * 200, "x" * 80, "🔥🔥"])
def test_a_drill_room_is_named_drill_n_slug_and_fits_slack(title):
    for attempt in range(3):
        name = war_room_name(42, title, attempt, drill=True)
        suffix = f"-{attempt + 1}" if attempt else ""
        assert name.startswith("drill-42") and name.endswith(suffix) and len(name) <= 80
        slug = name.removeprefix("drill-42").removesuffix(suffix).removeprefix("-")
        assert slugify(title).startswith(slug) and (slug or not slugify(title) or len(name) == 80)


def _alertmanager(labels: dict) -> dict:
    return {
        "version": "4",
        "groupKey": "{}:{alertname='Latency'}",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "Latency", **labels}, "startsAt": "2026-11-23T13:58:00Z"}],
    }


def test_the_alert_label_drill_true_opens_a_drill_in_every_payload_form():
    services = {"checkout-web"}
    rules = AlertRules()
    grouped = parse_alerts(_alertmanager({"service": "checkout-web", "drill": "true"}), rules, services).alerts[0]
    real = parse_alerts(_alertmanager({"service": "checkout-web"}), rules, services).alerts[0]
    generic = {"service": "checkout-web", "title": "Latency", "status": "firing", "dedup_key": "lat"}
    assert grouped.drill and not real.drill
    # A drill's alerts group apart: a real alert never lands in a drill, nor a drill's in a real incident.
    assert grouped.dedup_key != real.dedup_key
    assert parse_alerts(generic | {"labels": {"drill": "true"}}, rules, services).alerts[0].drill
    assert parse_alerts(generic | {"drill": True}, rules, services).alerts[0].drill
    assert not parse_alerts(generic | {"drill": False}, rules, services).alerts[0].drill
    for bad in (_alertmanager({"service": "checkout-web", "drill": "maybe"}), generic | {"drill": "yes please"}):
        with pytest.raises(AlertPayloadError, match="drill"):
            parse_alerts(bad, rules, services)


def test_stats_drills_is_read_and_refuses_what_it_cannot_show():
    assert parse_stats_text("90d drills").drills
    assert not parse_stats_text("90d").drills
    with pytest.raises(CommandTextError, match="drills"):
        parse_stats_text("drills sev:P1")


# --------------------------------------------------------------------------- a running bot


def _with_drills(settings, fake, tmp_path, *, drills: dict | None, escalation: dict | None = None, **more):
    team = team_settings(settings, fake, tmp_path)
    config = yaml.safe_load(team.incident_config.read_text())
    if drills is not None:
        config["drills"] = drills
    if escalation is not None:
        config["escalation"] |= escalation
    team.incident_config.write_text(yaml.safe_dump(config, sort_keys=False))
    for user in (DRILLER, DRILL_LEAD, OPENER, SERVICE_ESCALATION):  # a drill that fell back to the service's contact would reach it
        if user not in fake.users:
            fake.add_user(user, user.lower())
    return team.model_copy(update={"alert_webhook_secret": ALERT_SECRET, **more})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def pagerduty(monkeypatch):
    monkeypatch.setenv(KEY_VARIABLE, ROUTING_KEY)
    monkeypatch.setenv(DRILL_KEY_VARIABLE, DRILL_ROUTING_KEY)
    fake = FakePagerDuty()
    await fake.start()
    yield fake
    await fake.stop()


def _paged_outside_slack(tmp_path, pagerduty: FakePagerDuty) -> dict:
    return {
        "service_catalog": str(catalog_with_pagerduty(tmp_path)),
        "pagerduty_events_url": pagerduty.events_url,
        "paging_webhook_url": pagerduty.webhook_url,
        "paging_webhook_secret": "webhook-secret-0123456789abcdef",
    }


async def _post_alert(bot, body: dict) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{bot.port}/hooks/alerts",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {ALERT_SECRET}"},
        ) as response:
            assert response.status in (200, 201), await response.text()
    await bot.settle()


async def test_a_drill_opened_by_command_form_or_alert_is_named_and_bannered_as_one(settings, fake_slack, tmp_path, clock):
    bot = await start_bot(_with_drills(settings, fake_slack, tmp_path, drills={"page": [DRILLER]}), fake_slack, clock=clock)
    try:
        await bot.slack.command("open Checkout rollback rehearsal drill sev:P2 service:checkout-web", user=OPENER)
        await bot.settle()
        view = {"id": "V_DRILL", "callback_id": OPEN_MODAL_CALLBACK, "private_metadata": "{}", "type": "modal"}
        values = open_form_values(title="Game day: payments failover", service="payments-api")
        values["drill"] = {"drill": {"type": "checkboxes", "selected_options": [{"value": DRILL_OPTION}]}}
        assert (await bot.slack.view_submission(view, values)).status == 200
        await bot.settle()
        await _post_alert(bot, _alertmanager({"service": "checkout-web", "drill": "true", "severity": "warning"}))
        await bot.slack.command("open Checkout returns 500s sev:P2 service:checkout-web", user=OPENER)
        await bot.settle()
        opened = [await bot.incident(n) for n in (1, 2, 3, 4)]
        assert [i.is_drill for i in opened] == [True, True, True, False]
        for incident in opened:
            room = fake_slack.channels[incident.channel_id]
            assert room.name.startswith(f"drill-{incident.id}-" if incident.is_drill else f"inc-{incident.id}-"), room.name
            control = next(m for m in room.messages if m.get("ts") == incident.control_message_ts)
            assert (DRILL_BANNER in json.dumps(control, ensure_ascii=False)) is incident.is_drill
        # The people named for drills are in each drill's room; the service's owners and on-call in none.
        for incident in opened[:3]:
            assert DRILLER in fake_slack.channels[incident.channel_id].members
            assert SERVICE_OWNER not in fake_slack.channels[incident.channel_id].members
        assert SERVICE_OWNER in fake_slack.channels[opened[3].channel_id].members
    finally:
        await bot.stop()


# Methods that show something to someone; for the drill's, every text must carry the banner.
SHOWN = frozenset({"chat.postMessage", "chat.update", "conversations.setTopic", "files.completeUploadExternal"})


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, str):
        if value[:1] in "[{":
            try:
                return _strings(json.loads(value))
            except ValueError:
                pass
        return [value]
    return []


def _direct_messaged(fake) -> set[str]:
    return {c.args["channel"] for c in fake.calls_to("chat.postMessage") if c.args["channel"].startswith(("U", "W"))}


def _people_reached(fake) -> set[str]:
    """Everyone the bot invited, messaged directly or mentioned (a user group counts as its handle)."""
    invited = {u for c in fake.calls_to("conversations.invite") for u in c.args["users"].split(",")}
    texts = [t for c in fake.calls if c.method in SHOWN for t in _strings(c.args)]
    mentioned = {m for t in texts for m in re.findall(r"<@([UW][A-Z0-9_]+)", t)}
    groups = {f"subteam^{g}" for t in texts for g in re.findall(r"<!subteam\^([A-Z0-9]+)", t)}
    return (invited | _direct_messaged(fake) | mentioned | groups) - {fake.bot_user_id}


def _unbannered(fake, room: str, reference: str) -> list[str]:
    """Every call that shows something about the drill (in its room, or naming it anywhere else)
    without the banner."""
    missing = []
    for call in fake.calls:
        if call.method not in SHOWN:
            continue
        texts = _strings(call.args)
        about = call.args.get("channel") == room or call.args.get("channel_id") == room or any(reference in t for t in texts)
        if about and not any(DRILL_BANNER in t for t in texts):
            missing.append(f"{call.method}: {json.dumps(call.args, ensure_ascii=False)[:400]}")
    return missing


async def test_every_message_about_a_drill_carries_the_banner_and_pages_only_the_people_named_for_drills(
    settings, fake_slack, tmp_path, clock, pagerduty
):
    """A P1 drill on a service with PagerDuty, an escalation contact, owners and an on-call group,
    under the seeds' chain (every kind of target), worked to the end: timers, notes, updates,
    roles, stamps, resolution, postmortem, reopen and close."""
    team = _with_drills(
        settings,
        fake_slack,
        tmp_path,
        drills={"page": [DRILLER], "escalate_to": DRILL_LEAD},
        escalation={"P1": CHAIN},
        **_paged_outside_slack(tmp_path, pagerduty),
    )
    bot = await start_bot(team, fake_slack, clock=clock)
    try:
        await bot.slack.command("open Checkout rollback rehearsal drill sev:P1 service:checkout-web", user=OPENER)
        await bot.settle()
        incident = await bot.incident(1)
        room = incident.channel_id
        for minutes in (0, 5, 15, 21, 30, 61):
            clock.at(minutes)
            await bot.runtime.timers.run_once()
            await bot.settle()
        for text in ("note Rolled back to v41", "update Rollback in progress", "severity P2", f"role scribe <@{DRILLER}|driller>"):
            assert (await bot.slack.command(text, user=OPENER, channel=room)).status == 200
            await bot.settle()
        await click(bot, incident, "incident_acknowledge", "1", DRILLER)
        await click(bot, incident, "stamp_phase_mitigated", "1", OPENER, action_ts=clock.at(65))
        await click(bot, incident, "stamp_phase_verified", "1", OPENER, action_ts=clock.at(70))
        assert (await bot.slack.command("reopen INC-1", user=OPENER, channel=room)).status == 200
        await bot.settle()
        await click(bot, incident, "stamp_phase_verified", "1", OPENER, action_ts=clock.at(75))
        clock.at(120)
        await bot.runtime.timers.run_once()
        await bot.settle()
        assert (await bot.incident(1)).closed_at is not None

        assert _unbannered(fake_slack, room, "INC-1") == []
        # Nobody but the opener and the people named for drills was invited, messaged or mentioned.
        assert _people_reached(fake_slack) <= {OPENER, DRILLER, DRILL_LEAD}, _people_reached(fake_slack)
        assert fake_slack.channels[room].members - {fake_slack.bot_user_id} <= {OPENER, DRILLER, DRILL_LEAD}
        assert {DRILLER, DRILL_LEAD} <= _direct_messaged(fake_slack)
        # PagerDuty and the paging webhook were not configured for drills: neither heard of it.
        assert pagerduty.received == []
    finally:
        await bot.stop()


async def test_a_drill_reaches_pagerduty_and_the_webhook_only_through_what_is_configured_for_drills(
    settings, fake_slack, tmp_path, clock, pagerduty
):
    drills = {"page": [DRILLER], "pagerduty": {"routing_key_env": DRILL_KEY_VARIABLE}, "webhook": True}
    team = _with_drills(
        settings, fake_slack, tmp_path, drills=drills, escalation={"P1": CHAIN}, **_paged_outside_slack(tmp_path, pagerduty)
    )
    bot = await start_bot(team, fake_slack, clock=clock)
    try:
        await bot.slack.command("open Checkout rollback rehearsal drill sev:P1 service:checkout-web", user=OPENER)
        await bot.settle()
        for minutes in (0, 5):
            clock.at(minutes)
            await bot.runtime.timers.run_once()
            await bot.settle()
        events = pagerduty.events("trigger")
        assert events and {e["routing_key"] for e in events} == {DRILL_ROUTING_KEY}
        assert all(e["payload"]["summary"].startswith("[DRILL] ") and e["payload"]["custom_details"]["drill"] for e in events)
        webhook = [json.loads(r.body) for r in pagerduty.webhook_calls()]
        assert webhook and all(body["drill"] is True for body in webhook)
    finally:
        await bot.stop()


async def test_a_drill_with_nobody_named_pages_nobody(settings, fake_slack, tmp_path, clock, pagerduty):
    team = _with_drills(settings, fake_slack, tmp_path, drills=None, escalation={"P1": CHAIN}, **_paged_outside_slack(tmp_path, pagerduty))
    bot = await start_bot(team, fake_slack, clock=clock)
    try:
        await bot.slack.command("open Checkout rollback rehearsal drill sev:P1 service:checkout-web", user=OPENER)
        await bot.settle()
        incident = await bot.incident(1)
        for minutes in (0, 5, 15, 30):
            clock.at(minutes)
            await bot.runtime.timers.run_once()
            await bot.settle()
        fired = [event.kind for event in await bot.timeline(1)]
        assert fired.count("page") == 3 and "mitigation_escalation" in fired, fired  # every level and the escalation ran
        assert fake_slack.channels[incident.channel_id].members - {fake_slack.bot_user_id} == {OPENER}
        assert _people_reached(fake_slack) <= {OPENER} and not _direct_messaged(fake_slack)
        assert pagerduty.received == []
        assert _unbannered(fake_slack, incident.channel_id, "INC-1") == []
    finally:
        await bot.stop()


# --------------------------------------------------------------------------- figures


def _history(*, drill: bool, offset: int = 0) -> list:
    """Restored incidents over the 30 days before T0 on three services, some acknowledged, and one
    still open; drills with restore times unlike the real ones, so that any mixing shows."""
    rows = []
    for n in range(12):
        start = T0 - timedelta(days=n * 2 + 1, hours=offset)
        restore = timedelta(minutes=(4 + n) if drill else (40 + 7 * n))
        rows.append(
            incident_row(
                f"{'Drill' if drill else 'Real'} {n}",
                start,
                detected_at=start + restore / 8,
                diagnosed_at=start + restore / 4,
                mitigated_at=start + restore / 2,
                verified_at=start + restore,
                acknowledged_at=start + restore / 6 if n % 2 else None,
                severity=("P1", "P2", "P3")[n % 3],
                service=("checkout-web", "payments-api", None)[n % 3],
                detection_method=("alert", "customer_report", "engineer")[n % 3],
                deploy_found=(True, False, None)[n % 3],
                is_drill=drill,
            )
        )
    open_start = T0 - timedelta(hours=3 + offset)
    rows.append(incident_row(f"{'Drill' if drill else 'Real'} open", open_start, detected_at=open_start, is_drill=drill))
    return rows


async def _deploys_linked_to(db: Database, *, drill: bool) -> None:
    """A production deploy before each of the history's incidents on a service (drills or real
    ones), linked to it as the deploy window rule links them: change failure rate and lead time
    read these, so a drill linked to a deploy must not make it a failed deploy."""
    async with db.transaction() as session:
        incidents = (await session.scalars(select(Incident).where(Incident.is_drill.is_(drill), Incident.service.is_not(None)))).all()
        for incident in incidents:
            deploy = Deploy(
                service=incident.service,
                version=f"v{incident.id}",
                environment="production",
                deployed_at=incident.started_at - timedelta(minutes=20),
                commit_time=incident.started_at - timedelta(hours=5),
                source="webhook",
                recorded_at=incident.started_at - timedelta(minutes=20),
            )
            session.add(deploy)
            await session.flush()
            if incident.id % 2:
                session.add(IncidentDeploy(incident_id=incident.id, deploy_id=deploy.id))


async def _link_drills_to_the_real_deploys(db: Database) -> None:
    """Each drill on a service linked to a real deploy no real incident is linked to: counted, it
    would turn a good deploy into a failed one."""
    async with db.transaction() as session:
        linked = set((await session.scalars(select(IncidentDeploy.deploy_id))).all())
        free = [d for d in (await session.scalars(select(Deploy).order_by(Deploy.id))).all() if d.id not in linked]
        drills = (await session.scalars(select(Incident).where(Incident.is_drill.is_(True), Incident.service.is_not(None)))).all()
        for drill in drills:
            deploy = next((d for d in free if d.service == drill.service), None)
            if deploy is not None:
                free.remove(deploy)
                session.add(IncidentDeploy(incident_id=drill.id, deploy_id=deploy.id))


async def _everything_shown(bot, capsys, *, drills: bool = False) -> dict[str, object]:
    """Every figure-producing output, each as it reaches a person."""
    shown: dict[str, object] = {}
    runtime = bot.runtime
    window = ("--since", (T0 - timedelta(days=30)).isoformat(), "--until", T0.isoformat())
    extra = ("--drills",) if drills else ()
    for fmt, by in (("table", None), ("json", None), ("table", "service"), ("json", "severity"), ("csv", None), ("csv", "detection")):
        argv = ["report", *window, "--format", fmt, *(("--by", by) if by else ())]
        if fmt != "csv":
            argv += extra
        capsys.readouterr()
        assert await cli_reports.run_report(runtime, cli._parser().parse_args(argv)) == 0
        shown[f"report {fmt} {by}"] = capsys.readouterr().out
    for fmt in ("csv", "json"):
        out = io.StringIO()
        await export_incidents(runtime.db, out, fmt, drills=drills)
        shown[f"export {fmt}"] = out.getvalue()
    composed = await runtime.digests.compose(DigestChannel(channel="C0DIGEST01"), "2026-W47")
    shown["digest text"], shown["digest blocks"], shown["chart"] = composed.digest.text, composed.digest.blocks, composed.chart_png
    for text in ("stats", "stats 90d service:checkout-web", "stats sev:P1"):
        sent = len(bot.fake.responses)
        assert (await bot.slack.command(text, user=OPENER)).status == 200
        await bot.fake.wait_for_response(lambda r, sent=sent: len(bot.fake.responses) > sent)
        shown[text] = {k: v for k, v in bot.fake.responses[-1].items() if k != "_url"}  # the fake's address for each answer
    viewer = Viewer(OPENER)
    dashboard = runtime.dashboard
    for name, page in (
        ("overview", dashboard.overview(viewer, days=30)),
        ("service", dashboard.service(viewer, "checkout-web", days=30)),
        ("phases", dashboard.phases(viewer, days=30)),
        ("distribution", dashboard.distribution(viewer, days=30)),
        ("incidents", dashboard.incidents(viewer, days=30)),
    ):
        shown[f"dashboard {name}"] = (await page).html
    since = time.monotonic()
    assert (await bot.slack.app_home_opened(OPENER)).status == 200
    await bot.fake.wait_for_call("views.publish", lambda c: c.at >= since)
    shown["home"] = {k: v for k, v in bot.fake.published_home[OPENER].items() if k != "hash"}  # the fake's version stamp
    await bot.settle()
    return shown


@pytest.mark.both_databases  # the report reads differ: group_concat of stored text on SQLite, string_agg of epochs on PostgreSQL
async def test_adding_drills_changes_no_figure_anywhere_unless_drills_are_asked_for(settings, fake_slack, tmp_path, clock, capsys):
    bot = await start_bot(_with_drills(settings, fake_slack, tmp_path, drills=None), fake_slack, clock=clock)
    try:
        async with bot.runtime.db.transaction() as session:
            session.add_all(_history(drill=False))
        await _deploys_linked_to(bot.runtime.db, drill=False)
        before = await _everything_shown(bot, capsys)
        assert "12 restored incidents" in str(before["report table None"])
        async with bot.runtime.db.transaction() as session:
            session.add_all(_history(drill=True, offset=1))
        await _link_drills_to_the_real_deploys(bot.runtime.db)
        after = await _everything_shown(bot, capsys)
        changed = sorted(name for name in before if before[name] != after[name])
        assert changed == [], f"drills changed {changed}"

        # Asked for: the drills' own figures, apart; the real figures stay as they were.
        asked = await _everything_shown(bot, capsys, drills=True)
        table = str(asked["report table None"])
        assert table.startswith(str(before["report table None"]).rstrip("\n"))
        drills_section = table[table.index("Drills (kept apart") :]
        # Restore times of 4..15 min: median 9 min 30 s (shown rounded down), mean 9 min 30 s; per service 4 each.
        assert "all drills               n=12   median 9 min" in drills_section
        for service in ("checkout-web", "payments-api", "(no service)"):
            assert f"  {service:<24} n=4 " in drills_section
        assert "1 drill still open" in drills_section
        report = json.loads(str(asked["report json None"]))
        assert report["drills"]["overall"] == {"count": 12, "median_seconds": 570.0, "mean_seconds": 570.0}
        assert {k: v for k, v in report.items() if k != "drills"} == json.loads(str(before["report json None"]))
        exported = list(json.loads(str(asked["export json"])))
        assert sum(row["drill"] for row in exported) == 13 and len(exported) == 26
        sent = len(fake_slack.responses)
        assert (await bot.slack.command("stats drills", user=OPENER)).status == 200
        await fake_slack.wait_for_response(lambda r: len(fake_slack.responses) > sent)
        assert "n=12" in json.dumps(fake_slack.responses[-1]) and "Drills" in fake_slack.responses[-1]["text"]
    finally:
        await bot.stop()


# --------------------------------------------------------------------------- migration


@pytest.mark.both_databases
@pytest.mark.empty_database
async def test_migration_0015_marks_every_existing_incident_real_and_downgrades_cleanly(database_url):
    database = Database(database_url)
    try:
        await _to(database, "0015_drills")
        await _to(database, "0015_drills-1", down=True)
        async with database.transaction() as session:
            await session.execute(
                sql(
                    "INSERT INTO incidents (title, severity, status, detection_method, opened_by, commander, started_at, "
                    "detected_at, diagnosed_implied, mitigated_implied, created_at, updated_at) "
                    "VALUES ('before drills', 'P2', 'open', 'engineer', 'U_ALICE', 'U_ALICE', :t0, :t0, false, false, :t0, :t0)"
                ),
                {"t0": T0},
            )
        await _to(database, "0015_drills")
        async with database.reading() as session:
            assert (await session.execute(select(Incident.title, Incident.is_drill))).all() == [("before drills", False)]
        await _to(database, "0015_drills-1", down=True)
        async with database.reading() as session:
            assert (await session.execute(sql("SELECT title FROM incidents"))).scalars().all() == ["before drills"]
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    "drills, named",
    [
        ({"page": ["bob"]}, "drills.page.0"),
        ({"escalate_to": "not a person"}, "drills.escalate_to"),
        ({"pagerduty": {"routing_key_env": "lower-case"}}, "drills.pagerduty.routing_key_env"),
        ({"pager": True}, "drills.pager"),
    ],
)
def test_a_wrong_drills_section_is_refused_naming_the_field(tmp_path, drills, named):
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"drills": drills}))
    with pytest.raises(TeamConfigError) as refused:
        load_team_config(config, required=True)
    assert f"{config}: {named}" in str(refused.value) and "Traceback" not in str(refused.value)
