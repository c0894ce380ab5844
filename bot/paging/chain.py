"""The escalation chain, as pure decisions: per severity, ordered levels, each paging its targets
once the incident has gone that long without an acknowledgement.

Every level's delay is held as a span counted from when the bot opened the incident (the config
may give it from the previous level; it is turned into a span from opening when read). The chain
stops as soon as the incident is acknowledged, however the acknowledgement came (the button,
``/incident ack``, PagerDuty): it is the same stamp. When every level has fired and nobody
acknowledged within ``exhausted_after`` of the last one, the announcement channel is told once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

# The targets a level may name. The service's ones are looked up in the catalog when the level fires.
TargetKind = Literal["slack_user", "slack_group", "service_oncall", "service_escalation", "service_lead", "pagerduty", "webhook"]
TARGET_KINDS: tuple[TargetKind, ...] = (
    "slack_user",
    "slack_group",
    "service_oncall",
    "service_escalation",
    "service_lead",
    "pagerduty",
    "webhook",
)
TARGETS_WITH_REF: tuple[TargetKind, ...] = ("slack_user", "slack_group")
DEFAULT_EXHAUSTED_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class ChainTarget:
    kind: TargetKind
    ref: str | None = None  # the user ID or e-mail, the group ID or handle (slack_user / slack_group)

    def describe(self) -> str:
        return f"{self.kind} {self.ref}" if self.ref else self.kind


@dataclass(frozen=True)
class ChainLevel:
    number: int  # from 1
    after: timedelta  # from opening
    targets: tuple[ChainTarget, ...]


@dataclass(frozen=True)
class EscalationChain:
    levels: tuple[ChainLevel, ...]
    exhausted_after: timedelta = DEFAULT_EXHAUSTED_AFTER

    def level(self, number: int) -> ChainLevel | None:
        return next((level for level in self.levels if level.number == number), None)

    @property
    def exhausted_at_offset(self) -> timedelta | None:
        return self.levels[-1].after + self.exhausted_after if self.levels else None


# The seeds' chain, every P1 and P2's unless the team config gives the severity another (docs/escalation-chain.md).
DEFAULT_CHAIN = EscalationChain(
    (
        ChainLevel(1, timedelta(0), (ChainTarget("service_oncall"),)),
        ChainLevel(2, timedelta(minutes=5), (ChainTarget("service_escalation"),)),
        ChainLevel(3, timedelta(minutes=15), (ChainTarget("service_lead"),)),
    )
)


def level_slot(level: ChainLevel) -> str:
    return f"level-{level.number}"


def level_of_slot(slot: str) -> int | None:
    number = slot.removeprefix("level-")
    return int(number) if number.isdigit() else None


def levels_due(chain: EscalationChain, *, opened_at: datetime, acknowledged_at: datetime | None, now: datetime) -> list[ChainLevel]:
    """The levels whose time has come while nobody acknowledged (each fires once: the caller claims it)."""
    if acknowledged_at is not None:
        return []
    return [level for level in chain.levels if now >= opened_at + level.after]


def exhausted_due(chain: EscalationChain, *, opened_at: datetime, acknowledged_at: datetime | None, now: datetime) -> datetime | None:
    """When the chain ran out without an acknowledgement, if it has by ``now``."""
    offset = chain.exhausted_at_offset
    if acknowledged_at is not None or offset is None or now < opened_at + offset:
        return None
    return opened_at + offset


def chain_from_spans(levels: list[tuple[timedelta, bool, tuple[ChainTarget, ...]]], exhausted_after: timedelta) -> EscalationChain:
    """Levels as configured, each (span, counted_from_previous, targets), into spans from opening.
    Raises ValueError naming the level when a level would come before the one ahead of it."""
    built: list[ChainLevel] = []
    for index, (span, from_previous, targets) in enumerate(levels, start=1):
        after = (built[-1].after if built else timedelta(0)) + span if from_previous else span
        if built and after < built[-1].after:
            raise ValueError(
                f"level {index} comes {_minutes(after)} after opening, before level {index - 1} ({_minutes(built[-1].after)}); "
                "list the levels in order, or count a level from the previous one with after_previous"
            )
        built.append(ChainLevel(index, after, targets))
    return EscalationChain(tuple(built), exhausted_after)


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:g} min"
