"""Incident timers as rules: escalations, status-update reminders and the end of monitoring.

Pure: the scheduler (bot/timers/scheduler.py) hands in an incident's current state, severity
included, and gets back what is due. Nothing is stored as "fire at 10:05": a timer is derived
from the incident as it is when the scheduler looks, so a changed severity or a stamp made since
is always taken into account, and a timer for an incident that has moved on is simply not due.

    ack escalation         status open, not acknowledged, now >= opened + unacknowledged_after
    mitigation escalation  status open, not mitigated,    now >= opened + unmitigated_after
    reminder               status open, now >= last timeline activity + reminder_every
    page (chain level n)   status open, not acknowledged, now >= opened + the level's delay
    chain exhausted        status open, not acknowledged, now >= opened + last level + exhausted_after
    close                  verified, not closed,          now >= verified + monitoring_window

"opened" is when the bot opened the incident (its war room), not the alert's start: an alert
that started an hour before it reached the bot must still give people time to acknowledge.
Each firing has a slot; (incident, kind, slot) is claimed once in the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from types import MappingProxyType

from bot.paging.chain import DEFAULT_CHAIN, EscalationChain, exhausted_due, level_slot, levels_due


@dataclass(frozen=True)
class EscalationPolicy:
    """One severity's timers; None turns one off. A severity with an escalation ``chain`` pages
    through its levels instead of the single ``unacknowledged_after`` page."""

    unacknowledged_after: timedelta | None = None
    unmitigated_after: timedelta | None = None
    reminder_every: timedelta | None = timedelta(minutes=30)
    chain: EscalationChain | None = None


# P1 and P2 page through the seeds' chain (on-call at once, the escalation contact at 5 min, the
# team lead at 15); a team config may give a severity its own chain, or the single
# ``unacknowledged_after`` page instead (bot/team_config.py).
DEFAULT_POLICIES: Mapping[str, EscalationPolicy] = MappingProxyType(
    {
        "P1": EscalationPolicy(None, timedelta(minutes=30), timedelta(minutes=30), chain=DEFAULT_CHAIN),
        "P2": EscalationPolicy(None, None, timedelta(minutes=30), chain=DEFAULT_CHAIN),
        "P3": EscalationPolicy(None, None, timedelta(minutes=30)),
        "P4": EscalationPolicy(None, None, timedelta(minutes=30)),
    }
)
DEFAULT_MONITORING_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True)
class TimerSettings:
    policies: Mapping[str, EscalationPolicy] = field(default_factory=lambda: DEFAULT_POLICIES)
    monitoring_window: timedelta = DEFAULT_MONITORING_WINDOW

    def policy(self, severity: str) -> EscalationPolicy:
        return self.policies.get(severity, EscalationPolicy())


class TimerKind(str, Enum):
    ACK_ESCALATION = "ack_escalation"
    MITIGATION_ESCALATION = "mitigation_escalation"
    REMINDER = "reminder"
    CLOSE = "close"
    PAGE = "page"
    CHAIN_EXHAUSTED = "chain_exhausted"


@dataclass(frozen=True)
class TimerState:
    """What the rules look at, read from the database at the moment of looking."""

    incident_id: int
    severity: str
    status: str
    opened_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    verified_at: datetime | None
    closed_at: datetime | None
    last_activity_at: datetime


@dataclass(frozen=True)
class Due:
    kind: TimerKind
    slot: str
    due_at: datetime
    after: timedelta = field(default=timedelta(0))  # the configured span, for the message


def due_timers(state: TimerState, settings: TimerSettings, now: datetime) -> list[Due]:
    policy = settings.policy(state.severity)
    due: list[Due] = []
    if state.status == "open":
        if state.acknowledged_at is None and policy.chain is None and policy.unacknowledged_after is not None:
            at = state.opened_at + policy.unacknowledged_after
            if now >= at:
                due.append(Due(TimerKind.ACK_ESCALATION, "once", at, policy.unacknowledged_after))
        if state.mitigated_at is None and policy.unmitigated_after is not None:
            at = state.opened_at + policy.unmitigated_after
            if now >= at:
                due.append(Due(TimerKind.MITIGATION_ESCALATION, "once", at, policy.unmitigated_after))
        if policy.chain is not None:
            for level in levels_due(policy.chain, opened_at=state.opened_at, acknowledged_at=state.acknowledged_at, now=now):
                due.append(Due(TimerKind.PAGE, level_slot(level), state.opened_at + level.after, level.after))
            exhausted = exhausted_due(policy.chain, opened_at=state.opened_at, acknowledged_at=state.acknowledged_at, now=now)
            if exhausted is not None:
                due.append(Due(TimerKind.CHAIN_EXHAUSTED, "once", exhausted, exhausted - state.opened_at))
        if policy.reminder_every is not None:
            at = state.last_activity_at + policy.reminder_every
            if now >= at:
                due.append(Due(TimerKind.REMINDER, state.last_activity_at.isoformat(), at, policy.reminder_every))
    elif state.status == "resolved" and state.closed_at is None and state.verified_at is not None:
        at = state.verified_at + settings.monitoring_window
        if now >= at:
            due.append(Due(TimerKind.CLOSE, state.verified_at.isoformat(), at, settings.monitoring_window))
    return due


def still_due(kind: TimerKind, slot: str, state: TimerState, settings: TimerSettings, now: datetime) -> Due | None:
    """The same timer re-checked against the state read inside the claim's transaction."""
    return next((d for d in due_timers(state, settings, now) if d.kind is kind and d.slot == slot), None)


def monitoring_ends(verified_at: datetime, settings: TimerSettings) -> datetime:
    return verified_at + settings.monitoring_window
