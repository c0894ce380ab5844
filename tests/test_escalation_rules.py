"""The timer rules and their config, as plain functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.integrations.alerts import AlertRules
from bot.team_config import TeamConfigError, load_team_config
from bot.timers.rules import TimerKind, TimerSettings, TimerState, due_timers

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def state(**changes) -> TimerState:
    base = dict(
        incident_id=1,
        severity="P1",
        status="open",
        opened_at=T0,
        acknowledged_at=None,
        mitigated_at=None,
        verified_at=None,
        closed_at=None,
        last_activity_at=T0,
    )
    return TimerState(**(base | changes))


DEFAULT_SETTINGS = TimerSettings()


def kinds(s: TimerState, minutes: float, settings: TimerSettings = DEFAULT_SETTINGS) -> list[str]:
    return [d.kind.value for d in due_timers(s, settings, T0 + timedelta(minutes=minutes))]


def test_defaults_p1_escalates_at_5_and_30_minutes_and_reminds_after_30_quiet_minutes():
    assert kinds(state(), 4.9) == []
    assert kinds(state(), 5) == ["ack_escalation"]
    assert kinds(state(), 30) == ["ack_escalation", "mitigation_escalation", "reminder"]
    assert kinds(state(acknowledged_at=T0, mitigated_at=T0, last_activity_at=T0 + timedelta(minutes=20)), 30) == []
    assert kinds(state(severity="P2"), 30) == ["ack_escalation", "reminder"]
    assert kinds(state(severity="P3"), 29) == []


def test_monitoring_closes_after_the_window_from_the_last_verification():
    verified = state(status="resolved", verified_at=T0 + timedelta(minutes=10))
    assert kinds(verified, 39) == []
    [due] = due_timers(verified, TimerSettings(), T0 + timedelta(minutes=40))
    assert (due.kind, due.slot) == (TimerKind.CLOSE, (T0 + timedelta(minutes=10)).isoformat())
    assert kinds(state(status="resolved", verified_at=T0, closed_at=T0 + timedelta(minutes=30)), 600) == []


def test_reminder_slots_follow_the_last_activity_so_each_quiet_spell_reminds_once():
    first = due_timers(state(severity="P4"), TimerSettings(), T0 + timedelta(minutes=31))
    later = due_timers(state(severity="P4", last_activity_at=T0 + timedelta(minutes=31)), TimerSettings(), T0 + timedelta(minutes=61))
    assert first[0].slot != later[0].slot


def test_alert_severity_mapping():
    rules = AlertRules.with_overrides(
        service_labels=("service",), severity_label="severity", severities={"Sev1": "P1", "warning": "P2"}, default_severity="P4"
    )
    assert rules.severity_of({"severity": "sev1"}) == "P1"
    assert rules.severity_of({"severity": "warning"}) == "P2"  # the file overrides the built-in P3
    assert rules.severity_of({"severity": "critical"}) == "P1"
    assert rules.severity_of({"severity": "p2"}) == "P2"
    assert rules.severity_of({}) == "P4"


def test_config_overrides_per_field_and_null_turns_a_timer_off(tmp_path: Path):
    path = tmp_path / "config.yml"
    path.write_text(
        "escalation:\n  P1: {unacknowledged_after: 2m, reminder_every: null}\n  P3: {unacknowledged_after: 15m}\nmonitoring_window: 1h\n"
    )
    timers = load_team_config(path).timers
    assert timers.policy("P1").unacknowledged_after == timedelta(minutes=2)
    assert timers.policy("P1").unmitigated_after == timedelta(minutes=30)  # left out: default
    assert timers.policy("P1").reminder_every is None
    assert timers.policy("P3").unacknowledged_after == timedelta(minutes=15)
    assert timers.monitoring_window == timedelta(hours=1)


@pytest.mark.parametrize(
    "text, message",
    [
        ("escalation:\n  P1: {unacknowledged_after: soon}\n", "escalation.P1.unacknowledged_after: 'soon' is not a duration"),
        ("escalation:\n  P7: {reminder_every: 5m}\n", "escalation.P7.[key]: unknown severity 'P7'"),
        ("alerts:\n  severities: {critical: P9}\n", "alerts.severities.critical: unknown severity 'P9'"),
        ("monitoring_window: 0m\n", "monitoring_window: '0m' must be longer than zero"),
    ],
)
def test_config_mistakes_name_the_field(tmp_path: Path, text: str, message: str):
    path = tmp_path / "config.yml"
    path.write_text(text)
    with pytest.raises(TeamConfigError) as error:
        load_team_config(path)
    assert str(error.value).startswith(f"{path}: {message}"), str(error.value)
