"""Posts made of several Slack steps are never repeated: the weekly digest (message, then its chart
in the thread), the overdue action-item reminder, and the escalations (war-room line, invitation,
direct messages, announcement). Each step is recorded as Slack confirms it; a retry does only
what is missing.

The steps are not listed here: a clean run shows which Slack calls a post makes, then each of
those calls is failed in turn (the fake Slack's error injection), the retries run, and every
message, upload and invitation is counted: exactly one of each, as many as the clean run made."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bot.analytics import digest_schedule as scheduler
from bot.analytics.digest_schedule import DigestChannel, DigestScheduler
from bot.incidents.action_items import ActionRequest
from bot.timers import scheduler as incident_timers
from storage.models import Incident
from tests.test_alerts import ESCALATION_CONTACT, SINGLE_PAGE, bot, clock, escalation, generic, post  # noqa: F401 (fixtures)

pytestmark = pytest.mark.both_databases

# What a post leaves in Slack: a message, a file shared, people invited.
LASTING = {"chat.postMessage", "files.completeUploadExternal", "conversations.invite"}


def lasting_since(fake, start: int) -> Counter:
    """Each message, upload and invitation Slack accepted since call number ``start``."""
    return Counter(
        (c.method, c.args.get("channel") or c.args.get("channel_id"), c.args.get("text"), c.args.get("thread_ts"), c.args.get("users"))
        for c in fake.calls[start:]
        if c.ok and c.method in LASTING
    )


async def each_step_failed_once(
    fake, begin: Callable[[int], Awaitable[None]], run: Callable[[], Awaitable[object]], next_attempt: Callable[[], None]
) -> int:
    """``begin(n)`` sets up a fresh post (the n-th); ``run`` makes one attempt (a scheduler
    tick); ``next_attempt`` moves the clock to when a retry is due. Returns the steps covered."""
    await begin(0)
    start = len(fake.calls)
    await run()
    steps = [c.method for c in fake.calls[start:]]
    clean = lasting_since(fake, start)
    assert clean and all(n == 1 for n in clean.values()), clean
    for n, method in enumerate(steps, start=1):
        next_attempt()
        await begin(n)
        fake.fail_next(method, "internal_error", after=steps[: n - 1].count(method))
        start = len(fake.calls)
        for _ in range(6):  # the first attempt and its retries
            await run()
            next_attempt()
        fake.clear_faults()
        failed = [c for c in fake.calls[start:] if c.method == method and c.error == "internal_error"]
        assert failed, f"step {n} ({method}) was never failed"
        made = lasting_since(fake, start)
        assert all(count == 1 for count in made.values()), f"failing step {n} ({method}) repeated: {made}"
        assert len(made) == len(clean), f"failing step {n} ({method}) left something out: {made} against {clean}"
    return len(steps)


async def test_a_digest_step_that_fails_is_retried_alone(bot, fake_slack, clock):
    clock.now = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # Monday: last week's digest is due
    channels: list[str] = []

    async def begin(n: int) -> None:
        channels.append(fake_slack.add_channel(f"digest-{n}", members={"U_ALICE"}))

    def tick():
        return DigestScheduler(bot.runtime.db, clock, (DigestChannel(channel=channels[-1]),), bot.runtime.digests.publish).run_once()

    def later():
        clock.now += scheduler.RETRY_AFTER + timedelta(seconds=1)

    steps = await each_step_failed_once(fake_slack, begin, tick, later)
    assert steps >= 3  # the message, then the chart's upload URL and its completion


async def test_an_overdue_reminder_step_that_fails_is_retried_alone(bot, fake_slack, clock):
    incident_id = await open_alert_incident(bot, "reminders")
    items = bot.runtime.action_items

    async def begin(n: int) -> None:
        await items.create(
            incident_id, ActionRequest(f"Follow-up number {n}", ESCALATION_CONTACT, clock.now.date() - timedelta(days=1)), by="U_BOB"
        )

    def later():
        clock.now += timedelta(minutes=1)  # a failed reminder is retried at the next tick; a sent one waits a week

    steps = await each_step_failed_once(fake_slack, begin, items.remind_overdue, later)
    assert steps >= 1


async def open_alert_incident(bot, key: str) -> int:
    status, _ = await post(bot, generic(key=key, started=bot.runtime.clock()))
    assert status == 201
    await bot.settle()
    async with bot.runtime.db.reading() as session:
        from sqlalchemy import func, select

        return (await session.execute(select(func.max(Incident.id)))).scalar_one()


async def each_escalation_step_failed_once(bot, fake_slack, clock, *, due_after: timedelta) -> int:
    """Each Slack call of the escalations due ``due_after`` an alert opened an incident failed in
    turn, each time on a fresh incident (the one before is over, so no timer watches it)."""
    current: list[int] = []

    async def begin(n: int) -> None:
        if current:
            async with bot.runtime.db.transaction() as session:
                await session.execute(update(Incident).where(Incident.id == current[-1]).values(status="resolved", closed_at=clock.now))
        current.append(await open_alert_incident(bot, f"checkout-{n}"))
        clock.now += due_after

    def later():
        clock.now += incident_timers.RETRY_AFTER + timedelta(seconds=1)

    return await each_step_failed_once(fake_slack, begin, bot.runtime.timers.run_once, later)


@SINGLE_PAGE
async def test_an_escalation_step_that_fails_is_retried_alone(bot, fake_slack, clock):
    """checkout-web (P1): after 30 minutes both escalations are due: the war-room lines, the
    invitation and direct messages of its escalation contact, the announcement."""
    steps = await each_escalation_step_failed_once(bot, fake_slack, clock, due_after=timedelta(minutes=30))
    assert steps >= 5  # two war-room lines, an invitation, two direct messages, the announcement
