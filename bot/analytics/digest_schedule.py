"""The weekly digest scheduler inside ``incident-bot serve``.

Each (channel, week) digest is claimed in the database before it is posted, so it goes out once
however many bot processes run. A digest missed while the bot was down is posted when it comes
back, within the same week. A failed post is retried after a pause, a few times, and logged; the
message's ts is stored as soon as Slack confirms it, so a retry posts only what is missing (the
chart), never the message again. A post whose outcome is unknown (the process died while
posting) is never retried, because posting twice is worse than asking a person to run
``incident-bot digest --post``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as TimeOfDay  # the field `time` hides the class inside DigestChannel
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, field_validator

from bot import metrics
from bot.background import repeat_until_stopped
from bot.core.clock import Clock
from bot.core.config_fields import ClockTime, TimeZoneName, Weekday, clock_time, weekday, zone
from bot.core.tiers import SEVERITY_TARGETS
from bot.slack import SlackError, SlackGateway
from bot.slack.steps import run_steps
from storage import digest_runs
from storage.db import Database

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(minutes=5)
MAX_ATTEMPTS = 5
TICK_SECONDS = 60.0


class DigestChannel(BaseModel):
    """One weekly digest: where it goes, what it covers, when (local time in ``time_zone``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    channel: str
    services: list[str] = []  # empty: every service
    severities: list[str] = []  # empty: every severity
    day: Weekday = "mon"
    time: ClockTime = "09:00"
    time_zone: TimeZoneName = "UTC"

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if not re.fullmatch(r"[CG][A-Z0-9]{6,}", value):
            raise ValueError(f"'{value}' is not a channel ID (like C0123456789)")
        return value

    @field_validator("severities")
    @classmethod
    def _severities(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in SEVERITY_TARGETS]
        if unknown:
            raise ValueError(f"unknown severity {unknown}; use P1, P2, P3 or P4")
        return value

    @property
    def weekday(self) -> int:
        return weekday(self.day)

    @property
    def local_time(self) -> TimeOfDay:
        return clock_time(self.time)

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.time_zone)


class Publisher(Protocol):
    """Posts one digest; ``posted_ts`` is its message when an earlier attempt already posted it,
    and ``on_posted`` is awaited with the message's ts the moment Slack confirms it."""

    def __call__(
        self, channel: DigestChannel, week: str, *, posted_ts: str | None, on_posted: Callable[[str], Awaitable[None]]
    ) -> Awaitable[str]: ...


def iso_week_label(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def due_week(digest: DigestChannel, now: datetime) -> str | None:
    """The week whose digest is due at ``now``, or None before this week's posting time (the
    channel's day and time in its own zone). Reports count weeks in UTC, so the digest covers the
    last UTC week complete when it falls due."""
    local = now.astimezone(digest.zone)
    monday = local.date() - timedelta(days=local.weekday())
    due = datetime.combine(monday + timedelta(days=digest.weekday), digest.local_time, digest.zone)
    if local < due:
        return None
    due_utc = due.astimezone(UTC)
    return iso_week_label(due_utc.date() - timedelta(days=due_utc.weekday() + 1))


@dataclass(frozen=True)
class RunOutcome:
    channel: str
    week: str
    result: str  # posted | failed | claimed elsewhere


class DigestScheduler:
    def __init__(self, db: Database, clock: Clock, digests: tuple[DigestChannel, ...], publish: Publisher) -> None:
        self._db = db
        self._clock = clock
        self._digests = digests
        self._publish = publish
        self.identity = f"{socket.gethostname()}:{os.getpid()}"

    async def run_once(self) -> list[RunOutcome]:
        metrics.SCHEDULER_RUNS.labels("tick").inc()
        outcomes = []
        for digest in self._digests:
            week = due_week(digest, self._clock())
            if week is None:
                continue
            if await self._claim(digest.channel, week):
                outcomes.append(await self._post(digest, week))
        return outcomes

    async def _claim(self, channel: str, week: str) -> bool:
        now = self._clock()
        async with self._db.transaction() as session:
            if await digest_runs.claim_first(session, channel, week, by=self.identity, at=now):
                return True
            return await digest_runs.claim_retry(
                session, channel, week, by=self.identity, at=now, failed_before=now - RETRY_AFTER, max_attempts=MAX_ATTEMPTS
            )

    async def _post(self, digest: DigestChannel, week: str) -> RunOutcome:
        async with self._db.reading() as session:
            run = await digest_runs.get(session, digest.channel, week)
        posted_ts = run.message_ts if run is not None else None

        async def record_message(ts: str) -> None:
            async with self._db.transaction() as session:
                await digest_runs.record_message(session, digest.channel, week, ts)

        async def note_failure(_what: str, error: SlackError) -> None:
            log.error("digest %s for %s failed: %s (retrying in %s)", week, digest.channel, error, RETRY_AFTER)
            async with self._db.transaction() as session:
                await digest_runs.finish(session, digest.channel, week, status="failed", at=self._clock(), error=str(error))

        posting = await run_steps(
            [("post the digest", self._publish(digest, week, posted_ts=posted_ts, on_posted=record_message))], note=note_failure
        )
        if posting.failures:
            metrics.SCHEDULER_RUNS.labels("failed").inc()
            return RunOutcome(digest.channel, week, "failed")
        ts = posting.values[0]
        assert isinstance(ts, str)
        async with self._db.transaction() as session:
            await digest_runs.finish(session, digest.channel, week, status="posted", at=self._clock(), message_ts=ts)
        metrics.SCHEDULER_RUNS.labels("posted").inc()
        log.info("digest %s posted to %s", week, digest.channel)
        return RunOutcome(digest.channel, week, "posted")

    async def run_forever(self, stop: asyncio.Event, *, tick: float = TICK_SECONDS) -> None:
        await repeat_until_stopped(self.run_once, stop, every=tick, name="digest scheduler")


async def digest_channel_problems(slack: SlackGateway, digests: tuple[DigestChannel, ...]) -> list[str]:
    """Digest channels the bot could not post to, each with the fix, found at start rather than
    on Monday morning."""
    problems = []
    for channel in sorted({d.channel for d in digests}):
        try:
            state = await slack.channels.state(channel)
        except SlackError as error:
            if error.code == "channel_not_found":
                problems.append(
                    f"digest channel {channel} is unknown or private without the bot: "
                    "check the ID, or invite the bot with /invite @incident-bot"
                )
            else:
                problems.append(f"digest channel {channel} could not be checked: {error}")
            continue
        if state.is_archived:
            problems.append(f"digest channel {channel} (#{state.name}) is archived: unarchive it or pick another channel")
        elif not state.is_member:
            problems.append(f"digest channel {channel} (#{state.name}): the bot is not a member; invite the bot with /invite @incident-bot")
    return problems
