"""A private incident leaks nowhere: an invariant over every outbound Slack call.

A recorder sees every Web API call the fake Slack receives and every response_url post, as they
arrive, and judges each against who is entitled to the private incident at that moment (the
people the test put in its war room, and whoever break-glass or a configured private-escalation
contact let in). Whatever the method and wherever in its arguments (recursively, blocks, views,
file comments...), the incident's markers, its war room and its people may appear only in a call
addressed to the war room or to an entitled person: a direct message, an ephemeral message, a
view or a response_url answer to them. A new feature that posts somewhere is covered without
changing the recorder.

The test drives every feature that can touch the incident, with a controllable clock: outsiders'
and admins' attempts, every kind of timer, notes, updates, severity, roles, a handover and its
decline, action items and their reminders, stamps, resolution, reopen, the close after monitoring,
stats, App Home (and its chart upload), digests, repair, alerts for its service and break-glass.
The dashboard's pages, an outbound path that is not a Slack call, are crawled and judged the same way.
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
import yaml

from bot.analytics.digest_schedule import DigestChannel
from bot.paging.external_pagers import SEND_LEASE
from bot.slack import messages
from bot.slack.blocks import DRILL_BANNER, drill_text
from storage import pages as page_rows
from tests.conftest import ROOT, start_bot
from tests.dashboard_helpers import DashboardClient, crawl, dashboard_settings
from tests.fake_pagerduty import API_TOKEN, FakePagerDuty, WebhookSender, catalog_with_pagerduty, v3_event
from tests.ports import free_port
from tests.stored_incidents import incident_row
from tests.team_helpers import ADMIN, OUTSIDER, SINGLE_PAGE_ESCALATION, T0, FakeClock, click, pick_user, team_settings

COMMANDER = "U_ZOE"  # opens the private incident
MATE = "U_YARA"  # the commander adds her to the war room
PUBLIC_RESPONDER = "U_BOB"  # in the announcement channel; works a public incident
ESCALATION_CONTACT = "U02HX4TB9LC"  # checkout-web's escalation in runbooks/catalog.yml
PRIVATE_CONTACT = "U07PRIVSEC"  # a private-escalation contact named in a catalog (second test)
ALERT_SECRET = "alert-secret-0123456789abcdef"
PAGERDUTY_SECRET = "pagerduty-secret-0123456789abcdef"

TITLE_MARKER = "ZQXTITLEMARK"
NOTE_MARKER = "ZQXNOTEMARK"
UPDATE_MARKER = "ZQXUPDATEMARK"
ACTION_MARKER = "ZQXACTIONMARK"
REASON_MARKER = "ZQXREASONMARK"

# Methods that read from Slack and show nothing to anyone.
READS = frozenset(
    {
        "auth.test",
        "users.info",
        "users.lookupByEmail",
        "usergroups.list",
        "usergroups.users.list",
        "conversations.info",
        "conversations.members",
        "chat.getPermalink",
        # An upload URL is only a place to put bytes; files.completeUploadExternal says where they show.
        "files.getUploadURLExternal",
    }
)


# Everything an outsider may read about the private incident, line by line: that it exists and
# its number (the escalation page to a paged contact also says its severity and whom to ask).
# Any other line that names INC-1 to someone outside its war room is a leak.
OUTSIDER_FORMS = tuple(
    re.compile(form)
    for form in (
        r"(• )?INC-1 · private",  # App Home, /incident stats, text reports
        r"(• )?INC-1 \*Private incident\*",  # a digest's list of the week
        r"🚨 Break-glass emergency access was used in a private incident, INC-1\.",
        r"⏱️ \*INC-1\*, a private incident, is not mitigated after [^;.]+; its escalation contact is paged\.",
        r"🚨 You are paged: a private P\d incident, INC-1, is open and not acknowledged\. Ask <@U_ZOE> to add you to its war room\.",
        r"📟 \*INC-1\*, a private P\d incident: every level of its escalation chain was paged and nobody acknowledged it in [^.]+\.",
        r"🚨 You are paged: a private P\d incident, INC-1, (has not been acknowledged for|is not mitigated after) [^.]+\. "
        r"Ask <@U_ZOE> to add you to its war room\.",
    )
)
REFERENCE = re.compile(r"INC-1(?!\d)")


def strings(value) -> list[str]:
    """Every string in a call's arguments, recursively; JSON carried as a string is opened too."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in strings(v)]
    if isinstance(value, str):
        if value[:1] in "[{":
            try:
                return strings(json.loads(value))
            except ValueError:
                pass
        return [value]
    return [str(value)] if value is not None else []


