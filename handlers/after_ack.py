"""Running a flow after Slack has its acknowledgement, and telling the person when it breaks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from slack_bolt.async_app import AsyncAck
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from bot import metrics
from bot.background import current_first_copy_check, only_first_copy
from bot.interactions.replies import Requester
from bot.runtime import Runtime
from bot.slack import messages
from handlers.arrival import time_left
from storage.db import CommitGate, ReplayedRequest, TooLateToRecord, gate_commits, ungate_commits

log = logging.getLogger(__name__)

# The listener returns right after its ack and Bolt then writes Slack's response (the app runs
# with process_before_response). Work started at once would compete with that write for the event
# loop, so it starts a moment later: the ack leaves first.
ACK_HEADSTART = 0.015


DATABASE_ERRORS = (OperationalError, DBAPIError, OSError, TimeoutError)

# How long, counted from the request's arrival, a request that writes may wait for its commit
# before Slack gets the ack: well inside Slack's 3 s, with room for the answer to travel back.
WRITE_ACK_BOUND = 2.5


def database_is_down(error: BaseException) -> bool:
    """Whether an error means the database cannot be reached (tell the person to try again),
    rather than a statement the database refused (a bug: log it, say so)."""
    if isinstance(error, (OSError, TimeoutError)):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated or isinstance(error, (OperationalError, InterfaceError)):
            return True
        reason = type(error.orig).__name__ if error.orig is not None else ""
        return any(word in reason for word in ("Connection", "CannotConnect", "Timeout", "Shutdown"))
    return False


def run_after_ack(runtime: Runtime, requester: Requester, work: Coroutine[Any, Any, Any], *, name: str) -> None:
    """Work that writes nothing Slack must see acknowledged first (a form to open, a list to show)."""

    async def headstart_then(work: Coroutine[Any, Any, Any]) -> Any:
        await asyncio.sleep(ACK_HEADSTART)
        await runtime.background.after_awaited_acks()
        return await only_first_copy(work)  # a replayed request does nothing

    runtime.background.spawn(_told_when_broken(runtime, requester, headstart_then(work), name=name), name=name)


def start_recording(
    runtime: Runtime, requester: Requester, work: Coroutine[Any, Any, Any], *, name: str, records_request: bool = False
) -> tuple[CommitGate, asyncio.Task[Any]]:
    """Start ``work`` now, its commits watched by a new gate (see ``CommitGate``). ``records_request``:
    the work's first transaction records the request against replays, first thing, instead of the
    work waiting for a check of its own: one commit before the ack, not two."""
    gate = CommitGate()
    if records_request:
        gate.request = current_first_copy_check()
    token = gate_commits(gate)
    try:
        # Not behind the background slots: the ack waits for this commit.
        run = work if gate.request is not None else only_first_copy(work)
        task = runtime.background.spawn(_told_when_broken(runtime, requester, run, name=name, gate=gate), name=name, waits_for_slot=False)
    finally:
        ungate_commits(token)

    def told_late() -> None:
        log.warning("%s: committed after its request was answered as not recorded", name)
        runtime.background.spawn(runtime.interactions.replies.tell(requester, messages.recorded_after_all()), name=f"{name}-recorded-late")

    gate.on_late_commit = told_late

    async def queue_for_a_slot() -> None:
        # The ack leaves first: past its commit the work would otherwise build messages and call
        # Slack before the listener, woken by the same commit, gets the loop back to answer. Bounded
        # by ACK_HEADSTART, so work whose request is answered some other way is never held up long.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gate.acked.wait(), ACK_HEADSTART)
        await runtime.background.after_awaited_acks()
        # Then it queues for a slot like any work after an ack. Only the task started here: one it
        # spawned already has a slot of its own.
        if asyncio.current_task() is task:
            await runtime.background.take_a_slot()

    gate.after_recorded = queue_for_a_slot
    return gate, task


async def recorded_in_time(
    runtime: Runtime, requester: Requester, gate: CommitGate, task: asyncio.Task[Any], *, name: str, tell: bool = True
) -> bool:
    """Wait, within WRITE_ACK_BOUND of the request's arrival, until the work committed its write
    or has nothing to record. False when the bound ran out: the work's writes will be rolled back
    and the person is told nothing was recorded."""
    opened = asyncio.ensure_future(gate.opened.wait())
    try:
        await asyncio.wait({opened, task}, timeout=time_left(WRITE_ACK_BOUND), return_when=asyncio.FIRST_COMPLETED)
    finally:
        opened.cancel()
        gate.stop_awaiting()  # also when the work ended without opening it
    if task.done() or not gate.expire():
        return True
    _database_failed(name, f"no commit within {WRITE_ACK_BOUND:.1f} s of the request's arrival; answered as not recorded")
    if tell:
        runtime.background.spawn(runtime.interactions.replies.tell(requester, messages.not_recorded_in_time()), name=f"{name}-not-recorded")
    return False


async def ack_once_recorded(
    ack: AsyncAck, runtime: Runtime, requester: Requester, work: Coroutine[Any, Any, Any], *, name: str, records_request: bool = False
) -> None:
    """Acknowledge a request that writes only once its write is committed, so a request Slack saw
    acknowledged is never lost, even if the process dies the next moment. The rest of the work
    (Slack's updates, the answer) goes on after the ack. ``records_request``: see ``start_recording``."""
    with runtime.background.awaiting_ack():
        gate, task = start_recording(runtime, requester, work, name=name, records_request=records_request)
        await recorded_in_time(runtime, requester, gate, task, name=name)
        await ack()
    gate.acked.set()


async def _told_when_broken(
    runtime: Runtime, requester: Requester, work: Coroutine[Any, Any, Any], *, name: str, gate: CommitGate | None = None
) -> Any:
    """The work's result; when it breaks, the person is told (unless they were already told it
    was not recorded) and None is returned."""
    try:
        return await work
    except TooLateToRecord:
        log.info("%s: rolled back, the person was told it was not recorded", name)
    except ReplayedRequest:
        log.info("%s: a copy of a request taken before, nothing done", name)
    except Exception as error:
        if gate is not None and gate.expired:
            log.error("%s: failed after it was answered as not recorded: %s", name, error)
        elif database_is_down(error):
            _database_failed(name, f"database unavailable: {error}")
            await runtime.interactions.replies.tell(requester, messages.database_unavailable())
        else:
            metrics.ERRORS.labels("flow").inc()
            log.exception("%s failed", name)
            await runtime.interactions.replies.tell(requester, messages.unexpected_error())


def _database_failed(name: str, what: str) -> None:
    """A request the database let down, counted and logged the same way whether it did not
    answer in time or could not be reached."""
    metrics.ERRORS.labels("database").inc()
    log.error("%s: %s", name, what)
