"""When the HTTP request being answered reached this process, so a listener can tell how much of
its ack budget the queue ahead of it already spent."""

from __future__ import annotations

import contextvars
import time

_arrived: contextvars.ContextVar[float | None] = contextvars.ContextVar("request_arrived", default=None)


def mark_arrival() -> None:
    _arrived.set(time.monotonic())


def time_left(budget: float) -> float:
    """What remains of ``budget`` seconds counted from the request's arrival; the whole budget
    when no arrival was marked (Socket Mode: the envelope's arrival is not seen)."""
    arrived = _arrived.get()
    if arrived is None:
        return budget
    return max(0.0, budget - (time.monotonic() - arrived))