class PrivacyRecorder:
    """Judges every outbound call as it arrives (see the module docstring)."""

    def __init__(self, fake, secrets: list[str]) -> None:
        self.fake = fake
        self.secrets = list(secrets)
        self.room: str | None = None
        self.entitled: set[str] = set()
        self.actor: str | None = None  # who made the request being served (views, response_url)
        self.actor_channel: str | None = None
        self.allowed_exactly: set[str] = set()  # whole texts a step is allowed to send (the private page)
        self.leaks: list[str] = []
        self.intruders: list[str] = []
        self.seen = 0
        self.pending: list[tuple[str, dict, str | None, str | None]] = []
        fake.listeners.append(self)

    def watch(self, room: str, entitled: set[str]) -> None:
        """From the private incident's open on: the calls made while opening it (before its war
        room was known) are judged now."""
        self.room = room
        self.entitled = set(entitled)
        self.secrets.append(room)
        self.secrets.append(self.fake.channels[room].name)
        for method, args, actor, actor_channel in self.pending:
            self.actor, self.actor_channel = actor, actor_channel
            self._judge(method, args)
        self.pending = []

    def __call__(self, method: str, args: dict) -> None:
        self.seen += 1
        if self.room is None:
            self.pending.append((method, args, self.actor, self.actor_channel))
            return
        members = self.fake.channels[self.room].members - {self.fake.bot_user_id}
        if members - self.entitled:
            self.intruders.append(f"after {method}: {sorted(members - self.entitled)} in the private war room")
        self._judge(method, args)

    def _judge(self, method: str, args: dict) -> None:
        if method in READS:
            return
        if self._addressed_to_entitled(method, args):
            return
        texts = strings(args)
        found = sorted({s for s in self.secrets for text in texts if s in text})
        told = [line for text in texts for line in text.splitlines() if REFERENCE.search(line)]
        unexplained = [line for line in told if not any(form.fullmatch(line.strip()) for form in OUTSIDER_FORMS)]
        if args.get("text") in self.allowed_exactly and not (set(found) - {COMMANDER}):
            found = []  # the private escalation page names whom to ask
        if found or unexplained:
            self.leaks.append(f"{method} (actor {self.actor}) carries {found} {unexplained}: {json.dumps(args, ensure_ascii=False)[:600]}")

    def _is_entitled_target(self, target: str | None) -> bool:
        if not target:
            return False
        if target == self.room or target in self.entitled:
            return True
        channel = self.fake.channels.get(target)
        return bool(channel and channel.is_im and (channel.members - {self.fake.bot_user_id}) <= self.entitled)

    def _addressed_to_entitled(self, method: str, args: dict) -> bool:
        if method == "response_url":
            if args.get("response_type") == "in_channel":
                return self._is_entitled_target(self.actor_channel)
            return self.actor in self.entitled
        if method in ("views.open", "views.update"):
            return self.actor in self.entitled
        if method == "views.publish":
            return args.get("user_id") in self.entitled
        if method == "conversations.create":
            return str(args.get("is_private")).lower() in ("true", "1")
        if method == "chat.postEphemeral":
            return args.get("user") in self.entitled
        if method == "conversations.open":  # the DM channel with a person, where a handover's DM goes
            return all(user in self.entitled for user in str(args.get("users", "")).split(","))
        return self._is_entitled_target(args.get("channel") or args.get("channel_id"))

    def assert_clean(self) -> None:
        assert self.seen > 0
        assert self.leaks == [], "private incident leaked:\n" + "\n".join(self.leaks)
        assert self.intruders == [], "\n".join(self.intruders)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def _start(
    settings,
    fake_slack,
    tmp_path,
    clock,
    catalog: Path | None = None,
    pagerduty: FakePagerDuty | None = None,
    escalation: dict | None = None,
    drills: dict | None = None,
    **more_settings: object,
):
    for user, name in (
        (COMMANDER, "zoe.private"),
        (MATE, "yara.private"),
        (ESCALATION_CONTACT, "escalation-lead"),
        (PRIVATE_CONTACT, "security-duty"),
    ):
        fake_slack.add_user(user, name)
    team = team_settings(settings, fake_slack, tmp_path)
    if escalation is not None or drills is not None:
        config = yaml.safe_load(team.incident_config.read_text())
        config["escalation"] |= escalation or {}
        if drills is not None:
            config["drills"] = drills
        team.incident_config.write_text(yaml.safe_dump(config, sort_keys=False))
    update = {"alert_webhook_secret": ALERT_SECRET}
    if catalog is not None:
        update["service_catalog"] = str(catalog)
    if pagerduty is not None:
        # Paged outside Slack too: PagerDuty (checkout-web has a routing key) and the generic webhook.
        update |= {
            "service_catalog": str(catalog or catalog_with_pagerduty(tmp_path)),
            "pagerduty_events_url": pagerduty.events_url,
            "pagerduty_webhook_secret": PAGERDUTY_SECRET,
            "paging_webhook_url": pagerduty.webhook_url,
            "paging_webhook_secret": PAGERDUTY_SECRET,
        }
    return await start_bot(team.model_copy(update=update | more_settings), fake_slack, clock=clock)


@pytest.fixture
async def bot(settings, fake_slack, clock, tmp_path, pagerduty):
    """P1 on the single page; the default chain's paths have their own tests below."""
    running = await _start(settings, fake_slack, tmp_path, clock, pagerduty=pagerduty, escalation=SINGLE_PAGE_ESCALATION)
    yield running
    await running.stop()


def assert_pages_clean(pagerduty: FakePagerDuty, room: str, secrets: list[str]) -> None:
    """Every body sent to PagerDuty and to the paging webhook, whatever sent it: no title, room or people."""
    assert pagerduty.received, "the private incident was paged"
    for request in pagerduty.received:
        body = request.body.decode()
        for secret in [*secrets, room, "Payroll"]:
            assert secret not in body, f"{secret!r} reached a pager: {body}"


