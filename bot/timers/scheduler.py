"""The incident timer scheduler inside ``incident-bot serve``: escalations, status-update
reminders and the close after monitoring (rules in bot/timers/rules.py).

Shaped like the digest scheduler: each tick looks at the database, and each firing is claimed
with a unique (incident, kind, slot) row in the same transaction that re-reads the incident and
writes its timeline event, so it fires once however many bot processes run and whatever
restarts happen, and never for an incident that has moved on (acknowledged, mitigated,
reopened, closed) since the tick looked. Slack is told after the commit, a step at a time (the
war-room line, the invitation, each direct message, the announcement), and each step is recorded
as Slack confirms it. A failed firing is recorded on the firing and the timeline and retried after
a pause, a few times, while it still matters (an escalation only while its incident is still not
acknowledged or not mitigated); a retry does only the steps still missing, so nobody is paged or
told twice.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import KW_ONLY, dataclass
from datetime import datetime, timedelta

from bot.background import repeat_until_stopped
from bot.core.clock import Clock
from bot.core.columns import record_from_columns
from bot.core.records import IncidentRecord
from bot.core.timefmt import human_duration
from bot.incidents.operations import to_record
from bot.paging.pager import Pager
from bot.slack import SlackError
from bot.timers.escalation_targets import EscalationTargets, PagePlan
from bot.timers.firing_notices import FiringStepLog, FiringSteps, PagesOutsideSlack, TimerNotices
from bot.timers.monitoring import close
from bot.timers.rules import Due, TimerKind, TimerSettings, TimerState, due_timers, still_due
from storage import incidents as incident_rows
from storage import timers as timer_rows
from storage.db import Database
from storage.models import Incident

log = logging.getLogger(__name__)

TICK_SECONDS = 30.0
RETRY_AFTER = timedelta(minutes=1)
MAX_ATTEMPTS = 5
MAX_DIRECT_MESSAGES = 10
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class Fired:
    incident_id: int
    kind: TimerKind
    slot: str
    result: str  # notified | failed


def _state(row: Incident, last_activity: datetime) -> TimerState:
    return record_from_columns(TimerState, row, incident_id=row.id, opened_at=row.created_at, last_activity_at=last_activity)


_EVENT_TEXT = {
    TimerKind.ACK_ESCALATION: "Escalated: not acknowledged after {after} ({severity}); paging the escalation contact",
    TimerKind.MITIGATION_ESCALATION: "Escalated: not mitigated after {after} ({severity}); escalation contact and announcement channel notified",
    TimerKind.REMINDER: "Reminder: no timeline activity for {after}",
    TimerKind.CHAIN_EXHAUSTED: "Escalation chain exhausted: every level paged, not acknowledged after {after} ({severity})",
}


@dataclass(eq=False)  # not frozen: `pager` is set through the property below
class IncidentTimers:
    """Owns the tick: which timers are due or worth retrying, each firing claimed once in the
    database, then told to Slack through TimerNotices and recorded as notified or failed."""

    db: Database
    clock: Clock
    settings: TimerSettings
    _: KW_ONLY
    targets: EscalationTargets
    notices: TimerNotices
    pages: PagesOutsideSlack
    step_log: FiringStepLog

    @property
    def pager(self) -> Pager:
        """Where the pages outside Slack go (PagesOutsideSlack.pager)."""
        return self.pages.pager

    @pager.setter
    def pager(self, pager: Pager) -> None:
        self.pages.pager = pager

    async def run_once(self) -> list[Fired]:
        now = self.clock()
        async with self.db.reading() as session:
            watched = [(row.id, _state(row, last)) for row, last in await timer_rows.watched(session)]
        fired = []
        for incident_id, state in watched:
            for due in due_timers(state, self.settings, now):
                outcome = await self._fire(incident_id, due)
                if outcome is not None:
                    fired.append(outcome)
        async with self.db.reading() as session:
            failed = [
                (f.incident_id, TimerKind(f.kind), f.slot)
                for f in await timer_rows.failed_firings(session, failed_before=now - RETRY_AFTER)
            ]
        for incident_id, kind, slot in failed:
            outcome = await self._retry(incident_id, kind, slot)
            if outcome is not None:
                fired.append(outcome)
        return fired

    async def _retry(self, incident_id: int, kind: TimerKind, slot: str) -> Fired | None:
        """One more attempt at a failed firing, for its missing steps only."""
        now = self.clock()
        async with self.db.transaction() as session:
            row = await incident_rows.get(session, incident_id, for_update=True)
            if row is None or not self._still_worth_telling(kind, row):
                return None
            if not await timer_rows.claim_retry(
                session,
                incident_id,
                kind.value,
                slot,
                by=self.step_log.identity,
                at=now,
                failed_before=now - RETRY_AFTER,
                max_attempts=MAX_ATTEMPTS,
            ):
                return None
            done = await timer_rows.steps_done(session, incident_id, kind.value, slot)
            record = to_record(row)
        log.info("%s: retrying the %s (done already: %s)", record.reference, kind.value, ", ".join(sorted(done)) or "nothing")
        return await self._tell_slack(record, FiringSteps(incident_id, kind, slot, done), self._span(kind, row, slot))

    def _still_worth_telling(self, kind: TimerKind, row: Incident) -> bool:
        """A page about an incident someone took on (or mitigated) meanwhile is no longer sent; a
        reminder is moot once the failure itself is on the timeline; the close is news until told."""
        if kind in (TimerKind.ACK_ESCALATION, TimerKind.PAGE, TimerKind.CHAIN_EXHAUSTED):
            return row.status == "open" and row.acknowledged_at is None
        if kind is TimerKind.MITIGATION_ESCALATION:
            return row.status == "open" and row.mitigated_at is None
        return kind is TimerKind.CLOSE

    def _span(self, kind: TimerKind, row: Incident, slot: str = "once") -> str:
        policy = self.settings.policy(row.severity)
        if kind in (TimerKind.PAGE, TimerKind.CHAIN_EXHAUSTED):
            level = self.targets.level(row.severity, slot)
            offset = policy.chain.exhausted_at_offset if policy.chain and kind is TimerKind.CHAIN_EXHAUSTED else None
            return human_duration(offset or (level.after if level else timedelta(0)))
        spans = {
            TimerKind.ACK_ESCALATION: policy.unacknowledged_after,
            TimerKind.MITIGATION_ESCALATION: policy.unmitigated_after,
            TimerKind.REMINDER: policy.reminder_every,
            TimerKind.CLOSE: self.settings.monitoring_window,
        }
        return human_duration(spans[kind] or timedelta(0))

    async def _fire(self, incident_id: int, due: Due) -> Fired | None:
        plan = None
        if due.kind is TimerKind.PAGE:
            # Who a level pages is looked up (catalog, Slack users and groups) before the claim, so
            # the claim's timeline event says who was paged and how, and the transaction stays short.
            async with self.db.reading() as session:
                looked = await incident_rows.get(session, incident_id)
            if looked is None:
                return None
            try:
                plan = await self.targets.plan(to_record(looked), due.slot)
            except SlackError as error:  # a user or group lookup failed: the next tick tries again
                log.warning("INC-%s: could not look up whom level %s pages: %s", incident_id, due.slot, error)
                return None
        now = self.clock()
        async with self.db.transaction() as session:
            row = await incident_rows.get(session, incident_id, for_update=True)
            last = await timer_rows.last_activity(session, incident_id)
            if row is None or last is None:
                return None
            current = still_due(due.kind, due.slot, _state(row, last), self.settings, now)
            if current is None:
                return None  # acknowledged, mitigated, reopened or closed since the tick looked
            if not await timer_rows.claim(session, incident_id, due.kind.value, due.slot, by=self.step_log.identity, at=now):
                return None  # another process fired it
            after = human_duration(current.after)
            if due.kind is TimerKind.CLOSE:
                if not await close(session, incident_id, at=now, window=after):
                    return None
            elif plan is not None:
                how = f"{plan.who()}" + (f" (nobody for {'; '.join(plan.nobody)})" if plan.nobody else "")
                await incident_rows.add_event(
                    session,
                    incident_id,
                    TimerKind.PAGE.value,
                    at=now,
                    text=f"Paged level {plan.level}, not acknowledged after {after}: {how}",
                    data={"severity": row.severity, "after_seconds": int(current.after.total_seconds()), "slot": due.slot} | plan.facts(),
                )
            else:
                await incident_rows.add_event(
                    session,
                    incident_id,
                    due.kind.value,
                    at=now,
                    text=_EVENT_TEXT[due.kind].format(after=after, severity=row.severity),
                    data={"severity": row.severity, "after_seconds": int(current.after.total_seconds()), "slot": due.slot},
                )
            await session.flush()
            await session.refresh(row)
            record = to_record(row)
        return await self._tell_slack(record, FiringSteps(incident_id, due.kind, due.slot), after, plan)

    async def _tell_slack(self, record: IncidentRecord, steps: FiringSteps, after: str, plan: PagePlan | None = None) -> Fired:
        incident_id, kind, slot = steps.incident_id, steps.kind, steps.slot
        try:
            if kind is TimerKind.PAGE:
                await self.notices.page(record, plan or await self.targets.plan(record, slot), steps)
            else:
                await self.notices.notify(record, kind, after, steps)
        except SlackError as error:
            log.error("%s: %s could not be posted: %s", record.reference, kind.value, error)
            async with self.db.transaction() as session:
                await timer_rows.finish(session, incident_id, kind.value, slot, status="failed", error=str(error))
                await incident_rows.add_event(
                    session,
                    incident_id,
                    "slack_step_failed",
                    at=self.clock(),
                    text=f"Could not post the {kind.value.replace('_', ' ')}: {error}",
                    data={"error": error.code},
                )
            return Fired(incident_id, kind, slot, "failed")
        async with self.db.transaction() as session:
            await timer_rows.finish(session, incident_id, kind.value, slot, status="notified")
        log.info("%s: %s fired", record.reference, kind.value)
        return Fired(incident_id, kind, slot, "notified")

    async def run_forever(self, stop: asyncio.Event, *, tick: float = TICK_SECONDS) -> None:
        await repeat_until_stopped(self.run_once, stop, every=tick, name="incident timer")
