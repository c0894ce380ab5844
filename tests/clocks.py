"""A clock the test moves, for every timer, stamp and reminder test (no test sleeps)."""

from __future__ import annotations

from datetime import datetime, timedelta


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.start = start
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> str:
        """Move to start + minutes; returns the matching Slack action_ts."""
        self.now = self.start + timedelta(minutes=minutes)
        return self.ts()

    def ts(self) -> str:
        return f"{self.now.timestamp():.6f}"