class Driver:
    """Requests as Slack sends them, each served to the end before the next."""

    def __init__(self, bot, recorder: PrivacyRecorder) -> None:
        self.bot = bot
        self.recorder = recorder

    def _as(self, user: str, channel: str | None) -> None:
        self.recorder.actor, self.recorder.actor_channel = user, channel

    async def command(self, text: str, *, user: str, channel: str = "C_GENERAL") -> None:
        self._as(user, channel)
        response = await self.bot.slack.command(text, user=user, channel=channel)
        assert response.status == 200
        assert COMMANDER not in response.text and TITLE_MARKER not in response.text, response.text
        await self.bot.settle()

    async def click(self, incident, action_id: str, value: str, *, user: str, **kwargs) -> None:
        self._as(user, kwargs.get("channel") or incident.channel_id)
        await click(self.bot, incident, action_id, value, user, **kwargs)

    async def pick(self, incident, role: str, picked: str, *, user: str) -> None:
        self._as(user, incident.channel_id)
        await pick_user(self.bot, incident, role, picked, user)

    async def home(self, user: str) -> None:
        self._as(user, None)
        sent = time.monotonic()
        response = await self.bot.slack.app_home_opened(user)
        assert response.status == 200
        await self.bot.fake.wait_for_call("views.publish", lambda c: c.args.get("user_id") == user and c.at >= sent)
        await self.bot.settle()

    async def join(self, user: str, room: str, **kwargs) -> None:
        """Slack's member_joined_channel callback: ``user`` joined ``room``."""
        self._as(user, room)
        response = await self.bot.slack.member_joined_channel(user, room, **kwargs)
        assert response.status == 200
        await self.bot.settle()

    async def alert(self, body: dict) -> None:
        self._as(None, None)
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"http://127.0.0.1:{self.bot.port}/hooks/alerts",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {ALERT_SECRET}"},
            ) as response:
                assert response.status in (200, 201), await response.text()
        await self.bot.settle()

    async def pagerduty(self, event_type: str) -> None:
        """A V3 webhook delivery about INC-1, signed as PagerDuty signs it."""
        self._as(None, None)
        sender = WebhookSender(f"http://127.0.0.1:{self.bot.port}/hooks/pagerduty", PAGERDUTY_SECRET)
        status, answer = await sender.send(v3_event(event_type, "INC-1", agent="Pat Pager"))
        assert status == 200, answer
        await self.bot.settle()

    async def timers(self) -> list:
        self._as(None, None)
        return await self.bot.runtime.timers.run_once()


async def _seed_restored(bot, count: int = 6) -> None:
    """Public incidents restored in the days before, each quicker than the private one, so that
    reports have enough incidents to name the longest (the private one)."""
    async with bot.runtime.db.transaction() as session:
        for n in range(count):
            start = T0 - timedelta(days=n + 1)
            session.add(
                incident_row(
                    f"Past incident {n}",
                    start,
                    service="checkout-web",
                    person=PUBLIC_RESPONDER,
                    detected_at=start + timedelta(minutes=1),
                    diagnosed_at=start + timedelta(minutes=5),
                    mitigated_at=start + timedelta(minutes=10),
                    verified_at=start + timedelta(minutes=15 + n),
                )
            )


def _secrets() -> list[str]:
    return [TITLE_MARKER, NOTE_MARKER, UPDATE_MARKER, ACTION_MARKER, REASON_MARKER, COMMANDER, MATE, "zoe.private", "yara.private"]


async def _open_private(drive: Driver, recorder: PrivacyRecorder, fake_slack, *, severity: str = "P1"):
    bot = drive.bot
    await drive.command(f"open Payroll {TITLE_MARKER} sent to the wrong bank private sev:{severity} service:checkout-web", user=COMMANDER)
    incident = await bot.incident(1)
    assert incident.is_private
    recorder.watch(incident.channel_id, {COMMANDER, MATE})
    fake_slack.channels[incident.channel_id].members.add(MATE)
    return incident


