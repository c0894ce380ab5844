"""Running a flow after Slack has its acknowledgement, and telling the person when it breaks."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from bot import messages
from bot.flows import Requester
from bot.runtime import Runtime

log = logging.getLogger(__name__)


def run_after_ack(runtime: Runtime, requester: Requester, work: Coroutine[Any, Any, Any], *, name: str) -> None:
    async def guarded() -> None:
        try:
            await work
        except (OperationalError, DBAPIError, OSError, TimeoutError) as error:
            log.error("%s: database unavailable: %s", name, error)
            await runtime.flows.tell(requester, messages.database_unavailable())
        except Exception:
            log.exception("%s failed", name)
            await runtime.flows.tell(requester, messages.unexpected_error())

    runtime.background.spawn(guarded(), name=name)
