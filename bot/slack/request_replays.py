"""Refusing a signed Slack request seen before.

A signature proves Slack made a request, not that Slack sent it only once: whoever captured one
(a proxy's log, a debugging dump) can send it again for five minutes, until its timestamp is too
old. Each request's signature (an HMAC of its timestamp and whole body, so one per request) is
recorded in the database before the request is handled, so a second copy is refused in every
process. Opens were already safe (an incident's trigger ID is unique); this covers everything else:
notes, updates, action items, roles, forms.

The check never costs an ack: it starts once the request is dispatched (sooner when the request's
work needs the answer), and only the request's writes and answers wait for it (bot/background.py).
A click or a note, whose ack waits for its write, records its request in that write's own
transaction instead, first thing, and a replay rolls back there: one commit before the ack, not
two (``FirstCopyCheck``, storage/db.py). When the database fails the check or does not answer within
REPLAY_CHECK_TIMEOUT, the request is let through and the miss is logged: its own writes meet the
same database, and their failure is what the person is told and what errors_total counts.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from bot.background import BackgroundWork
from storage import slack_requests_seen
from storage.db import Database, Statements, outside_commit_gates

log = logging.getLogger(__name__)

# Slack's rule: a request whose timestamp is further than this from now is refused outright.
SLACK_SIGNATURE_WINDOW = 5 * 60
# Rows are kept twice as long, so that clocks of several processes a little apart still agree.
KEEP_FOR = 2 * SLACK_SIGNATURE_WINDOW
CLEAN_UP_EVERY = 60.0
# As long as SQLite lets a writer queue for its lock: a burst of requests on SQLite queues its
# checks behind each other, and the work waiting for them would queue there anyway.
REPLAY_CHECK_TIMEOUT = 30.0


class ReplayGuard:
    def __init__(self, db: Database, background: BackgroundWork, *, now: Callable[[], float] = time.time) -> None:
        self._db = db
        self._background = background
        self._now = now
        # The first clean-up a minute after start, not at the first request: that request's own
        # work (an open's channel create) comes first, and rows a restart left wait a minute.
        self._cleaned_at = now()

    def check(self, signature: str, slack_timestamp: int) -> FirstCopyCheck:
        """The request's check, made by the first transaction of its work or else by ``first_time``."""
        return FirstCopyCheck(self, signature, slack_timestamp)

    async def first_time(self, signature: str, slack_timestamp: int) -> bool:
        """Record the request; False when a copy of it was recorded before (a replay)."""
        try:
            first = await asyncio.wait_for(self._record(signature, slack_timestamp), REPLAY_CHECK_TIMEOUT)
        except (TimeoutError, SQLAlchemyError, OSError) as error:
            log.warning("replay check skipped, the database did not answer: %s", str(error) or type(error).__name__)
            return True
        self.recorded()
        return first

    def recorded(self) -> None:
        """A request was recorded: now and then, the records too old to matter go."""
        if self._now() - self._cleaned_at > CLEAN_UP_EVERY:
            self._cleaned_at = self._now()
            with outside_commit_gates():  # maybe inside a click's work: its commit is not the click's
                self._background.spawn(self.clean_up(), name="forget-old-slack-requests")

    async def forget(self, signature: str) -> None:
        """Forget a request that failed before it was handled, so that Slack's retry of it is taken."""
        try:
            async with self._db.single_statements() as session:
                await slack_requests_seen.forget(session, signature)
        except (SQLAlchemyError, OSError) as error:
            log.warning("could not forget a failed Slack request: %s", error)

    async def clean_up(self) -> int:
        """Delete the requests too old to be replayed (Slack's check refuses them anyway), once
        the requests waiting for their acks have them: on SQLite the delete takes the write lock
        their commits need."""
        await self._background.after_awaited_acks()
        async with self._db.single_statements() as session:
            return await slack_requests_seen.forget_older_than(session, int(self._now()) - KEEP_FOR)

    async def _record(self, signature: str, slack_timestamp: int) -> bool:
        # Started by the request's own work when it needs the answer: inside that work's commit gate,
        # this would wait for the very answer it is to give (Database.run_transaction).
        with outside_commit_gates():
            return await self._db.run_statements(
                functools.partial(slack_requests_seen.record_if_new, signature=signature, slack_timestamp=slack_timestamp)
            )


class FirstCopyCheck:
    """Whether one Slack request is the first copy of it, found out once (storage.db.RequestRecord):
    by the transaction of the write its ack waits for, which records the request first thing
    (``take``), or else by a check of its own (``start``), begun once the request is dispatched or
    sooner when its work needs the answer."""

    def __init__(self, guard: ReplayGuard, signature: str, slack_timestamp: int) -> None:
        self._guard = guard
        self._signature = signature
        self._slack_timestamp = slack_timestamp
        self._taken = False
        self._check: asyncio.Task[bool] | None = None  # held here: the loop keeps only weak references to tasks
        self.answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def take(self) -> Callable[[Statements], bool] | None:
        if self._taken:
            return None
        self._taken = True
        return functools.partial(slack_requests_seen.record_if_new, signature=self._signature, slack_timestamp=self._slack_timestamp)

    def taken_with(self, first: bool | None) -> None:
        if self.answer.done():
            return
        if first is None:
            # The transaction failed, so its work did too, and the person is told about that; the
            # request is let through as when a check of its own meets a failing database.
            log.warning("replay check skipped, the request's transaction failed")
            first = True
        elif first:
            self._guard.recorded()
        self.answer.set_result(first)

    def start(self) -> asyncio.Future[bool]:
        """The answer, with the check of its own begun unless a transaction took the record."""
        if not self._taken:
            self._taken = True
            self._check = asyncio.ensure_future(self._guard.first_time(self._signature, self._slack_timestamp))
            self._check.add_done_callback(self._checked)
        return self.answer

    async def first_copy(self) -> bool:
        return await asyncio.shield(self.start())

    def _checked(self, check: asyncio.Task[bool]) -> None:
        if self.answer.done():
            return
        if check.cancelled():
            self.answer.cancel()
        elif (error := check.exception()) is not None:
            self.answer.set_exception(error)
        else:
            self.answer.set_result(check.result())
