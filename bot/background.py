"""Work that runs after Slack's request was acknowledged.

Every task is kept until it ends, so its failure is logged (never swallowed) and a shutdown can
wait for in-flight work instead of cutting a war room in half. A bounded number run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from bot import metrics
from storage.db import RequestRecord

log = logging.getLogger(__name__)

# At most this many flows run at once after their acks; the rest wait their turn. Every flow
# shares the event loop with the requests still to be acknowledged, so a burst of war rooms
# opening all at once would delay every ack behind it. Slack's rate limits (tier 2: 20 calls a
# minute per method) allow far less sustained work than this many flows in flight.
DEFAULT_CONCURRENCY = 8

T = TypeVar("T")

# How urgent the work of the current context is: 0 for a P1 incident's, 3 for a P4's. Work waiting
# for a slot here, and Slack calls waiting for a rate limit (bot/slack/pacing.py), go most urgent
# first. Work that names no incident is as urgent as a P3, the default severity.
DEFAULT_URGENCY = 2
_urgency: contextvars.ContextVar[int] = contextvars.ContextVar("urgency", default=DEFAULT_URGENCY)


@contextmanager
def urgency(rank: int) -> Iterator[None]:
    """Work started inside (and the tasks it spawns) is this urgent."""
    token = _urgency.set(rank)
    try:
        yield
    finally:
        _urgency.reset(token)


def current_urgency() -> int:
    return _urgency.get()


class _Slots:
    """A semaphore whose waiters are served most urgent first, then in arrival order."""

    def __init__(self, count: int) -> None:
        self._free = count
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    async def acquire(self, rank: int) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (rank, next(self._arrivals), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed the slot just as it was cancelled: pass it on
            raise

    def release(self) -> None:
        while self._waiting:
            _rank, _arrival, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1


@dataclass
class _Holding:
    """The slot a task holds; ``held`` is False while it is lent (see ``slot_lent``)."""

    slots: _Slots
    held: bool = True


_holding: contextvars.ContextVar[_Holding | None] = contextvars.ContextVar("holding", default=None)


@asynccontextmanager
async def slot_lent() -> AsyncIterator[None]:
    """While the current work waits on something outside the process that costs no CPU (a Slack
    rate limit), its slot runs other work; it takes a slot again, by its urgency, to go on."""
    holding = _holding.get()
    if holding is None or not holding.held:
        yield  # no slot, or another task of the same work lent it already
        return
    holding.held = False
    holding.slots.release()
    try:
        yield
    finally:
        await holding.slots.acquire(current_urgency())
        holding.held = True


def side_task(work: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
    """A task beside the current work (a look-up the work needs later) that never lends the work's
    slot: only the work's own waits hand its slot on and take it back by its urgency, so two
    waits of one work never leave it running without a slot while others queue for theirs."""
    context = contextvars.copy_context()
    context.run(_holding.set, None)
    return asyncio.create_task(work, name=name, context=context)


async def once_set(event: asyncio.Event | None, work: Callable[[], Awaitable[T]]) -> T:
    """``work`` run once ``event`` is set (at once without one): work that is not in a hurry
    started now, to go when what is in a hurry is on its way."""
    if event is not None:
        await event.wait()
    return await work()


# Whether the Slack request being handled is the first copy of it (bot/slack/request_replays.py),
# set by the HTTP endpoint before it dispatches the request, so that no check delays an ack: the
# work the request starts (handlers/after_ack.py, and the few writes made before the ack) waits for
# the answer through only_first_copy, and a replay's work is dropped unrun; or, for a click whose
# ack waits for its write, that write's transaction records the request first (storage/db.py).
_first_copy_check: contextvars.ContextVar[RequestRecord | None] = contextvars.ContextVar("first_copy_check", default=None)


def hold_work_until(check: RequestRecord) -> None:
    """Make the current request's work wait for ``check`` and run only when it says True."""
    _first_copy_check.set(check)


def current_first_copy_check() -> RequestRecord | None:
    return _first_copy_check.get()


async def is_first_copy() -> bool:
    """False when the request being handled is a replay; True when it is not, or cannot be told
    (no HTTP request, or the check itself failed: its own log line says so)."""
    check = _first_copy_check.get()
    if check is None:
        return True
    try:
        return await check.first_copy()
    except Exception:
        return True


async def only_first_copy(work: Coroutine[Any, Any, T]) -> T | None:
    """Run ``work`` unless the request being handled is a replay (then close it unrun: None)."""
    if not await is_first_copy():
        work.close()
        return None
    return await work