async def test_a_private_incident_reaches_only_its_war_room_and_its_members(bot, fake_slack, clock, announce_channel, pagerduty):
    recorder = PrivacyRecorder(fake_slack, _secrets())
    drive = Driver(bot, recorder)
    incident = await _open_private(drive, recorder, fake_slack)
    room = incident.channel_id
    await _seed_restored(bot, count=6)  # INC-2 … INC-7

    # Outsiders, an admin among them, try everything from outside.
    for user in (OUTSIDER, ADMIN, PUBLIC_RESPONDER, ESCALATION_CONTACT):
        for text in (
            "status INC-1",
            "catchup INC-1",
            "ack INC-1",
            "reopen INC-1",
            "repair INC-1",
            "actions open",
            "actions overdue",
            "stats",
            "stats service:checkout-web",
            f"handover INC-1 <@{user}|someone> I take it from here",
            "stats drills",
        ):
            await drive.command(text, user=user)
        await drive.home(user)
        for action in (
            "incident_acknowledge",
            "stamp_phase_mitigated",
            "stamp_phase_verified",
            "edit_times",
            "add_action_item",
            "incident_reopen",
            "handover_open",
        ):
            await drive.click(incident, action, "1", user=user, channel=room)
        await drive.pick(incident, "scribe", user, user=user)
        await drive.pick(incident, "commander", user, user=user)
    current = await bot.incident(1)
    assert (current.acknowledged_at, current.commander, current.scribe, current.status) == (None, COMMANDER, None, "open")

    # Timers: the "not acknowledged" page, the "not mitigated" escalation, the reminders.
    recorder.allowed_exactly |= {
        messages.private_escalation_page("INC-1", "P1", "has not been acknowledged for 5 min", COMMANDER),
        messages.private_escalation_page("INC-1", "P1", "is not mitigated after 30 min", COMMANDER),
    }
    clock.at(5)
    assert [f.kind.value for f in await drive.timers()] == ["ack_escalation"]
    page = [c for c in fake_slack.calls_to("chat.postMessage") if c.args["channel"] == ESCALATION_CONTACT]
    assert [c.args["text"] for c in page] == [
        messages.private_escalation_page("INC-1", "P1", "has not been acknowledged for 5 min", COMMANDER)
    ]
    clock.at(30)
    assert [f.kind.value for f in await drive.timers()] == ["mitigation_escalation"]
    for user in (OUTSIDER, ADMIN):  # while it is open, App Home and stats list it
        await drive.home(user)
        await drive.command("stats", user=user)
    home = json.dumps(fake_slack.published_home[OUTSIDER], ensure_ascii=False)
    assert "INC-1 · private" in home  # the recorder checks that nothing else names it
    clock.at(60)  # 30 quiet minutes after the last escalation
    assert [f.kind.value for f in await drive.timers()] == ["reminder"]
    assert TITLE_MARKER not in json.dumps([m for m in fake_slack.channels[announce_channel].messages])

    # The war room works the incident: notes, updates, severity, roles, action items, stamps.
    clock.at(61)
    await drive.command(f"note Wire {NOTE_MARKER} recalled", user=MATE, channel=room)
    await drive.command(f"question Was the {NOTE_MARKER} wire recalled?", user=MATE, channel=room)
    await drive.join(MATE, room, inviter=COMMANDER)  # the catch-up, only to her
    assert [e["user"] for e in fake_slack.channels[room].ephemerals] == [MATE]
    await drive.command("catchup", user=COMMANDER, channel=room)
    await drive.command("catchup INC-1", user=MATE)
    await drive.command("answer 1 Yes", user=COMMANDER, channel=room)
    await drive.command(f"update Bank {UPDATE_MARKER} contacted", user=COMMANDER, channel=room)
    await drive.command("severity P2", user=COMMANDER, channel=room)
    await drive.pick(incident, "scribe", MATE, user=COMMANDER)
    await drive.command(f"role comms_lead <@{MATE}|yara.private>", user=COMMANDER, channel=room)
    await drive.command(f"action Rotate {ACTION_MARKER} keys <@{MATE}|yara.private> due:2026-11-25", user=COMMANDER, channel=room)
    # A handover to a mate (its DM, war-room post and topic), her decline (back to the commander,
    # who is told by DM), and outsiders pressing its buttons.
    await drive.command(f"handover <@{MATE}|yara.private> Wire {NOTE_MARKER} recall pending", user=COMMANDER, channel=room)
    assert (await bot.incident(1)).commander == MATE
    for user in (OUTSIDER, ADMIN):
        for action in ("handover_accept", "handover_decline"):
            await drive.click(incident, action, "1", user=user, channel=room)
            assert fake_slack.responses[-1]["text"] == messages.PRIVATE_INCIDENT
    await drive.click(incident, "handover_decline", "1", user=MATE, channel=room)
    assert (await bot.incident(1)).commander == COMMANDER
    await drive.command("actions open", user=MATE, channel=room)
    await drive.command("actions mine", user=MATE)
    await drive.pagerduty("incident.escalated")
    await drive.click(incident, "incident_acknowledge", "1", user=MATE)
    await drive.click(incident, "stamp_phase_mitigated", "1", user=MATE, action_ts=clock.at(65))
    await drive.command("status INC-1", user=MATE)
    await drive.pagerduty("incident.resolved")
    await drive.click(incident, "stamp_phase_verified", "1", user=COMMANDER, action_ts=clock.at(70))
    await drive.command("reopen INC-1", user=MATE)
    await drive.click(incident, "stamp_phase_verified", "1", user=COMMANDER, action_ts=clock.at(75))
    await drive.command("repair INC-1", user=COMMANDER, channel=room)

    # Outsiders again, now that it is resolved: the action item, reopen, App Home, stats.
    for user in (OUTSIDER, ADMIN):
        await drive.click(incident, "action_item_done", "1", user=user, channel=room)
        await drive.command("reopen INC-1", user=user)
        await drive.command("stats", user=user)
        await drive.home(user)
    assert "a private incident (its figures are shown only in its war room)" in json.dumps(fake_slack.responses[-1], ensure_ascii=False)

    # An alert for its service opens its own (public) incident.
    await drive.alert(
        {
            "service": "checkout-web",
            "title": "Checkout 5xx above 5%",
            "status": "firing",
            "dedup_key": "checkout-5xx",
            "severity": "warning",
        }
    )
    alerted = await bot.incident(8)
    assert alerted is not None and not alerted.is_private

    # The close after monitoring, the overdue reminder, a digest, more reminders.
    clock.at(75 + 31)
    await drive.timers()
    assert (await bot.incident(1)).closed_at is not None
    clock.at(60 * 24 * 8)
    drive._as(None, None)
    assert await bot.runtime.action_items.remind_overdue() == [1]
    digest_channel = fake_slack.add_channel("storefront-digest", members={"UBOT0001", OUTSIDER})
    await bot.runtime.digests.publish(DigestChannel(channel=digest_channel, services=["checkout-web"]), week="2026-W48")
    await bot.runtime.digests.publish(DigestChannel(channel=digest_channel, services=[]), week="2026-W48")
    for user in (OUTSIDER, ADMIN):
        await drive.command("stats 90d", user=user)
        await drive.home(user)

    # Break-glass: the only way in for an admin; the war room gets the full audited notice.
    await drive.command(f"breakglass INC-1 {REASON_MARKER} payroll audit", user=OUTSIDER)
    assert OUTSIDER not in fake_slack.channels[room].members
    recorder.entitled.add(ADMIN)  # from here on, break-glass lets the admin in
    await drive.command(f"breakglass INC-1 {REASON_MARKER} payroll audit", user=ADMIN)
    assert ADMIN in fake_slack.channels[room].members
    assert any(ADMIN in m.get("text", "") for m in fake_slack.channels[room].messages)
    [notice] = [m for m in fake_slack.channels[announce_channel].messages if "reak-glass" in m.get("text", "")]
    assert ADMIN not in notice["text"] and "INC-1" in notice["text"]

    recorder.assert_clean()
    assert_pages_clean(pagerduty, room, _secrets())
    assert [e["event_action"] for e in pagerduty.events()] == ["trigger", "acknowledge", "resolve", "trigger", "resolve"]


