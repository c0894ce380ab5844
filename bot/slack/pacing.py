"""Pacing Slack Web API calls within Slack's rate limits, shared by every process of the bot.

Slack counts each method's calls per app and workspace, not per process, so the calls of a window
are slots in the database (storage/slack_call_slots.py): a call takes a free slot in one short
statement and goes at once (a quiet bot pays only that). When a bucket's slots are all taken,
the call waits in this process's queue for the bucket, most urgent first (bot.background's
urgency: a P1's war room before a P4's), while its background slot runs other work. One waiter
per bucket and process tries the database again when the next slot frees; less urgent waiters
try a moment later, so when slots free together the most urgent call of any process takes one
first. A 429 holds the bucket back for its Retry-After in every process.

If the database cannot say (it is down or slow), the call is paced by this process alone rather
than held up: a Slack call never waits on the database for long, and never fails because of it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot import metrics
from bot.background import current_urgency, slot_lent
from bot.slack.rate_tiers import RateLimit, rate_limit
from storage import slack_call_slots
from storage.db import Database

log = logging.getLogger(__name__)

# Longest a call waits for the database to hand it a slot before it is paced by this process alone.
DATABASE_BOUND = 1.0


def busy_for(limit: RateLimit) -> float:
    """How long a taken slot stays busy: the window, and a little more so that a call that reaches
    Slack a few milliseconds later than the one before it (a busy event loop, the network) still
    lands in a window with room for it."""
    return limit.window * 1.02 + 0.01


def defer_step(limit: RateLimit) -> float:
    """How much later each step of lesser urgency tries for a slot that frees: long enough for a
    more urgent waiter in another process to take it first, short against the window."""
    return min(0.25, limit.window * 0.01)


class LocalSlots:
    """The same slots kept in this process only: used when the database cannot answer."""

    def __init__(self) -> None:
        self._free_at: dict[str, list[float]] = {}

    def take(self, limit: RateLimit, now: float) -> float | None:
        slots = self._free_at.setdefault(limit.bucket, [0.0] * limit.calls)
        earliest = min(range(len(slots)), key=slots.__getitem__)
        if slots[earliest] > now:
            return slots[earliest]
        slots[earliest] = now + busy_for(limit)
        return None

    def hold_back(self, bucket: str, until: float) -> None:
        slots = self._free_at.get(bucket)
        if slots is not None:
            self._free_at[bucket] = [max(free_at, until) for free_at in slots]


@dataclass
class _Bucket:
    limit: RateLimit
    waiting: list[tuple[int, int, asyncio.Future[None]]] = field(default_factory=list)
    full_until: float = 0.0  # Unix time: no slot is free before (as last read)
    reopened_at: float = 0.0  # when the slots the waiters are taking freed
    dispatcher: asyncio.Task[None] | None = None


class Pacer:
    def __init__(self, db: Database | None, *, speed: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._speed = speed
        self._clock = clock  # a wall clock: every process compares the slots' times with its own
        self._local = LocalSlots()
        self._buckets: dict[str, _Bucket] = {}
        self._arrivals = itertools.count()
        self._database_trouble_logged_at = float("-inf")

    def limit_of(self, method: str, args: Mapping[str, Any]) -> RateLimit | None:
        return rate_limit(method, args, speed=self._speed)

    async def turn(self, method: str, args: Mapping[str, Any]) -> None:
        """Wait until a call of ``method`` with ``args`` fits within Slack's rate limit."""
        limit = self.limit_of(method, args)
        if limit is None:
            return
        bucket = self._buckets.get(limit.bucket)
        if bucket is None:
            bucket = self._buckets[limit.bucket] = _Bucket(limit)
        now = self._clock()
        if not bucket.waiting and now >= bucket.full_until:
            next_free = await self._take(limit, now)
            if next_free is None:
                return
            bucket.full_until = next_free
        await self._wait_in_queue(method, bucket)

    async def hold_back(self, method: str, args: Mapping[str, Any], retry_after: float) -> None:
        """Slack answered 429: no call of this bucket, in any process, before ``retry_after`` seconds."""
        limit = self.limit_of(method, args)
        until = self._clock() + retry_after
        if limit is None:
            await asyncio.sleep(retry_after)  # no slots to hold back: this call waits it out itself
            return
        bucket = self._buckets.get(limit.bucket)
        if bucket is not None:
            bucket.full_until = max(bucket.full_until, until)
        self._local.hold_back(limit.bucket, until)
        if self._db is not None:
            try:
                async with asyncio.timeout(DATABASE_BOUND), self._db.bookkeeping() as session:
                    await slack_call_slots.hold_back(session, limit.bucket, until=until)
            except Exception as error:
                self._database_trouble(error)

    async def _wait_in_queue(self, method: str, bucket: _Bucket) -> None:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(bucket.waiting, (current_urgency(), next(self._arrivals), turn))
        if bucket.dispatcher is None or bucket.dispatcher.done():
            bucket.dispatcher = asyncio.get_running_loop().create_task(self._dispatch(bucket), name=f"pacing {bucket.limit.bucket}")
        gauge = metrics.SLACK_CALLS_WAITING.labels(method)
        gauge.inc()
        started = time.perf_counter()
        try:
            async with slot_lent():
                await turn
        finally:
            gauge.dec()
            waited = time.perf_counter() - started
            metrics.SLACK_CALL_WAIT_SECONDS.labels(method).observe(waited)

    async def _dispatch(self, bucket: _Bucket) -> None:
        """Hand the bucket's slots to this process's waiters, most urgent first, as they free."""
        limit = bucket.limit
        while True:
            while bucket.waiting and bucket.waiting[0][2].done():
                heapq.heappop(bucket.waiting)  # its caller was cancelled
            if not bucket.waiting:
                return
            rank = bucket.waiting[0][0]
            now = self._clock()
            if now < bucket.full_until:
                bucket.reopened_at = bucket.full_until
            try_at = max(bucket.full_until, bucket.reopened_at + rank * defer_step(limit))
            if try_at > now:
                await asyncio.sleep(try_at - now)
                continue  # a more urgent call may have come meanwhile
            next_free = await self._take(limit, now)
            if next_free is not None:
                bucket.full_until = next_free
                if next_free <= now:
                    await asyncio.sleep(0.005)  # another process is taking the freed slots right now
                continue
            while bucket.waiting:
                _rank, _arrival, turn = heapq.heappop(bucket.waiting)
                if not turn.done():
                    turn.set_result(None)
                    break

    async def _take(self, limit: RateLimit, now: float) -> float | None:
        """Take a slot: None when taken, else when to try again."""
        if self._db is not None:
            try:
                async with asyncio.timeout(DATABASE_BOUND), self._db.bookkeeping() as session:
                    return await slack_call_slots.take(session, limit.bucket, slots=limit.calls, now=now, busy_until=now + busy_for(limit))
            except Exception as error:
                self._database_trouble(error)
        return self._local.take(limit, now)

    def _database_trouble(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._database_trouble_logged_at > 60:
            self._database_trouble_logged_at = now
            log.warning("Slack calls are paced by this process alone: the database did not hand out rate-limit slots (%r)", error)
