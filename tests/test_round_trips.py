"""What waits for what in the war room and the resolution, as structure rather than time.

Two tools of the fake Slack (tests/fake_slack.py):

- an ``AnswerGate`` holds back the answers to chosen calls (Slack does them; the bot hears nothing).
  A call that still arrives cannot have waited for any held answer, so "the control message
  waits only for conversations.create" is: every answer but create's held, the post arrives.
  The database is held still the same way (``database_held_still``), so "no database round trip
  between create's answer and the post" is: the database stops at create, the post arrives.
- the causal record: each request carries what Slack had answered when it arrived, and a flow's
  rounds are the longest chain of requests each sent after the previous one's answer
  (``causal_rounds``). With every call taking ``LATENCY``, a request sent without waiting for an
  answer arrives long before that answer exists; the count is of dependent round trips, not time.

Every service of the shipped catalog is opened (owners by ID and by e-mail, on-call groups by ID
and by handle), each in a bot whose directory memory is empty, as for the first incident of the day.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from asyncio.selector_events import _SelectorSocketTransport
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from bot.background import EventLoopLag
from bot.slack import blocks
from bot.slack.directory import Remembered
from bot.slack.gateway.channels import Channels
from bot.warroom.room_records import WarRoomRecords
from storage import display_names
from storage.db import Database
from tests.conftest import RunningBot, shipped_catalog
from tests.fake_slack import AnswerGate, FakeSlack, RecordedCall, causal_rounds, step_payload
from tests.waiting import eventually

# One round trip of the fake Slack in the rounds tests: far more than a busy machine takes between
# two calls the bot sends together, so calls sent together are never counted as a chain.
LATENCY = 0.5
# The bot and the fake Slack share the test's event loop. Stopped for longer than this (an fsync
# behind a disk busy with other writes, the process not scheduled), the loop may send out an
# answer before a request the bot had already made, which then counts a round too many: what the
# rounds show is no longer the bot's structure, and the flow is measured again.
STALL_LIMIT = LATENCY / 2
MEASURES = 5
WHOLE_RUN = 1_000_000  # samples kept: every one of a run, however long it takes

T = TypeVar("T")

SERVICES = sorted(shipped_catalog().services)
LOOKUPS = {"users.lookupByEmail", "usergroups.list", "usergroups.users.list"}
# Bolt's own question before it lets a request through (asked once, then remembered).
BOLT = {"auth.test"}


def step_of(call: RecordedCall) -> str | None:
    return step_of_args(call.args)


def is_step(step: str) -> Callable[[RecordedCall], bool]:
    return lambda call: step_of(call) == step


def step_of_args(args: dict[str, Any]) -> str | None:
    step: str | None = step_payload(args).get("step")
    return step


@asynccontextmanager
async def database_held_still(db: Database) -> AsyncIterator[asyncio.Event]:
    """While the yielded event is clear, nothing new starts in the database: every session the bot
    opens waits (one already open goes on)."""
    moving = asyncio.Event()
    moving.set()
    originals = {name: getattr(db, name) for name in ("transaction", "single_statements", "lookup", "reading")}

    def gated(original: Callable[..., Any]) -> Callable[..., Any]:
        @asynccontextmanager
        async def session(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            await moving.wait()
            async with original(*args, **kwargs) as opened:
                yield opened

        return session

    for name, original in originals.items():
        setattr(db, name, gated(original))
    try:
        yield moving
    finally:
        moving.set()
        for name in originals:
            delattr(db, name)  # the class's own methods again


# Set for the length of a call ``watching_during`` watches, and in the tasks it starts.
_in_watched_call: contextvars.ContextVar[bool] = contextvars.ContextVar("in_watched_call", default=False)


@asynccontextmanager
async def sessions_opened_while(db: Database, *, only_in_watched_calls: bool = False) -> AsyncIterator[tuple[asyncio.Event, list[str]]]:
    """Every database session opened while the yielded event is set, or by a call ``watching_during``
    watches, by kind, as it opens; the pacing of Slack calls (``bookkeeping``, which records
    nothing of a request) left out."""
    watching = asyncio.Event()
    opened: list[str] = []
    pacing: contextvars.ContextVar[bool] = contextvars.ContextVar("pacing", default=False)

    def counted() -> bool:
        if only_in_watched_calls:
            return watching.is_set() and _in_watched_call.get()
        return watching.is_set() or _in_watched_call.get()

    sessions = ("transaction", "single_statements", "lookup", "reading")
    originals = {name: getattr(db, name) for name in (*sessions, "bookkeeping", "run_transaction")}

    def watched(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        @asynccontextmanager
        async def session(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            if counted() and not pacing.get():
                opened.append(name)
            async with original(*args, **kwargs) as yielded:
                yield yielded

        return session

    @asynccontextmanager
    async def bookkeeping() -> AsyncIterator[Any]:
        token = pacing.set(True)
        try:
            async with originals["bookkeeping"]() as session:
                yield session
        finally:
            pacing.reset(token)

    async def run_transaction(*args: Any, **kwargs: Any) -> Any:
        if counted():
            opened.append("run_transaction")
        return await originals["run_transaction"](*args, **kwargs)

    for name in sessions:
        setattr(db, name, watched(name, originals[name]))
    db.bookkeeping = bookkeeping
    db.run_transaction = run_transaction
    try:
        yield watching, opened
    finally:
        for name in originals:
            delattr(db, name)  # the class's own methods again


@contextmanager
def wrapped(owner: object, method: str, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Iterator[None]:
    """While inside, ``owner.method`` is ``wrap`` of itself."""
    object.__setattr__(owner, method, wrap(getattr(owner, method)))  # frozen dataclasses too
    try:
        yield
    finally:
        object.__delattr__(owner, method)  # the class's own method again


def watching_from(owner: object, method: str, watching: asyncio.Event) -> contextlib.AbstractContextManager[None]:
    """While inside, ``owner.method`` sets ``watching`` once it returns (a commit it makes is done)."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        async def then_watch(*args: Any, **kwargs: Any) -> Any:
            returned = await original(*args, **kwargs)
            watching.set()
            return returned

        return then_watch

    return wrapped(owner, method, wrap)