async def test_a_private_escalation_contact_named_in_the_catalog_is_invited_and_paged_with_the_title(settings, fake_slack, clock, tmp_path):
    catalog = yaml.safe_load((ROOT / "runbooks" / "catalog.yml").read_text())
    service = next(s for s in catalog["services"] if s["name"] == "checkout-web")
    service["private_escalation"] = PRIVATE_CONTACT
    path = tmp_path / "catalog.yml"
    path.write_text(yaml.safe_dump(catalog, sort_keys=False))
    bot = await _start(settings, fake_slack, tmp_path, clock, catalog=path, escalation=SINGLE_PAGE_ESCALATION)
    try:
        recorder = PrivacyRecorder(fake_slack, _secrets())
        drive = Driver(bot, recorder)
        incident = await _open_private(drive, recorder, fake_slack)
        recorder.entitled.add(PRIVATE_CONTACT)
        clock.at(5)
        assert [f.kind.value for f in await drive.timers()] == ["ack_escalation"]
        assert PRIVATE_CONTACT in fake_slack.channels[incident.channel_id].members
        [page] = [c for c in fake_slack.calls_to("chat.postMessage") if c.args["channel"] == PRIVATE_CONTACT]
        assert TITLE_MARKER in page.args["text"]
        assert not [c for c in fake_slack.calls_to("chat.postMessage") if c.args["channel"] == ESCALATION_CONTACT]
        recorder.assert_clean()
    finally:
        await bot.stop()


@pytest.mark.parametrize("where", ["note", "update", "action", "question"])
async def test_a_marker_in_a_note_an_update_or_an_action_item_stays_in_the_war_room(bot, fake_slack, clock, where):
    """The title is not the only secret: what the war room writes stays there too, through the
    features that quote it (status, repair, the postmortem, digests, reminders, App Home)."""
    marker = {"note": NOTE_MARKER, "update": UPDATE_MARKER, "action": ACTION_MARKER, "question": NOTE_MARKER}[where]
    recorder = PrivacyRecorder(fake_slack, [marker])
    drive = Driver(bot, recorder)
    incident = await _open_private(drive, recorder, fake_slack, severity="P3")
    room = incident.channel_id
    text = {
        "note": f"note {marker}",
        "update": f"update {marker}",
        "action": f"action {marker} <@{MATE}|yara.private> due:2026-11-25",
        "question": f"question Is {marker} the cause?",
    }[where]
    await drive.command(text, user=COMMANDER, channel=room)
    await drive.click(incident, "stamp_phase_verified", "1", user=COMMANDER, action_ts=clock.at(20))
    for user in (OUTSIDER, ADMIN, PUBLIC_RESPONDER):
        for command in ("status INC-1", "catchup INC-1", "repair INC-1", "actions open", "stats"):
            await drive.command(command, user=user)
        await drive.home(user)
    clock.at(60 * 24 * 8)
    drive._as(None, None)
    await bot.runtime.action_items.remind_overdue()
    digest_channel = fake_slack.add_channel("storefront-digest", members={"UBOT0001", OUTSIDER})
    await bot.runtime.digests.publish(DigestChannel(channel=digest_channel, services=[]), week="2026-W48")
    recorder.assert_clean()


async def test_even_a_permission_open_to_everyone_stops_at_a_private_war_room(settings, fake_slack, clock, tmp_path):
    """The level in the config cannot open a private incident: `everyone` means everyone who can
    see it. Outsiders and admins are refused without a name; the commander still may."""
    for user, name in ((COMMANDER, "zoe.private"), (MATE, "yara.private")):
        fake_slack.add_user(user, name)
    bot = await start_bot(
        team_settings(settings, fake_slack, tmp_path, permissions="stamp: everyone\nroles: everyone"), fake_slack, clock=clock
    )
    try:
        recorder = PrivacyRecorder(fake_slack, _secrets())
        drive = Driver(bot, recorder)
        incident = await _open_private(drive, recorder, fake_slack, severity="P2")
        for user in (OUTSIDER, ADMIN):
            await drive.command("ack INC-1", user=user)
            assert fake_slack.responses[-1]["text"] == messages.PRIVATE_INCIDENT
            await drive.pick(incident, "scribe", user, user=user)
            assert fake_slack.responses[-1]["text"] == messages.PRIVATE_INCIDENT
        assert (await bot.incident(1)).acknowledged_at is None and (await bot.incident(1)).scribe is None
        await drive.command("ack INC-1", user=MATE)
        assert (await bot.incident(1)).acknowledged_by == MATE
        recorder.assert_clean()
    finally:
        await bot.stop()


async def test_a_private_incident_s_escalation_chain_pages_without_its_title_people_or_room(
    settings, fake_slack, clock, tmp_path, announce_channel
):
    """Every outbound call of the escalation chain, on every kind of target: the direct messages to
    the on-call group, the escalation contact, the lead, a named user and a user group; the pages
    handed to the external pagers; the exhausted-chain announcement."""
    from tests.test_escalation_chain import CHAIN, RecordingPager, catalog_with_lead, people

    people(fake_slack)
    escalation = {"P1": {"chain": CHAIN, "unmitigated_after": "30m", "reminder_every": "30m"}}
    bot = await _start(settings, fake_slack, tmp_path, clock, catalog=catalog_with_lead(tmp_path), escalation=escalation)
    try:
        recorder = PrivacyRecorder(fake_slack, _secrets())
        pager = RecordingPager()
        bot.runtime.timers.pager = pager
        drive = Driver(bot, recorder)
        await _open_private(drive, recorder, fake_slack)
        recorder.allowed_exactly |= {
            messages.private_escalation_page("INC-1", "P1", f"has not been acknowledged for {after}", COMMANDER)
            for after in ("5 min", "15 min")
        } | {messages.private_escalation_page("INC-1", "P1", "is open and not acknowledged", COMMANDER)}
        for minutes, fired in ((0, ["page"]), (5, ["page"]), (15, ["page"]), (20, ["chain_exhausted"])):
            clock.at(minutes)
            assert [f.kind.value for f in await drive.timers()] == fired
        assert len([c for c in fake_slack.calls_to("chat.postMessage") if c.args["channel"] not in (announce_channel,)]) > 6
        assert [(level, target.kind) for _, level, target, _, _ in pager.triggers] == [(2, "pagerduty"), (3, "webhook")]
        for _, level, target, links, _ in pager.triggers:
            recorder("pager.trigger", {"level": level, "target": target.kind, "ref": target.ref, "links": [*vars(links).values()]})
        assert any(line.get("text", "").startswith("📟 *INC-1*, a private P1") for line in fake_slack.channels[announce_channel].messages)
        recorder.assert_clean()
    finally:
        await bot.stop()


