"""The phase model: durations, order, implied stamps, and the worked example from a real postmortem."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.phases import PHASES, Phase, Stamp, StampRefused, StampValue, Timeline, plan_stamp

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stamped(*stamps: tuple[float, str], started: float = 0) -> Timeline:
    """Impact at minute ``started``; the stamps in order from detected on, each (minute, by whom)."""
    first = list(Stamp)[: len(stamps)]
    return Timeline(
        started_at=at(started), stamps={s: StampValue(at(minute), user) for s, (minute, user) in zip(first, stamps, strict=True)}
    )


def worked_example() -> Timeline:
    """Impact and alert at 14:00, cause found 14:05, fix applied 14:08, recovered 14:18."""
    return stamped((0, "U1"), (5, "U2"), (8, "U2"), (18, "U3"))


def test_worked_example_durations_and_slowest_phase():
    timeline = worked_example()
    assert timeline.time_to_restore == timedelta(minutes=18)
    assert {p: d.total_seconds() / 60 for p, d in timeline.durations().items()} == {
        Phase.DETECT: 0,
        Phase.DIAGNOSE: 5,
        Phase.MITIGATE: 3,
        Phase.VERIFY: 10,
    }
    assert timeline.slowest_phase() is Phase.VERIFY
    assert timeline.current_phase is None


def test_open_incident_current_phase_and_buttons():
    timeline = stamped((0, "U1"), started=-20)
    assert timeline.current_phase is Phase.DIAGNOSE
    assert timeline.open_stamps() == [Stamp.DIAGNOSED, Stamp.MITIGATED, Stamp.VERIFIED]
    assert timeline.duration(Phase.DETECT) == timedelta(minutes=20)
    assert timeline.time_to_restore is None and timeline.slowest_phase() is None


def test_stamping_in_order():
    timeline = stamped((0, "U1"))
    plan = plan_stamp(timeline, Stamp.DIAGNOSED, at(5), "U2")
    assert plan.implied == () and plan.writes() == {Stamp.DIAGNOSED: StampValue(at(5), "U2")}


def test_skipping_ahead_fills_earlier_phases_as_implied():
    timeline = stamped((0, "U1"))
    plan = plan_stamp(timeline, Stamp.VERIFIED, at(30), "U2")
    assert plan.implied == (Stamp.DIAGNOSED, Stamp.MITIGATED)
    writes = plan.writes()
    assert writes[Stamp.DIAGNOSED] == StampValue(at(30), "U2", implied=True)
    assert writes[Stamp.MITIGATED] == StampValue(at(30), "U2", implied=True)
    assert writes[Stamp.VERIFIED] == StampValue(at(30), "U2", implied=False)


def test_an_existing_stamp_never_changes():
    assert plan_stamp(worked_example(), Stamp.MITIGATED, at(40), "U9") is None


def test_a_stamp_is_never_earlier_than_the_one_before():
    timeline = stamped((0, "U1"), (10, "U1"))
    with pytest.raises(StampRefused, match="cannot be earlier than diagnosed"):
        plan_stamp(timeline, Stamp.MITIGATED, at(9), "U2")
    assert plan_stamp(timeline, Stamp.MITIGATED, at(10), "U2") is not None  # the same instant is fine


def test_detection_is_not_stamped_by_buttons():
    with pytest.raises(StampRefused):
        plan_stamp(Timeline(started_at=at(0)), Stamp.DETECTED, at(1), "U1")


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        plan_stamp(worked_example(), Stamp.VERIFIED, datetime(2026, 1, 1), "U1")


def test_tie_goes_to_the_earlier_phase():
    timeline = stamped((5, "U"), (10, "U"), (11, "U"), (12, "U"))
    assert timeline.slowest_phase() is Phase.DETECT


@given(gaps=st.lists(st.integers(min_value=0, max_value=10**6), min_size=4, max_size=4))
def test_phases_always_sum_to_time_to_restore(gaps):
    moments = [T0]
    for gap in gaps:
        moments.append(moments[-1] + timedelta(seconds=gap))
    timeline = Timeline(
        started_at=moments[0],
        stamps={
            s: StampValue(m, "U")
            for s, m in zip((Stamp.DETECTED, Stamp.DIAGNOSED, Stamp.MITIGATED, Stamp.VERIFIED), moments[1:], strict=True)
        },
    )
    assert sum((timeline.duration(p) for p in PHASES), timedelta()) == timeline.time_to_restore
    assert timeline.durations()[timeline.slowest_phase()] == max(timeline.durations().values())
