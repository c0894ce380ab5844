"""Handing over command (issue 19): ``/incident handover @bob <note>`` and the "Hand over" form, the
new commander's Accept and Decline, who may hand over, bad input, exactly once, the repair, and a
private incident's new commander, through the bot's real HTTP endpoint and the fake Slack.

Each guarantee is checked on every door a handover comes through (the command in the war room,
the command naming the incident from elsewhere, the form), not on one example."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

import pytest

from bot.slack.blocks import HANDOVER_ACTION
from bot.slack.handover_messages import ACCEPT_ACTION, DECLINE_ACTION, HANDOVER_CALLBACK
from storage import handovers as handover_rows
from storage import incidents as incident_rows
from tests.team_helpers import ADMIN, OUTSIDER, bot, click, clock, command, dm_messages, last_reply, open_incident  # noqa: F401 (fixtures)

# On PostgreSQL too: the tests whose outcome rests on the database's claims and conditional
# updates (marked one by one); what is said, to whom, and who may hand over runs once.

NOTE = "Suspect the PSP's TLS rotation; rolled back payments-api; watch p99 for 10 min"
DOORS = ("command in the war room", "command from elsewhere", "form")


def form_values(
    to_user: str | None, *, hypothesis: str = "PSP TLS rotation", tried: str = "rollback", next_steps: str = "watch p99", risks: str = ""
):
    values: dict = {"to_user": {"to_user": {"type": "users_select", "selected_user": to_user}}}
    for name, value in (("hypothesis", hypothesis), ("tried", tried), ("next_steps", next_steps), ("risks", risks)):
        values[name] = {name: {"type": "plain_text_input", "value": value or None}}
    return values


async def open_form(bot, incident, user: str) -> dict | None:
    """Click "Hand over" on the control message; the form Slack opened, if any."""
    before = set(bot.fake.views)
    await click(bot, incident, HANDOVER_ACTION, str(incident.id), user)
    opened = [view for view_id, view in bot.fake.views.items() if view_id not in before]
    return opened[-1] if opened else None


async def hand_over(bot, incident, door: str, *, to: str = "U_BOB", by: str = "U_ALICE", note: str = NOTE, **form):
    """A handover through ``door``; the form's answer (None for a command)."""
    if door == "form":
        view = await open_form(bot, incident, by)
        assert view is not None, last_reply(bot.fake)
        response = await bot.slack.view_submission(view, form_values(to, **form), user=by)
        assert response.status == 200
        await bot.settle()
        return response.json() if response.text else None
    mention = f"<@{to}|someone>" if to else ""
    if door == "command in the war room":
        await command(bot, f"handover {mention} {note}", user=by, channel=incident.channel_id)
    else:
        await command(bot, f"handover {incident.reference} {mention} {note}", user=by, channel="C_GENERAL")
    return None


async def stored_handovers(bot, incident_id: int = 1):
    async with bot.runtime.db.transaction() as session:
        return await handover_rows.for_incident(session, incident_id)


def room_posts(fake, incident, starts: str) -> list[dict]:
    return [m for m in fake.channels[incident.channel_id].messages if m.get("text", "").startswith(starts)]