@pytest.mark.parametrize("private_contact", [None, PRIVATE_CONTACT], ids=["no private contact", "a private contact"])
async def test_a_private_incident_through_the_default_chain_lets_in_only_its_private_escalation_contact(
    settings, fake_slack, clock, tmp_path, announce_channel, private_contact
):
    """The default chain (the shipped config gives P1 none): on-call at once, the escalation contact
    at 5 min, the lead at 15, the announcement at 20. With a ``private_escalation`` contact in the
    catalog, level 2 pages that contact in place of the escalation contact, invites them and tells
    them the title; everyone else paged gets the page without the title and stays out of the room."""
    from tests.test_escalation_chain import LEAD, catalog_with_lead, oncall_members, people

    people(fake_slack)
    catalog = catalog_with_lead(tmp_path)
    if private_contact:
        data = yaml.safe_load(catalog.read_text())
        next(s for s in data["services"] if s["name"] == "checkout-web")["private_escalation"] = private_contact
        catalog.write_text(yaml.safe_dump(data, sort_keys=False))
    bot = await _start(settings, fake_slack, tmp_path, clock, catalog=catalog)
    try:
        recorder = PrivacyRecorder(fake_slack, _secrets())
        drive = Driver(bot, recorder)
        incident = await _open_private(drive, recorder, fake_slack)
        room = incident.channel_id
        if private_contact:
            recorder.entitled.add(private_contact)
        waits = ("is open and not acknowledged", "has not been acknowledged for 5 min", "has not been acknowledged for 15 min")
        recorder.allowed_exactly |= {messages.private_escalation_page("INC-1", "P1", why, COMMANDER) for why in waits} | {
            messages.private_escalation_page("INC-1", "P1", "is not mitigated after 30 min", COMMANDER)
        }
        for minutes, fired in ((0, ["page"]), (5, ["page"]), (15, ["page"]), (20, ["chain_exhausted"]), (30, ["mitigation_escalation"])):
            clock.at(minutes)
            assert [f.kind.value for f in await drive.timers()] == fired
        recorder.assert_clean()

        def pages_to(user: str) -> list[str]:
            return [c.args["text"] for c in fake_slack.calls_to("chat.postMessage") if c.args["channel"] == user]

        level_2 = private_contact or ESCALATION_CONTACT
        for user, why in [*((u, waits[0]) for u in oncall_members(fake_slack)), (LEAD, waits[2])] + (
            [] if private_contact else [(ESCALATION_CONTACT, waits[1])]
        ):
            assert pages_to(user)[0] == messages.private_escalation_page("INC-1", "P1", why, COMMANDER), user
        if private_contact:
            page, mitigation = pages_to(private_contact)  # level 2, then the "not mitigated" notice
            assert TITLE_MARKER in page and "nobody acknowledged it within 5 min" in page and TITLE_MARKER in mitigation
            assert pages_to(ESCALATION_CONTACT) == [], "the private contact is paged in place of the escalation contact"
        members = fake_slack.channels[room].members - {fake_slack.bot_user_id}
        assert members == {COMMANDER, MATE} | ({private_contact} if private_contact else set())
        levels = [e for e in await bot.timeline(1) if e.kind == "page"]
        assert [e.data["invited"] for e in levels] == [[], [private_contact] if private_contact else [], []]
        assert levels[1].data["mentions"] == [f"<@{level_2}>"]
        said = [m["text"] for m in fake_slack.channels[room].messages if m.get("text", "").startswith("📟 INC-1")]
        assert said[1].startswith(f"📟 INC-1 has not been acknowledged after 5 min. Escalation level 2: paging <@{level_2}>.")
        # Level 2 lets in everyone it pages when the contact is named (no note), else nobody.
        assert ("A private incident" not in said[1]) if private_contact else ("nobody is invited" in said[1])
        assert "nobody is invited" in said[0] and "nobody is invited" in said[2]
        control = next(m for m in fake_slack.channels[room].messages if m["ts"] == incident.control_message_ts)
        assert f"📟 *Paging:* level 3, <@{LEAD}>, " in json.dumps(control["blocks"], ensure_ascii=False)
    finally:
        await bot.stop()


