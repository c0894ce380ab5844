"""The timer rules and their config, as plain functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.integrations.alerts import AlertRules
from bot.paging.chain import ChainTarget
from bot.team_config import TeamConfigError, load_team_config
from bot.timers.rules import TimerKind, TimerSettings, TimerState, due_timers
from tests.conftest import ROOT
from tests.team_helpers import SINGLE_PAGE_TIMERS

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


def kinds(s: TimerState, minutes: float, settings: TimerSettings = SINGLE_PAGE_TIMERS) -> list[str]:
    return [d.kind.value for d in due_timers(s, settings, T0 + timedelta(minutes=minutes))]


def due(s: TimerState, minutes: float, settings: TimerSettings) -> list[tuple[str, str]]:
    return [(d.kind.value, d.slot) for d in due_timers(s, settings, T0 + timedelta(minutes=minutes))]


def test_the_single_page_p1_escalates_at_5_and_30_minutes_and_reminds_after_30_quiet_minutes():
    assert kinds(state(), 4.9) == []
    assert kinds(state(), 5) == ["ack_escalation"]
    assert kinds(state(), 30) == ["ack_escalation", "mitigation_escalation", "reminder"]
    assert kinds(state(acknowledged_at=T0, mitigated_at=T0, last_activity_at=T0 + timedelta(minutes=20)), 30) == []
    assert kinds(state(severity="P2"), 30) == ["ack_escalation", "reminder"]
    assert kinds(state(severity="P3"), 29) == []


SEEDS_LEVELS = [
    (timedelta(0), (ChainTarget("service_oncall"),)),
    (timedelta(minutes=5), (ChainTarget("service_escalation"),)),
    (timedelta(minutes=15), (ChainTarget("service_lead"),)),
]


@pytest.mark.parametrize(
    "settings", [TimerSettings(), load_team_config(ROOT / "runbooks" / "config.yml").timers], ids=["built-in", "shipped"]
)
def test_by_default_p1_and_p2_page_the_seeds_chain_and_p3_p4_page_nobody(settings: TimerSettings):
    for severity in ("P1", "P2"):
        policy = settings.policy(severity)
        assert policy.chain is not None and policy.unacknowledged_after is None
        assert [(level.number, level.after, level.targets) for level in policy.chain.levels] == [
            (n, after, targets) for n, (after, targets) in enumerate(SEEDS_LEVELS, start=1)
        ]
        assert policy.chain.exhausted_after == timedelta(minutes=5)
    assert settings.policy("P1").unmitigated_after == timedelta(minutes=30) and settings.policy("P2").unmitigated_after is None
    for severity in ("P3", "P4"):
        assert settings.policy(severity).chain is None and settings.policy(severity).unacknowledged_after is None

    opened = state()
    assert due(opened, 0, settings) == [("page", "level-1")]
    assert due(opened, 4.99, settings) == [("page", "level-1")]
    assert due(opened, 5, settings) == [("page", "level-1"), ("page", "level-2")]
    assert due(opened, 15, settings) == [("page", "level-1"), ("page", "level-2"), ("page", "level-3")]
    assert due(opened, 20, settings)[-1] == ("chain_exhausted", "once")
    assert ("mitigation_escalation", "once") in due(opened, 30, settings)
    assert due(state(acknowledged_at=T0 + timedelta(minutes=1)), 20, settings) == []  # it stops at the acknowledgement
    assert due(state(severity="P2"), 15, settings) == [("page", "level-1"), ("page", "level-2"), ("page", "level-3")]
    for severity in ("P3", "P4"):
        assert [kind for kind, _ in due(state(severity=severity), 29, settings)] == []


@pytest.mark.parametrize(
    ("p1", "chain_levels", "single_page"),
    [
        ("{unacknowledged_after: 5m}", None, timedelta(minutes=5)),  # the single page, in place of the chain
        ("{unacknowledged_after: null}", None, None),  # the single page, off: no paging
        ("{chain: null}", None, None),  # no paging
        ("{chain: null, unacknowledged_after: 3m}", None, timedelta(minutes=3)),
        ("{chain: [{after: 0m, page: [webhook]}]}", [timedelta(0)], None),
        ("{chain_exhausted_after: 10m}", [timedelta(0), timedelta(minutes=5), timedelta(minutes=15)], None),  # the default's levels
        ("{unmitigated_after: 1h}", [timedelta(0), timedelta(minutes=5), timedelta(minutes=15)], None),  # the default chain stays
    ],
)
def test_a_team_config_replaces_the_default_chain_per_severity(tmp_path: Path, p1: str, chain_levels, single_page):
    path = tmp_path / "config.yml"
    path.write_text(f"escalation:\n  P1: {p1}\n")
    timers = load_team_config(path).timers
    policy = timers.policy("P1")
    assert (policy.chain and [level.after for level in policy.chain.levels], policy.unacknowledged_after) == (chain_levels, single_page)
    if "chain_exhausted_after" in p1:
        assert policy.chain is not None and policy.chain.exhausted_after == timedelta(minutes=10)
    assert timers.policy("P2") == TimerSettings().policy("P2")  # a severity left out keeps its default


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
        (
            "escalation:\n  P3: {chain_exhausted_after: 10m}\n",
            "escalation.P3.chain_exhausted_after: P3 has no escalation chain by default; give it a chain",
        ),
        (
            "escalation:\n  P1: {chain: null, chain_exhausted_after: 10m}\n",
            "escalation.P1: chain_exhausted_after needs a chain, and chain: null turns it off",
        ),
        (
            "escalation:\n  P2: {unacknowledged_after: 5m, chain_exhausted_after: 10m}\n",
            "escalation.P2: chain_exhausted_after needs a chain, and unacknowledged_after (the single page) turns it off",
        ),
    ],
)
def test_config_mistakes_name_the_field(tmp_path: Path, text: str, message: str):
    path = tmp_path / "config.yml"
    path.write_text(text)
    with pytest.raises(TeamConfigError) as error:
        load_team_config(path)
    assert str(error.value).startswith(f"{path}: {message}"), str(error.value)
