"""Refusing a signed Slack request seen before.

A signature proves Slack made a request, not that Slack sent it only once: whoever captured one
(a proxy's log, a debugging dump) can send it again for five minutes, until its timestamp is too
old. Each request's signature (an HMAC of its timestamp and whole body, so one per request) is
recorded in the database before the request is handled, so a second copy is refused in every
process. Opens were already safe (an incident's trigger ID is unique); this covers everything else:
notes, updates, action items, roles, forms.

The check never costs an ack: it runs while the request is dispatched, and only the request's
writes wait for it (bot/background.py). When the database fails it or does not answer within
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
from storage.db import Database

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
        self._cleaned_at = float("-inf")

    async def first_time(self, signature: str, slack_timestamp: int) -> bool:
        """Record the request; False when a copy of it was recorded before (a replay)."""
        try:
            first = await asyncio.wait_for(self._record(signature, slack_timestamp), REPLAY_CHECK_TIMEOUT)
        except (TimeoutError, SQLAlchemyError, OSError) as error:
            log.warning("replay check skipped, the database did not answer: %s", str(error) or type(error).__name__)
            return True
        if self._now() - self._cleaned_at > CLEAN_UP_EVERY:
            self._cleaned_at = self._now()
            self._background.spawn(self.clean_up(), name="forget-old-slack-requests")
        return first

    async def forget(self, signature: str) -> None:
        """Forget a request that failed before it was handled, so that Slack's retry of it is taken."""
        try:
            async with self._db.single_statements() as session:
                await slack_requests_seen.forget(session, signature)
        except (SQLAlchemyError, OSError) as error:
            log.warning("could not forget a failed Slack request: %s", error)

    async def clean_up(self) -> int:
        """Delete the requests too old to be replayed (Slack's check refuses them anyway)."""
        async with self._db.single_statements() as session:
            return await slack_requests_seen.forget_older_than(session, int(self._now()) - KEEP_FOR)

    async def _record(self, signature: str, slack_timestamp: int) -> bool:
        return await self._db.run_statements(
            functools.partial(slack_requests_seen.record_if_new, signature=signature, slack_timestamp=slack_timestamp)
        )
