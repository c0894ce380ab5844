"""Catch-up for whoever joins a war room, open questions, and time to assemble (issue 19), end to
end: member_joined_channel callbacks signed as Slack sends them, commands and clicks through the
real endpoint, the fake Slack's chat.postEphemeral."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.slack import messages
from tests.team_helpers import ADMIN, OUTSIDER, T0, bot, clock, command, last_reply, open_incident  # noqa: F401 (fixtures)

# Joins are claimed with each database's own ON CONFLICT, and the figures read through each one's
# aggregated columns: the tests that rest on those claims, conditional stamps and queries run on
# both (marked one by one); what a catch-up says, and who may ask, runs once.

OPENER = "U_ALICE"
LATE = "U_FRANK"  # joins the war room late


def catchups(fake, user: str) -> list[dict]:
    """The ephemeral messages ``user`` was shown, in any channel."""
    return [e for ch in fake.channels.values() for e in ch.ephemerals if e.get("user") == user]


def shown_text(message: dict) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


def buttons(message: dict) -> list[tuple[str, str]]:
    return [(e["action_id"], e["value"]) for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def join(bot, user: str, channel: str, **kwargs) -> None:
    response = await bot.slack.member_joined_channel(user, channel, **kwargs)
    assert response.status == 200, response.text
    await bot.settle()


async def worked_incident(bot, clock):
    """An incident with a runbook, notes, an update, questions (one answered) and a diagnosis."""
    incident = await open_incident(bot, "Card payments failing sev:P2 service:payments-api")
    room = incident.channel_id
    clock.at(2)
    await command(bot, "note Error rate up since 13:55", user="U_BOB", channel=room)
    await command(bot, "question Did anyone deploy payments-api today?", user="U_BOB", channel=room)
    await command(bot, "note Is the card processor down?", user="U_CAROL", channel=room)
    assert last_reply(bot.fake) == "Added to the INC-1 timeline."
    await command(bot, "question Who owns the rollback?", user="U_CAROL", channel=room)
    assert last_reply(bot.fake).startswith("Added to the INC-1 timeline as open question Q3.")
    await command(bot, "answer 1 Yes, v1.42 at 13:50", user=OPENER, channel=room)
    assert last_reply(bot.fake) == messages.question_answered("INC-1", 1)
    await command(bot, "update Rolling back payments-api to v1.41", user=OPENER, channel=room)
    clock.at(5)
    await bot.slack.block_action("stamp_phase_diagnosed", "1", user="U_BOB", channel=room, message_ts=incident.control_message_ts)
    await bot.settle()
    clock.at(9)
    return await bot.incident(1)


async def test_a_late_joiner_is_shown_where_the_incident_stands_and_only_them(bot, fake_slack, clock):
    incident = await worked_incident(bot, clock)
    room = incident.channel_id
    posts_before = len(fake_slack.calls_to("chat.postMessage"))
    fake_slack.channels[room].members.add(LATE)
    await join(bot, LATE, room)

    [shown] = catchups(fake_slack, LATE)
    [call] = fake_slack.calls_to("chat.postEphemeral")
    assert (call.args["channel"], call.args["user"]) == (room, LATE)
    assert len(fake_slack.calls_to("chat.postMessage")) == posts_before  # nobody else was told anything
    text = shown_text(shown)
    for needle in (
        "Card payments failing",
        "P2",
        "*Phase:* Mitigating, for 4 min",
        "Commander: <@U_ALICE>",
        "*Acknowledged:* _not yet_",
        "*Last status update:*",
        "Rolling back payments-api to v1.41",
        "Q2 · ",
        "Is the card processor down?",
        "Q3 · ",
        "Who owns the rollback?",
        "payments-api-errors: 0 of ",
        "Deploys in the",
    ):
        assert needle in text, needle
    assert "Did anyone deploy payments-api today?" not in text.split("*Open questions")[1]  # answered
    timeline = text.split("*Last 5 timeline events:*")[1].split('"')[0]
    assert timeline.count("\\n") == 5 and "Marked diagnosed" in timeline and "Error rate up" not in timeline
    # A member may acknowledge and mark mitigated; marking verified takes the commander.
    assert buttons(shown) == [("incident_acknowledge", "1"), ("stamp_phase_mitigated", "1")]


@pytest.mark.both_databases
async def test_a_join_shows_one_catch_up_however_often_slack_delivers_it_and_only_in_war_rooms(bot, fake_slack, clock):
    incident = await open_incident(bot)
    room = incident.channel_id
    fake_slack.channels[room].members.add(LATE)
    payload = bot.slack.member_joined_channel_payload(LATE, room)
    for retry in (None, 1, 2):
        assert (await bot.slack.event(payload, retry_num=retry)).status == 200
        await bot.settle()
    assert len(catchups(fake_slack, LATE)) == 1
    # Joining again later is a new event: a new catch-up.
    await join(bot, LATE, room)
    assert len(catchups(fake_slack, LATE)) == 2
    # The bot itself, the opener, and a channel that is no war room: nothing shown.
    await join(bot, fake_slack.bot_user_id, room)
    await join(bot, OPENER, room)
    general = fake_slack.add_channel("random", members={fake_slack.bot_user_id, LATE})
    await join(bot, LATE, general)
    assert [c.args["user"] for c in fake_slack.calls_to("chat.postEphemeral")] == [LATE, LATE]


async def test_someone_who_left_before_the_catch_up_was_posted_gets_nothing_and_no_error(bot, fake_slack, clock):
    incident = await open_incident(bot)
    await join(bot, LATE, incident.channel_id)  # not a member any more: Slack answers user_not_in_channel
    [call] = fake_slack.calls_to("chat.postEphemeral")
    assert call.error == "user_not_in_channel"
    assert catchups(fake_slack, LATE) == []


@pytest.mark.both_databases
@pytest.mark.parametrize("twice", ["catch-up", "control message"])
async def test_every_button_of_the_catch_up_records_once_as_from_the_control_message(bot, fake_slack, clock, twice):
    """Every button the catch-up shows, clicked from the ephemeral message (Slack's payload
    carries no message for it) twice, and from the control message as well: one stamp each."""
    incident = await open_incident(bot)
    room = incident.channel_id
    fake_slack.channels[room].members.add(LATE)
    await join(bot, LATE, room)
    [shown] = catchups(fake_slack, LATE)
    pressed = buttons(shown)
    assert pressed == [("incident_acknowledge", "1"), ("stamp_phase_diagnosed", "1"), ("stamp_phase_mitigated", "1")]
    for minute, (action_id, value) in enumerate(pressed, start=1):
        clicked = clock.at(minute)
        for _ in range(2):
            response = await bot.slack.block_action(
                action_id, value, user=LATE, channel=room, message_ts=shown["ts"], ephemeral=True, action_ts=clicked
            )
            assert response.status == 200
        if twice == "control message":
            await bot.slack.block_action(action_id, value, user="U_BOB", channel=room, message_ts=incident.control_message_ts)
        await bot.settle()
    kinds = [e.kind for e in await bot.timeline(1)]
    assert kinds.count("acknowledged") == 1 and kinds.count("phase_stamped") == 2
    row = await bot.incident(1)
    assert row.acknowledged_by == LATE
    assert row.timeline.get(row.timeline.open_stamps()[0]) is None  # verified still open


async def test_catchup_on_demand_here_or_by_number_and_a_private_one_only_for_its_members(bot, fake_slack, clock):
    incident = await worked_incident(bot, clock)
    await command(bot, "catchup", user="U_BOB", channel=incident.channel_id)
    here = fake_slack.responses[-1]
    assert "Card payments failing" in shown_text(here) and here.get("response_type", "ephemeral") == "ephemeral"
    await command(bot, "catchup INC-1", user=OUTSIDER, channel="C_GENERAL")  # a public incident: anyone may read it
    assert "Card payments failing" in shown_text(fake_slack.responses[-1])
    assert buttons(fake_slack.responses[-1]) == []  # an outsider may press nothing
    await command(bot, "catchup", user="U_BOB", channel="C_GENERAL")
    assert last_reply(fake_slack) == messages.NOT_IN_WAR_ROOM
    await command(bot, "catchup INC-x", user="U_BOB", channel="C_GENERAL")
    assert "INC-42" in last_reply(fake_slack)

    await command(bot, "open Payroll sent twice private sev:P1", user="U_BOB", channel="C_GENERAL")
    private = await bot.incident(2)
    await command(bot, "catchup INC-2", user=OUTSIDER, channel="C_GENERAL")
    assert fake_slack.responses[-1]["text"] == messages.PRIVATE_INCIDENT and "blocks" not in fake_slack.responses[-1]
    await command(bot, "catchup INC-2", user="U_BOB", channel="C_GENERAL")
    assert "Payroll sent twice" in shown_text(fake_slack.responses[-1])
    assert private.is_private


@pytest.mark.parametrize(
    "text, told",
    [
        ("question", messages.QUESTION_USAGE),
        ("question    ", messages.QUESTION_USAGE),
        ("answer", "Name the question and write the answer"),
        ("answer two It was DNS", "`two` is not a question number"),
        ("answer 0 It was DNS", "`0` is not a question number"),
        ("answer 1", "Write the answer after the number"),
        ("answer 9 It was DNS", "INC-1 has no question Q9 (Q1 to Q3)."),
        ("answer 1 Again", "Q1 of INC-1 was already answered by <@U_ALICE>; nothing was added."),
    ],
)
async def test_bad_questions_and_answers_are_told_the_right_form_and_write_nothing(bot, fake_slack, clock, text, told):
    incident = await worked_incident(bot, clock)
    before = [e.id for e in await bot.timeline(1)]
    await command(bot, text, user="U_BOB", channel=incident.channel_id)
    assert told in last_reply(fake_slack)
    assert [e.id for e in await bot.timeline(1)] == before


async def test_an_outsider_may_not_ask_or_answer_and_nothing_is_written(bot, fake_slack, clock):
    incident = await worked_incident(bot, clock)
    before = [e.id for e in await bot.timeline(1)]
    for text in ("question Is it DNS?", "answer 2 No", "note Is it DNS?"):
        await command(bot, text, user=OUTSIDER, channel=incident.channel_id)
        assert last_reply(fake_slack).startswith("Only members of the war room"), text
    assert [e.id for e in await bot.timeline(1)] == before
    await command(bot, "question Is it DNS?", user="U_BOB", channel="C_GENERAL")
    assert last_reply(fake_slack) == messages.NOT_IN_WAR_ROOM_FOR_NOTE


# ---------------------------------------------------------------------------------------------
# Time to assemble


@pytest.mark.both_databases
async def test_time_to_assemble_counts_the_first_person_who_came_and_not_the_ones_the_bot_added(bot, fake_slack, clock):
    incident = await open_incident(bot, "Checkout returns 500s sev:P2", members=())
    room = incident.channel_id
    channel = fake_slack.channels[room]
    clock.at(1)
    channel.members.add("U_ONCALL")
    await join(bot, "U_ONCALL", room, inviter=fake_slack.bot_user_id)  # added by the bot: not an arrival
    await join(bot, OPENER, room)  # the opener: not a second responder
    clock.at(6)
    channel.members.add("U_CAROL")
    await join(bot, "U_CAROL", room, inviter=OPENER)  # added by a person: counts
    clock.at(8)
    channel.members.add("U_BOB")
    await join(bot, "U_BOB", room)  # later: the first one stays
    row = await bot.incident(1)
    async with bot.runtime.db.reading() as session:
        from storage import incidents as incident_rows

        stored = await incident_rows.get(session, 1)
    assert stored.assembled_at == T0 + timedelta(minutes=6)
    assert stored.commander_set_at == T0  # a person opened it: in command from the open
    assert row.status == "open"

    await bot.slack.block_action("stamp_phase_verified", "1", user=OPENER, channel=room, message_ts=incident.control_message_ts)
    await bot.settle()
    restored, _ = await bot.runtime.reports.reads.columns(T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert restored.milestone_reached("assembled").tolist() == [True]
    assert restored.milestone_us("assembled").tolist() == [6 * 60 * 1_000_000]
    assert restored.milestone_us("command_taken").tolist() == [0]


@pytest.mark.both_databases
async def test_stats_show_time_to_assemble_and_to_command_apart_from_the_phases(bot, fake_slack, clock):
    """Six incidents: second people arriving 6, 2, 4, 10 and 3 minutes after detection, one with
    nobody: median 4 min, mean 5 min over n=5; a person in command from each open."""
    for number, delay in enumerate((6, 2, 4, 10, 3, None), start=1):
        start = 100 * number
        clock.at(start)
        await command(bot, f"open Checkout slow {number} sev:P3", user=OPENER, channel="C_GENERAL")
        incident = await bot.incident(number)
        if delay is not None:
            clock.at(start + delay)
            fake_slack.channels[incident.channel_id].members.add("U_BOB")
            await join(bot, "U_BOB", incident.channel_id)
        await bot.slack.block_action(
            "stamp_phase_verified",
            str(number),
            user=OPENER,
            channel=incident.channel_id,
            message_ts=incident.control_message_ts,
            action_ts=clock.at(start + 20),
        )
        await bot.settle()
    await command(bot, "stats", user=OPENER, channel="C_GENERAL")
    stats = shown_text(fake_slack.responses[-1])
    assert "*Time to assemble*: median 4 min · mean 5 min · n=5 (5 of 6 restored incidents had a second person join)" in stats
    assert "*Time to command*: median 0 s · mean 0 s · n=6 (6 of 6 restored incidents had a person in command)" in stats
    phases = stats.split("*Phases*")[1]
    assert "assemble" not in phases and "command" not in phases.split("Slowest")[0]


@pytest.mark.both_databases
@pytest.mark.parametrize("taken_by", ["acknowledge", "role"])
async def test_an_alert_s_incident_has_a_person_in_command_from_the_first_acknowledgement_or_assignment(bot, fake_slack, clock, taken_by):
    from tests.test_alerts import SECRET, generic, post

    bot.runtime.settings.alert_webhook_secret = SECRET
    status, _ = await post(bot, generic())
    assert status in (200, 201)
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.opened_by == fake_slack.bot_user_id
    room = incident.channel_id
    fake_slack.channels[room].members.add("U_BOB")
    clock.at(7)
    if taken_by == "acknowledge":
        await bot.slack.block_action("incident_acknowledge", "1", user="U_BOB", channel=room, message_ts=incident.control_message_ts)
        await bot.settle()
    else:  # the bot holds command: an admin names the commander
        await command(bot, "role commander <@U_BOB|bob>", user=ADMIN, channel=room)
        assert (await bot.incident(1)).commander == "U_BOB"
    clock.at(12)
    await command(bot, "role commander <@U_CAROL|carol>", user="U_BOB", channel=room)  # a later change: the first stays
    async with bot.runtime.db.reading() as session:
        from storage import incidents as incident_rows

        stored = await incident_rows.get(session, 1)
    assert stored.commander == "U_CAROL"
    assert stored.commander_set_at == T0 + timedelta(minutes=7)


# ---------------------------------------------------------------------------------------------
# The figures as plain functions: the formulas, and every surface that shows them


def _facts(number: int, *, assembled: float | None, command: float | None):
    from tests.incident_facts import facts_maker

    base = facts_maker(minutes=(1, 5, 3, 10), service="payments", stamps_when_open=3)(number, T0 + timedelta(hours=number))
    at = {
        "assembled_at": None if assembled is None else base.detected_at + timedelta(minutes=assembled),
        "commander_set_at": None if command is None else base.detected_at + timedelta(minutes=command),
    }
    return base.__class__(**{**base.__dict__, **at})


def test_time_to_assemble_and_to_command_are_figures_apart_from_the_phases():
    """Joins 2, 9 and 4 minutes after detection, and one a minute before the detected stamp (0,
    not -1): median 3 min, mean 15/4 min over n=4; one incident with nobody. The phases do not move."""
    import statistics

    from bot.analytics.stats import ReportSettings, build_report
    from bot.analytics.stats_view import home_view, report_json, report_table
    from bot.core.tiers import TierTables
    from tests.incident_facts import figures_digest

    incidents = [
        _facts(1, assembled=2, command=0),
        _facts(2, assembled=9, command=1),
        _facts(3, assembled=4, command=None),
        _facts(4, assembled=None, command=3),
        _facts(5, assembled=-1, command=0),
    ]
    since, until = T0, T0 + timedelta(days=1)
    settings = ReportSettings(min_count=3)
    result = build_report(incidents, since=since, until=until, now=until, tiers=TierTables.default(), settings=settings)
    minute = 60.0
    assemble = result.time_to_assemble.distribution
    assert (result.assembled.count, result.assembled.total) == (4, 5)
    assert assemble.count == 4 and assemble.minimum == 0
    assert assemble.median == statistics.median([0, 2 * minute, 4 * minute, 9 * minute]) == 3 * minute
    assert assemble.mean == pytest.approx(15 * minute / 4)
    command = result.time_to_command.distribution
    assert (result.command_taken.count, command.median, command.mean) == (4, 0.5 * minute, 1 * minute)
    without = build_report(
        [_facts(n, assembled=None, command=None) for n in range(1, 6)],
        since=since,
        until=until,
        now=until,
        tiers=TierTables.default(),
        settings=settings,
    )
    assert without.phases == result.phases and without.time_to_restore == result.time_to_restore
    assert without.assembled.count == 0 and without.time_to_assemble.distribution is None

    line = "Time to assemble: median 3 min · mean 3 min · n=4 (4 of 5 restored incidents had a second person join)"
    assert line in report_table(result)
    assert "*Time to assemble*: median 3 min" in json.dumps(home_view((), result), ensure_ascii=False)
    figures = report_json(result)
    assert (figures["time_to_assemble"]["assembled"], figures["time_to_command"]["command_taken"]) == (4, 4)
    digest = figures_digest(result, incidents, week_start=since, now=until)
    assert line in digest.text.splitlines()
    assert "Time to command: median 30 s · mean 1 min · n=4 (4 of 5 restored incidents had a person in command)" in digest.text
    assert "Time to assemble: no restored incident in the window had a second person join" in report_table(without)
