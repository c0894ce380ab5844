"""Running a flow after Slack has its acknowledgement, and telling the person when it breaks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from bot import messages, metrics
from bot.background import only_first_copy
from bot.flows import Requester
from bot.runtime import Runtime

log = logging.getLogger(__name__)

# The listener returns right after its ack and Bolt then writes Slack's response (the app runs
# with process_before_response). Work started at once would compete with that write for the event
# loop, so it starts a moment later: the ack leaves first.
ACK_HEADSTART = 0.015


DATABASE_ERRORS = (OperationalError, DBAPIError, OSError, TimeoutError)


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


def report_database_down(runtime: Runtime, requester: Requester, error: BaseException, *, name: str) -> None:
    """Tell the person, after the ack, that nothing was recorded because the database is down."""
    metrics.ERRORS.labels("database").inc()
    log.error("%s: database unavailable: %s", name, error)
    runtime.background.spawn(runtime.flows.tell(requester, messages.database_unavailable()), name=f"{name}-database-down")


def run_after_ack(runtime: Runtime, requester: Requester, work: Coroutine[Any, Any, Any], *, name: str) -> None:
    async def guarded() -> None:
        try:
            await asyncio.sleep(ACK_HEADSTART)
            await only_first_copy(work)  # a replayed request does nothing
        except Exception as error:
            if database_is_down(error):
                metrics.ERRORS.labels("database").inc()
                log.error("%s: database unavailable: %s", name, error)
                await runtime.flows.tell(requester, messages.database_unavailable())
            else:
                metrics.ERRORS.labels("flow").inc()
                log.exception("%s failed", name)
                await runtime.flows.tell(requester, messages.unexpected_error())

    runtime.background.spawn(guarded(), name=name)
