"""One process at a time per Slack step of an incident.

A repair reads what Slack already shows from the database and redoes the rest. Two repairs at
once (two people, or two processes behind a load balancer), or a repair racing the open flow,
would both see "not posted yet" and both post. So every step that is not idempotent in Slack
(create the channel, post the control message, announce, bookmark, post a runbook, post the
summary, upload the postmortem) is claimed in the database first, and the database is read
again under the claim: a step someone finished meanwhile is skipped, one someone is doing now is
left to them. A claim whose process died is taken over at once when that process ran on this
host, else once its lease runs out.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot import metrics
from bot.clock import Clock
from storage import slack_steps
from storage.db import Database

log = logging.getLogger(__name__)

# Longer than any Slack step with the SDK's retries (3 tries of a 10 s timeout, plus Retry-After).
LEASE = timedelta(minutes=2)

StillNeeded = Callable[[AsyncSession, int], Awaitable[bool]]


class StepBusy(Exception):
    """Another process is doing this step right now."""


class StepClaims:
    def __init__(self, db: Database, clock: Clock, *, lease: timedelta = LEASE) -> None:
        self._db = db
        self._clock = clock
        self._lease = lease
        self._identity = f"{socket.gethostname()[:80]}:{os.getpid()}"

    def _dead_here(self, holder: str) -> bool:
        """A holder on this host whose process is gone (killed, crashed) holds nothing. Holders on
        other hosts cannot be checked from here; their claims wait for the lease."""
        host, _, pid = holder.rpartition(":")
        if host != socket.gethostname()[:80] or not pid.isdigit():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    @asynccontextmanager
    async def claim(self, incident_id: int, step: str, still_needed: StillNeeded) -> AsyncIterator[bool]:
        """Yields True when this caller should do the step (claimed, and the database says it is
        still not done), False when it is already done. Raises StepBusy when another holds it."""
        token = uuid.uuid4().hex
        now = self._clock()
        # Two statements, each committed as it runs: the read under the claim sees whatever the
        # previous holder recorded before it let go.
        async with self._db.single_statements() as session:
            won = await slack_steps.claim(
                session, incident_id, step, token=token, by=self._identity, at=now, stale_before=now - self._lease,
                holder_is_dead=self._dead_here,
            )
            needed = await still_needed(session, incident_id) if won else False
        if not won:
            metrics.REPAIR_STEPS.labels("busy").inc()
            log.info("INC-%s: %s is being done by another process", incident_id, step)
            raise StepBusy(step)
        try:
            metrics.REPAIR_STEPS.labels("claimed" if needed else "skipped").inc()
            yield needed
        finally:
            async with self._db.single_statements() as session:
                await slack_steps.release(session, incident_id, step, token=token)