@pytest.mark.both_databases
async def test_the_dashboard_shows_a_private_incident_s_words_only_to_its_war_room(settings, fake_slack, clock, tmp_path):
    """The dashboard is an outbound path too: every page a signed-in person reaches by links, and
    the private incident's own address, judged like every Slack call. Outsiders, admins and a
    public responder see no title, note, update, action item, person or room of it, and no link
    to it; the war room's members (the commander, a mate) see it."""
    for user, name in ((COMMANDER, "zoe.private"), (MATE, "yara.private")):
        fake_slack.add_user(user, name)
    port = free_port()
    team = team_settings(settings, fake_slack, tmp_path)
    dashboard = dashboard_settings(fake_slack, settings.database_url, settings.announce_channel, port)
    fields = ("slack_client_id", "slack_client_secret", "dashboard_redirect_url", "dashboard_session_secret")
    running = await start_bot(team.model_copy(update={f: getattr(dashboard, f) for f in fields}), fake_slack, clock=clock, port=port)
    try:
        recorder = PrivacyRecorder(fake_slack, _secrets())
        drive = Driver(running, recorder)
        incident = await _open_private(drive, recorder, fake_slack)
        await _seed_restored(running)
        room = incident.channel_id
        await drive.command(f"note {NOTE_MARKER}", user=COMMANDER, channel=room)
        await drive.command(f"update {UPDATE_MARKER}", user=COMMANDER, channel=room)
        await drive.command(f"action {ACTION_MARKER} <@{MATE}|yara.private> due:2026-11-25", user=COMMANDER, channel=room)
        await drive.click(incident, "stamp_phase_verified", "1", user=COMMANDER, action_ts=clock.at(20))
        secrets = [*_secrets(), room, fake_slack.channels[room].name]
        for viewer in (OUTSIDER, ADMIN, PUBLIC_RESPONDER):
            async with aiohttp.ClientSession() as session:
                client = DashboardClient(session, f"http://127.0.0.1:{port}")
                await client.sign_in(fake_slack, viewer)
                pages = await crawl(client)
                status, _, body = await client.get("/dashboard/incidents/1")
                pages["/dashboard/incidents/1"] = (status, body)
            assert status == 404 and len(pages) > 20, (viewer, status, sorted(pages))
            for path, (_, html) in pages.items():
                found = [secret for secret in secrets if secret in html]
                assert not found, f"{path} shows {found} to {viewer}"
                assert 'href="/dashboard/incidents/1"' not in html, f"{path} links the private INC-1 for {viewer}"
        for member in (COMMANDER, MATE):
            async with aiohttp.ClientSession() as session:
                client = DashboardClient(session, f"http://127.0.0.1:{port}")
                await client.sign_in(fake_slack, member)
                status, _, body = await client.get("/dashboard/incidents/1")
            assert status == 200 and TITLE_MARKER in body and NOTE_MARKER in body, member
        recorder.assert_clean()
    finally:
        await running.stop()


async def test_a_private_incident_s_runbook_actions_reach_only_its_war_room(settings, fake_slack, clock, tmp_path, monkeypatch):
    """Every outbound path of a runbook action: the refusals to outsiders, admins and a member
    without the level, each kind of answer's result message, Run again, Mark mitigated, a repair;
    and the requests themselves, which carry the service, severity and number only."""
    from tests.action_endpoint import TOKEN, TOKEN_VARIABLE, ActionEndpoint, runbooks_with_actions
    from tests.test_runbook_actions import click_payload, result_messages, runbook_message

    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    monkeypatch.delenv("RUNBOOK_ACTION_NEVER_SET", raising=False)
    endpoint = ActionEndpoint()
    await endpoint.start()
    folder = runbooks_with_actions(tmp_path / "runbooks", endpoint, runbook="checkout-web-latency")
    bot = await _start(settings.model_copy(update={"runbooks_dir": folder}), fake_slack, tmp_path, clock)
    try:
        recorder = PrivacyRecorder(fake_slack, [*_secrets(), TOKEN])
        drive = Driver(bot, recorder)
        incident = await _open_private(drive, recorder, fake_slack, severity="P2")
        room = incident.channel_id

        async def press(action_id: str, user: str, message: dict) -> None:
            drive._as(user, room)
            assert (await bot.slack.interactive(click_payload(bot, incident, action_id, user=user, message=message))).status == 200
            await bot.settle()

        runbook = runbook_message(fake_slack, incident)
        for user in (OUTSIDER, ADMIN, PUBLIC_RESPONDER):
            for action in ("rollback", "flag", "slow", "refused", "unset"):
                await press(f"runbook_action_{action}", user, runbook)
                assert fake_slack.responses[-1]["text"] == messages.PRIVATE_INCIDENT
        assert endpoint.received == []
        await press("runbook_action_flag", MATE, runbook)  # commander only: refused, naming the commander to her
        assert fake_slack.responses[-1]["text"].startswith("Only the incident commander (<@U_ZOE>)")
        await press("runbook_action_rollback", MATE, runbook)
        endpoint.script(500)
        await press("runbook_action_flag", COMMANDER, runbook)
        endpoint.hold("/slow")
        await press("runbook_action_slow", MATE, runbook)
        await press("runbook_action_refused", MATE, runbook)
        await press("runbook_action_unset", MATE, runbook)
        rollback = next(m for m in result_messages(fake_slack, incident) if "Roll back" in m["text"])
        await press("stamp_phase_mitigated", MATE, rollback)
        for user in (OUTSIDER, ADMIN):
            await press("runbook_action_rollback", user, rollback)  # Run again, from outside
            assert fake_slack.responses[-1]["text"] == messages.PRIVATE_INCIDENT
        await press("runbook_action_rollback", COMMANDER, rollback)  # Run again
        await drive.command("repair", user=COMMANDER, channel=room)
        assert len(result_messages(fake_slack, incident)) == 5
        assert [r.path for r in endpoint.received] == ["/rollback", "/flag", "/slow", "/rollback"]
        recorder.assert_clean()
        for request in endpoint.received:
            sent = request.body.decode() + json.dumps(request.headers)
            for secret in [*_secrets(), room, fake_slack.channels[room].name, "Payroll"]:
                assert secret not in sent, f"{secret!r} reached the action's endpoint: {sent}"
    finally:
        await bot.stop()
        await endpoint.stop()


