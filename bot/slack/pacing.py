"""Pacing Slack Web API calls within Slack's rate limits, shared by every process of the bot.

Slack counts each method's calls per app and workspace, not per process, so the calls of a window
are slots in the database (storage/slack_call_slots.py): a call takes a free slot in one short
statement and goes at once (a quiet bot pays only that). When a bucket's slots are all taken,
the call waits in this process's queue for the bucket, most urgent first (bot.background's
urgency: a P1's war room before a P4's), while its background slot runs other work. One waiter
per bucket and process tries the database again when the next slot frees. Each process that
has calls waiting says in the database how urgent the most urgent of them is, and no process
takes a slot while another has a more urgent call waiting, so the storm's P1 war rooms go first
whichever process opened them. A 429 holds the bucket back for its Retry-After in every process.

If the database cannot say (it is down or slow), the call is paced by this process alone rather
than held up: a Slack call never waits on the database for long, and never fails because of it.

A bucket no other process can have used yet (posts into a channel this process has just created)
takes its first slot without asking: the call goes at once and its slot is written to the
database while it travels, so that nothing stands between a war room's channel and its control
message. A second call of that bucket waits for the write, and so shares the window as usual.
Likewise what a call's end does to its slot (``done``: the slot, held while the call travelled,
frees a window after its end, which is a write) follows the answer rather than preceding it
(``finish``).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot import metrics
from bot.background import current_urgency, slot_lent
from bot.slack.rate_tiers import RateLimit, rate_limit
from storage import slack_call_slots
from storage.db import Database

log = logging.getLogger(__name__)
T = TypeVar("T")

# Longest a call waits for the database to hand it a slot before it is paced by this process alone
# (the statement is left to finish: cancelling a driver's call half-way costs more than a slot).
DATABASE_BOUND = 5.0


def busy_for(limit: RateLimit) -> float:
    """How long a taken slot stays busy: the window, and a little more for a call that reaches
    Slack a little later than the one before it (the network). Counted from the end of the call
    that took the slot: the slot is held while the call is in flight (``Pacer.done``)."""
    return limit.window * 1.02 + 0.01


# A taken slot is held while its call is in flight and frees a window (and the margin) after the
# call ended: a call may reach Slack later than its slot's window allowed for (a starved event
# loop, a slow statement before it, the network), and until it has ended nobody knows when it got
# there. A slot freed while its call still travelled let the window's next calls through it, and
# Slack saw one call too many in a window when the late one arrived. The bound frees the slot
# should the process die mid-call.
IN_FLIGHT_BOUND = 30.0


def taken_until(limit: RateLimit, now: float) -> float:
    return now + busy_for(limit) + IN_FLIGHT_BOUND


def seen_for(limit: RateLimit) -> float:
    """How long a process's word that it has calls waiting holds without being renewed (it renews
    it at least once a window while it waits): after that it is a dead process's, ignored."""
    return 2 * busy_for(limit) + 1.0


# How soon a process whose free slot went to a more urgent call of another process looks again.
YIELDED_RECHECK = 0.1

# Fresh buckets kept at most (a channel made but never posted to is forgotten, oldest first).
FRESH_BUCKETS_KEPT = 1000


class LocalSlots:
    """The same slots kept in this process only: used when the database cannot answer."""

    def __init__(self) -> None:
        self._free_at: dict[str, list[float]] = {}

    def take(self, limit: RateLimit, now: float) -> tuple[int | None, float]:
        slots = self._free_at.setdefault(limit.bucket, [0.0] * limit.calls)
        earliest = min(range(len(slots)), key=slots.__getitem__)
        if slots[earliest] > now:
            return None, slots[earliest]
        slots[earliest] = taken_until(limit, now)
        return earliest, now

    def free_after_call(self, bucket: str, slot: int, held_until: float, until: float) -> None:
        slots = self._free_at.get(bucket)
        if slots is not None and slot < len(slots) and slots[slot] == held_until:
            slots[slot] = until

    def hold_back(self, bucket: str, until: float) -> None:
        slots = self._free_at.get(bucket)
        if slots is not None:
            self._free_at[bucket] = [max(free_at, until) for free_at in slots]


@dataclass(frozen=True)
class Ticket:
    """A call's slot: which, where it is kept (the database, or this process alone), since when.
    A fresh bucket's first slot is still being written (``recording``: its shared slot, if the
    database answered)."""

    limit: RateLimit
    slot: int
    shared: bool
    taken_at: float
    recording: asyncio.Task[tuple[bool, tuple[int | None, float] | None]] | None = field(default=None, compare=False)

    @property
    def held_until(self) -> float:
        return taken_until(self.limit, self.taken_at)