# The longest work after an ack, or housekeeping, lets other requests' acks go first
# (BackgroundWork.after_awaited_acks).
ACKS_FIRST_LIMIT = 0.25


class BackgroundWork:
    def __init__(self, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._slots = _Slots(concurrency)
        self._acks_awaited = 0  # requests whose ack waits for their commit right now
        self._no_acks_awaited = asyncio.Event()
        self._no_acks_awaited.set()

    @contextlib.contextmanager
    def awaiting_ack(self) -> Iterator[None]:
        """Around a request's wait for its commit and its ack: work after other acks lets it go first."""
        self._acks_awaited += 1
        self._no_acks_awaited.clear()
        try:
            yield
        finally:
            self._acks_awaited -= 1
            if not self._acks_awaited:
                self._no_acks_awaited.set()

    async def after_awaited_acks(self) -> None:
        """Wait, at most ACKS_FIRST_LIMIT, until no request waits for its ack. Work after an ack
        shares the event loop with the requests still to be acknowledged; in a burst it would run
        between their commits and their acks, so it lets them go first. The limit keeps a steady
        stream of requests from holding it back for long."""
        if self._acks_awaited:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._no_acks_awaited.wait(), ACKS_FIRST_LIMIT)

    def spawn(self, work: Coroutine[Any, Any, Any], *, name: str, waits_for_slot: bool = True) -> asyncio.Task[Any]:
        """``waits_for_slot=False`` for work a request's ack waits on: it must not queue."""
        runner = self._limited(work, name) if waits_for_slot else self._logged(work, name)
        task = asyncio.get_running_loop().create_task(runner, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _limited(self, work: Coroutine[Any, Any, Any], name: str) -> Any:
        await self._slots.acquire(current_urgency())
        holding = _Holding(self._slots)
        _holding.set(holding)  # the task's own context: only it and the tasks it starts see it
        try:
            return await self._logged(work, name)
        finally:
            if holding.held:
                self._slots.release()

    async def take_a_slot(self) -> None:
        """For work started without a slot (``waits_for_slot=False``): wait for one now, and keep
        it until the task that waited ends."""
        await self._slots.acquire(current_urgency())
        holding = _Holding(self._slots)
        _holding.set(holding)
        task = asyncio.current_task()
        assert task is not None
        task.add_done_callback(lambda _task: self._slots.release() if holding.held else None)

    @staticmethod
    async def _logged(work: Coroutine[Any, Any, Any], name: str) -> Any:
        try:
            return await work
        except asyncio.CancelledError:
            log.warning("background work %s was cancelled", name)
            raise
        except Exception:
            log.exception("background work %s failed", name)
            return None

    @property
    def pending(self) -> int:
        return len(self._tasks)

    @property
    def in_flight(self) -> frozenset[asyncio.Task[Any]]:
        """The tasks not yet ended, for a caller that waits on them itself (the tests' settle)."""
        return frozenset(self._tasks)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until no work is in flight, including work spawned by work that was in flight."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._tasks:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                log.warning("%d background tasks still running at shutdown", len(self._tasks))
                return
            await asyncio.wait(set(self._tasks), timeout=remaining)


async def repeat_until_stopped(tick: Callable[[], Awaitable[Any]], stop: asyncio.Event, *, every: float, name: str) -> None:
    """Run ``tick`` now and then every ``every`` seconds until ``stop`` is set. A failed tick is
    logged and the next one runs as planned: one broken tick must not end a scheduler."""
    while not stop.is_set():
        try:
            await tick()
        except Exception:
            metrics.ERRORS.labels("scheduler").inc()
            log.exception("%s tick failed", name)
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            pass


class EventLoopLag:
    """How late this process's event loop has lately run a timer: the largest of the last few
    samples (taken every ``every`` seconds by ``watch``, and exported as ``EVENT_LOOP_LAG``).

    A request that waits on the database waits this long again for each answer, so a listener
    can tell whether a short wait can pay off. Until ``watch`` runs it reports no lag."""

    def __init__(self, *, window: int = 3) -> None:
        self._samples: deque[float] = deque(maxlen=window)

    @property
    def recent(self) -> float:
        return max(self._samples, default=0.0)

    def record(self, lag: float) -> None:
        self._samples.append(lag)
        metrics.EVENT_LOOP_LAG.observe(lag)

    async def watch(self, stop: asyncio.Event, *, every: float = 0.02) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            due = loop.time() + every
            await asyncio.sleep(every)  # a plain timer: what it measures is what every awaiter gets
            self.record(max(0.0, loop.time() - due))