def watching_during(owner: object, method: str) -> contextlib.AbstractContextManager[None]:
    """While inside, the sessions ``owner.method``'s calls open (they and the tasks they start) are
    counted by ``sessions_opened_while``, and no other task's."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        async def watched(*args: Any, **kwargs: Any) -> Any:
            token = _in_watched_call.set(True)
            try:
                return await original(*args, **kwargs)
            finally:
                _in_watched_call.reset(token)

        return watched

    return wrapped(owner, method, wrap)


def arrived_while_held(fake: FakeSlack, answers: AnswerGate, method: str, step: str | None = None) -> list[bool]:
    """For each arrival of the call: whether the bot was still waiting for every held answer then
    (not given up on one, which would let it go on without it)."""
    seen: list[bool] = []

    def look(called: str, args: dict[str, Any]) -> None:
        if called == method and (step is None or step_of_args(args) == step):
            seen.append(answers.all_still_awaited())

    fake.listeners.append(look)
    return seen


def opening(service: str) -> str:
    return f"open Checkout is down for {service} sev:P2 service:{service}"


async def open_and_settle(bot: RunningBot, text: str) -> list[RecordedCall]:
    """The calls the bot made for the request (Bolt's own auth.test, before the request is let
    through, is not the flow's)."""
    start = len(bot.fake.calls)
    assert (await bot.slack.command(text)).status == 200
    await bot.settle()
    return [c for c in bot.fake.calls[start:] if c.method not in BOLT]


async def measured_without_a_stall(measure: Callable[[], Awaitable[T]]) -> T:
    """``measure``'s result from the first of MEASURES runs in which the loop never stopped for
    STALL_LIMIT (the bot's own ``EventLoopLag``, keeping every sample of the run rather than the
    last few). Each run must stand on its own (a new incident, the directory forgotten)."""
    longest: list[float] = []
    for _ in range(MEASURES):
        lag, stop = EventLoopLag(window=WHOLE_RUN), asyncio.Event()
        watching = asyncio.create_task(lag.watch(stop, every=0.01))
        try:
            result = await measure()
        finally:
            stop.set()
            await watching
        if lag.recent < STALL_LIMIT:
            return result
        longest.append(round(lag.recent, 3))
    pytest.fail(f"the event loop stopped for {STALL_LIMIT} s or more in each of {MEASURES} runs ({longest} s): no rounds to read")


async def resolve(bot: RunningBot, number: int) -> None:
    row = await bot.incident(number)
    response = await bot.slack.block_action(
        "stamp_phase_verified", str(number), user="U_ALICE", channel=row.channel_id, message_ts=row.control_message_ts
    )
    assert response.status == 200


# --------------------------------------------------------------------------------------------
# The war room
# --------------------------------------------------------------------------------------------


@pytest.mark.both_databases
@pytest.mark.parametrize("service", SERVICES)
async def test_the_control_message_waits_for_the_channel_and_nothing_else(bot, fake_slack: FakeSlack, service: str):
    answers = fake_slack.hold_answers(lambda method, _args: method not in {"conversations.create", *BOLT})
    async with database_held_still(bot.runtime.db) as moving:

        def still_from_create(method: str, args: dict[str, Any]) -> None:
            if method == "conversations.create":
                moving.clear()  # from the channel's creation on, the database does nothing new
            elif method == "chat.postMessage" and step_of_args(args) == "control_message":
                moving.set()

        fake_slack.listeners.append(still_from_create)
        in_time = arrived_while_held(fake_slack, answers, "chat.postMessage", "control_message")
        assert (await bot.slack.command(opening(service))).status == 200
        control = await fake_slack.wait_for_call("chat.postMessage", is_step("control_message"))
        assert in_time == [True]
        create = fake_slack.calls_to("conversations.create")[-1]
        # It came after the channel existed, into that channel.
        assert control.args["channel"] == next(c.id for c in fake_slack.channels.values() if c.name == create.args["name"])
    answers.open()
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.control_message_ts is not None
    assert fake_slack.channels[incident.channel_id].pins == [incident.control_message_ts]


@pytest.mark.both_databases
@pytest.mark.parametrize("service", SERVICES)
async def test_the_incidents_commit_is_the_last_database_round_trip_before_its_channel(bot, fake_slack: FakeSlack, service: str):
    # Its deploys and its war room's first step claims are written in the incident's own
    # transaction: once that is committed, nothing waits on the database before the channel is
    # created (the rate limit's slot for conversations.create is Slack's pacing, not the incident's).
    async with sessions_opened_while(bot.runtime.db) as (watching, opened):

        def until_create(method: str, _args: dict[str, Any]) -> None:
            if method == "conversations.create":
                watching.clear()

        fake_slack.listeners.append(until_create)
        with watching_from(bot.runtime.incidents, "record_new", watching):
            assert (await bot.slack.command(opening(service))).status == 200
            await fake_slack.wait_for_call("conversations.create")
        assert opened == []
    await bot.settle()
    incident = await bot.incident(1)
    assert incident.control_message_ts is not None
    assert fake_slack.channels[incident.channel_id].pins == [incident.control_message_ts]


@pytest.mark.parametrize("service", SERVICES)
async def test_the_invites_wait_only_for_the_channel_and_the_look_ups(bot, fake_slack: FakeSlack, service: str):
    waited_for = {"conversations.create", *LOOKUPS, *BOLT}
    answers = fake_slack.hold_answers(lambda method, _args: method not in waited_for)
    in_time = arrived_while_held(fake_slack, answers, "conversations.invite")
    assert (await bot.slack.command(opening(service))).status == 200
    catalog = shipped_catalog().services[service]
    owners = set(catalog.owner_user_ids)

    def everyone_invited() -> bool:
        invited = {u for call in fake_slack.calls_to("conversations.invite") for u in call.args["users"].split(",")}
        return "U_ALICE" in invited and owners <= invited and len(invited) > len(owners) + 1  # on-call and e-mail owners too

    await eventually(everyone_invited, what="every invite sent")
    assert in_time and all(in_time), in_time
    answers.open()
    await bot.settle()


@pytest.mark.parametrize("service", SERVICES)
async def test_a_war_room_is_three_rounds_of_round_trips(bot, fake_slack: FakeSlack, service: str):
    fake_slack.latency = LATENCY

    async def first_of_the_day() -> list[RecordedCall]:
        bot.runtime.slack.people.forget_directory()
        return await open_and_settle(bot, opening(service))

    calls = await measured_without_a_stall(first_of_the_day)
    rounds = causal_rounds(calls)
    by_step = {step_of(c): rounds[c.seq] for c in calls if step_of(c)}
    create = next(c for c in calls if c.method == "conversations.create")
    # The look-ups go out just after the channel's creation
    # (test_the_look_ups_go_out_once_the_channel_is_asked_for); that the creation never waits for
    # one is proved by holding their answers (test_the_control_message_waits_for_the_channel_and_nothing_else).
    assert causal_rounds(c for c in calls if c.method not in LOOKUPS)[create.seq] == 1
    assert by_step["control_message"] == 2, [(c.method, step_of(c), rounds[c.seq]) for c in calls]
    assert max(rounds.values()) <= 3, [(c.method, step_of(c), rounds[c.seq]) for c in calls]
    # The look-ups went out with the channel's creation, not after it.
    assert all(rounds[c.seq] <= 2 for c in calls if c.method in LOOKUPS), [(c.method, rounds[c.seq]) for c in calls]
    assert all(c.ok for c in calls), [(c.method, c.error) for c in calls]


async def test_the_control_message_is_built_while_the_channel_is_created(bot, fake_slack: FakeSlack, monkeypatch):
    # Nothing of the post stands before the create: its blocks are built while the create travels.
    creates_started: list[str] = []
    creates_started_when_built: list[int] = []
    create, build = Channels.create, blocks.control_message

    async def started_create(self: Channels, name: str, *, private: bool) -> Any:
        creates_started.append(name)
        return await create(self, name, private=private)

    def built(*args: Any, **kwargs: Any) -> Any:
        creates_started_when_built.append(len(creates_started))
        return build(*args, **kwargs)

    monkeypatch.setattr(Channels, "create", started_create)
    monkeypatch.setattr(blocks, "control_message", built)
    await open_and_settle(bot, opening("payments-api"))
    assert len(creates_started) == 1
    assert creates_started_when_built[0] == 1, creates_started_when_built


async def test_a_steps_record_starts_once_the_call_that_follows_it_is_written(bot, fake_slack: FakeSlack, monkeypatch):
    # The channel is recorded while the control post travels, and the post's ts while the pin does,
    # each on a worker thread (SQLite). Started before that call's request is written, the record
    # takes the loop's turn, or the GIL, from the write.
    written: list[str] = []
    write = _SelectorSocketTransport.write

    def noting_requests(self: _SelectorSocketTransport, data: Any) -> None:
        head = bytes(data[:100])
        if head.startswith(b"POST /api/"):
            written.append(head.removeprefix(b"POST /api/").split(b" ")[0].split(b"?")[0].decode())
        write(self, data)

    written_when_recorded: dict[str, list[str]] = {}
    record = WarRoomRecords.record

    async def noting_records(self: WarRoomRecords, incident_id: int, *args: Any, **fields: object) -> None:
        for name in fields:
            written_when_recorded.setdefault(name, list(written))
        await record(self, incident_id, *args, **fields)

    monkeypatch.setattr(_SelectorSocketTransport, "write", noting_requests)
    monkeypatch.setattr(WarRoomRecords, "record", noting_records)
    await open_and_settle(bot, opening("payments-api"))
    assert "chat.postMessage" in written_when_recorded["channel_id"], written_when_recorded
    assert "pins.add" in written_when_recorded["control_message_ts"], written_when_recorded


@pytest.mark.parametrize("service", SERVICES)
async def test_the_look_ups_go_out_once_the_channel_is_asked_for(bot, fake_slack: FakeSlack, service: str):
    # The create is the first of the longest chain: a look-up sent before it is answered just
    # before it, and its answer's handling stood before the control post.
    methods = [c.method for c in await open_and_settle(bot, opening(service))]
    looked_up = [index for index, method in enumerate(methods) if method in LOOKUPS]
    assert looked_up, methods
    assert methods.index("conversations.create") < min(looked_up), methods


async def test_the_directory_is_asked_once_for_a_burst_of_incidents(bot, fake_slack: FakeSlack):
    # checkout-web names an owner by e-mail and its on-call group by handle.
    first = await open_and_settle(bot, opening("checkout-web"))
    second = await open_and_settle(bot, opening("checkout-web"))
    asked = {"users.lookupByEmail", "usergroups.list"}
    assert asked <= {c.method for c in first}
    assert not asked & {c.method for c in second}, [c.method for c in second]
    # The group's members are asked every time: the on-call rotation changes.
    assert "usergroups.users.list" in {c.method for c in second}


async def test_a_failed_look_up_is_asked_again(bot, fake_slack: FakeSlack):
    fake_slack.fail_next("users.lookupByEmail", "internal_error")
    await open_and_settle(bot, opening("checkout-web"))
    again = await open_and_settle(bot, opening("checkout-web"))
    assert "users.lookupByEmail" in {c.method for c in again}


def test_remembered_answers_are_forgotten_after_their_time():
    now = [0.0]
    remembered: Remembered[str] = Remembered(300, now=lambda: now[0])
    remembered.keep("payments-oncall", "S1")
    now[0] = 299.9
    assert remembered.get("payments-oncall") == "S1"
    now[0] = 300.0
    assert remembered.get("payments-oncall") is None


# --------------------------------------------------------------------------------------------
# The resolution
# --------------------------------------------------------------------------------------------


@pytest.mark.both_databases
async def test_the_summary_waits_for_nothing_but_the_stamp(bot, fake_slack: FakeSlack, announce_channel: str):
    await open_and_settle(bot, opening("payments-api"))
    answers = fake_slack.hold_answers(lambda method, _args: method not in BOLT)  # not one answer after the click
    in_time = arrived_while_held(fake_slack, answers, "chat.postMessage", "summary_ts")
    announced_in_time = arrived_while_held(fake_slack, answers, "chat.postMessage", "summary_announcement_ts")
    await resolve(bot, 1)
    war_room = (await bot.incident(1)).channel_id
    summaries = {
        (await fake_slack.wait_for_call("chat.postMessage", is_step("summary_ts"))).args["channel"],
        (await fake_slack.wait_for_call("chat.postMessage", is_step("summary_announcement_ts"))).args["channel"],
    }
    assert summaries == {war_room, announce_channel}
    assert in_time == announced_in_time == [True]
    answers.open()
    await bot.settle()


@pytest.mark.both_databases
async def test_the_summaries_are_claimed_with_the_stamp(bot, fake_slack: FakeSlack, announce_channel: str):
    # The verifying click's own transaction claims both summaries: after its commit, nothing is
    # written before they are posted (a read of the corrections they show, beside the postmortem's).
    await open_and_settle(bot, opening("payments-api"))
    # The postmortem's draft (whose store is a transaction of its own) waits for the names: held
    # until both summaries are posted, so the order does not depend on how fast the machine is.
    names = fake_slack.hold_answers(lambda method, _args: method == "users.info")
    summaries = {"summary_ts", "summary_announcement_ts"}
    resolutions = bot.runtime.interactions.phase_stamps._resolutions
    # Only the resolution's own work counts (the control message's edit goes on beside it).
    async with sessions_opened_while(bot.runtime.db, only_in_watched_calls=True) as (watching, opened):

        def until_both_summaries(method: str, args: dict[str, Any]) -> None:
            if method == "chat.postMessage" and step_of_args(args) in summaries:
                summaries.discard(step_of_args(args))
                if not summaries:
                    watching.clear()
                    names.open()

        fake_slack.listeners.append(until_both_summaries)
        with watching_from(bot.runtime.interactions.phase_stamps._stamper, "stamp", watching), watching_during(resolutions, "publish"):
            await resolve(bot, 1)
            await bot.settle()
    assert not summaries
    assert not {"transaction", "single_statements", "run_transaction"} & set(opened), opened
    incident = await bot.incident(1)
    assert incident.channel_id is not None
    posted = {c.args["channel"] for c in fake_slack.calls_to("chat.postMessage") if step_of(c) in {"summary_ts", "summary_announcement_ts"}}
    assert posted == {incident.channel_id, announce_channel}


async def resolved_holding(
    bot: RunningBot, holds: Callable[[str, dict[str, Any]], bool], method: str, step: str | None = None
) -> list[bool]:
    """Resolve INC-1 with the answers ``holds`` chooses held until ``method`` (of ``step``) arrives;
    for each of its arrivals, whether every held answer was still awaited then. The answers then
    go, and the resolution ends with its draft uploaded once."""
    answers = bot.fake.hold_answers(holds)
    in_time = arrived_while_held(bot.fake, answers, method, step)
    await resolve(bot, 1)
    await bot.fake.wait_for_call(method, is_step(step) if step else None)
    answers.open()
    await bot.settle()
    assert len(bot.fake.calls_to("files.completeUploadExternal")) == 1
    return in_time


async def test_the_action_items_do_not_wait_for_the_upload(bot, fake_slack: FakeSlack):
    await open_and_settle(bot, opening("payments-api"))
    in_time = await resolved_holding(bot, lambda method, _args: method.startswith("files."), "chat.postMessage", "actions_message")
    assert in_time == [True]


@pytest.mark.both_databases
async def test_the_upload_and_the_action_items_are_claimed_with_the_draft(bot, fake_slack: FakeSlack):
    # Stored with the draft, their claims need no transaction of their own: from the draft's commit
    # to the upload's first step and the action items' post, nothing opens the database.
    await open_and_settle(bot, opening("payments-api"))
    awaited = {"files.getUploadURLExternal", "actions_message"}
    resolutions = bot.runtime.interactions.phase_stamps._resolutions
    # Only the postmortem's own work counts (the summaries' records, the control message's edit go
    # on beside it, whenever the machine lets them).
    async with sessions_opened_while(bot.runtime.db, only_in_watched_calls=True) as (watching, opened):

        def until_both(method: str, args: dict[str, Any]) -> None:
            awaited.discard(method)
            awaited.discard(step_of_args(args) or "")
            if not awaited:
                watching.clear()

        fake_slack.listeners.append(until_both)
        with watching_from(resolutions.drafts, "store", watching), watching_during(resolutions, "_postmortem"):
            await resolve(bot, 1)
            await bot.settle()
    assert not awaited
    assert opened == []
    assert len(fake_slack.calls_to("files.completeUploadExternal")) == 1


async def test_the_control_messages_edit_waits_for_the_upload_to_be_on_its_way(bot, fake_slack: FakeSlack):
    # The upload is the resolution's longest chain: the edit of the control message (its database
    # read, its blocks, three calls) is not in the way between the click and the upload.
    await open_and_settle(bot, opening("payments-api"))
    await resolve(bot, 1)
    await bot.settle()  # the display names are remembered from now on
    await open_and_settle(bot, opening("payments-api"))
    start = len(fake_slack.calls)
    await resolve(bot, 2)
    await bot.settle()
    methods = [c.method for c in fake_slack.calls[start:]]
    assert "users.info" not in methods, methods
    assert methods.index("files.getUploadURLExternal") < methods.index("chat.update"), methods


async def test_the_control_messages_edit_does_not_wait_for_the_names(bot, fake_slack: FakeSlack):
    # The names asked of Slack hold the draft a round trip: the edit goes out meanwhile.
    await open_and_settle(bot, opening("payments-api"))
    in_time = await resolved_holding(bot, lambda method, _args: method == "users.info", "chat.update")
    assert in_time == [True]


@pytest.mark.both_databases
async def test_the_draft_and_its_claims_are_one_database_round_trip(bot, fake_slack: FakeSlack):
    # The upload starts on the draft's commit: storing it is one transaction in one go, not a
    # session a statement at a time.
    await open_and_settle(bot, opening("payments-api"))
    await resolve(bot, 1)
    await bot.settle()  # the display names are remembered from now on
    await open_and_settle(bot, opening("payments-api"))
    drafts = bot.runtime.interactions.phase_stamps._resolutions.drafts
    async with sessions_opened_while(bot.runtime.db) as (_watching, opened):
        with watching_during(drafts, "store"):
            await resolve(bot, 2)
            await bot.settle()
    assert opened == ["run_transaction"], opened
    assert len(fake_slack.calls_to("files.completeUploadExternal")) == 2


async def test_a_resolution_is_the_upload_and_one_round_for_the_names(bot, fake_slack: FakeSlack):
    opened: list[int] = []

    async def names_not_known() -> tuple[list[RecordedCall], dict[int, int]]:
        fake_slack.latency = 0
        await open_and_settle(bot, opening("payments-api"))
        opened.append(len(opened) + 1)
        bot.runtime.slack.people.forget_directory()
        async with bot.runtime.db.transaction() as session:  # nor on file, from a resolution measured before
            await display_names.forget_learned_before(session, bot.runtime.clock() + timedelta(days=1))
        fake_slack.latency = LATENCY
        start, uploads = len(fake_slack.calls), len(fake_slack.uploads)
        await resolve(bot, opened[-1])
        await bot.settle()
        calls = fake_slack.calls[start:]
        return calls, causal_rounds([*calls, *fake_slack.uploads[uploads:]])

    calls, rounds = await measured_without_a_stall(names_not_known)
    seen = [(c.method, step_of(c), rounds[c.seq]) for c in calls]
    by_step = {step_of(c): rounds[c.seq] for c in calls if step_of(c)}
    assert by_step["summary_ts"] == by_step["summary_announcement_ts"] == 1, seen
    # The display names (one round), then the action items beside the draft...
    assert by_step["actions_message"] <= 2, seen
    # ... and the upload's own three steps: getUploadURLExternal, the bytes, completeUploadExternal.
    complete = next(c for c in calls if c.method == "files.completeUploadExternal")
    assert rounds[complete.seq] <= 4 and max(rounds.values()) <= 4, seen