def buttons(message: dict) -> list[str]:
    return [e.get("action_id") for b in message.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


async def snapshot(bot):
    """What a refused or bad handover must leave alone: the incident, its timeline, the handovers,
    and every Slack call that shows something to someone (answers to the requester aside)."""
    incident = await bot.incident(1)
    shown = ("chat.postMessage", "chat.update", "conversations.setTopic", "conversations.invite")
    # An answer to someone who used a form is a DM without step metadata (a handover's DMs carry theirs).
    writes = [
        c.method
        for c in bot.fake.calls
        if c.method in shown
        and not (c.method == "chat.postMessage" and "metadata" not in c.args and str(c.args.get("channel", "")).startswith("U"))
    ]
    return incident, [e.id for e in await bot.timeline(1)], len(await stored_handovers(bot)), writes


@pytest.mark.parametrize("door", DOORS)
async def test_a_handover_makes_the_new_commander_records_the_note_dms_it_posts_it_and_shows_it(bot, fake_slack, door):
    incident = await open_incident(bot)
    await hand_over(bot, incident, door)

    row = await bot.incident(1)
    assert row.commander == "U_BOB"
    [handover] = await stored_handovers(bot)
    assert (handover.from_user, handover.to_user, handover.by_user, handover.answer) == ("U_ALICE", "U_BOB", "U_ALICE", None)
    fields = {"note": "", "hypothesis": "", "tried": "", "next_steps": "", "risks": ""}
    fields |= {"note": NOTE} if door != "form" else {"hypothesis": "PSP TLS rotation", "tried": "rollback", "next_steps": "watch p99"}
    assert {name: getattr(handover, name) for name in fields} == fields

    # The timeline: the role assignment every commander change makes, then the handover and its note.
    assigned, handed = (await bot.timeline(1))[-2:]
    assert (assigned.kind, assigned.actor, assigned.data) == (
        "role_assigned",
        "U_ALICE",
        {"role": "commander", "user": "U_BOB", "previous": "U_ALICE"},
    )
    assert (handed.kind, handed.actor) == ("handover", "U_ALICE")
    assert handed.data == {"handover": handover.id, "from": "U_ALICE", "to": "U_BOB", **fields}
    assert handed.text.startswith("Handover: <@U_ALICE> handed command to <@U_BOB>.")
    assert all(text in handed.text for text in fields.values())

    # The new commander's DM, once, with the note and Accept / Decline.
    [dm] = dm_messages(fake_slack, "U_BOB")
    assert dm["text"].startswith("<@U_ALICE> handed you command of *INC-1* in <#")
    assert buttons(dm) == [ACCEPT_ACTION, DECLINE_ACTION]
    assert all(text in json.dumps(dm["blocks"]) for text in fields.values())
    # The war room, once; the control message and the topic show the new commander.
    [post] = room_posts(fake_slack, incident, "🔁")
    assert post["text"] == "🔁 <@U_ALICE> handed command of INC-1 to <@U_BOB>"
    assert all(text in json.dumps(post["blocks"]) for text in fields.values())
    control = fake_slack.channels[incident.channel_id].message(incident.control_message_ts)
    assert "*Commander*\\n<@U_BOB>" in str(control["blocks"]) and HANDOVER_ACTION in buttons(control)
    assert "IC <@U_BOB>" in fake_slack.channels[incident.channel_id].topic
    assert (handover.dm_ts, handover.room_ts) == (dm["ts"], post["ts"]) and handover.topic_set_at is not None
    if door != "form":
        assert last_reply(fake_slack) == "<@U_BOB> is now the commander of INC-1; the war room and <@U_BOB> have the handover note."


@pytest.mark.parametrize("door", DOORS)
async def test_accept_is_recorded_and_only_the_new_commander_may_answer(bot, fake_slack, door):
    incident = await open_incident(bot)
    await hand_over(bot, incident, door)
    [dm] = dm_messages(fake_slack, "U_BOB")
    [handover] = await stored_handovers(bot)

    before = await snapshot(bot)
    for user, action in (("U_CAROL", ACCEPT_ACTION), ("U_ALICE", DECLINE_ACTION), (OUTSIDER, DECLINE_ACTION)):
        await click(bot, incident, action, str(handover.id), user, channel=dm["channel"] if "channel" in dm else None, message_ts=dm["ts"])
        assert last_reply(fake_slack) == "Only <@U_BOB>, to whom command was handed, can answer this handover; nothing changed."
    assert await snapshot(bot) == before

    await click(bot, incident, ACCEPT_ACTION, str(handover.id), "U_BOB", message_ts=dm["ts"])
    accepted = (await bot.timeline(1))[-1]
    assert (accepted.kind, accepted.actor, accepted.data["handover"]) == ("handover_accepted", "U_BOB", handover.id)
    assert (await bot.incident(1)).commander == "U_BOB"
    [dm] = dm_messages(fake_slack, "U_BOB")
    assert buttons(dm) == [] and "You accepted command" in json.dumps(dm["blocks"])

    before = await snapshot(bot)
    for action in (ACCEPT_ACTION, DECLINE_ACTION):  # a second click, or changing one's mind
        await click(bot, incident, action, str(handover.id), "U_BOB", message_ts=dm["ts"])
        assert last_reply(fake_slack) == "This handover of INC-1 was already accepted; nothing changed."
    assert await snapshot(bot) == before


@pytest.mark.both_databases
@pytest.mark.parametrize("door", DOORS)
async def test_decline_gives_command_back_and_tells_the_war_room_and_the_previous_commander_once(bot, fake_slack, door):
    incident = await open_incident(bot)
    await hand_over(bot, incident, door)
    [handover] = await stored_handovers(bot)
    [dm] = dm_messages(fake_slack, "U_BOB")

    # A double click on Decline: both requests at once.
    await asyncio.gather(
        *(
            bot.slack.block_action(DECLINE_ACTION, str(handover.id), user="U_BOB", channel=incident.channel_id, message_ts=dm["ts"])
            for _ in range(2)
        )
    )
    await bot.settle()
    row = await bot.incident(1)
    assert row.commander == "U_ALICE"
    kinds = [e.kind for e in await bot.timeline(1)]
    assert kinds.count("handover_declined") == 1 and kinds[-2:] == ["role_assigned", "handover_declined"]
    assigned = (await bot.timeline(1))[-2]
    assert assigned.data == {"role": "commander", "user": "U_ALICE", "previous": "U_BOB"}
    [post] = room_posts(fake_slack, incident, "↩️")
    assert post["text"] == "↩️ <@U_BOB> declined command of INC-1; <@U_ALICE> is commander again"
    [told] = [m for m in dm_messages(fake_slack, "U_ALICE") if "declined the handover" in m["text"]]
    assert told["text"].startswith("<@U_BOB> declined the handover of *INC-1* in <#")
    assert "IC <@U_ALICE>" in fake_slack.channels[incident.channel_id].topic
    control = fake_slack.channels[incident.channel_id].message(incident.control_message_ts)
    assert "*Commander*\\n<@U_ALICE>" in str(control["blocks"])
    [dm] = dm_messages(fake_slack, "U_BOB")
    assert buttons(dm) == [] and "You declined command" in json.dumps(dm["blocks"])
    [handover] = await stored_handovers(bot)
    assert handover.answer == "declined" and handover.declined_room_ts == post["ts"] and handover.declined_dm_ts == told["ts"]


@pytest.mark.both_databases
async def test_a_decline_after_someone_else_took_command_changes_nothing_and_says_so(bot, fake_slack):
    incident = await open_incident(bot)
    await hand_over(bot, incident, "command in the war room")
    [handover] = await stored_handovers(bot)
    await command(bot, "role commander <@U_CAROL|carol>", user="U_BOB", channel=incident.channel_id)
    assert (await bot.incident(1)).commander == "U_CAROL"

    before = await snapshot(bot)
    await click(bot, incident, DECLINE_ACTION, str(handover.id), "U_BOB")
    assert last_reply(fake_slack) == (
        "<@U_CAROL> is the commander of INC-1 now (it changed since this handover), so declining it changes nothing."
    )
    assert await snapshot(bot) == before
    assert (await stored_handovers(bot))[0].answer is None


@pytest.mark.parametrize("door", DOORS)
async def test_only_the_commander_or_whoever_may_assign_roles_hands_over(bot, fake_slack, door):
    incident = await open_incident(bot)
    before = await snapshot(bot)
    for user in ("U_CAROL", OUTSIDER):  # a war-room member, and someone outside it
        if door == "form":
            assert await open_form(bot, incident, user) is None
        else:
            await hand_over(bot, incident, door, to="U_BOB", by=user)
        assert last_reply(fake_slack) == (
            "Only the incident commander (<@U_ALICE>) or the incident admins (<!subteam^S0ADMINS>) may hand over command in INC-1. "
            "Nothing changed."
        )
    if door == "form":  # a form opened by the commander, submitted by someone else
        view = await open_form(bot, incident, "U_ALICE")
        assert (await bot.slack.view_submission(view, form_values("U_BOB"), user="U_CAROL")).status == 200
        await bot.settle()
        assert dm_messages(fake_slack, "U_CAROL")[-1]["text"].startswith("Only the incident commander (<@U_ALICE>)")
    assert await snapshot(bot) == before

    await hand_over(bot, incident, door, to="U_BOB", by=ADMIN)  # an admin may (the `roles` level)
    row = await bot.incident(1)
    assert row.commander == "U_BOB"
    [post] = room_posts(fake_slack, incident, "🔁")
    assert post["text"] == f"🔁 <@{ADMIN}> handed command of INC-1 from <@U_ALICE> to <@U_BOB>"
    await hand_over(bot, incident, door, to="U_CAROL", by="U_BOB")  # and the new commander hands over in turn
    assert (await bot.incident(1)).commander == "U_CAROL"


COMMAND_MISTAKES = {
    "handover": "Name the new commander and what they need to know:",
    "handover <@U_BOB|bob>": "Say what the new commander needs to know",
    "handover <@U_BOB|bob>    ": "Say what the new commander needs to know",
    "handover @bob watch p99": "Slack sent `@bob` as plain text, not as a person",
    "handover bob watch p99": "`bob` is not a person; mention the new commander with @.",
    "handover <!channel> watch p99": "`&lt;!channel&gt;` is not a person",
    "handover <@U_NOBODY|ghost> watch p99": "<@U_NOBODY> cannot be the *commander* of INC-1: there is no such user in this workspace.",
    "handover <@UBOT0001|incident-bot> watch p99": "<@UBOT0001> cannot be the *commander* of INC-1: that is a bot, not a person.",
    "handover <@U_ALICE|alice> watch p99": "<@U_ALICE> already is the commander of INC-1; nothing changed.",
    "handover INC-99 <@U_BOB|bob> watch p99": "There is no incident INC-99.",
    "handover INC-99999999999 <@U_BOB|bob> watch p99": "`INC-99999999999` is not an incident reference.",
    "handover <@U_BOB|bob> " + "x" * 2001: "The note is 2001 characters; keep it to 2000",
}


async def test_bad_command_text_is_answered_clearly_and_writes_nothing(bot, fake_slack):
    incident = await open_incident(bot)
    before = await snapshot(bot)
    for text, answer in COMMAND_MISTAKES.items():
        await command(bot, text, user="U_ALICE", channel=incident.channel_id)
        assert answer in last_reply(fake_slack), (text, last_reply(fake_slack))
    await command(bot, "handover <@U_BOB|bob> watch p99", user="U_ALICE", channel="C_GENERAL")
    assert last_reply(fake_slack).startswith(
        "This channel is not an incident war room. Hand over inside the war room, or name the incident"
    )
    # An admin handing command to themselves.
    await command(bot, f"handover <@{ADMIN}|dave> I take it from here", user=ADMIN, channel=incident.channel_id)
    assert last_reply(fake_slack).startswith("You cannot hand command of INC-1 to yourself; nothing changed.")
    assert await snapshot(bot) == before


async def test_a_bad_form_shows_each_problem_under_its_field_and_writes_nothing(bot, fake_slack):
    incident = await open_incident(bot)
    view = await open_form(bot, incident, "U_ALICE")
    assert view["callback_id"] == HANDOVER_CALLBACK
    before = await snapshot(bot)
    for values, errors in (
        (form_values(None), {"to_user"}),
        (form_values("U_BOB", hypothesis="  ", next_steps=""), {"hypothesis", "next_steps"}),
        (form_values(None, hypothesis="", tried="x" * 2001), {"to_user", "hypothesis", "tried"}),
    ):
        response = await bot.slack.view_submission(view, values, user="U_ALICE")
        assert response.status == 200 and response.json()["response_action"] == "errors"
        assert set(response.json()["errors"]) == errors
    # A person Slack lets one pick who cannot hold command: answered, nothing written.
    for picked, answer in (("UBOT0001", "that is a bot, not a person"), ("U_ALICE", "already is the commander")):
        assert (await bot.slack.view_submission(view, form_values(picked), user="U_ALICE")).status == 200
        await bot.settle()
        assert answer in dm_messages(fake_slack, "U_ALICE")[-1]["text"]
    # A damaged form: its incident number.
    forged = {**view, "private_metadata": json.dumps({"incident_id": "abc"})}
    response = await bot.slack.view_submission(forged, form_values("U_BOB"), user="U_ALICE")
    assert response.status == 200 and response.json()["response_action"] == "errors"
    assert await snapshot(bot) == before


async def one_after_another(requests: list[Callable[[], Awaitable[object]]], bot) -> None:
    for send in requests:
        await send()
        await bot.settle()


async def all_at_once(requests: list[Callable[[], Awaitable[object]]], bot) -> None:
    await asyncio.gather(*(send() for send in requests))
    await bot.settle()


@pytest.mark.both_databases
@pytest.mark.parametrize("door", ("command", "form"))
@pytest.mark.parametrize("sent", [all_at_once, one_after_another], ids=["at once", "each after the last finished"])
async def test_a_retried_command_or_a_double_submitted_form_hands_over_once(bot, fake_slack, door, sent):
    """Three copies of one request, at once or each after the one before had handed over (when
    the requester is no longer commander and the one named is: a copy is still a copy)."""
    incident = await open_incident(bot)
    already = "This handover of INC-1 is already recorded; nothing new was done."
    if door == "command":
        payload = bot.slack.command_payload(f"handover <@U_BOB|bob> {NOTE}", user="U_ALICE", channel=incident.channel_id)
        body = urlencode(payload)
        # The same request three times (Slack's retries: the same trigger, each signed anew).
        now = int(time.time())
        await sent(
            [
                functools.partial(bot.slack.post, body, "application/x-www-form-urlencoded", timestamp=str(now - n), retry_num=n or None)
                for n in range(3)
            ],
            bot,
        )
        answers = [r["text"] for r in fake_slack.responses]
    else:
        view = await open_form(bot, incident, "U_ALICE")
        await sent([functools.partial(bot.slack.view_submission, view, form_values("U_BOB"), user="U_ALICE") for _ in range(3)], bot)
        answers = [m["text"] for m in dm_messages(fake_slack, "U_ALICE")]
    # The request key decides: the copies are told it was done, not that the commander changed meanwhile.
    assert answers.count(already) == 2, answers
    assert len(await stored_handovers(bot)) == 1
    kinds = [e.kind for e in await bot.timeline(1)]
    assert kinds.count("handover") == 1 and kinds.count("role_assigned") == 1
    assert len(dm_messages(fake_slack, "U_BOB")) == 1
    assert len(room_posts(fake_slack, incident, "🔁")) == 1
    assert len([c for c in fake_slack.calls_to("conversations.setTopic") if "IC <@U_BOB>" in c.args["topic"]]) == 1


@pytest.mark.both_databases
async def test_slack_failing_a_step_is_told_and_the_repair_does_only_what_is_missing(bot, fake_slack):
    incident = await open_incident(bot)
    fake_slack.fail_next("conversations.setTopic", "ratelimited", status=500, times=6)
    fake_slack.fail_next("chat.postMessage", "internal_error", status=500, times=6)  # the war-room post and the DM
    await command(bot, f"handover <@U_BOB|bob> {NOTE}", user="U_ALICE", channel=incident.channel_id)
    told = last_reply(fake_slack)
    assert told.startswith("The handover is recorded, but Slack is not fully up to date:") and "/incident repair INC-1" in told
    assert (await bot.incident(1)).commander == "U_BOB"
    fake_slack.clear_faults()

    await command(bot, "repair", user="U_BOB", channel=incident.channel_id)
    [handover] = await stored_handovers(bot)
    assert handover.room_ts and handover.dm_ts and handover.topic_set_at
    assert len(dm_messages(fake_slack, "U_BOB")) == 1 and len(room_posts(fake_slack, incident, "🔁")) == 1
    assert "IC <@U_BOB>" in fake_slack.channels[incident.channel_id].topic

    # Slack did the steps but the bot never heard (a crash): the repair finds them instead of posting again.
    async with bot.runtime.db.transaction() as session:
        await handover_rows.record_fields(session, handover.id, room_ts=None, dm_ts=None)
    report = await bot.runtime.interactions.repairs.bring_slack_up_to_date(1)
    assert not report.failures
    assert "found the handover an interrupted attempt posted" in report.done and "found the handover's DM to <@U_BOB>" in report.done
    assert len(dm_messages(fake_slack, "U_BOB")) == 1 and len(room_posts(fake_slack, incident, "🔁")) == 1
    [again] = await stored_handovers(bot)
    assert (again.room_ts, again.dm_ts) == (handover.room_ts, handover.dm_ts)
    report = await bot.runtime.interactions.repairs.bring_slack_up_to_date(1)
    assert not report.done and not report.failures


@pytest.mark.parametrize("door", DOORS)
async def test_a_private_incident_s_new_commander_is_in_its_war_room_before_the_dm_names_it(bot, fake_slack, door):
    incident = await open_incident(bot, "Payroll sent to the wrong bank private sev:P1", members=("U_CAROL",))
    assert incident.is_private and "U_BOB" not in fake_slack.channels[incident.channel_id].members

    room = fake_slack.channels[incident.channel_id]
    told_bob: list[bool] = []  # for each message naming the incident sent to Bob: was he in its war room then?

    def judge(method: str, args: dict) -> None:
        target = fake_slack.channels.get(str(args.get("channel")))
        to_bob = args.get("channel") == "U_BOB" or (target is not None and target.is_im and "U_BOB" in target.members)
        if method == "chat.postMessage" and to_bob and "Payroll" in json.dumps(args):
            told_bob.append("U_BOB" in room.members)

    fake_slack.listeners.append(judge)
    # The invite fails: nothing that names the incident reaches Bob, and the requester is told.
    fake_slack.fail_next("conversations.invite", "internal_error", status=500, times=6)
    await hand_over(bot, incident, door)
    assert (await bot.incident(1)).commander == "U_BOB"
    assert told_bob == [] and dm_messages(fake_slack, "U_BOB") == []
    fake_slack.clear_faults()

    # The repair invites him first, then DMs him.
    await command(bot, "repair", user="U_ALICE", channel=incident.channel_id)
    assert told_bob == [True]
    [dm] = dm_messages(fake_slack, "U_BOB")
    assert "Payroll" in dm["text"] and "U_BOB" in room.members


async def test_the_postmortem_draft_lists_each_handover_with_its_note_and_answer(bot, fake_slack):
    incident = await open_incident(bot)
    await hand_over(bot, incident, "form", risks="a second rollback would drop <!channel> carts | twice")
    [first] = await stored_handovers(bot)
    await click(bot, incident, DECLINE_ACTION, str(first.id), "U_BOB")
    await hand_over(bot, incident, "command in the war room", to="U_CAROL")
    second = (await stored_handovers(bot))[-1]
    await click(bot, incident, ACCEPT_ACTION, str(second.id), "U_CAROL")
    await click(bot, incident, "stamp_phase_verified", "1", "U_CAROL")  # resolves: the draft is rendered

    async with bot.runtime.db.transaction() as session:
        markdown = (await incident_rows.postmortem(session, 1)).markdown
    section = markdown.split("## Handovers", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith(("- ", "  - "))]
    assert [line.split(": ", 1)[1] for line in lines if line.startswith("- ")] == [
        "alice handed command to bob (declined; command went back)",
        "alice handed command to carol (accepted)",
    ]
    assert "  - Current hypothesis: PSP TLS rotation" in lines and "  - Next steps: watch p99" in lines
    # Typed text stays text: no live mention, and the table-cell rule keeps the line whole.
    assert "  - Risks: a second rollback would drop &lt;!channel&gt; carts \\| twice" in lines
    assert f"  - Note: {NOTE}" in lines
    # The timeline table has the handover's line too.
    timeline = markdown.split("## Timeline", 1)[1].split("\n## ", 1)[0]
    assert sum("| Handover: " in line for line in timeline.splitlines()) == 2, timeline


@pytest.mark.both_databases
async def test_a_private_incident_s_undelivered_handover_dm_is_not_sent_once_command_moved_on(bot, fake_slack):
    """Bob never got in the war room (his invite failed) and the command has moved on to Carol: the
    repair invites and tells Carol, and sends Bob nothing of the private incident; a second repair
    finds nothing left to do."""
    incident = await open_incident(bot, "Payroll sent to the wrong bank private sev:P1", members=("U_CAROL",))
    fake_slack.fail_next("conversations.invite", "internal_error", status=500, times=6)
    await hand_over(bot, incident, "command in the war room")
    fake_slack.clear_faults()
    await hand_over(bot, incident, "command in the war room", to="U_CAROL", by="U_BOB")
    assert (await bot.incident(1)).commander == "U_CAROL"

    report = await bot.runtime.interactions.repairs.bring_slack_up_to_date(1)
    assert not report.failures, report.failures
    assert "no DM to <@U_BOB>, no longer commander of the private incident nor in its war room" in report.already
    assert dm_messages(fake_slack, "U_BOB") == [] and "U_BOB" not in fake_slack.channels[incident.channel_id].members
    assert len(dm_messages(fake_slack, "U_CAROL")) == 1
    report = await bot.runtime.interactions.repairs.bring_slack_up_to_date(1)
    assert not report.done and not report.failures
