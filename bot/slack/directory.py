"""What the workspace's directory answered lately: user-group handles to IDs, e-mail addresses to
user IDs, user IDs to display names. These rarely change, and a war room or a resolution waits for
them, so the gateway remembers each answer for a short while (per process) rather than asking
Slack again for every incident. Only answers are remembered: an error, or "no such user", is asked
again next time, so a person added to Slack or a group created is found at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

Value = TypeVar("Value")

# Long enough for a burst of incidents on the same services to share one look-up, short enough
# that a renamed handle or a changed display name shows within minutes.
DIRECTORY_MEMORY_SECONDS = 300.0


class Remembered(Generic[Value]):
    """Answers by key, each forgotten ``seconds`` after Slack gave it."""

    def __init__(self, seconds: float = DIRECTORY_MEMORY_SECONDS, *, now: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._now = now
        self._answers: dict[str, tuple[float, Value]] = {}

    def get(self, key: str) -> Value | None:
        found = self._answers.get(key)
        if found is None:
            return None
        until, value = found
        if self._now() >= until:
            del self._answers[key]
            return None
        return value

    def keep(self, key: str, value: Value) -> None:
        self._answers[key] = (self._now() + self._seconds, value)

    def forget(self) -> None:
        self._answers.clear()