DRILLER = "U0DRILLER1"  # named under drills.page: paged by a drill, not a member of the private one
DRILL_LEAD = "U0DRILLLEAD"  # named under drills.escalate_to


async def test_a_private_drill_pages_the_people_named_for_drills_without_its_title(
    settings, fake_slack, clock, tmp_path, pagerduty, monkeypatch
):
    """The drill's paths (the people named for drills, paged and told of escalations; the drills'
    own figures) under the same recorder: a private drill's title, room and people reach only its
    war room. Every line an outsider may read may carry the drill banner in front."""
    banner = re.escape(f"{DRILL_BANNER} · ")
    monkeypatch.setattr(
        sys.modules[__name__], "OUTSIDER_FORMS", OUTSIDER_FORMS + tuple(re.compile(banner + f.pattern) for f in OUTSIDER_FORMS)
    )
    for user, name in ((DRILLER, "driller"), (DRILL_LEAD, "drill-lead")):
        fake_slack.add_user(user, name)
    running = await _start(
        settings,
        fake_slack,
        tmp_path,
        clock,
        pagerduty=pagerduty,
        drills={"page": [DRILLER], "escalate_to": DRILL_LEAD},
        escalation=SINGLE_PAGE_ESCALATION,
    )
    try:
        recorder = PrivacyRecorder(fake_slack, _secrets())
        recorder.allowed_exactly |= {
            drill_text(True, messages.private_escalation_page("INC-1", "P1", "has not been acknowledged for 5 min", COMMANDER)),
            drill_text(True, messages.private_escalation_page("INC-1", "P1", "is not mitigated after 30 min", COMMANDER)),
        }
        drive = Driver(running, recorder)
        await drive.command(f"open Payroll {TITLE_MARKER} rehearsal drill private sev:P1 service:checkout-web", user=COMMANDER)
        incident = await running.incident(1)
        assert incident.is_drill and incident.is_private
        recorder.watch(incident.channel_id, {COMMANDER})
        await _seed_restored(running, count=6)
        for minutes in (5, 30, 60):
            clock.at(minutes)
            await drive.timers()
        for user in (DRILLER, DRILL_LEAD, OUTSIDER):
            for text in ("stats drills", "stats", "status INC-1"):
                await drive.command(text, user=user)
            await drive.home(user)
        await drive.command(f"note Wire {NOTE_MARKER} recalled", user=COMMANDER, channel=incident.channel_id)
        await drive.click(incident, "stamp_phase_mitigated", "1", user=COMMANDER, action_ts=clock.at(65))
        await drive.click(incident, "stamp_phase_verified", "1", user=COMMANDER, action_ts=clock.at(70))
        for user in (DRILLER, OUTSIDER):
            await drive.command("stats drills", user=user)
        recorder.assert_clean()
        told = {c.args["channel"] for c in fake_slack.calls_to("chat.postMessage") if c.args["channel"] in (DRILLER, DRILL_LEAD)}
        assert told == {DRILL_LEAD}, "the drill's escalation contact is told, without the title"
        assert fake_slack.channels[incident.channel_id].members - {fake_slack.bot_user_id} == {COMMANDER}
        assert pagerduty.received == [], "a drill reaches PagerDuty only through a routing key for drills"
    finally:
        await running.stop()


async def test_a_private_incident_s_page_resent_by_repair_and_its_acknowledger_s_look_up_carry_nothing_private(
    settings, fake_slack, clock, tmp_path, pagerduty, announce_channel
):
    """The outbound paths of paging's repair and of naming who acknowledged in PagerDuty: a page
    whose sender died, sent again by ``/incident repair``; the REST look-up of the acknowledger
    (GET /users/{id}) and the acknowledge that follows. Every request PagerDuty receives, and every
    Slack call, is judged."""
    bot = await _start(
        settings,
        fake_slack,
        tmp_path,
        clock,
        pagerduty=pagerduty,
        page_at_open="none",
        pagerduty_api_url=pagerduty.api_url,
        pagerduty_api_token=API_TOKEN,
    )
    try:
        recorder = PrivacyRecorder(fake_slack, _secrets())
        drive = Driver(bot, recorder)
        incident = await _open_private(drive, recorder, fake_slack)
        assert pagerduty.events() == []
        claim = page_rows.PageClaim(1, "pagerduty:trigger:round0:level1", "pagerduty", "trigger", 1, "INC-1")
        async with bot.runtime.db.transaction() as session:  # a process claimed the page, then died before PagerDuty answered
            assert await page_rows.claim(session, claim, token="dead", at=clock(), stale_before=clock() - SEND_LEASE)
        clock.now += SEND_LEASE + timedelta(minutes=1)
        await drive.command("repair INC-1", user=COMMANDER, channel=incident.channel_id)
        assert [e["event_action"] for e in pagerduty.events()] == ["trigger"]

        fake_slack.add_user(MATE, "yara.private", email="yara@example.com")
        pagerduty.users["PYARA01"] = ("Yara Private", "yara@example.com")
        drive._as(None, None)
        sender = WebhookSender(f"http://127.0.0.1:{bot.port}/hooks/pagerduty", PAGERDUTY_SECRET)
        status, answer = await sender.send(v3_event("incident.acknowledged", "INC-1", agent="Yara Private", agent_id="PYARA01"))
        assert (status, answer["outcome"]) == (200, "acknowledged")
        await bot.settle()
        assert (await bot.incident(1)).acknowledged_by == MATE
        assert [r.path for r in pagerduty.user_requests()] == ["/users/PYARA01"]
        assert [e["event_action"] for e in pagerduty.events()] == ["trigger", "acknowledge"]
        recorder.assert_clean()
        assert_pages_clean(pagerduty, incident.channel_id, _secrets())
    finally:
        await bot.stop()
