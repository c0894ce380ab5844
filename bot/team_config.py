"""The team's YAML config file (``runbooks/config.yml`` by default): tier tables and other team rules.

Validated with pydantic when the bot starts; every problem names the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.analytics.digest_schedule import DigestChannel
from bot.analytics.stats import ReportSettings
from bot.catalog.services import EMAIL, USER_ID, USERGROUP_HANDLE, USERGROUP_ID, PagerDutyRouting, check_https_url
from bot.core.config_fields import ClockTime, Delay, Span, TimeZoneName, Weekday, clock_time, weekday, zone
from bot.core.text_files import UnreadableFile, text_of
from bot.core.tiers import DEFAULT_DORA_YEAR, DORA_BANDS, SEVERITY_TARGETS, TierTable, TierTables, parse_span, table
from bot.incidents.permissions import Permissions
from bot.integrations.alerts import AlertRules
from bot.paging.chain import DEFAULT_EXHAUSTED_AFTER, ChainTarget, EscalationChain, chain_from_spans
from bot.paging.drills import NO_DRILL_PAGING, DrillPaging
from bot.timers.rules import DEFAULT_POLICIES, TimerSettings
from bot.warroom.call_links import DEFAULT_JITSI_BASE_URL

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


TARGET_FORMS = (
    "service_oncall, service_escalation, service_lead, pagerduty, webhook, "
    "{slack_user: U012ABCDEF or an e-mail} or {slack_group: S0123ABCD or @handle}"
)
_NAMED_TARGETS = ("service_oncall", "service_escalation", "service_lead", "pagerduty", "webhook")


def _target(value: Any) -> ChainTarget:
    if isinstance(value, str) and value in _NAMED_TARGETS:
        return ChainTarget(value)  # type: ignore[arg-type]  # narrowed by the membership test above
    if isinstance(value, dict) and len(value) == 1:
        [(kind, ref)] = value.items()
        ref = str(ref).strip() if ref is not None else ""
        if kind == "slack_user" and (USER_ID.match(ref) or EMAIL.match(ref)):
            return ChainTarget("slack_user", ref)
        if kind == "slack_group" and (USERGROUP_ID.match(ref) or USERGROUP_HANDLE.match(ref)):
            return ChainTarget("slack_group", ref if USERGROUP_ID.match(ref) else ref.removeprefix("@"))
        if kind == "slack_user":
            raise ValueError(f"slack_user: {ref!r} is neither a Slack user ID (U012ABCDEF) nor an e-mail address")
        if kind == "slack_group":
            raise ValueError(f"slack_group: {ref!r} is neither a Slack user group ID (S0123ABCD) nor a handle (@payments-oncall)")
    raise ValueError(f"{value!r} is not a page target; use one of {TARGET_FORMS}")


class _ChainLevel(BaseModel):
    """One level: ``after`` counts from when the bot opened the incident, ``after_previous`` from the level before."""

    model_config = ConfigDict(extra="forbid")
    after: Delay | None = None
    after_previous: Delay | None = None
    page: Annotated[list[Any], Field(min_length=1)]

    @model_validator(mode="after")
    def _one_delay(self) -> _ChainLevel:
        if (self.after is None) == (self.after_previous is None):
            raise ValueError(
                "give each level exactly one of after (from opening, e.g. after: 5m) or after_previous (from the level before)"
            )
        return self

    @field_validator("page")
    @classmethod
    def _targets(cls, value: list[Any]) -> list[Any]:
        for item in value:
            _target(item)
        return value


class _SeverityTimers(BaseModel):
    """Per severity; a field left out keeps the built-in default, ``null`` turns it off.

    P1 and P2 page through the default chain: ``chain:`` replaces it, ``chain: null`` turns paging
    off, and ``unacknowledged_after:`` without a chain goes back to the single page (off with null)."""

    model_config = ConfigDict(extra="forbid")
    unacknowledged_after: Span | None = None
    unmitigated_after: Span | None = None
    reminder_every: Span | None = None
    chain: Annotated[list[_ChainLevel], Field(min_length=1)] | None = None
    chain_exhausted_after: Span | None = None

    @model_validator(mode="after")
    def _chain_or_single_page(self) -> _SeverityTimers:
        if self.chain is not None and self.unacknowledged_after is not None:
            raise ValueError("give either chain (several levels) or unacknowledged_after (one page), not both")
        if self.chain_exhausted_after is not None and self.turns_chain_off:
            raise ValueError(
                "chain_exhausted_after needs a chain, and "
                + ("chain: null" if "chain" in self.model_fields_set else "unacknowledged_after (the single page)")
                + " turns it off; give a chain, or leave chain_exhausted_after out"
            )
        return self

    @property
    def turns_chain_off(self) -> bool:
        """``chain: null``, or the single page asked for without a chain."""
        fields = self.model_fields_set
        return ("chain" in fields and self.chain is None) or ("chain" not in fields and "unacknowledged_after" in fields)


class _Alerts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_labels: list[str] = Field(default=["service"], min_length=1)
    severity_label: str = "severity"
    severities: dict[str, Severity] = {}
    default_severity: Severity = "P3"


class _CallLink(BaseModel):
    """How a war room gets its call link when its service names no ``call:`` bridge in the catalog."""

    model_config = ConfigDict(extra="forbid")
    generate: Literal["jitsi", "none"] = "none"
    jitsi_base_url: Annotated[str, AfterValidator(check_https_url)] = DEFAULT_JITSI_BASE_URL


def _drill_person(value: Any) -> str:
    person = str(value).strip() if isinstance(value, str) else ""
    if not (USER_ID.match(person) or EMAIL.match(person)):
        raise ValueError(f"{str(value)[:40]!r} is neither a Slack user ID (U012ABCDEF) nor an e-mail address")
    return person


DrillPerson = Annotated[Any, AfterValidator(_drill_person)]


class _Drills(BaseModel):
    """Who a drill pages (docs/incidents.md, Drills): nobody but these, and no pager outside Slack unless named here."""

    model_config = ConfigDict(extra="forbid")
    page: list[DrillPerson] = []
    escalate_to: DrillPerson | list[DrillPerson] = []
    pagerduty: PagerDutyRouting | None = None
    webhook: bool = False

    def paging(self) -> DrillPaging:
        escalate = self.escalate_to if isinstance(self.escalate_to, list) else [self.escalate_to]
        return DrillPaging(
            page=tuple(dict.fromkeys(self.page)),
            escalate_to=tuple(dict.fromkeys(escalate)),
            pagerduty_routing_key_env=self.pagerduty.routing_key_env if self.pagerduty else None,
            webhook=self.webhook,
        )


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
    call_link: _CallLink = _CallLink()
    drills: _Drills = _Drills()

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
    call_link_generator: Literal["jitsi", "none"] = "none"
    jitsi_base_url: str = DEFAULT_JITSI_BASE_URL
    drills: DrillPaging = NO_DRILL_PAGING


def load_tier_tables(path: Path | None, *, dora_year: int = DEFAULT_DORA_YEAR, required: bool = False) -> TierTables:
    return load_team_config(path, dora_year=dora_year, required=required).tiers


def load_team_config(path: Path | None, *, dora_year: int = DEFAULT_DORA_YEAR, required: bool = False) -> TeamConfig:
    """Built-in tables and defaults, overridden by the file's. A missing default file is fine; a
    missing file that was named explicitly is an error."""
    raw: dict[str, Any] = {}
    if path is not None and path.exists():
        try:
            raw = yaml.safe_load(text_of(path)) or {}
        except UnreadableFile as error:
            raise TeamConfigError(f"{path}: {error}") from None
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
        timers=_timer_settings(config, path),
        call_link_generator=config.call_link.generate,
        jitsi_base_url=config.call_link.jitsi_base_url,
        drills=config.drills.paging(),
    )


def _timer_settings(config: _TeamConfig, path: Path | None) -> TimerSettings:
    policies = dict(DEFAULT_POLICIES)
    spans = {"unacknowledged_after", "unmitigated_after", "reminder_every"}
    for severity, given in config.escalation.items():
        changes: dict[str, Any] = {
            name: None if getattr(given, name) is None else parse_span(getattr(given, name)) for name in given.model_fields_set & spans
        }
        if given.chain is not None:
            changes["chain"] = _chain(given, f"{path}: escalation.{severity}.chain")
            changes["unacknowledged_after"] = None
        elif given.turns_chain_off:
            changes["chain"] = None
        elif given.chain_exhausted_after is not None:  # the default chain, with its own wait after the last level
            default = policies[severity].chain
            if default is None:
                raise TeamConfigError(
                    f"{path}: escalation.{severity}.chain_exhausted_after: {severity} has no escalation chain by default; give it a chain"
                )
            changes["chain"] = replace(default, exhausted_after=parse_span(given.chain_exhausted_after))
        policies[severity] = replace(policies[severity], **changes)
    return TimerSettings(policies=policies, monitoring_window=parse_span(config.monitoring_window))


def _chain(given: _SeverityTimers, where: str) -> EscalationChain:
    assert given.chain is not None
    levels = [
        (parse_span(level.after_previous or level.after or "0m"), level.after_previous is not None, tuple(_target(t) for t in level.page))
        for level in given.chain
    ]
    exhausted = parse_span(given.chain_exhausted_after) if given.chain_exhausted_after else DEFAULT_EXHAUSTED_AFTER
    try:
        return chain_from_spans(levels, exhausted)
    except ValueError as error:
        raise TeamConfigError(f"{where}: {error}") from None
