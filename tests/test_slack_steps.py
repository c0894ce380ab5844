"""The Slack-step runner (bot.slack.steps) as plain functions: what a step that fails becomes,
and which of adopt, create or skip a step does. The end-to-end guarantees it carries are tested
where Slack and the database are real: tests/test_crash_repair.py, test_multi_step_posts.py,
test_repair_race.py, test_faults.py, test_database_outage.py."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from bot.slack import SlackError
from bot.slack.steps import StepBusy, create_once, run_steps


def ready(value: object):
    async def step() -> object:
        return value

    return step()


def failing(error: BaseException):
    async def step() -> object:
        raise error

    return step()


DATABASE_AWAY = OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))


async def test_each_failure_is_kept_with_its_words_and_slack_failures_are_noted_in_step_order():
    noted: list[tuple[str, str]] = []

    async def note(what: str, error: SlackError) -> None:
        noted.append((what, error.code))

    run = await run_steps(
        [
            ("post the summary", failing(SlackError("chat.postMessage", "channel_not_found"))),
            ("set the topic", ready("topic set")),
            ("announce", failing(StepBusy("announcement"))),
            ("upload the draft", failing(SlackError("files.completeUploadExternal", "internal_error"))),
            ("invite", failing(DATABASE_AWAY)),
        ],
        note=note,
        database_errors=True,
    )
    assert run.values == [None, "topic set", None, None, None]
    assert [(f.what, f.busy, f.slack_error.code if f.slack_error else None) for f in run.failures] == [
        ("post the summary", False, "channel_not_found"),
        ("announce", True, None),
        ("upload the draft", False, "internal_error"),
        ("invite", False, None),
    ]
    assert noted == [("post the summary", "channel_not_found"), ("upload the draft", "internal_error")]


async def test_a_database_error_is_raised_unless_the_caller_tells_it_and_a_bug_always_is():
    async def note(_what: str, _error: SlackError) -> None:
        raise AssertionError("no Slack failure here")

    with pytest.raises(OperationalError):
        await run_steps([("post", failing(DATABASE_AWAY))], note=note)
    with pytest.raises(KeyError):
        await run_steps([("post", failing(KeyError("a bug")))], note=note, database_errors=True)


class Step:
    """A step's three parts, each counting its calls."""

    def __init__(self, found: str | None = None, fails: bool = False) -> None:
        self.found, self.fails = found, fails
        self.created = 0
        self.recorded: list[str] = []

    async def find(self) -> str | None:
        return self.found

    async def create(self) -> str:
        self.created += 1
        if self.fails:
            raise SlackError("chat.postMessage", "internal_error")
        return "made"

    async def record(self, value: str) -> None:
        self.recorded.append(value)


async def test_a_step_the_database_shows_recorded_is_not_done_again():
    step = Step(found="left by a crash")
    outcome = await create_once(recorded="1700000000.000100", find=step.find, create=step.create, record=step.record)
    assert (outcome.how, outcome.value, step.created, step.recorded) == ("recorded", "1700000000.000100", 0, [])


async def test_what_an_interrupted_attempt_made_is_adopted_before_anything_is_created():
    step = Step(found="left by a crash")
    outcome = await create_once(recorded=None, find=step.find, create=step.create, record=step.record)
    assert (outcome.how, step.created, step.recorded) == ("adopted", 0, ["left by a crash"])


async def test_a_step_is_created_and_recorded_when_nothing_is_there_and_not_recorded_when_slack_fails():
    step = Step()
    outcome = await create_once(recorded=None, find=step.find, create=step.create, record=step.record)
    assert (outcome.how, step.created, step.recorded) == ("made", 1, ["made"])
    failed = Step(fails=True)
    with pytest.raises(SlackError):
        await create_once(recorded=None, find=None, create=failed.create, record=failed.record)
    assert (failed.created, failed.recorded) == (1, [])
