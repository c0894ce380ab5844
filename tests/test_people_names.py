"""The postmortem's display names are learned while the incident runs and kept on file for every
process (bot/warroom/people_names.py), so that the verification's draft, whose upload cannot start
before its text is made, seldom waits a round trip on ``users.info``.

"Another process" is this one with its own memory of names forgotten: what is left is the file."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.incidents.action_items import ActionRequest
from storage import display_names
from storage.models import DISPLAY_NAME_LENGTH, DisplayName
from tests.team_helpers import bot, click, clock, open_incident  # noqa: F401 (fixtures)

pytestmark = pytest.mark.both_databases


def names_asked(fake_slack, since: int) -> list[str]:
    return [c.args["user"] for c in fake_slack.calls[since:] if c.method == "users.info"]


async def on_file(bot) -> dict[str, str]:
    async with bot.runtime.db.lookup() as session:
        return {row.user_id: row.name for row in await session.scalars(select(DisplayName))}


async def stored_draft(bot, incident_id: int) -> str:
    return await bot.runtime.resolutions.draft(incident_id)


async def test_names_learned_at_a_phase_click_spare_the_verification_its_round_trip(bot, fake_slack, clock):
    incident = await open_incident(bot)
    await bot.runtime.action_items.create(incident.id, ActionRequest("Add a retry budget", "U_CAROL", date(2026, 12, 24)), by="U_BOB")
    await click(bot, incident, "stamp_phase_diagnosed", "1", "U_BOB", action_ts=clock.at(5))
    assert await on_file(bot) == {"U_ALICE": "alice", "U_BOB": "bob", "U_CAROL": "carol"}
    bot.runtime.slack.people.forget_directory()  # another process, or an hour later
    start = len(fake_slack.calls)
    await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.at(40))
    assert names_asked(fake_slack, start) == []
    draft = await stored_draft(bot, incident.id)
    for name in ("alice", "bob", "carol"):
        assert name in draft, draft
    assert "<@U_" not in draft, draft


async def test_a_name_is_asked_of_slack_once_while_it_is_on_file(bot, fake_slack, clock):
    start = len(fake_slack.calls)
    incident = await open_incident(bot)
    await click(bot, incident, "incident_acknowledge", "1", "U_BOB", action_ts=clock.at(2))
    assert (await on_file(bot)).keys() == {"U_ALICE", "U_BOB"}
    bot.runtime.slack.people.forget_directory()
    await click(bot, incident, "stamp_phase_diagnosed", "1", "U_CAROL", action_ts=clock.at(5))
    bot.runtime.slack.people.forget_directory()
    await click(bot, incident, "stamp_phase_mitigated", "1", "U_BOB", action_ts=clock.at(9))
    bot.runtime.slack.people.forget_directory()
    await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.at(15))
    asked = names_asked(fake_slack, start)
    assert sorted(asked) == ["U_ALICE", "U_BOB", "U_CAROL"], asked


async def test_names_slack_gave_a_resolution_are_put_on_file_for_the_next(bot, fake_slack, clock):
    # Verified at once: nothing was learned before, so the draft waits for the names, which go on
    # file; the next incident of the same people, in another process, asks for none.
    incident = await open_incident(bot)
    await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.at(10))
    assert names_asked(fake_slack, 0) == ["U_ALICE"]
    assert await on_file(bot) == {"U_ALICE": "alice"}
    bot.runtime.slack.people.forget_directory()
    await bot.slack.command("open Checkout slow again sev:P2", user="U_ALICE")
    await bot.settle()
    second = await bot.incident(2)
    start = len(fake_slack.calls)
    await click(bot, second, "stamp_phase_verified", "2", "U_ALICE", action_ts=clock.at(30))
    assert names_asked(fake_slack, start) == []
    assert "alice" in await stored_draft(bot, second.id)


async def test_a_name_on_file_for_longer_than_a_day_is_asked_again(bot, fake_slack, clock):
    incident = await open_incident(bot)
    await click(bot, incident, "stamp_phase_diagnosed", "1", "U_BOB", action_ts=clock.at(5))
    fake_slack.users["U_BOB"]["profile"]["display_name"] = "robert"
    bot.runtime.slack.people.forget_directory()
    # Within the day, the name on file stands (a rename shows from the next day on).
    clock.now += timedelta(hours=23)
    await click(bot, incident, "stamp_phase_mitigated", "1", "U_BOB", action_ts=clock.ts())
    assert (await on_file(bot))["U_BOB"] == "bob"
    clock.now += timedelta(hours=2)
    bot.runtime.slack.people.forget_directory()
    start = len(fake_slack.calls)
    await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.ts())
    assert sorted(names_asked(fake_slack, start)) == ["U_ALICE", "U_BOB"]
    assert "robert" in await stored_draft(bot, incident.id)
    assert (await on_file(bot))["U_BOB"] == "robert"


LEARNING_CLICKS = ("incident_acknowledge", "stamp_phase_diagnosed")


@pytest.mark.parametrize("action", LEARNING_CLICKS)
async def test_a_name_slack_cannot_give_while_learning_is_asked_at_the_verification(bot, fake_slack, clock, caplog, action):
    # Learning is not the click's work: its failure reaches nobody, and the verification asks again.
    incident = await open_incident(bot)
    bot.runtime.slack.people.forget_directory()
    fake_slack.fail_next("users.info", "internal_error", times=2)
    replies = len(fake_slack.responses)
    await click(bot, incident, action, "1", "U_BOB", action_ts=clock.at(5))
    assert fake_slack.responses[replies:] == []
    assert await on_file(bot) == {}
    start = len(fake_slack.calls)
    await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.at(30))
    assert sorted(names_asked(fake_slack, start)) == ["U_ALICE", "U_BOB"]
    draft = await stored_draft(bot, incident.id)
    assert "alice" in draft and "bob" in draft, draft
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def database_down(*_args, **_kwargs):
    raise OperationalError("SELECT", {}, Exception("the database is away"))


@pytest.mark.parametrize("away", ["whose", "on file", "kept"])
@pytest.mark.parametrize("action", LEARNING_CLICKS)
async def test_a_database_failure_while_learning_reaches_nobody(bot, fake_slack, clock, caplog, monkeypatch, action, away):
    # Whichever of learning's reads and writes fails (the incident's people, the names on file,
    # keeping the names Slack gave), the click is told nothing of it and the draft still names everyone.
    incident = await open_incident(bot)
    bot.runtime.slack.people.forget_directory()
    with monkeypatch.context() as patched:
        if away == "whose":
            patched.setattr(bot.runtime.resolutions.facts.action_items, "for_incident", database_down)
        elif away == "on file":
            patched.setattr(display_names, "learned_since", database_down)
        else:
            patched.setattr(display_names, "keep", database_down)
        replies = len(fake_slack.responses)
        await click(bot, incident, action, "1", "U_BOB", action_ts=clock.at(5))
        assert fake_slack.responses[replies:] == []
    assert await on_file(bot) == {}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    await click(bot, incident, "stamp_phase_verified", "1", "U_ALICE", action_ts=clock.at(30))
    draft = await stored_draft(bot, incident.id)
    assert "alice" in draft and "bob" in draft, draft


async def test_a_name_is_kept_no_longer_than_it_is_used(bot, fake_slack, clock):
    # Carol's name, learned with the first incident, is not used after a day: it is gone once the
    # next names are put on file, while Alice's, asked again with the next incident, stays.
    incident = await open_incident(bot)
    await click(bot, incident, "stamp_phase_diagnosed", "1", "U_CAROL", action_ts=clock.at(5))
    assert (await on_file(bot)).keys() == {"U_ALICE", "U_CAROL"}
    clock.now += timedelta(hours=24, minutes=10)
    bot.runtime.slack.people.forget_directory()
    await bot.slack.command("open Checkout slow the next day sev:P2", user="U_ALICE")
    await bot.settle()
    second = await bot.incident(2)
    await click(bot, second, "incident_acknowledge", "2", "U_ALICE", action_ts=clock.ts())
    assert await on_file(bot) == {"U_ALICE": "alice"}


async def test_a_name_longer_than_the_file_holds_is_cut_not_refused(bot, fake_slack, clock):
    long_name = "b" * 300
    fake_slack.users["U_BOB"]["profile"]["display_name"] = long_name
    incident = await open_incident(bot)
    await click(bot, incident, "stamp_phase_diagnosed", "1", "U_BOB", action_ts=clock.at(5))
    on = await on_file(bot)
    assert on == {"U_ALICE": "alice", "U_BOB": long_name[:DISPLAY_NAME_LENGTH]}
