"""Reads reused while they are fresh: a dashboard page or ``/incident stats`` over a year of a busy
team's incidents takes about a second to read and compute, and the same figures are asked for again
and again (each page of the dashboard, each person opening it, a refresh).

A read is reused only while both hold:

- the data has not changed: its key carries the data's version (storage.reports.data_version: the
  incidents' count, newest id and latest update, the deploys' and links' counts), read before each
  use, so a new stamp, incident, deploy or link is in the very next page;
- it is younger than ``FRESH_FOR`` by the bot's clock: a window ending "now" moves, and an open
  incident's age grows, without any write. A reused read names the window it was computed for
  (its ``until``), so a figure never claims a later moment than it was computed at.

At most ``MAX_ENTRIES`` reads are kept (the oldest goes first): a year's columns of 100,000
incidents are some ten megabytes.

Pure of I/O: the caller reads the version and computes; this only keeps.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from bot.core.clock import Clock

FRESH_FOR = timedelta(minutes=1)
MAX_ENTRIES = 16

T = TypeVar("T")


class FreshReads(Generic[T]):
    def __init__(self, clock: Clock, *, fresh_for: timedelta = FRESH_FOR, max_entries: int = MAX_ENTRIES) -> None:
        self._clock = clock
        self._fresh_for = fresh_for
        self._max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[datetime, T]] = OrderedDict()

    async def get(self, key: Hashable, compute: Callable[[datetime], Awaitable[T]]) -> T:
        """The read kept under ``key`` while fresh, else ``compute(now)``'s, kept. ``key`` must
        hold the data's version."""
        now = self._clock()
        kept = self._entries.get(key)
        if kept is not None and timedelta(0) <= now - kept[0] < self._fresh_for:
            return kept[1]
        value = await compute(now)
        self._entries[key] = (now, value)
        self._entries.move_to_end(key)
        # Stale entries and the oldest beyond the bound go.
        for old in [k for k, (at, _) in self._entries.items() if not timedelta(0) <= now - at < self._fresh_for]:
            del self._entries[old]
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return value
