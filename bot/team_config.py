"""The team's YAML config file (``runbooks/config.yml`` by default): tier tables and other team rules.

Validated with pydantic when the bot starts; every problem names the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.analytics.digest_schedule import DigestChannel
from bot.analytics.stats import ReportSettings
from bot.core.config_fields import ClockTime, Span, TimeZoneName, Weekday, clock_time, weekday, zone
from bot.core.tiers import DEFAULT_DORA_YEAR, DORA_BANDS, SEVERITY_TARGETS, TierTable, TierTables, parse_span, table
from bot.incidents.permissions import Permissions
from bot.integrations.alerts import AlertRules
from bot.timers.rules import DEFAULT_POLICIES, TimerSettings

DEFAULT_PATH = Path("runbooks/config.yml")


class TeamConfigError(Exception):
    """The config file is wrong; the message names the file, the field and the right form."""


def _bands(label: str, spec: dict[str, str | None]) -> TierTable:
    if not isinstance(spec, dict) or not spec:
        raise ValueError("give the bands in order as name: bound, e.g. {elite: 30m, high: 2h, medium: 6h, low: null}")
    return table(label, [(str(name), None if bound is None else str(bound)) for name, bound in spec.items()])


class _Dora(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bands: dict[int, dict[str, str | None]] = {}


class _BusinessHours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: list[Weekday] = ["mon", "tue", "wed", "thu", "fri"]
    start: ClockTime = "09:00"
    end: ClockTime = "18:00"
    time_zone: TimeZoneName = "UTC"


class _Reports(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_count: int = Field(default=5, ge=1, le=1000)
    business_hours: _BusinessHours = _BusinessHours()


def _severity(value: str) -> str:
    if value not in SEVERITY_TARGETS:
        raise ValueError(f"unknown severity '{value}'; use P1, P2, P3 or P4")
    return value


Severity = Annotated[str, AfterValidator(_severity)]


class _SeverityTimers(BaseModel):
    """Per severity; a field left out keeps the built-in default, ``null`` turns it off."""

    model_config = ConfigDict(extra="forbid")
    unacknowledged_after: Span | None = None
    unmitigated_after: Span | None = None
    reminder_every: Span | None = None


class _Alerts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_labels: list[str] = Field(default=["service"], min_length=1)
    severity_label: str = "severity"
    severities: dict[str, Severity] = {}
    default_severity: Severity = "P3"


class _TeamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    permissions: Permissions = Permissions()
    dora: _Dora = _Dora()
    severity_targets: dict[str, dict[str, str | None]] = {}
    reports: _Reports = _Reports()
    digests: list[DigestChannel] = []
    alerts: _Alerts = _Alerts()
    escalation: dict[Severity, _SeverityTimers] = {}
    monitoring_window: Span = "30m"

    @field_validator("severity_targets")
    @classmethod
    def _known_severities(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = set(value) - set(SEVERITY_TARGETS)
        if unknown:
            raise ValueError(f"unknown severity {sorted(unknown)}; use P1, P2, P3 or P4")
        return value


@dataclass(frozen=True)
class TeamConfig:
    tiers: TierTables
    reports: ReportSettings
    digests: tuple[DigestChannel, ...]
    permissions: Permissions = Permissions()
    alerts: AlertRules = AlertRules()
    timers: TimerSettings = TimerSettings()


def load_tier_tables(path: Path | None, *, dora_year: int = DEFAULT_DORA_YEAR, required: bool = False) -> TierTables:
    return load_team_config(path, dora_year=dora_year, required=required).tiers


def load_team_config(path: Path | None, *, dora_year: int = DEFAULT_DORA_YEAR, required: bool = False) -> TeamConfig:
    """Built-in tables and defaults, overridden by the file's. A missing default file is fine; a
    missing file that was named explicitly is an error."""
    raw: dict[str, Any] = {}
    if path is not None and path.exists():
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise TeamConfigError(f"{path}{where}: not valid YAML ({getattr(error, 'problem', error)})") from None
        if not isinstance(raw, dict):
            raise TeamConfigError(f"{path}: expected a mapping of settings at the top level")
    elif required and path is not None:
        raise TeamConfigError(f"{path}: file not found (INCIDENT_CONFIG names it)")
    try:
        config = _TeamConfig.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise TeamConfigError(f"{path}: {field}: {first['msg'].removeprefix('Value error, ')}") from None

    dora_tables = dict(DORA_BANDS)
    severity = dict(SEVERITY_TARGETS)
    try:
        for year, spec in config.dora.bands.items():
            dora_tables[year] = _bands(f"DORA {year} report", spec)
        for level, spec in config.severity_targets.items():
            severity[level] = _bands(f"{level} target", spec)
    except ValueError as error:
        raise TeamConfigError(f"{path}: {error}") from None
    if dora_year not in dora_tables:
        raise TeamConfigError(
            f"DORA_REPORT_YEAR={dora_year} has no band table; known years: {sorted(dora_tables)} (add one under dora.bands in {path})"
        )
    hours = config.reports.business_hours
    try:
        report_settings = ReportSettings(
            min_count=config.reports.min_count,
            business_days=frozenset(weekday(d) for d in hours.days),
            business_start=clock_time(hours.start),
            business_end=clock_time(hours.end),
            time_zone=zone(hours.time_zone),
        )
    except ValueError as error:
        raise TeamConfigError(f"{path}: reports.business_hours: {error}") from None
    return TeamConfig(
        tiers=TierTables(dora=dora_tables[dora_year], dora_year=dora_year, severity=severity),
        reports=report_settings,
        digests=tuple(config.digests),
        permissions=config.permissions,
        alerts=AlertRules.with_overrides(
            service_labels=tuple(config.alerts.service_labels),
            severity_label=config.alerts.severity_label,
            severities=config.alerts.severities,
            default_severity=config.alerts.default_severity,
        ),
        timers=_timer_settings(config),
    )


def _timer_settings(config: _TeamConfig) -> TimerSettings:
    policies = dict(DEFAULT_POLICIES)
    for level, given in config.escalation.items():
        changes = {name: None if getattr(given, name) is None else parse_span(getattr(given, name)) for name in given.model_fields_set}
        policies[level] = replace(policies[level], **changes)
    return TimerSettings(policies=policies, monitoring_window=parse_span(config.monitoring_window))