@dataclass
class _Bucket:
    limit: RateLimit
    waiting: list[tuple[int, int, asyncio.Future[Ticket]]] = field(default_factory=list)
    full_until: float = 0.0  # Unix time: no slot is free before (as last read)
    told_urgency: int | None = None  # what the database was last told of this process's waiters
    told_at: float = 0.0
    held_back_until: float = 0.0  # Unix time: a 429 this process met holds the bucket back until then
    dispatcher: asyncio.Task[None] | None = None
    # Set when a call more urgent than the one told of joins the queue: the dispatcher, asleep until
    # a slot frees, wakes to tell the other processes now rather than at its next look.
    more_urgent_came: asyncio.Event = field(default_factory=asyncio.Event)


class SharedSlots:
    """The slots kept in the database, shared by every process (storage/slack_call_slots.py). Each
    statement is bounded by DATABASE_BOUND: (True, its result) when the database answered in time,
    else (False, None), and the caller paces by this process alone."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._process = uuid.uuid4().hex  # this process (its pacer), for the waiting it tells of
        self._late: set[asyncio.Task[Any]] = set()
        self._trouble_logged_at = float("-inf")

    async def take(self, limit: RateLimit, now: float, urgency: int) -> tuple[bool, tuple[int | None, float] | None]:
        return await self._bounded(self._take(limit, now, urgency))

    async def wait(self, bucket: str, urgency: int, now: float) -> None:
        await self._bounded(self._wait(bucket, urgency, now))

    async def stop_waiting(self, bucket: str) -> None:
        await self._bounded(self._stop_waiting(bucket))

    async def free_after_call(self, ticket: Ticket, until: float) -> None:
        await self._bounded(self._free_after_call(ticket, until))

    async def hold_back(self, bucket: str, until: float) -> None:
        await self._bounded(self._hold_back(bucket, until))

    async def _take(self, limit: RateLimit, now: float, urgency: int) -> tuple[int | None, float]:
        async with self._db.bookkeeping() as session:
            return await slack_call_slots.take(
                session,
                limit.bucket,
                slots=limit.calls,
                now=now,
                busy_until=taken_until(limit, now),
                process=self._process,
                urgency=urgency,
                waiting_since=now - seen_for(limit),
            )

    async def _wait(self, bucket: str, urgency: int, now: float) -> None:
        async with self._db.bookkeeping() as session:
            await slack_call_slots.wait(session, bucket, process=self._process, urgency=urgency, now=now)

    async def _stop_waiting(self, bucket: str) -> None:
        async with self._db.bookkeeping() as session:
            await slack_call_slots.stop_waiting(session, bucket, process=self._process)

    async def _free_after_call(self, ticket: Ticket, until: float) -> None:
        async with self._db.bookkeeping() as session:
            await slack_call_slots.free_after_call(session, ticket.limit.bucket, ticket.slot, held_until=ticket.held_until, until=until)

    async def _hold_back(self, bucket: str, until: float) -> None:
        async with self._db.bookkeeping() as session:
            await slack_call_slots.hold_back(session, bucket, until=until)

    async def _bounded(self, statement: Coroutine[Any, Any, T]) -> tuple[bool, T | None]:
        task = asyncio.get_running_loop().create_task(statement)
        done, _ = await asyncio.wait({task}, timeout=DATABASE_BOUND)
        if not done:
            self._late.add(task)  # kept until it ends, so that its outcome is read, not lost
            task.add_done_callback(self._late_answer)
            self._trouble(TimeoutError(f"no answer within {DATABASE_BOUND} s"))
            return False, None
        try:
            return True, task.result()
        except Exception as error:
            self._trouble(error)
            return False, None

    def _late_answer(self, task: asyncio.Task[Any]) -> None:
        self._late.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("a late rate-limit statement failed: %r", task.exception())

    def _trouble(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._trouble_logged_at > 60:
            self._trouble_logged_at = now
            log.warning("Slack calls are paced by this process alone: the database did not hand out rate-limit slots (%r)", error)


class Pacer:
    def __init__(self, db: Database | None, *, speed: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        self.shared = SharedSlots(db) if db is not None else None
        self._speed = speed
        self._clock = clock  # a wall clock: every process compares the slots' times with its own
        self._local = LocalSlots()
        self._buckets: dict[str, _Bucket] = {}
        self._arrivals = itertools.count()
        self._fresh: dict[str, None] = {}  # buckets only this process can have used yet, oldest first
        self._recording: dict[str, asyncio.Task[Any]] = {}  # a fresh bucket's first slot, being written
        self._finishing: set[asyncio.Task[None]] = set()  # ended calls' slots, being put right (``finish``)

    def made_here(self, method: str, args: Mapping[str, Any]) -> None:
        """Calls of ``method`` with ``args`` count against a bucket only this process knows of yet
        (posts into the channel it has just created): the first goes without asking the database."""
        limit = self.limit_of(method, args)
        if limit is None or self.shared is None:
            return
        self._fresh[limit.bucket] = None
        while len(self._fresh) > FRESH_BUCKETS_KEPT:
            del self._fresh[next(iter(self._fresh))]

    def _shared(self) -> SharedSlots:
        """The database's slots, for a ticket that holds one of them."""
        assert self.shared is not None
        return self.shared

    def limit_of(self, method: str, args: Mapping[str, Any]) -> RateLimit | None:
        return rate_limit(method, args, speed=self._speed)

    async def turn(self, method: str, args: Mapping[str, Any]) -> Ticket | None:
        """Wait until a call of ``method`` with ``args`` fits within Slack's rate limit; give the
        ticket to ``done`` when the call has ended (None: a method nothing limits)."""
        limit = self.limit_of(method, args)
        if limit is None:
            return None
        now = self._clock()
        if limit.bucket in self._fresh:
            del self._fresh[limit.bucket]
            return self._take_while_travelling(limit, now)
        recording = self._recording.pop(limit.bucket, None)
        if recording is not None:
            await asyncio.shield(recording)  # the slot the first call took is in the database
        bucket = self._buckets.get(limit.bucket)
        if bucket is None:
            bucket = self._buckets[limit.bucket] = _Bucket(limit)
        if not bucket.waiting and now >= bucket.full_until:
            ticket, next_free = await self._take(limit, now, current_urgency())
            if ticket is not None:
                return ticket
            bucket.full_until = self._recheck_at(limit, now, next_free)
        return await self._wait_in_queue(method, bucket)

    def _take_while_travelling(self, limit: RateLimit, now: float) -> Ticket:
        """A fresh bucket's first slot: taken in this process at once, written to the database meanwhile."""
        slot, _ = self._local.take(limit, now)  # a fresh bucket has every slot free here
        assert self.shared is not None  # only a shared pacer keeps fresh buckets (made_here)
        recording = asyncio.get_running_loop().create_task(self.shared.take(limit, now, current_urgency()))
        self._recording[limit.bucket] = recording
        recording.add_done_callback(lambda _: self._forget_recording(limit.bucket, recording))
        return Ticket(limit, slot if slot is not None else 0, False, now, recording)

    def _forget_recording(self, bucket: str, recording: asyncio.Task[Any]) -> None:
        if self._recording.get(bucket) is recording:
            del self._recording[bucket]

    def finish(self, ticket: Ticket | None) -> None:
        """``done``, without keeping the caller: the call's answer goes back at once, and its slot's
        bookkeeping, which may write to the database, follows. ``settle`` waits for it."""
        if ticket is None:
            return
        task = asyncio.get_running_loop().create_task(self.done(ticket), name=f"pacing done {ticket.limit.bucket}")
        self._finishing.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._finishing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a rate-limit slot was not put right after its call: %r", task.exception())

    async def settle(self) -> None:
        """Wait until the slots of every call that has ended are put right (``finish``)."""
        while self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)

    async def done(self, ticket: Ticket | None) -> None:
        """The call has ended (answered or not): it reached Slack by now, so its slot, held while it
        travelled, frees a window (and the margin) from now, or when a 429 met meanwhile says."""
        if ticket is None:
            return
        if ticket.recording is not None:
            answered, taken = await asyncio.shield(ticket.recording)
            if answered and taken is not None and taken[0] is not None:
                # The database keeps the slot from here on: this process's copy frees with the call.
                self._local.free_after_call(ticket.limit.bucket, ticket.slot, ticket.held_until, self._clock())
                ticket = Ticket(ticket.limit, taken[0], True, ticket.taken_at)
            else:  # the database did not record it: this process alone keeps the slot
                ticket = Ticket(ticket.limit, ticket.slot, False, ticket.taken_at)
        limit = ticket.limit
        until = self._clock() + busy_for(limit)
        bucket = self._buckets.get(limit.bucket)
        if bucket is not None:
            until = max(until, bucket.held_back_until)  # a 429 met meanwhile: its slot is held back too
        if ticket.shared:
            await self._shared().free_after_call(ticket, until)
        else:
            self._local.free_after_call(limit.bucket, ticket.slot, ticket.held_until, until)

    async def hold_back(self, method: str, args: Mapping[str, Any], retry_after: float) -> None:
        """Slack answered 429: no call of this bucket, in any process, before ``retry_after`` seconds."""
        limit = self.limit_of(method, args)
        until = self._clock() + retry_after
        if limit is None:
            await asyncio.sleep(retry_after)  # no slots to hold back: this call waits it out itself
            return
        bucket = self._buckets.get(limit.bucket)
        if bucket is None:
            bucket = self._buckets[limit.bucket] = _Bucket(limit)
        bucket.full_until = max(bucket.full_until, until)
        bucket.held_back_until = max(bucket.held_back_until, until)
        self._local.hold_back(limit.bucket, until)
        if self.shared is not None:
            await self.shared.hold_back(limit.bucket, until)

    async def _wait_in_queue(self, method: str, bucket: _Bucket) -> Ticket:
        turn: asyncio.Future[Ticket] = asyncio.get_running_loop().create_future()
        urgency = current_urgency()
        heapq.heappush(bucket.waiting, (urgency, next(self._arrivals), turn))
        if bucket.told_urgency is not None and urgency < bucket.told_urgency:
            bucket.more_urgent_came.set()
        if bucket.dispatcher is None or bucket.dispatcher.done():
            bucket.dispatcher = asyncio.get_running_loop().create_task(self._dispatch(bucket), name=f"pacing {bucket.limit.bucket}")
        gauge = metrics.SLACK_CALLS_WAITING.labels(method)
        gauge.inc()
        started = time.perf_counter()
        try:
            async with slot_lent():
                return await turn
        finally:
            gauge.dec()
            metrics.SLACK_CALL_WAIT_SECONDS.labels(method).observe(time.perf_counter() - started)

    async def _dispatch(self, bucket: _Bucket) -> None:
        """Hand the bucket's slots to this process's waiters, most urgent first, as they free."""
        limit = bucket.limit
        try:
            while True:
                while bucket.waiting and bucket.waiting[0][2].done():
                    heapq.heappop(bucket.waiting)  # its caller was cancelled
                if not bucket.waiting:
                    return
                urgency = bucket.waiting[0][0]
                now = self._clock()
                await self._tell_waiting(bucket, urgency, now)
                if bucket.full_until > now:
                    bucket.more_urgent_came.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(bucket.more_urgent_came.wait(), bucket.full_until - now)
                    continue  # a more urgent call may have come meanwhile
                ticket, next_free = await self._take(limit, now, urgency)
                if ticket is None:
                    bucket.full_until = self._recheck_at(limit, now, next_free)
                    if next_free <= now:
                        await asyncio.sleep(YIELDED_RECHECK)  # a more urgent call elsewhere takes it
                    continue
                while bucket.waiting:
                    _urgency, _arrival, turn = heapq.heappop(bucket.waiting)
                    if not turn.done():
                        turn.set_result(ticket)
                        break
                else:
                    await self.done(ticket)  # nobody left to use it
        finally:
            if bucket.told_urgency is not None and self.shared is not None:
                bucket.told_urgency = None
                await self.shared.stop_waiting(limit.bucket)

    async def _tell_waiting(self, bucket: _Bucket, urgency: int, now: float) -> None:
        """Tell other processes how urgent this one's most urgent waiting call is: when that
        changes, and again before the word runs out (``seen_for``)."""
        if self.shared is None:
            return
        # Told again every half window: the dispatcher looks at least once a window (and later on a
        # starved machine), so the word is at most about one and a half windows old when another
        # process reads it, well inside the two windows and a second it holds for (``seen_for``).
        if bucket.told_urgency == urgency and now - bucket.told_at < busy_for(bucket.limit) / 2:
            return
        bucket.told_urgency, bucket.told_at = urgency, now
        await self.shared.wait(bucket.limit.bucket, urgency, now)

    @staticmethod
    def _recheck_at(limit: RateLimit, now: float, next_free: float) -> float:
        """When to try a full bucket again: when its next slot frees, and at least once a window.
        Slots can free earlier than they said (one held while its call was in flight frees as soon
        as the call ends, in whichever process made it), so a waiting process reads them again."""
        return min(next_free, now + busy_for(limit))

    async def _take(self, limit: RateLimit, now: float, urgency: int) -> tuple[Ticket | None, float]:
        """A slot's ticket, or (None, when to try again)."""
        if self.shared is not None:
            answered, taken = await self.shared.take(limit, now, urgency)
            if answered and taken is not None:
                slot, next_free = taken
                return (Ticket(limit, slot, True, now) if slot is not None else None), next_free
        slot, next_free = self._local.take(limit, now)
        return (Ticket(limit, slot, False, now) if slot is not None else None), next_free
