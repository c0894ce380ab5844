"""The Slack-step runner (bot.slack.steps) as plain functions: what a step that fails becomes,
and which of adopt, create or skip a step does. The end-to-end guarantees it carries are tested
where Slack and the database are real: tests/test_crash_repair.py, test_multi_step_posts.py,
test_repair_race.py, test_faults.py, test_database_outage.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy.exc import OperationalError

from bot.slack import SlackError
from bot.slack.steps import HeldWithOthers, SlackSteps, StepBusy, StepClaim, StillNeeded, Taken, create_once, run_steps


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


class ClaimsSeen:
    """Claims that write down what the runner asked of them, in order, and say ``needed`` when
    read under a claim they take."""

    def __init__(self, events: list[str], *, needed: bool) -> None:
        self.events, self.needed = events, needed

    @asynccontextmanager
    async def claim(self, incident_id: int, step: str, still_needed: StillNeeded) -> AsyncIterator[bool]:
        self.events.append(f"claim {step} of INC-{incident_id}")
        yield self.needed
        self.events.append(f"let go of {step}")

    @asynccontextmanager
    async def hold(self, incident_id: int, step: str, token: str) -> AsyncIterator[None]:
        self.events.append(f"hold {step} of INC-{incident_id} by {token}")
        yield
        self.events.append(f"let go of {step}")


async def run_under(claim: StepClaim, *, needed: bool) -> tuple[str, list[str]]:
    events: list[str] = []

    async def create() -> str:
        events.append("create")
        return "made"

    async def record(value: str) -> None:
        events.append(f"record {value}")

    steps = SlackSteps(ClaimsSeen(events, needed=needed), slack=None)  # the runner posts nothing itself here
    outcome = await steps.once(7, "announcement", claim, still_needed=None, create=create, record=record)  # read only by the claims
    return outcome.how, events


@pytest.mark.parametrize("needed", [True, False])
async def test_a_step_with_no_claim_yet_is_claimed_and_done_only_when_the_read_under_the_claim_says_so(needed: bool):
    how, events = await run_under(None, needed=needed)
    if needed:
        assert (how, events) == ("made", ["claim announcement of INC-7", "create", "record made", "let go of announcement"])
    else:
        assert (how, events) == ("recorded", ["claim announcement of INC-7", "let go of announcement"])


async def test_a_step_claimed_in_the_transaction_that_made_it_due_is_held_by_its_token_and_done_without_a_read():
    # The database would say "done": a claim taken with the transaction that made the step due is not read again.
    how, events = await run_under(Taken("t-1"), needed=False)
    assert (how, events) == ("made", ["hold announcement of INC-7 by t-1", "create", "record made", "let go of announcement"])


@pytest.mark.parametrize("needed", [True, False])
async def test_a_step_claimed_with_others_is_neither_claimed_nor_held_again_and_follows_the_read_made_then(needed: bool):
    how, events = await run_under(HeldWithOthers(needed), needed=not needed)
    assert (how, events) == (("made", ["create", "record made"]) if needed else ("recorded", []))
