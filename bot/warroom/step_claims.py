"""One process at a time per Slack step of an incident.

A repair reads what Slack already shows from the database and redoes the rest. Two repairs at
once (two people, or two processes behind a load balancer), or a repair racing the open flow,
would both see "not posted yet" and both post. So every step that is not idempotent in Slack
(create the channel, post the control message, announce, bookmark, post a runbook, post the
summary, upload the postmortem) is claimed in the database first, and the database is read
again under the claim: a step someone finished meanwhile is skipped, one someone is doing now is
left to them. A claim whose process died is taken over at once when that process ran on this
host, else once its lease runs out.

A holder renews its claim every few seconds while it works (a heartbeat), so the lease can be short:
a claim nobody renewed for LEASE is presumed abandoned. That covers a holder on another host that
died, and a live holder that could not release its claim because the database went away (it keeps
trying to release it in the background, and the lease runs out meanwhile): a repair started after
the database is back finishes within seconds instead of waiting minutes. Taking over a claim
whose holder is alive but cut off from the database could overlap with a Slack call that holder
still has in flight; the step's look-up in Slack before it creates anything (adopt before
create, bot.slack.steps) is what keeps that from making a second one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from bot import metrics
from bot.core.clock import Clock
from bot.slack.steps import StepBusy, StillNeeded, Taken
from storage import openings as opening_rows
from storage import slack_steps
from storage.db import Database, Statements

log = logging.getLogger(__name__)

# A claim not renewed for this long is abandoned. Several heartbeats fit in it, so a holder on a
# busy host is not taken for dead.
LEASE = timedelta(seconds=15)
HEARTBEAT_SECONDS = 3.0
RELEASE_RETRY_SECONDS = 1.0

# Claims this process gave up but could not release (the database was away): nobody works on them,
# so this process's own next attempt takes them over at once rather than waiting for their lease.
_ABANDONED_HERE: set[str] = set()


@dataclass(frozen=True)
class ClaimsTaken:
    """Steps of an incident claimed in the transaction that made them due (``claim_for_new``,
    ``claim_if_free``): by step, the claim's token. Held, renewed and released through
    ``StepClaims.holding_taken`` once that transaction committed."""

    incident_id: int
    tokens: dict[str, str]

    @classmethod
    def new(cls, incident_id: int, steps: Iterable[str]) -> ClaimsTaken:
        """Fresh tokens for ``steps``, before they are claimed."""
        return cls(incident_id, {step: uuid.uuid4().hex for step in steps})

    def only(self, steps: Collection[str]) -> ClaimsTaken:
        return ClaimsTaken(self.incident_id, {step: token for step, token in self.tokens.items() if step in steps})

    def of(self, step: str) -> Taken | None:
        """The step's claim for ``SlackSteps.once``; None when it was not taken here (it was held
        elsewhere: the runner claims it itself)."""
        token = self.tokens.get(step)
        return Taken(token) if token is not None else None


class StepClaims:
    def __init__(self, db: Database, clock: Clock, *, lease: timedelta = LEASE) -> None:
        self._db = db
        self._clock = clock
        self._lease = lease
        self._identity = f"{socket.gethostname()[:80]}:{os.getpid()}"
        self._background: set[asyncio.Task[None]] = set()

    def _dead_here(self, holder: str, token: str) -> bool:
        """A holder on this host whose process is gone (killed, crashed) holds nothing, nor does a
        claim this process abandoned. Holders on other hosts cannot be checked from here; their
        claims wait for the lease."""
        if token in _ABANDONED_HERE:
            return True
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
        async with self.claim_together(incident_id, [(step, still_needed)]) as needed:
            yield needed[0]

    @asynccontextmanager
    async def claim_together(self, incident_id: int, steps: Sequence[tuple[str, StillNeeded]]) -> AsyncIterator[list[bool]]:
        """Several steps of the incident claimed in one go (one database round trip; a new war
        room claims its channel and its control message before the channel exists): for each, True
        when this caller should do it. Raises StepBusy, holding none, when another holds any."""
        now = self._clock()
        taken: list[tuple[str, str, bool]] = []
        # Each statement committed as it runs: the read under a claim sees whatever the previous
        # holder recorded before it let go.
        async with self._db.single_statements() as session:
            for step, still_needed in steps:
                token = uuid.uuid4().hex
                won = await slack_steps.claim(
                    session,
                    incident_id,
                    step,
                    token=token,
                    by=self._identity,
                    at=now,
                    stale_before=now - self._lease,
                    holder_is_dead=self._dead_here,
                )
                if not won:
                    break
                taken.append((step, token, await still_needed(session, incident_id)))
        tokens = {step: token for step, token, _needed in taken}
        if len(taken) < len(steps):
            busy = steps[len(taken)][0]
            metrics.REPAIR_STEPS.labels("busy").inc()
            log.info("INC-%s: %s is being done by another process", incident_id, busy)
            await self._let_go(incident_id, tokens)
            raise StepBusy(busy)
        for _step, _token, needed in taken:
            metrics.REPAIR_STEPS.labels("claimed" if needed else "skipped").inc()
        async with self._holding(incident_id, tokens):
            yield [needed for _step, _token, needed in taken]

    def claim_for_new(self, work: Statements, incident_id: int, steps: Sequence[str]) -> ClaimsTaken:
        """Claim ``steps`` of an incident inserted in ``work``'s transaction, committed with it:
        nobody can hold a step of an incident nobody else sees yet, and none of them is done, so
        there is nothing to read under the claims. Hold them with ``holding_taken`` once committed."""
        claims = ClaimsTaken.new(incident_id, steps)
        opening_rows.claim_for_new_incident(work, incident_id, claims.tokens, by=self._identity, at=self._clock())
        return claims

    def claim_if_free(self, work: Statements, incident_id: int, steps: Sequence[str]) -> ClaimsTaken:
        """Claim, in ``work``'s transaction and committed with it, those of ``steps`` nobody holds;
        the others (held, or left by a process that died) are left to ``claim``. Nothing is read
        under these claims: for the steps the caller's transaction has just made due."""
        claims = ClaimsTaken.new(incident_id, steps)
        return claims.only(opening_rows.claim_unheld(work, incident_id, claims.tokens, by=self._identity, at=self._clock()))

    def holding_taken(self, claims: ClaimsTaken) -> AbstractAsyncContextManager[None]:
        """The claims ``claim_for_new`` or ``claim_if_free`` took, renewed while their steps work and given back after."""
        metrics.REPAIR_STEPS.labels("claimed").inc(len(claims.tokens))
        return self._holding(claims.incident_id, claims.tokens)

    def hold(self, incident_id: int, step: str, token: str) -> AbstractAsyncContextManager[None]:
        """One claim ``claim_for_new`` or ``claim_if_free`` took, renewed while its step works and given back after."""
        return self.holding_taken(ClaimsTaken(incident_id, {step: token}))

    @asynccontextmanager
    async def _holding(self, incident_id: int, tokens: dict[str, str]) -> AsyncIterator[None]:
        """Claims taken (by step, the claim's token): renewed while their steps work, given back
        together when they are done. Together: one heartbeat that renews them all in one statement,
        and one statement that gives them all back (a new war room held five, each given back by a
        commit of its own, 2 ms apart here, before the opener heard)."""
        heartbeat = asyncio.create_task(self._renew(incident_id, tokens), name=f"claim-heartbeat-{incident_id}-{'+'.join(tokens)}")
        try:
            yield
        finally:
            heartbeat.cancel()
            await self._let_go(incident_id, tokens)

    async def _let_go(self, incident_id: int, tokens: dict[str, str]) -> None:
        if tokens and not await self._release(incident_id, tokens):
            # The database is away: keep trying, so the steps are free again as soon as it is back.
            _ABANDONED_HERE.update(tokens.values())
            task = asyncio.create_task(self._release_later(incident_id, tokens), name=f"claim-release-{incident_id}-{'+'.join(tokens)}")
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _renew(self, incident_id: int, tokens: dict[str, str]) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                async with self._db.single_statements() as session:
                    await slack_steps.renew(session, incident_id, tokens.values(), at=self._clock())
            except Exception as error:  # noqa: BLE001 - a missed heartbeat only shortens the lease
                log.warning("INC-%s: could not renew the claims on %s: %s", incident_id, ", ".join(tokens), error)

    async def _release(self, incident_id: int, tokens: dict[str, str]) -> bool:
        try:
            async with self._db.single_statements() as session:
                await slack_steps.release(session, incident_id, tokens.values())
            return True
        except Exception as error:  # noqa: BLE001 - must not hide what the step itself raised
            log.warning("INC-%s: could not release the claims on %s: %s", incident_id, ", ".join(tokens), error)
            return False

    async def _release_later(self, incident_id: int, tokens: dict[str, str]) -> None:
        deadline = asyncio.get_running_loop().time() + self._lease.total_seconds()
        try:
            while asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(RELEASE_RETRY_SECONDS)
                if await self._release(incident_id, tokens):
                    return
        finally:
            _ABANDONED_HERE.difference_update(tokens.values())  # released, or past their lease: anyone may take them now
