"""Waiting in tests: on the condition a test expects, never on a length of time.

The suite must pass on a machine whose CPUs are busy with other work, so no test assumes how long
anything takes, and no test asserts a duration (those live in ``benchmarks/``). The only bound
is ``HANG_SECONDS``, far beyond what any step takes even on a saturated machine: reaching it
means that something hung, never that the machine was slow.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

HANG_SECONDS = 300.0
POLL_EVERY = 0.05  # how often ``eventually`` looks again; a poll is cheap, the wait is the condition's


async def eventually(check: Callable[[], Any], *, what: str = "condition", timeout: float = HANG_SECONDS) -> Any:
    """Call ``check`` (plain or async) until it returns something true, and return that.

    For conditions that nothing announces (a database row, a file, another process); the fake
    Slack's ``wait_for_*`` wake up on each call instead of polling."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f}s: the code under test hung")
        await asyncio.sleep(POLL_EVERY)


async def until_no_background_work(background: Any, *, stall: float = HANG_SECONDS) -> None:
    """Wait until ``background`` (a ``bot.background.BackgroundWork``) has no work in flight,
    including work spawned by work that was in flight.

    A burst of flows on a busy machine may take minutes, so the bound is on progress, not on the
    total: the wait fails only when none of the work in flight has ended for ``stall`` seconds,
    and then names each task and where it is waiting."""
    while in_flight := set(background.in_flight):
        done, _ = await asyncio.wait(in_flight, timeout=stall)
        if not done:
            raise AssertionError(
                f"{len(in_flight)} background tasks, none of which ended in {stall:.0f}s (a hang):\n"
                + "\n".join(sorted(describe_task(task) for task in in_flight))
            )


def describe_task(task: asyncio.Task[Any]) -> str:
    """The task's name and the innermost calls it is suspended in (the ``await`` chain)."""
    chain = []
    awaiting: Any = task.get_coro()
    while (frame := getattr(awaiting, "cr_frame", None) or getattr(awaiting, "gi_frame", None)) is not None:
        chain.append(f"{frame.f_code.co_name} ({Path(frame.f_code.co_filename).name}:{frame.f_lineno})")
        awaiting = getattr(awaiting, "cr_await", None) or getattr(awaiting, "gi_yieldfrom", None)
    return f"  {task.get_name()}: " + (" > ".join(chain[-4:]) if chain else "not started")
