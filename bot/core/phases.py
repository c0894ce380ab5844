"""The phase model: five timestamps, four phases, and the rules for stamping them.

    t0 started_at   impact began
    t1 detected_at  someone noticed (the incident was opened)
    t2 diagnosed_at cause identified
    t3 mitigated_at rollback or fix applied
    t4 verified_at  service confirmed healthy: restored

    detect = t1 - t0   diagnose = t2 - t1   mitigate = t3 - t2   verify = t4 - t3
    time to restore = t4 - t0 (the sum of the four)

Pure: no Slack, no database. Everything that decides what a stamp means lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum


class Stamp(str, Enum):
    """A stampable milestone, in order. ``detected`` is stamped when the incident is opened."""

    DETECTED = "detected"
    DIAGNOSED = "diagnosed"
    MITIGATED = "mitigated"
    VERIFIED = "verified"

    @property
    def order(self) -> int:
        return _STAMP_ORDER.index(self)

    @property
    def label(self) -> str:
        return self.value.capitalize()


_STAMP_ORDER = (Stamp.DETECTED, Stamp.DIAGNOSED, Stamp.MITIGATED, Stamp.VERIFIED)
# Stamps a responder sets with the control message's buttons.
BUTTON_STAMPS = (Stamp.DIAGNOSED, Stamp.MITIGATED, Stamp.VERIFIED)


class Phase(str, Enum):
    """A span of time between two stamps; its name is the work done in it."""

    DETECT = "detect"
    DIAGNOSE = "diagnose"
    MITIGATE = "mitigate"
    VERIFY = "verify"

    @property
    def ends_with(self) -> Stamp:
        return _PHASE_END[self]

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def doing(self) -> str:
        return _PHASE_DOING[self]


PHASES = (Phase.DETECT, Phase.DIAGNOSE, Phase.MITIGATE, Phase.VERIFY)
_PHASE_END = {
    Phase.DETECT: Stamp.DETECTED,
    Phase.DIAGNOSE: Stamp.DIAGNOSED,
    Phase.MITIGATE: Stamp.MITIGATED,
    Phase.VERIFY: Stamp.VERIFIED,
}
_PHASE_DOING = {
    Phase.DETECT: "Detecting",
    Phase.DIAGNOSE: "Diagnosing",
    Phase.MITIGATE: "Mitigating",
    Phase.VERIFY: "Verifying",
}


@dataclass(frozen=True)
class StampValue:
    at: datetime
    by: str | None = None
    # True when the stamp was filled in because a later phase was stamped first.
    implied: bool = False


@dataclass(frozen=True)
class Timeline:
    """An incident's stamps. ``started_at`` and ``detected`` always exist once it is open."""

    started_at: datetime
    stamps: dict[Stamp, StampValue] = field(default_factory=dict)

    def get(self, stamp: Stamp) -> StampValue | None:
        return self.stamps.get(stamp)

    def at(self, stamp: Stamp) -> datetime | None:
        value = self.stamps.get(stamp)
        return value.at if value else None

    @property
    def detected_at(self) -> datetime:
        """Stamped when the incident is opened, so every timeline has it."""
        return self.stamps[Stamp.DETECTED].at

    @property
    def restored(self) -> bool:
        return Stamp.VERIFIED in self.stamps

    @property
    def current_phase(self) -> Phase | None:
        """The phase under way: the first whose closing stamp is missing. None once restored."""
        for phase in PHASES:
            if phase.ends_with not in self.stamps:
                return phase
        return None

    @property
    def last_stamp(self) -> tuple[Stamp, StampValue]:
        done = [(s, self.stamps[s]) for s in _STAMP_ORDER if s in self.stamps]
        return done[-1]

    def open_stamps(self) -> list[Stamp]:
        return [s for s in BUTTON_STAMPS if s not in self.stamps]

    def phase_start(self, phase: Phase) -> datetime | None:
        index = PHASES.index(phase)
        return self.started_at if index == 0 else self.at(PHASES[index - 1].ends_with)

    def duration(self, phase: Phase) -> timedelta | None:
        start, end = self.phase_start(phase), self.at(phase.ends_with)
        if start is None or end is None:
            return None
        return end - start

    def durations(self) -> dict[Phase, timedelta]:
        return {p: d for p in PHASES if (d := self.duration(p)) is not None}

    @property
    def time_to_restore(self) -> timedelta | None:
        verified = self.at(Stamp.VERIFIED)
        return verified - self.started_at if verified else None

    def slowest_phase(self) -> Phase | None:
        """The longest phase once restored; on a tie the earlier phase, where time was lost first."""
        if not self.restored:
            return None
        durations = self.durations()
        return max(PHASES, key=lambda p: (durations[p], -PHASES.index(p)))


class StampRefused(ValueError):
    """The stamp would break the phase order; the message says why."""


@dataclass(frozen=True)
class StampPlan:
    """What stamping one milestone writes: the stamp itself and any earlier ones it implies."""

    stamp: Stamp
    value: StampValue
    implied: tuple[Stamp, ...]

    def writes(self) -> dict[Stamp, StampValue]:
        out = {s: replace(self.value, implied=True) for s in self.implied}
        out[self.stamp] = self.value
        return out


def plan_stamp(timeline: Timeline, stamp: Stamp, at: datetime, by: str) -> StampPlan | None:
    """Decide what stamping ``stamp`` at ``at`` means for this timeline.

    Returns None when the stamp already exists (stamps never change through the buttons).
    Earlier empty stamps are filled with the same time and marked implied: teams often roll
    back before they know the cause. A stamp earlier than the one before it is refused.
    """
    if at.tzinfo is None:
        raise ValueError("stamp times must be timezone-aware")
    if stamp in timeline.stamps:
        return None
    if stamp is Stamp.DETECTED:
        raise StampRefused("detection is stamped when the incident is opened")
    previous = [s for s in _STAMP_ORDER[: stamp.order] if s in timeline.stamps]
    if previous:
        floor_stamp = previous[-1]
        floor = timeline.stamps[floor_stamp].at
        if at < floor:
            raise StampRefused(f"{stamp.value} cannot be earlier than {floor_stamp.value} ({floor.isoformat()})")
    later = [s for s in _STAMP_ORDER[stamp.order + 1 :] if s in timeline.stamps]
    if later:
        # Only reachable through corrections; buttons stamp in order or skip ahead.
        raise StampRefused(f"{later[0].value} is already stamped; {stamp.value} would come after it")
    implied = tuple(s for s in _STAMP_ORDER[1 : stamp.order] if s not in timeline.stamps)
    return StampPlan(stamp=stamp, value=StampValue(at=at, by=by), implied=implied)
